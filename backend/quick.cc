/*
 * quick.cc — the backend's quick path for small inline PUT and GET
 * (ov_backend::serve_quick, called by execute() before the general path).
 *
 * Why: an 8-byte put or get through the general path validates every field
 * of the descriptor, looks up the target window, its grant (a std::map) and
 * its region (a hash map), builds a copy plan and runs the executor over it:
 * about a fifth of a busy backend's samples (perf, 8-byte get + flush loop
 * between two container guests), tens of nanoseconds on a round trip of
 * ~200.  Those lookups give the same answer request after request, so this
 * path remembers them for the last target window each process used and then
 * checks only what changes per request: the op and its flags, the length,
 * the offset.
 *
 * What it serves: OV_OP_PUT / OV_OP_GET with flags exactly OV_REQ_INLINE
 * (a PUT also with OV_REQ_QUIET),
 * OV_DT_BYTES of size 1, acc_op and result_off 0, length within the inline
 * limits, to a live region window (not a registered one) whose owner is the
 * caller or which grants the caller the permission the op needs, inside the
 * window.  It answers exactly what the general path would (OV_OK, the bytes
 * moved, the result bytes).  Anything else, every error included, returns
 * false and the general path (validate.h, exec.h) handles the request
 * unchanged, with its error codes and counters.
 *
 * Staleness: what it remembers is valid while tables_gen_ is the value it
 * was learned at.  Every change to windows, grants or regions calls
 * tables_changed() first (backend.h); this thread makes all of them, so a
 * request is never served from what it learned before a change it could
 * observe.
 */
#include <cstring>

#include "backend.h"

bool ov_backend::learn_quick(conn *c, const ov_req_desc &d)
{
    const ov_win_info *t = find(d.target_win);
    if (!t || t->epoch != d.target_epoch || t->mem != OV_MEM_REGION)
        return false;
    const uint32_t perms = ov_perms_held(*t, requester(*c), *this);
    auto it = regions_.find(t->region);
    if (it == regions_.end() || !ov_in_bounds(t->region_off, t->size, it->second->region->size()))
        return false;
    c->quick = quick_window{tables_gen_, t->id, t->epoch, perms, it->second->region->base() + t->region_off,
                            t->size};
    return true;
}

bool ov_backend::serve_quick(conn *c, const ov_req_desc &d, ov_completion *cpl)
{
    const bool put = d.op == OV_OP_PUT;
    const uint32_t flags = put ? d.flags & ~OV_REQ_QUIET : d.flags; /* quiet: engine.cc posts nothing */
    if ((!put && d.op != OV_OP_GET) || flags != OV_REQ_INLINE || d.acc_op != 0 || d.result_off != 0 ||
        d.dtype_kind != OV_DT_BYTES || d.dtype_size != 1 || !(c->features & OV_FEAT_INLINE) ||
        (flags != d.flags && !(c->features & OV_FEAT_QUIET)) ||
        d.length > (put ? OV_INLINE_ORIGIN_MAX : OV_INLINE_RESULT_MAX) || d.length > limits_.max_length)
        return false;
    const quick_window &q = c->quick;
    if ((q.gen != tables_gen_ || q.id != d.target_win || q.epoch != d.target_epoch) && !learn_quick(c, d))
        return false;
    const uint32_t need = ov_perms_needed(d.op);
    if ((q.perms & need) != need || !ov_in_bounds(d.target_off, d.length, q.size))
        return false;
    *cpl = ov_completion{0, d.cookie, OV_OK, d.op, d.length, 0}; /* the ring stamps it */
    char *t = q.base + d.target_off;
    if (put)
        std::memcpy(t, ov_req_inline_origin(&d), d.length);
    else
        std::memcpy(&cpl->inline_result, t, d.length);
    c->requests++;
    c->g->requests++;
    c->bytes += d.length;
    c->g->bytes += d.length;
    return true;
}
