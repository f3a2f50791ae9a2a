/*
 * put_batch.cc — small inline PUTs to a registered window, written to its
 * owner's memory several at a time (ov_backend::batch_put / flush_puts,
 * called by serve_process in engine.cc).
 *
 * Why: a put to an MPI_Win_create window in a container guest is written
 * into the owner process with process_vm_writev (single_copy.h), and each
 * call also re-checks the owner's image and acts as its uid: three system
 * calls for 8 bytes.  A process that issues many puts before one flush (IMB
 * aggregate mode, osu_put_bw) then waits on the backend's system calls, not
 * on its ring.  Consecutive such puts of one process to windows of one owner
 * go out as one process_vm_writev with an iovec per put (ov_peer_mem::
 * write_many): the kernel copies them in ring order, so a later put to the
 * same bytes still wins, exactly as one at a time.
 *
 * Ordering and completion: a batched descriptor's completion is posted only
 * after its bytes were written, and every other descriptor of the process
 * (which may read those bytes, or be a synchronization the origin waits for)
 * flushes the batch first, so completions stay in ring order and each says
 * what it said before.  A batch that fails part-way (the kernel stops at the
 * first page it cannot reach) is finished one request at a time through
 * execute(), which gives the failing request its usual error and the rest
 * their usual result.
 */
#include <sys/uio.h>

#include <cstring>

#include "backend.h"

int ov_backend::batch_put(conn *c, const ov_req_desc &d)
{
    if (d.op != OV_OP_PUT || (d.flags & ~OV_REQ_QUIET) != OV_REQ_INLINE || !(c->features & OV_FEAT_INLINE))
        return 0;
    const ov_win_info *w = find(d.target_win); /* a region window: the quick path's */
    if (!w || w->mem == OV_MEM_REGION)
        return 0;
    ov_copy_plan plan;
    if (ov_validate(d, requester(*c), *this, limits_, &plan) != OV_OK || plan.target.where != OV_AT_PROC ||
        plan.origin.where != OV_AT_INLINE || plan.len == 0)
        return 0; /* execute() answers it, with its error if any */
    put_batch &b = c->puts;
    if ((b.n == OV_BATCH || (b.n != 0 && b.owner != plan.target.region)) && flush_puts(c) < 0)
        return -1;
    b.d[b.n] = d;
    b.owner = plan.target.region;
    b.local[b.n] = iovec{ov_req_inline_origin(&b.d[b.n]), size_t(plan.len)};
    b.remote[b.n] = iovec{reinterpret_cast<void *>(uintptr_t(plan.target.off)), size_t(plan.len)};
    b.n++;
    return 1;
}

int ov_backend::flush_puts(conn *c)
{
    put_batch &b = c->puts;
    if (b.n == 0)
        return 0;
    const unsigned n = b.n;
    b.n = 0;
    unsigned done = 0;
    auto it = conns_.find(b.owner);
    if (n > 1 && it != conns_.end() && !it->second->doomed)
        (void) it->second->peer_mem.write_many(b.local, b.remote, n, &done);
    for (unsigned i = 0; i < n; i++) {
        ov_completion cpl;
        if (i < done) {
            const ov_req_desc &d = b.d[i];
            cpl = ov_completion{0, d.cookie, OV_OK, d.op, d.length, 0}; /* the ring stamps it */
            c->requests++;
            c->g->requests++;
            c->bytes += d.length;
            c->g->bytes += d.length;
        } else {
            execute(c, b.d[i], &cpl); /* validates again: the same answer, with its error if any */
        }
        if (!quiet_success(b.d[i], cpl) && c->cq.push(cpl) != OV_RING_OK)
            return -1;
    }
    return int(n);
}
