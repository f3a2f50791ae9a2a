/*
 * engine.cc — data plane: drain request rings, validate the single copy of
 * each descriptor, execute it (exec.h), post the completion, wake a waiting
 * frontend.
 */
#include <sched.h>

#include <cstring>

#include "backend.h"
#include "log.h"
#include "ov_futex.h"

const ov_win_info *ov_backend::find(uint32_t id) const
{
    if (id == 0 || id >= wins_.size() || !wins_[id].live)
        return nullptr;
    return &wins_[id].info;
}

uint32_t ov_backend::grant(const ov_win_info &w, const ov_requester &who) const
{
    const window &win = wins_[w.id];
    auto it = win.grants.find(who.rank);
    return it == win.grants.end() ? 0 : it->second;
}

void ov_backend::set_sleeping(uint32_t v)
{
    for (conn *c : ready_)
        c->ctl->backend_sleeping.store(v, std::memory_order_relaxed);
}

/* Memory as one request of `c` sees it: our region mappings, and c's own
 * process for single copy. */
class ov_backend::exec_env final : public ov_exec_env {
public:
    exec_env(const ov_backend &b, const conn &c) : b_(b), c_(c) {}
    char *region_span(uint32_t region, uint64_t off, uint64_t len) override
    {
        auto it = b_.regions_.find(region);
        if (it == b_.regions_.end() || !ov_in_bounds(off, len, it->second->region->size()))
            return nullptr;
        return it->second->region->base() + off;
    }
    ov_status_t caller_read(uint64_t addr, void *dst, uint64_t len) override
    {
        return c_.peer_mem.read(addr, dst, len);
    }
    ov_status_t caller_write(uint64_t addr, const void *src, uint64_t len) override
    {
        return c_.peer_mem.write(addr, src, len);
    }
    /* A registered window's owner.  Between its exit and our noticing it
     * (pidfd/socket in the next epoll round) its windows still look live. */
    ov_status_t proc_read(uint32_t proc, uint64_t addr, void *dst, uint64_t len) override
    {
        const conn *o = owner(proc);
        if (!o)
            return OV_ERR_STALE_WINDOW;
        ov_status_t s = o->peer_mem.read(addr, dst, len);
        return s == OV_OK || o->peer_mem.alive() ? s : OV_ERR_STALE_WINDOW;
    }
    ov_status_t proc_write(uint32_t proc, uint64_t addr, const void *src, uint64_t len) override
    {
        const conn *o = owner(proc);
        if (!o)
            return OV_ERR_STALE_WINDOW;
        ov_status_t s = o->peer_mem.write(addr, src, len);
        return s == OV_OK || o->peer_mem.alive() ? s : OV_ERR_STALE_WINDOW;
    }

private:
    const conn *owner(uint32_t proc) const
    {
        auto it = b_.conns_.find(proc);
        return it == b_.conns_.end() || it->second->doomed ? nullptr : it->second.get();
    }
    const ov_backend &b_;
    const conn &c_;
};

void ov_backend::execute(conn *c, const ov_req_desc &d, ov_completion *cpl)
{
    if (d.flags & OV_REQ_BATCH) { /* many small puts or gets (op_batch.cc) */
        serve_batch(c, d, cpl);
        return;
    }
    if (serve_quick(c, d, cpl)) /* small inline put/get (quick.cc) */
        return;
    const ov_requester who = requester(*c);
    ov_copy_plan plan;
    uint64_t moved = 0;
    ov_status_t s = ov_validate(d, who, *this, limits_, &plan);
    if (s == OV_OK) {
        exec_env env(*this, *c);
        s = ov_execute(plan, c->id, env, locks_, scratch_, &moved);
        /* validated plans lie inside live windows, which lie inside their regions
         * (a registered window's owner may have unmapped its memory: its fault) */
        if (s == OV_ERR_BOUNDS && plan.target.where == OV_AT_REGION)
            OV_LOG_ERR("internal: plan of conn %u op %u outside its region", c->id, d.op);
    }
    *cpl = ov_completion{0, d.cookie, s, d.op, moved, 0}; /* the ring stamps it */
    if (s == OV_OK && plan.result.where == OV_AT_INLINE) /* length <= 8: validated */
        std::memcpy(&cpl->inline_result, scratch_.inline_result, plan.result.len);
    c->requests++;
    c->g->requests++;
    c->bytes += moved;
    c->g->bytes += moved;
    if (s != OV_OK && s != OV_ERR_LOCK_BUSY) { /* a busy lock is retried, not a failure */
        c->errors++;
        c->g->errors++;
        OV_LOG_DEBUG("conn %u: request op %u: %s", c->id, d.op, ov_strerror(s));
    }
}

/* A container process that was just served waits on CPU fe_cpu - 1
 * (ov_layout.h); if that is ours, it spins for these completions on our core
 * (more busy threads than cores), and without a yield it would wait for the
 * scheduler to preempt our spinning: tens of microseconds. */
void ov_backend::yield_to_waiter_here(uint32_t fe_cpu)
{
    if (fe_cpu == 0)
        return;
    int cpu = sched_getcpu(); /* vDSO; only after serving, not on every empty pass */
    if (cpu < 0)
        return;
    if (fe_cpu != uint32_t(cpu) + 1) {
        dodger_.apart();
        return;
    }
    sched_yield();
    yields_to_waiter_++;
    dodger_.shared(cpu, ov_now_ns());
}

/* Returns descriptors served, or -1 if the process's rings are corrupt.
 * Serves at most kPassBudget units of work (backend.h): a process that
 * posts as fast as it can waits for the next pass like everyone else. */
int ov_backend::serve_process(conn *c)
{
    /* The cached count: re-reading the frontend's head index on every pass
     * took a cache line from the frontend each time it had just popped. */
    int64_t space = c->cq.room();
    if (space < 0)
        return -1;
    int done = 0;
    uint64_t spent = 0;
    while (spent < kPassBudget && space > 0) {
        ov_req_desc d;
        ov_ring_result r = c->rq.pop(&d); /* the one copy out of shared memory */
        if (r == OV_RING_EMPTY)
            break;
        if (r != OV_RING_OK)
            return -1;
        space--;
        done++;
        spent++;
        /* Small puts to a registered window wait to be written together;
         * anything else first completes them (put_batch.cc). */
        const int batched = batch_put(c, d);
        if (batched < 0)
            return -1;
        if (batched > 0)
            continue;
        if (flush_puts(c) < 0)
            return -1;
        ov_completion cpl;
        execute(c, d, &cpl);
        spent += cpl.bytes / kUnitBytes;
        if (!quiet_success(d, cpl) && c->cq.push(cpl) != OV_RING_OK)
            return -1;
    }
    if (flush_puts(c) < 0)
        return -1;
    if (done) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (c->ctl->fe_waiting.load(std::memory_order_relaxed)) {
            c->ctl->cq_seq.fetch_add(1, std::memory_order_release);
            ov_futex_wake(&c->ctl->cq_seq);
        } else if (c->kind == OV_COMM_UNIX) {
            yield_to_waiter_here(c->ctl->fe_cpu.load(std::memory_order_relaxed));
        }
    }
    return done;
}

/* One pass over every process with rings, each with its budget; the pass
 * starts one process further each time (round robin), so none is always
 * served first, nor always after the same busy one. */
int ov_backend::poll_rings()
{
    int total = 0;
    conn *bad[8];
    int nbad = 0;
    const size_t n_ready = ready_.size();
    if (n_ready == 0)
        return 0;
    if (++pass_start_ >= n_ready)
        pass_start_ = 0;
    for (size_t k = 0; k < n_ready; k++) {
        conn *c = ready_[(pass_start_ + k) % n_ready];
        int n = serve_process(c);
        if (n < 0) {
            if (nbad < 8)
                bad[nbad++] = c;
            continue;
        }
        total += n;
    }
    for (int i = 0; i < nbad; i++) {
        OV_LOG_WARN("conn %u (pid %u): ring indices corrupt: disconnecting it", bad[i]->id, bad[i]->peer_pid);
        close_conn(bad[i], "ring corrupt");
    }
    return total;
}
