/*
 * validate.cc — descriptor validation (see validate.h for the order of checks).
 */
#include "validate.h"

ov_status_t ov_validate(const ov_req_desc &d, const ov_requester &who, const ov_win_lookup &wins,
                        const ov_limits &lim, ov_copy_plan *plan) noexcept
{
    if (d.result_off != 0 || d.flags != 0 || d.acc_op != 0)
        return OV_ERR_BAD_FLAGS;
    if (d.op > OV_OP_GET) /* ACC..UNLOCK: protocol v2, not served yet */
        return OV_ERR_BAD_OP;
    if (d.op == OV_OP_NOP) {
        *plan = ov_copy_plan{OV_OP_NOP, 0, 0, 0, 0, 0};
        return OV_OK;
    }
    uint32_t ds = d.dtype_size;
    if ((ds != 1 && ds != 2 && ds != 4 && ds != 8 && ds != 16) || d.length % ds != 0)
        return OV_ERR_BAD_DTYPE;
    if (d.length > lim.max_length)
        return OV_ERR_TOO_LARGE;

    const ov_win_info *t = wins.find(d.target_win);
    if (!t)
        return OV_ERR_NO_WINDOW;
    if (t->epoch != d.target_epoch)
        return OV_ERR_STALE_WINDOW;
    uint32_t need = d.op == OV_OP_PUT ? OV_PERM_WRITE : OV_PERM_READ;
    if (t->owner_proc != who.proc_id) {
        if (t->job_key != who.job_key)
            return OV_ERR_NO_GRANT;
        uint32_t g = wins.grant(*t, who);
        if (g == 0)
            return OV_ERR_NO_GRANT;
        if ((g & need) != need)
            return OV_ERR_PERM;
    }
    if (!ov_in_bounds(d.target_off, d.length, t->size))
        return OV_ERR_BOUNDS;

    const ov_win_info *l = wins.find(d.local_win);
    if (!l || l->epoch != d.local_epoch || l->owner_proc != who.proc_id)
        return OV_ERR_LOCAL_ACCESS;
    if (!ov_in_bounds(d.local_off, d.length, l->size))
        return OV_ERR_BOUNDS;

    ov_copy_plan p{};
    p.op = d.op;
    p.len = d.length;
    if (d.op == OV_OP_PUT) {
        p.src_region = l->region;
        p.src_off = l->region_off + d.local_off;
        p.dst_region = t->region;
        p.dst_off = t->region_off + d.target_off;
    } else {
        p.src_region = t->region;
        p.src_off = t->region_off + d.target_off;
        p.dst_region = l->region;
        p.dst_off = l->region_off + d.local_off;
    }
    *plan = p;
    return OV_OK;
}
