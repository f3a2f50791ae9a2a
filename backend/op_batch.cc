/*
 * op_batch.cc — OV_REQ_BATCH: many small inline PUTs or GETs of one process
 * to one target window in a single descriptor (ov_backend::serve_batch,
 * called by execute() in engine.cc; the wire contract is in ov_protocol.h).
 *
 * Why: with one descriptor per 8-byte operation a burst before one flush
 * costs, per operation, a ring slot crossing between the cores, a doorbell
 * check on the origin, for a get a completion back, and a pass of this
 * thread; on a machine with fewer cores than busy threads the last is what
 * the origin waits for.  A batch carries up to OV_BATCH_ENTRIES_MAX of them.
 *
 * Hostile input: the block of entries lies in the caller's staging window,
 * which the caller may rewrite at any time.  It is checked to lie inside a
 * region window the caller owns, copied out ONCE into our memory, checked
 * whole (reserved bits, lengths) and only then run.  Each entry runs as the
 * OV_REQ_INLINE PUT or GET descriptor it stands for would (execute(): the
 * quick path, else the full validation and executor), so an entry can do
 * nothing a descriptor of its own could not, and fails the same way.  GET
 * results are written back into the entry's data[] of the block: inside the
 * caller's own window, already checked.
 */
#include <cstring>

#include "backend.h"

namespace {

/* The checks on the batch descriptor itself, in validate.h's order and with
 * its codes for the same faults. */
ov_status_t check_batch_desc(const ov_req_desc &d, uint32_t features)
{
    if (d.op >= OV_OP_MAX)
        return OV_ERR_BAD_OP;
    if ((d.op != OV_OP_PUT && d.op != OV_OP_GET) || d.flags != OV_REQ_BATCH || d.acc_op != 0 ||
        d.result_off != 0 || d.target_off != 0)
        return OV_ERR_BAD_FLAGS;
    if (!(features & OV_FEAT_BATCH) || !(features & OV_FEAT_INLINE))
        return OV_ERR_NOT_SUPPORTED;
    if (d.dtype_kind != OV_DT_BYTES || d.dtype_size != 1 || d.length == 0 ||
        d.length % sizeof(ov_batch_entry) != 0)
        return OV_ERR_BAD_DTYPE;
    if (d.length > OV_BATCH_ENTRIES_MAX * sizeof(ov_batch_entry))
        return OV_ERR_TOO_LARGE;
    return OV_OK;
}

} // namespace

char *ov_backend::batch_block(const conn *c, const ov_req_desc &d, ov_status_t *why) const
{
    const ov_win_info *w = find(d.local_win);
    if (!w || w->epoch != d.local_epoch || w->owner_proc != c->id || w->mem != OV_MEM_REGION) {
        *why = OV_ERR_LOCAL_ACCESS;
        return nullptr;
    }
    auto it = regions_.find(w->region);
    if (!ov_in_bounds(d.local_off, d.length, w->size) || it == regions_.end() ||
        !ov_in_bounds(w->region_off + d.local_off, d.length, it->second->region->size())) {
        *why = OV_ERR_BOUNDS;
        return nullptr;
    }
    return it->second->region->base() + w->region_off + d.local_off;
}

void ov_backend::serve_batch(conn *c, const ov_req_desc &d, ov_completion *cpl)
{
    ov_status_t s = check_batch_desc(d, c->features);
    char *block = s == OV_OK ? batch_block(c, d, &s) : nullptr;
    const size_t n = size_t(d.length / sizeof(ov_batch_entry));
    ov_batch_entry e[OV_BATCH_ENTRIES_MAX];
    if (block) {
        std::memcpy(e, block, n * sizeof(ov_batch_entry)); /* the one copy out of shared memory */
        const uint32_t max = d.op == OV_OP_PUT ? OV_INLINE_ORIGIN_MAX : OV_INLINE_RESULT_MAX;
        for (size_t i = 0; i < n && s == OV_OK; i++) {
            if (e[i].reserved != 0)
                s = OV_ERR_BAD_FLAGS;
            else if (e[i].length > max)
                s = OV_ERR_TOO_LARGE;
        }
    }
    if (s != OV_OK) { /* malformed: nothing ran */
        *cpl = ov_completion{0, d.cookie, s, d.op, 0, 0};
        c->errors++;
        c->g->errors++;
        return;
    }
    uint64_t moved = 0;
    ov_req_desc one{};
    one.op = d.op;
    one.flags = OV_REQ_INLINE;
    one.dtype_kind = OV_DT_BYTES;
    one.dtype_size = 1;
    one.target_win = d.target_win;
    one.target_epoch = d.target_epoch;
    for (size_t i = 0; i < n; i++) {
        one.target_off = e[i].target_off;
        one.length = e[i].length;
        if (d.op == OV_OP_PUT)
            std::memcpy(ov_req_inline_origin(&one), e[i].data, e[i].length);
        ov_completion r;
        execute(c, one, &r); /* counts it, and its error */
        if (r.status != OV_OK) {
            if (s == OV_OK)
                s = static_cast<ov_status_t>(r.status);
            continue;
        }
        moved += r.bytes;
        if (d.op == OV_OP_GET) /* into the caller's own window, checked above */
            std::memcpy(block + i * sizeof(ov_batch_entry) + offsetof(ov_batch_entry, data),
                        &r.inline_result, e[i].length);
    }
    *cpl = ov_completion{0, d.cookie, s, d.op, moved, 0}; /* the ring stamps it */
}
