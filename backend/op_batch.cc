/*
 * op_batch.cc — OV_REQ_BATCH: many small inline PUTs or GETs of one process
 * to one target window in a single descriptor (ov_backend::serve_batch,
 * called by execute() in engine.cc; the wire contract is in ov_protocol.h,
 * the checks in op_batch.h).
 *
 * Why: with one descriptor per 8-byte operation a burst before one flush
 * costs, per operation, a ring slot crossing between the cores, a doorbell
 * check on the origin, for a get a completion back, and a pass of this
 * thread; on a machine with fewer cores than busy threads the last is what
 * the origin waits for.  A batch carries up to OV_BATCH_ENTRIES_MAX of them.
 *
 * Hostile input: the block of entries lies in the caller's staging window,
 * which the caller may rewrite at any time.  It is checked to lie inside a
 * region window the caller owns, copied out ONCE into our memory, and the
 * copy is checked whole (op_batch.h: count, reserved bits, lengths, and
 * every entry's bounds against the target window) before anything runs.
 *
 * Running it: when the target is a region window the caller holds with the
 * permission the op needs (the quick path's cached answer, quick.cc), every
 * entry is already known to be valid and is one memcpy.  When it is a
 * registered window (MPI_Win_create in a container guest), the leading
 * entries that validate as their own descriptors would, to one owner, go
 * in one process_vm_writev or process_vm_readv (batch_on_owner; one at a
 * time that was three system calls per 8 bytes, put_batch.cc).  Otherwise,
 * and for whatever those left (no grant, a stale id, a page the kernel
 * could not reach), each entry runs as the OV_REQ_INLINE descriptor it
 * stands for would (execute(): validation and the executor) until one
 * fails: an entry can do nothing a descriptor of its own could not, and
 * fails with the same code.  GET results go back
 * into the entry's data[] of the block: inside the caller's own window,
 * checked, and not inside the target window (so no write-back can land in
 * the memory being read).
 */
#include "op_batch.h"

#include <cstring>

#include "backend.h"
#include "log.h"

namespace {
/* Where entry i's GET result goes: its data[] in the caller's block. */
char *result_in(char *block, size_t i)
{
    return block + i * sizeof(ov_batch_entry) + offsetof(ov_batch_entry, data);
}
} // namespace

ov_status_t ov_batch_check_desc(const ov_req_desc &d, uint32_t features) noexcept
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

ov_status_t ov_batch_check_entries(const ov_batch_entry *e, size_t n, uint16_t op,
                                   uint64_t target_size) noexcept
{
    const uint32_t max = op == OV_OP_PUT ? OV_INLINE_ORIGIN_MAX : OV_INLINE_RESULT_MAX;
    for (size_t i = 0; i < n; i++) {
        if (e[i].reserved != 0)
            return OV_ERR_BAD_FLAGS;
        if (e[i].length == 0)
            return OV_ERR_BAD_DTYPE;
        if (e[i].length > max)
            return OV_ERR_TOO_LARGE;
        if (!ov_in_bounds(e[i].target_off, e[i].length, target_size))
            return OV_ERR_BOUNDS;
    }
    return OV_OK;
}

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

const ov_backend::quick_window *ov_backend::batch_target(conn *c, const ov_req_desc &d)
{
    const quick_window &q = c->quick;
    if ((q.gen != tables_gen_ || q.id != d.target_win || q.epoch != d.target_epoch) && !learn_quick(c, d))
        return nullptr;
    const uint32_t need = ov_perms_needed(d.op);
    if ((q.perms & need) != need || limits_.max_length < OV_INLINE_ORIGIN_MAX)
        return nullptr;
    return &q;
}

void ov_backend::serve_batch(conn *c, const ov_req_desc &d, ov_completion *cpl)
{
    ov_status_t s = ov_batch_check_desc(d, c->features);
    char *block = s == OV_OK ? batch_block(c, d, &s) : nullptr;
    const size_t n = size_t(d.length / sizeof(ov_batch_entry));
    ov_batch_entry e[OV_BATCH_ENTRIES_MAX];
    const quick_window *q = nullptr;
    if (block) {
        std::memcpy(e, block, n * sizeof(ov_batch_entry)); /* the one copy out of shared memory */
        q = batch_target(c, d);
        s = ov_batch_check_entries(e, n, d.op, q ? q->size : UINT64_MAX);
        if (s == OV_OK && q && block < q->base + q->size && q->base < block + d.length)
            s = OV_ERR_LOCAL_ACCESS; /* the block lies in the target window */
    }
    if (s != OV_OK) { /* malformed or misplaced: nothing ran */
        *cpl = ov_completion{0, d.cookie, s, d.op, 0, 0};
        c->errors++;
        c->g->errors++;
        OV_LOG_DEBUG("conn %u: batch op %u: %s", c->id, d.op, ov_strerror(s));
        return;
    }
    uint64_t moved = 0;
    if (q) { /* every entry checked against this window above */
        if (d.op == OV_OP_PUT) {
            for (size_t i = 0; i < n; i++) {
                ov_batch_copy(q->base + e[i].target_off, e[i].data, e[i].length);
                moved += e[i].length;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                ov_batch_copy(result_in(block, i), q->base + e[i].target_off, e[i].length);
                moved += e[i].length;
            }
        }
        c->requests += n;
        c->g->requests += n;
        c->bytes += moved;
        c->g->bytes += moved;
    } else {
        ov_req_desc one{};
        one.op = d.op;
        one.flags = OV_REQ_INLINE;
        one.dtype_kind = OV_DT_BYTES;
        one.dtype_size = 1;
        one.target_win = d.target_win;
        one.target_epoch = d.target_epoch;
        for (size_t i = batch_on_owner(c, one, e, n, block, &moved); i < n && s == OV_OK; i++) {
            one.target_off = e[i].target_off;
            one.length = e[i].length;
            if (d.op == OV_OP_PUT)
                std::memcpy(ov_req_inline_origin(&one), e[i].data, e[i].length);
            ov_completion r;
            execute(c, one, &r); /* counts it, and its error */
            s = static_cast<ov_status_t>(r.status);
            if (s != OV_OK)
                break; /* the first failure ends the batch */
            moved += r.bytes;
            if (d.op == OV_OP_GET)
                std::memcpy(result_in(block, i), &r.inline_result, e[i].length);
        }
    }
    *cpl = ov_completion{0, d.cookie, s, d.op, moved, 0}; /* the ring stamps it */
}

size_t ov_backend::batch_on_owner(conn *c, ov_req_desc one, ov_batch_entry *e, size_t n, char *block,
                                  uint64_t *moved)
{
    const ov_win_info *w = find(one.target_win);
    if (!w || w->mem == OV_MEM_REGION || n < 2)
        return 0; /* a region window (no grant), a stale id, or one entry: one by one */
    /* Entries whose target bytes follow each other (a burst to consecutive
     * offsets, as OSU and IMB issue) share one remote iovec, their bytes
     * gathered here: the kernel then pins one page for them, not one per
     * entry (64 iovecs took ~11 us a call, 2026-12-07). */
    unsigned char bytes[OV_BATCH_ENTRIES_MAX * OV_INLINE_ORIGIN_MAX];
    iovec local[OV_BATCH_ENTRIES_MAX], remote[OV_BATCH_ENTRIES_MAX];
    size_t first[OV_BATCH_ENTRIES_MAX + 1]; /* entry that starts each run */
    unsigned runs = 0;
    uint64_t at = 0, run_end = 0;
    const ov_requester who = requester(*c);
    uint32_t owner = 0;
    size_t k = 0;
    for (; k < n; k++) {
        one.target_off = e[k].target_off;
        one.length = e[k].length;
        ov_copy_plan plan;
        if (ov_validate(one, who, *this, limits_, &plan) != OV_OK || plan.target.where != OV_AT_PROC ||
            plan.len != e[k].length || (k != 0 && plan.target.region != owner))
            break; /* it runs on its own, with its own error if any */
        owner = plan.target.region;
        if (one.op == OV_OP_PUT)
            std::memcpy(bytes + at, e[k].data, e[k].length);
        if (runs != 0 && plan.target.off == run_end) {
            local[runs - 1].iov_len += e[k].length;
            remote[runs - 1].iov_len += e[k].length;
        } else {
            local[runs] = iovec{bytes + at, e[k].length};
            remote[runs] = iovec{reinterpret_cast<void *>(uintptr_t(plan.target.off)), e[k].length};
            first[runs++] = k;
        }
        run_end = plan.target.off + e[k].length;
        at += e[k].length;
    }
    first[runs] = k;
    auto it = conns_.find(owner);
    if (k < 2 || it == conns_.end() || it->second->doomed)
        return 0;
    unsigned runs_done = 0;
    const ov_peer_mem &mem = it->second->peer_mem;
    (void) (one.op == OV_OP_PUT ? mem.write_many(local, remote, runs, &runs_done)
                                : mem.read_many(local, remote, runs, &runs_done));
    const size_t done = first[runs_done]; /* whole runs only */
    uint64_t moved_here = 0;
    for (size_t i = 0; i < done; i++) {
        if (one.op == OV_OP_GET)
            std::memcpy(result_in(block, i), bytes + moved_here, e[i].length);
        moved_here += e[i].length;
    }
    *moved += moved_here;
    c->requests += done;
    c->g->requests += done;
    c->bytes += moved_here;
    c->g->bytes += moved_here;
    return done;
}
