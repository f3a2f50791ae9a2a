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
 * machine (session 6, two container guests, 4 MiB puts, target in
 * MPI_Ibarrier+MPI_Test): 6.8 GB/s with the target polling, 9.7 GB/s with
 * it sleeping between tests.  Once a rank has seen no activity of ours for
 * idle_ns, each idle progress pass sleeps nap_ns.
 *
 * Only a rank that spins counts as idle: passes of opal_progress that
 * follow each other within spin_gap_ns (measured from the end of one pass,
 * after its yield or nap, to the start of the next).  A rank that computes
 * between MPI_Test calls leaves longer gaps and never naps, so the nap
 * cannot stretch its computation.
 *
 * Cost: osc virt sees only its own requests, not other components'
 * traffic.  The nap therefore sleeps in poll() on the process's event
 * descriptors (osc_virt_wake.h), so a tcp message wakes the rank at once;
 * traffic that raises no event (shared memory with a same-node peer,
 * networks that are polled) would wait up to one nap, which is why the
 * default turns the nap on only where every transport raises events.
 *
 * Contract (no MPI; one thread at a time, under the link's lock):
 *   IdleNap(idle_ns, nap_ns, spin_gap_ns): nap_ns 0 disables it (due() is
 *               never true).
 *   busy(now)   — something of ours happened (a request submitted or
 *                 retired, requests in flight).
 *   hold(until) — busy until then (a message woke the nap).
 *   pass_end(now) — a progress pass (with its yield or nap) ended.
 *   due(now)    — called at the start of an idle pass: true when the last
 *                 busy() is at least idle_ns old and the rank has spun
 *                 (no gap longer than spin_gap_ns between passes) since.
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

    IdleNap(int64_t idle_ns, int64_t nap_ns, int64_t spin_gap_ns = kDefaultSpinGapNs)
        : idle_ns_(idle_ns), nap_ns_(nap_ns), spin_gap_ns_(spin_gap_ns)
    {
    }

    bool enabled() const { return nap_ns_ > 0; }
    int64_t nap_ns() const { return nap_ns_; }

    void busy(int64_t now) { last_busy_ = now; }

    /** Counts the rank as busy until `until` (then idle_ns more): after
     *  traffic of another component, which tends to come in bursts. */
    void hold(int64_t until)
    {
        if (until > last_busy_) {
            last_busy_ = until;
        }
    }

    void pass_end(int64_t now) { last_pass_end_ = now; }

    bool due(int64_t now)
    {
        if (!enabled()) {
            return false;
        }
        const bool gap = last_pass_end_ >= 0 && now - last_pass_end_ > spin_gap_ns_;
        if (last_busy_ < 0 || gap) { /* first question, or the rank did something else */
            hold(now);
            return false;
        }
        return now - last_busy_ >= idle_ns_;
    }

private:
    int64_t idle_ns_, nap_ns_, spin_gap_ns_;
    int64_t last_busy_ = -1;
    int64_t last_pass_end_ = -1;
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_IDLE_H */
