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
 * Cost: osc virt sees only its own requests, not other components'
 * traffic (pt2pt over tcp, RMA through the fallback osc).  A message
 * reaching a rank that has had no request of ours for idle_ns is noticed up
 * to one nap (plus the kernel's timer slack, 50 us by default) later, and a
 * long pt2pt-only phase pays that on every message.  Hence off by default
 * (osc_virt_idle_nap_us 0) and, when set, used only when waits yield
 * (oversubscribed, osc_virt_yield).
 *
 * Contract (no MPI; one thread at a time, under the link's lock):
 *   IdleNap(idle_ns, nap_ns): nap_ns 0 disables it (due() is never true).
 *   busy(now)   — something of ours happened (a request submitted or
 *                 retired, requests in flight).
 *   due(now)    — true when the last busy() is at least idle_ns old.
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

    IdleNap(int64_t idle_ns, int64_t nap_ns) : idle_ns_(idle_ns), nap_ns_(nap_ns) {}

    bool enabled() const { return nap_ns_ > 0; }
    int64_t nap_ns() const { return nap_ns_; }

    void busy(int64_t now) { last_busy_ = now; }

    bool due(int64_t now)
    {
        if (!enabled()) {
            return false;
        }
        if (last_busy_ < 0) {
            last_busy_ = now;
            return false;
        }
        return now - last_busy_ >= idle_ns_;
    }

private:
    int64_t idle_ns_, nap_ns_;
    int64_t last_busy_ = -1;
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_IDLE_H */
