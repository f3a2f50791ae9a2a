// When an idle, oversubscribed rank sleeps instead of polling
// (ompi/mca/osc/virt/osc_virt_idle.h), on a fake clock.
#include "osc_virt_idle.h"

#include <gtest/gtest.h>

namespace {

using ov::osc::IdleNap;

constexpr int64_t kMs = 1000 * 1000;

TEST(IdleNap, DisabledIsNeverDue)
{
    IdleNap n(kMs, 0);
    EXPECT_FALSE(n.enabled());
    EXPECT_FALSE(n.due(0));
    EXPECT_FALSE(n.due(1000 * kMs));
}

TEST(IdleNap, DueOnlyAfterTheIdlePeriod)
{
    IdleNap n(kMs, 20 * 1000);
    EXPECT_TRUE(n.enabled());
    EXPECT_EQ(n.nap_ns(), 20 * 1000);
    const int64_t t0 = 5 * kMs;
    EXPECT_FALSE(n.due(t0)); /* the first question starts the clock */
    EXPECT_FALSE(n.due(t0 + kMs - 1));
    EXPECT_TRUE(n.due(t0 + kMs));
    EXPECT_TRUE(n.due(t0 + 50 * kMs));
}

TEST(IdleNap, ActivityRestartsTheIdlePeriod)
{
    IdleNap n(kMs, 20 * 1000);
    n.busy(10 * kMs);
    EXPECT_FALSE(n.due(10 * kMs + kMs / 2));
    EXPECT_TRUE(n.due(11 * kMs));
    n.busy(11 * kMs); /* a request: back to polling at once */
    EXPECT_FALSE(n.due(11 * kMs + 1));
    EXPECT_FALSE(n.due(12 * kMs - 1));
    EXPECT_TRUE(n.due(12 * kMs));
}

TEST(IdleNap, AComputingRankNeverNaps)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 50 * kUs, 20 * kUs);
    /* MPI_Test every 100 us of computation for 10 ms: never due */
    int64_t t = 0;
    for (int i = 0; i < 100; ++i, t += 100 * kUs) {
        EXPECT_FALSE(n.due(t)) << "at " << t;
        n.pass_end(t + kUs);
    }
}

TEST(IdleNap, SpinningAfterComputingStartsTheIdlePeriodOver)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 50 * kUs, 20 * kUs);
    int64_t t = 0;
    EXPECT_FALSE(n.due(t));
    n.pass_end(t + kUs);
    t += 500 * kUs; /* computed for half a millisecond */
    EXPECT_FALSE(n.due(t));
    n.pass_end(t);
    /* now back-to-back passes 2 us apart */
    const int64_t spin_start = t;
    while (t + 2 * kUs < spin_start + kMs) {
        t += 2 * kUs;
        EXPECT_FALSE(n.due(t)) << "after " << (t - spin_start) << " ns of spinning";
        n.pass_end(t);
    }
    t = spin_start + kMs;
    EXPECT_TRUE(n.due(t));
    /* a nap of 50 us plus slack is part of the pass: the next one is due again */
    n.pass_end(t + 100 * kUs);
    EXPECT_TRUE(n.due(t + 101 * kUs));
}

/* Passes 10 us apart over [from, to): none of them due. */
void spin_not_due(IdleNap &n, int64_t from, int64_t to)
{
    for (int64_t t = from; t < to; t += 10 * 1000) {
        EXPECT_FALSE(n.due(t)) << "at " << t;
        n.pass_end(t);
    }
}

TEST(IdleNap, AHoldKeepsTheRankPollingThenTheIdlePeriodRuns)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 50 * kUs, 20 * kUs);
    spin_not_due(n, 0, kMs);
    EXPECT_TRUE(n.due(kMs));
    n.hold(kMs + 10 * kMs); /* a message woke the nap: poll through the burst */
    n.pass_end(kMs);
    spin_not_due(n, kMs + 10 * kUs, 12 * kMs);
    EXPECT_TRUE(n.due(12 * kMs));
    /* computing in between cannot shorten a hold */
    n.hold(20 * kMs);
    n.pass_end(12 * kMs);
    EXPECT_FALSE(n.due(15 * kMs)); /* after a 3 ms gap */
    n.pass_end(15 * kMs);
    spin_not_due(n, 15 * kMs + 10 * kUs, 21 * kMs);
    EXPECT_TRUE(n.due(21 * kMs));
}

} // namespace
