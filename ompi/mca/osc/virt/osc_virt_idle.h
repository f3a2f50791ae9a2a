/*
 * osc_virt_idle.h — when a rank that has nothing to do inside MPI should
 * sleep instead of polling.
 *
 * Why: on a host with more busy threads than cores (two ranks and the
 * backend's thread on 2 cores) a rank waiting in MPI_Barrier while the other
 * one streams puts through the backend polls opal_progress in a loop.  Open
 * MPI's answer, yield_when_idle (osc_virt_yield turns it on), no longer
 * helps: the EEVDF scheduler still gives a task that yields on every pass
 * its fair half of the core, so the backend thread or the origin rank
 * sharing that core runs at half speed.  Measured on the project's 2-core
 * machine (2026-11-21, two container guests, 4 MiB puts, target in
 * MPI_Ibarrier+MPI_Test): 6.8 GB/s with the target polling, 9.7 GB/s with
 * it sleeping between tests.  Once a rank has seen no activity of ours for
 * idle_ns, each idle progress pass sleeps nap_ns.
 *
 * Only a rank that spins counts as idle: passes of opal_progress that
 * follow each other within spin_gap_ns (measured from the end of one pass,
 * after its yield or nap, to the start of the next).  A rank that computes
 * between MPI_Test calls leaves longer gaps and never naps, so the nap
 * cannot stretch its computation.  A longer gap in which the thread used
 * less than spin_gap_ns of CPU is not computation: the rank was preempted
 * (on a 2-core host it shares a core with the origin or the backend's
 * thread every few milliseconds).  Counting those as computation kept a
 * spinning target from ever napping in the runs where it shared a core
 * most, the slow mode of a 4 MiB put stream (2026-11-21: 472-722 naps per
 * run at 10-11 GB/s against 2000-5800 at 18-23 GB/s).
 *
 * The nap grows: it doubles after every nap that nothing cut short, up to
 * max_nap_ns, and is back to nap_ns after anything of ours or a message.
 * Each nap costs its rank about 20 us of CPU (the wake-up and a pass of
 * opal_progress over its sockets): 50 us naps took 17-19% of a core from
 * the two threads streaming a put beside it, 1 ms naps 3-4% (2026-11-21,
 * 4 MiB puts across container guests: 24-27 GB/s against 32).
 *
 * Cost: osc virt sees only its own requests, not other components'
 * traffic.  The nap therefore sleeps in poll() on the process's event
 * descriptors (osc_virt_wake.h), so a tcp message wakes the rank at once;
 * traffic that raises no event (shared memory with a same-node peer,
 * networks that are polled) would wait up to one nap, which is why the
 * default turns the nap on only where every transport raises events.
 *
 * Contract (no MPI; one thread at a time, under the link's lock):
 *   IdleNap(idle_ns, nap_ns, spin_gap_ns, max_nap_ns): nap_ns 0 disables
 *               it (due() is never true); max_nap_ns below nap_ns means
 *               nap_ns (a nap that does not grow).
 *   nap_ns()    — how long the next nap is.
 *   napped()    — a nap ran its full length: the next one is twice as
 *                 long, at most max_nap_ns.
 *   busy(now)   — something of ours happened (a request submitted or
 *                 retired, requests in flight); naps start over at nap_ns.
 *   hold(until) — busy until then (a message woke the nap).
 *   pass_end(now, cpu) — a progress pass (with its yield or nap) ended;
 *                 cpu: the thread's CPU time then, or kNoCpu.
 *   long_gap(now) — the gap since the last pass_end is longer than
 *                 spin_gap_ns: due() needs the thread's CPU time to tell
 *                 computation from preemption (a system call, so the
 *                 caller reads it only then).
 *   due(now, cpu) — called at the start of an idle pass: true when the
 *                 last busy() is at least idle_ns old and the rank has
 *                 spun since: no gap between passes longer than
 *                 spin_gap_ns in which it used more than spin_gap_ns of
 *                 CPU.  A long gap whose CPU time is unknown (kNoCpu at
 *                 either end) counts as computation.
 *   The first due() counts from the first call of either: a rank that never
 *   did anything is idle from the moment it first asks.
 */
#ifndef OMPI_OSC_VIRT_IDLE_H
#define OMPI_OSC_VIRT_IDLE_H

#include <cstdint>

namespace ov::osc {

class IdleNap {
public:
    static constexpr int64_t kDefaultIdleNs = 1000 * 1000; /* 1 ms */
    /* A spinning rank's passes follow each other within a few microseconds
     * (the rest of opal_progress and the wait loop around it); a computing
     * rank's are further apart. */
    static constexpr int64_t kDefaultSpinGapNs = 20 * 1000;

    IdleNap(int64_t idle_ns, int64_t nap_ns, int64_t spin_gap_ns = kDefaultSpinGapNs,
            int64_t max_nap_ns = 0)
        : idle_ns_(idle_ns), nap_ns_(nap_ns), spin_gap_ns_(spin_gap_ns),
          max_nap_ns_(max_nap_ns > nap_ns ? max_nap_ns : nap_ns), next_nap_ns_(nap_ns)
    {
    }

    bool enabled() const { return nap_ns_ > 0; }
    int64_t nap_ns() const { return next_nap_ns_; }

    void napped()
    {
        next_nap_ns_ = next_nap_ns_ > max_nap_ns_ / 2 ? max_nap_ns_ : 2 * next_nap_ns_;
    }

    void busy(int64_t now)
    {
        last_busy_ = now;
        next_nap_ns_ = nap_ns_;
    }

    /** Counts the rank as busy until `until` (then idle_ns more): after
     *  traffic of another component, which tends to come in bursts. */
    void hold(int64_t until)
    {
        if (until > last_busy_) {
            last_busy_ = until;
        }
        next_nap_ns_ = nap_ns_;
    }

    static constexpr int64_t kNoCpu = -1;

    void pass_end(int64_t now, int64_t cpu = kNoCpu)
    {
        last_pass_end_ = now;
        last_pass_end_cpu_ = cpu;
    }

    bool long_gap(int64_t now) const
    {
        return last_pass_end_ >= 0 && now - last_pass_end_ > spin_gap_ns_;
    }

    bool due(int64_t now, int64_t cpu = kNoCpu)
    {
        if (!enabled()) {
            return false;
        }
        if (last_busy_ < 0 || (long_gap(now) && computed_since_pass(cpu))) {
            hold(now); /* first question, or the rank did something else */
            return false;
        }
        return now - last_busy_ >= idle_ns_;
    }

private:
    bool computed_since_pass(int64_t cpu) const
    {
        return kNoCpu == cpu || kNoCpu == last_pass_end_cpu_ ||
               cpu - last_pass_end_cpu_ > spin_gap_ns_;
    }

    int64_t idle_ns_, nap_ns_, spin_gap_ns_, max_nap_ns_;
    int64_t next_nap_ns_;
    int64_t last_busy_ = -1;
    int64_t last_pass_end_ = -1;
    int64_t last_pass_end_cpu_ = kNoCpu;
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_IDLE_H */
