/*
 * core_share.h — keeps the data-plane thread off the core of a process that
 * spins waiting for its completions.
 *
 * Why: with more busy threads than cores (a 2-core host running two ranks
 * and the backend), the scheduler may put the backend thread and a rank
 * waiting for it on one core while the other core runs a rank idling in
 * MPI.  Every request then costs two context switches (about 3 us here)
 * instead of a cache-line round trip (about 0.2 us).  serve_process()
 * already yields to such a waiter at once (ov_proc_ctl.fe_cpu); when that
 * keeps happening this moves the thread: it drops that CPU from its
 * affinity mask for a while, so the kernel migrates it to another core,
 * then restores the original mask (the kernel rarely moves a running
 * thread back on its own).
 *
 * Contract:
 *   init(enabled) saves the thread's affinity mask; does nothing later if
 *   !enabled (--bind-cpu pinned it) or the mask has a single CPU.
 *   shared(cpu, now) — the thread just yielded to a waiter on `cpu`;
 *   apart() — it just served a spinning waiter on another CPU.
 *   `threshold` shared() in a row, no apart() between them, move it off
 *   `cpu` for hold_ns.  In a row, not within a time window: a bulk
 *   transfer serves one piece every 50-100 us when the two share a core,
 *   a rate no window tuned for small requests catches, and sharing
 *   halves such a transfer's speed (2026-11-21, bench/compare --headline:
 *   put_bw runs split into ~12 and ~21 GB/s by placement alone).
 *   tick(now) restores the saved mask once the hold is over (now: a
 *   callable returning the time in ns).
 * Call all three from the data-plane thread only.
 */
#ifndef OMPI_VIRT_BACKEND_CORE_SHARE_H
#define OMPI_VIRT_BACKEND_CORE_SHARE_H

#include <sched.h>

#include <cstdint>

class ov_core_dodger {
public:
    static constexpr uint32_t threshold = 16;
    static constexpr int64_t hold_ns = 200 * 1000 * 1000;

    void init(bool enabled) noexcept;
    void shared(int cpu, int64_t now_ns) noexcept;
    void apart() noexcept { streak_ = 0; }
    /* now() is read only while moved, so the idle path costs a branch */
    template <class Now> void tick(Now now) noexcept
    {
        if (moved_ && now() - moved_at_ >= hold_ns)
            restore();
    }
    bool moved() const noexcept { return moved_; }
    uint64_t moves() const noexcept { return moves_; }

private:
    void restore() noexcept;
    bool enabled_ = false, moved_ = false;
    cpu_set_t saved_{};
    uint32_t streak_ = 0;
    int64_t moved_at_ = 0;
    uint64_t moves_ = 0;
};

#endif
