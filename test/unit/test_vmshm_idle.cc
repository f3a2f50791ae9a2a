// When btl vmshm's progress sleeps instead of polling
// (opal/mca/btl/vmshm/vmshm_idle.h), on a fake clock.
#include "vmshm_idle.h"

#include <gtest/gtest.h>

namespace {

constexpr int64_t kUs = 1000;
constexpr int64_t kMs = 1000 * kUs;

/* Idle passes 1 us apart until the nap asks for the clock; returns the
 * nap tick() asked for (0 when it asked none) and advances *now. */
int64_t spin_to_checkpoint(vmshm_idle &n, int64_t *now)
{
    for (uint32_t i = 0; i < vmshm_idle::kCheckEvery; ++i) {
        *now += kUs;
        if (n.idle()) {
            return n.tick(*now);
        }
    }
    ADD_FAILURE() << "no checkpoint within kCheckEvery idle passes";
    return 0;
}

/* Spins idle from *now until the first nap; returns its length. */
int64_t spin_until_nap(vmshm_idle &n, int64_t *now, int max_checkpoints = 100)
{
    for (int c = 0; c < max_checkpoints; ++c) {
        const int64_t nap = spin_to_checkpoint(n, now);
        if (nap > 0) {
            return nap;
        }
    }
    return 0;
}

TEST(VmshmIdle, DisabledNeverAsksForTheClock)
{
    vmshm_idle off(0, 50 * kUs, kMs);
    vmshm_idle no_nap(kMs, 0, kMs);
    for (int i = 0; i < 10000; ++i) {
        ASSERT_FALSE(off.idle());
        ASSERT_FALSE(no_nap.idle());
    }
    EXPECT_FALSE(off.enabled());
    EXPECT_FALSE(no_nap.enabled());
}

TEST(VmshmIdle, BusyPassesNeverReadTheClock)
{
    vmshm_idle n(kMs, 50 * kUs, kMs);
    /* a latency loop: a few idle polls per message, then traffic */
    for (int msg = 0; msg < 100000; ++msg) {
        for (int i = 0; i < 20; ++i) {
            ASSERT_FALSE(n.idle());
        }
        n.busy();
    }
}

TEST(VmshmIdle, NapsOnlyAfterSpinningIdleForIdleNs)
{
    vmshm_idle n(kMs, 50 * kUs, kMs);
    int64_t now = 0;
    int64_t nap = spin_until_nap(n, &now);
    EXPECT_EQ(nap, 50 * kUs);
    /* the first checkpoint starts the idle period; the nap comes idle_ns later */
    EXPECT_GE(now, kMs);
    EXPECT_LE(now, kMs + 2 * int64_t(vmshm_idle::kCheckEvery) * kUs);
    EXPECT_TRUE(n.napping());
}

TEST(VmshmIdle, NapsDoubleUpToTheBoundAndEveryPassNaps)
{
    vmshm_idle n(kMs, 50 * kUs, 300 * kUs);
    int64_t now = 0;
    ASSERT_EQ(spin_until_nap(n, &now), 50 * kUs);
    const int64_t want[] = {100 * kUs, 200 * kUs, 300 * kUs, 300 * kUs, 300 * kUs};
    int64_t nap = 50 * kUs;
    for (int64_t w : want) {
        now += nap;
        n.napped(now);
        now += kUs;              /* the rest of opal_progress, the wait loop */
        ASSERT_TRUE(n.idle());   /* napping: every idle pass asks */
        nap = n.tick(now);
        EXPECT_EQ(nap, w);
    }
}

TEST(VmshmIdle, TrafficEndsTheNapsAtOnce)
{
    vmshm_idle n(kMs, 50 * kUs, kMs);
    int64_t now = 0;
    ASSERT_GT(spin_until_nap(n, &now), 0);
    n.napped(now += 50 * kUs);
    n.busy(); /* a message */
    EXPECT_FALSE(n.napping());
    /* back to polling without the clock for at least kCheckEvery - 1 passes */
    for (uint32_t i = 0; i + 1 < vmshm_idle::kCheckEvery; ++i) {
        ASSERT_FALSE(n.idle());
    }
    /* and a full idle period before the next nap, which starts short again */
    const int64_t restart = now;
    EXPECT_EQ(spin_until_nap(n, &now), 50 * kUs);
    EXPECT_GE(now - restart, kMs);
}

TEST(VmshmIdle, AComputingRankNeverNaps)
{
    /* MPI_Test once per 100 us step: idle passes far apart */
    vmshm_idle n(kMs, 50 * kUs, kMs);
    int64_t now = 0;
    for (int i = 0; i < 100000; ++i) {
        now += 100 * kUs;
        if (n.idle()) {
            ASSERT_EQ(n.tick(now), 0) << "pass " << i;
        }
    }
}

TEST(VmshmIdle, ComputingAfterNapsStopsThem)
{
    vmshm_idle n(kMs, 50 * kUs, kMs);
    int64_t now = 0;
    ASSERT_GT(spin_until_nap(n, &now), 0);
    n.napped(now += 50 * kUs);
    /* the wait ended through another transport; the rank computes 5 ms and tests once */
    now += 5 * kMs;
    ASSERT_TRUE(n.idle());
    EXPECT_EQ(n.tick(now), 0);
    EXPECT_FALSE(n.napping());
}

} // namespace
