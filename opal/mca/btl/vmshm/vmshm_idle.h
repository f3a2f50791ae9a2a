/*
 * vmshm_idle.h — when btl vmshm's progress should sleep instead of polling.
 *
 * Why: a rank waiting in MPI (MPI_Recv, a barrier) polls its fast boxes and
 * FIFO in a loop.  On a host with more busy threads than cores (ranks of two
 * guests and the backend on 2 cores) that spinning takes the core from the
 * rank it is waiting for.  vmshm's messages raise no event a sleeper could
 * wait on (no system call on the eager path), so the nap is a plain bounded
 * nanosleep: a message that arrives during a nap waits for its end.  The nap
 * therefore starts only after the rank has spun idle for idle_ns, begins at
 * nap_ns and doubles after each nap up to max_nap_ns: a message is delayed by
 * at most max_nap_ns, and only after it already kept its receiver waiting
 * idle_ns.  Anything of ours (a delivery, a returned fragment, a send) ends
 * the nap sequence at once.
 *
 * Cheap while busy: the clock is read only every kCheckEvery-th idle pass
 * until the nap starts (a pass with traffic costs one compare), so the
 * latency path does not read the clock at all.
 *
 * Only spinning counts as idle: checkpoints kCheckEvery idle passes apart
 * that are more than kCheckEvery * spin_gap_ns apart in time mean the rank
 * computes between its MPI calls (e.g. MPI_Test once per time step): the
 * idle time starts over, so the nap never stretches a computation.  While
 * napping, a pass that comes more than spin_gap_ns after the previous nap
 * ended likewise ends the nap sequence.
 *
 * Contract (MPI-free; one thread at a time, under the module's lock):
 *   vmshm_idle(idle_ns, nap_ns, max_nap_ns, spin_gap_ns): idle_ns <= 0 or
 *             nap_ns <= 0 disables it (idle() never asks for the clock);
 *             max_nap_ns below nap_ns means nap_ns.
 *   busy()    — traffic of ours: the next nap is at least idle_ns away.
 *   idle()    — a progress pass found nothing; true when the caller must
 *               read the clock and call tick(now).
 *   tick(now) — ns to sleep now (0: keep polling).
 *   napped(now) — the sleep tick() asked for ended at `now`.
 */
#ifndef OPAL_BTL_VMSHM_IDLE_H
#define OPAL_BTL_VMSHM_IDLE_H

#include <cstdint>

class vmshm_idle {
public:
    static constexpr uint32_t kCheckEvery = 256;
    static constexpr int64_t kDefaultSpinGapNs = 20 * 1000;

    vmshm_idle() = default;
    vmshm_idle(int64_t idle_ns, int64_t nap_ns, int64_t max_nap_ns, int64_t spin_gap_ns = kDefaultSpinGapNs)
        : on_(idle_ns > 0 && nap_ns > 0), idle_ns_(idle_ns), nap_ns_(nap_ns),
          max_nap_ns_(max_nap_ns > nap_ns ? max_nap_ns : nap_ns), spin_gap_ns_(spin_gap_ns), next_nap_(nap_ns)
    {
    }

    bool enabled() const { return on_; }

    void busy()
    {
        if (empty_ != 0) {
            empty_ = 0;
            since_ = -1;
            napping_ = false;
            next_nap_ = nap_ns_;
        }
    }

    bool idle()
    {
        if (!on_) {
            return false;
        }
        ++empty_;
        return napping_ || 0 == empty_ % kCheckEvery;
    }

    int64_t tick(int64_t now)
    {
        if (napping_) {
            if (now - last_ > spin_gap_ns_) { /* the rank did something else since the nap */
                restart(now);
                return 0;
            }
            const int64_t nap = next_nap_;
            next_nap_ = next_nap_ > max_nap_ns_ / 2 ? max_nap_ns_ : 2 * next_nap_;
            return nap;
        }
        if (since_ < 0 || now - last_ > int64_t(kCheckEvery) * spin_gap_ns_) {
            restart(now); /* first checkpoint, or passes too far apart: computing */
            return 0;
        }
        last_ = now;
        if (now - since_ < idle_ns_) {
            return 0;
        }
        napping_ = true;
        return tick(now);
    }

    void napped(int64_t now) { last_ = now; }

    /* For counters and tests. */
    bool napping() const { return napping_; }
    int64_t next_nap_ns() const { return next_nap_; }

private:
    void restart(int64_t now)
    {
        since_ = last_ = now;
        napping_ = false;
        next_nap_ = nap_ns_;
    }

    bool on_ = false;
    int64_t idle_ns_ = 0, nap_ns_ = 0, max_nap_ns_ = 0, spin_gap_ns_ = kDefaultSpinGapNs;
    int64_t next_nap_ = 0;
    uint64_t empty_ = 0;  /* idle passes since the last traffic */
    int64_t since_ = -1;  /* first checkpoint of this idle run */
    int64_t last_ = -1;   /* last checkpoint, or end of the last nap */
    bool napping_ = false;
};

#endif
