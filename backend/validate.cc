/*
 * validate.cc — descriptor validation (see validate.h for the order of checks).
 */
#include "validate.h"

#include "ov_acc.h"

namespace {

uint16_t allowed_flags(uint16_t op)
{
    switch (op) {
    case OV_OP_PUT: return OV_REQ_LOCAL_VA | OV_REQ_STREAM | OV_REQ_INLINE | OV_REQ_QUIET;
    case OV_OP_ACC: return OV_REQ_LOCAL_VA | OV_REQ_INLINE | OV_REQ_QUIET;
    case OV_OP_GET:
    case OV_OP_GET_ACC:
    case OV_OP_CAS: return OV_REQ_LOCAL_VA | OV_REQ_INLINE;
    case OV_OP_LOCK: return OV_REQ_EXCLUSIVE;
    default: return 0;
    }
}

} // namespace

uint32_t ov_perms_needed(uint16_t op) noexcept
{
    switch (op) {
    case OV_OP_GET: return OV_PERM_READ;
    case OV_OP_PUT:
    case OV_OP_ACC: return OV_PERM_WRITE;
    case OV_OP_GET_ACC:
    case OV_OP_CAS: return OV_PERM_READ | OV_PERM_WRITE;
    default: return 0; /* LOCK, UNLOCK: any grant */
    }
}

uint32_t ov_perms_held(const ov_win_info &t, const ov_requester &who, const ov_win_lookup &wins) noexcept
{
    if (t.owner_proc == who.proc_id)
        return OV_PERM_READ | OV_PERM_WRITE;
    if (t.job_key != who.job_key)
        return 0;
    return wins.grant(t, who);
}

namespace {

/* Caller-side bytes: origin (read) and result (written), as descriptor
 * fields say; where they live is decided later. */
struct caller_ranges {
    bool has_origin = false, has_result = false;
    uint64_t origin_off = 0, origin_len = 0, result_off = 0, result_len = 0;
};

caller_ranges ranges_of(const ov_req_desc &d)
{
    caller_ranges r;
    bool no_op = d.acc_op == OV_ACC_NO_OP;
    switch (d.op) {
    case OV_OP_PUT: r = {true, false, d.local_off, d.length, 0, 0}; break;
    case OV_OP_GET: r = {false, true, 0, 0, d.local_off, d.length}; break;
    case OV_OP_ACC: r = {!no_op, false, d.local_off, d.length, 0, 0}; break;
    case OV_OP_GET_ACC: r = {!no_op, true, d.local_off, d.length, d.result_off, d.length}; break;
    case OV_OP_CAS: r = {true, true, d.local_off, 2 * uint64_t(d.dtype_size), d.result_off, d.length}; break;
    }
    if (!r.has_origin)
        r.origin_off = r.origin_len = 0;
    return r;
}

bool no_wrap(uint64_t addr, uint64_t len) { return len <= UINT64_MAX - addr; }

} // namespace

ov_status_t ov_validate(const ov_req_desc &d, const ov_requester &who, const ov_win_lookup &wins,
                        const ov_limits &lim, ov_copy_plan *plan) noexcept
{
    /* 1-3: op, flags and must-be-zero fields, single copy */
    if (d.op >= OV_OP_MAX)
        return OV_ERR_BAD_OP;
    const bool acc = d.op == OV_OP_ACC || d.op == OV_OP_GET_ACC;
    const bool va = (d.flags & OV_REQ_LOCAL_VA) != 0;
    const bool inl = (d.flags & OV_REQ_INLINE) != 0;
    if ((d.flags & ~allowed_flags(d.op)) != 0 || (!acc && d.acc_op != 0) ||
        ((inl || (d.op != OV_OP_GET_ACC && d.op != OV_OP_CAS)) && d.result_off != 0) ||
        (va && (inl || d.local_win != 0 || d.local_epoch != 0)))
        return OV_ERR_BAD_FLAGS;
    if ((va && !(who.features & OV_FEAT_SINGLE_COPY)) || (inl && !(who.features & OV_FEAT_INLINE)) ||
        ((d.flags & OV_REQ_QUIET) && !(who.features & OV_FEAT_QUIET)))
        return OV_ERR_NOT_SUPPORTED;
    if (d.op == OV_OP_NOP) {
        *plan = ov_copy_plan{};
        return OV_OK;
    }
    const bool lock = d.op == OV_OP_LOCK || d.op == OV_OP_UNLOCK;

    /* 4-6: element type and length */
    if (!lock) {
        if (acc && (d.acc_op == OV_ACC_NONE || d.acc_op >= OV_ACC_MAX_OP))
            return OV_ERR_BAD_OP;
        if (!ov_dtype_valid(d.dtype_kind, d.dtype_size) || d.length % d.dtype_size != 0 ||
            (d.op == OV_OP_CAS && d.length != d.dtype_size))
            return OV_ERR_BAD_DTYPE;
        if (acc && !ov_acc_valid(d.acc_op, d.dtype_kind, d.dtype_size))
            return OV_ERR_BAD_OP;
        if (d.length > lim.max_length)
            return OV_ERR_TOO_LARGE;
    }

    /* 7-11: the target window */
    /* No window, or one the caller holds nothing on (whatever the epoch):
     * one answer, so window ids cannot be mapped from outside.  Only a
     * holder of the window now under this id learns that its epoch moved. */
    const ov_win_info *t = wins.find(d.target_win);
    const uint32_t held = t ? ov_perms_held(*t, who, wins) : 0;
    if (held == 0)
        return OV_ERR_NO_WINDOW;
    if (t->epoch != d.target_epoch)
        return OV_ERR_STALE_WINDOW;
    const uint32_t need = ov_perms_needed(d.op);
    if ((held & need) != need)
        return OV_ERR_PERM;
    ov_copy_plan p{};
    p.op = d.op;
    p.stream = (d.flags & OV_REQ_STREAM) != 0;
    if (lock) {
        if (d.target_off >= OV_LOCK_SLOTS)
            return OV_ERR_BOUNDS;
        p.lock_win = t->id;
        p.lock_slot = uint32_t(d.target_off);
        p.exclusive = (d.flags & OV_REQ_EXCLUSIVE) != 0;
        *plan = p;
        return OV_OK;
    }
    if (!ov_in_bounds(d.target_off, d.length, t->size))
        return OV_ERR_BOUNDS;

    /* 12-13: the caller's side */
    caller_ranges r = ranges_of(d);
    ov_operand origin{}, result{};
    if (inl) {
        if ((r.has_origin && r.origin_len > OV_INLINE_ORIGIN_MAX) ||
            (r.has_result && r.result_len > OV_INLINE_RESULT_MAX))
            return OV_ERR_TOO_LARGE;
        origin = {OV_AT_INLINE, 0, reinterpret_cast<uintptr_t>(ov_req_inline_origin(&d)), r.origin_len};
        result = {OV_AT_INLINE, 0, 0, r.result_len}; /* ov_execute supplies the bytes */
    } else if (va) {
        if ((r.has_origin && !no_wrap(r.origin_off, r.origin_len)) ||
            (r.has_result && !no_wrap(r.result_off, r.result_len)))
            return OV_ERR_LOCAL_ACCESS;
        origin = {OV_AT_CALLER, 0, r.origin_off, r.origin_len};
        result = {OV_AT_CALLER, 0, r.result_off, r.result_len};
    } else {
        const ov_win_info *l = wins.find(d.local_win);
        if (!l || l->epoch != d.local_epoch || l->owner_proc != who.proc_id)
            return OV_ERR_LOCAL_ACCESS;
        const bool mine = l->mem == OV_MEM_OWNER; /* registered: the caller's own memory */
        if (mine && !(who.features & OV_FEAT_SINGLE_COPY))
            return OV_ERR_LOCAL_ACCESS;
        if ((r.has_origin && !ov_in_bounds(r.origin_off, r.origin_len, l->size)) ||
            (r.has_result && !ov_in_bounds(r.result_off, r.result_len, l->size)))
            return OV_ERR_BOUNDS;
        const uint8_t where = mine ? OV_AT_CALLER : OV_AT_REGION;
        const uint32_t region = mine ? 0 : l->region;
        origin = {where, region, l->region_off + r.origin_off, r.origin_len};
        result = {where, region, l->region_off + r.result_off, r.result_len};
    }
    p.acc_op = d.acc_op;
    p.dtype_kind = d.dtype_kind;
    p.dtype_size = d.dtype_size;
    p.len = d.length;
    if (t->mem == OV_MEM_OWNER)
        p.target = {OV_AT_PROC, t->owner_proc, t->region_off + d.target_off, d.length};
    else
        p.target = {OV_AT_REGION, t->region, t->region_off + d.target_off, d.length};
    if (r.has_origin)
        p.origin = origin;
    if (r.has_result)
        p.result = result;
    *plan = p;
    return OV_OK;
}
