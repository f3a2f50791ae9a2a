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

/* A spinning rank preempted for milliseconds at a time (two
 * ranks and the backend's thread on 2 cores) used to count as computing at
 * every preemption and never napped. */
TEST(IdleNap, APreemptedSpinningRankStillNaps)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 50 * kUs, 20 * kUs);
    int64_t t = 0, cpu = 0;
    EXPECT_FALSE(n.due(t, cpu));
    /* passes 5 us apart (all of it CPU), then 3 ms off the CPU */
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 40; ++i) {
            t += 5 * kUs;
            cpu += 5 * kUs;
            if (n.long_gap(t)) {
                ADD_FAILURE() << "a 5 us gap is long";
            }
            n.due(t, IdleNap::kNoCpu); /* short gaps need no CPU time */
            n.pass_end(t, cpu);
        }
        t += 3 * kMs;
        cpu += 2 * kUs;
        ASSERT_TRUE(n.long_gap(t));
        EXPECT_TRUE(n.due(t, cpu)) << "round " << round;
        n.pass_end(t, cpu);
    }
}

TEST(IdleNap, ALongGapWithoutCpuTimeCountsAsComputing)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 50 * kUs, 20 * kUs);
    spin_not_due(n, 0, kMs);
    n.pass_end(kMs, 100 * kUs);
    /* 3 ms of wall time, 2.9 ms of it on the CPU: computation */
    EXPECT_FALSE(n.due(4 * kMs, 3 * kMs));
    /* a busy pass: no CPU time at its end */
    n.pass_end(4 * kMs + 10 * kUs);
    EXPECT_FALSE(n.due(7 * kMs, 3 * kMs + 20 * kUs));
    /* no CPU time now */
    n.pass_end(7 * kMs, 3 * kMs + 20 * kUs);
    EXPECT_FALSE(n.due(10 * kMs, IdleNap::kNoCpu));
    /* both known and the gap mostly off the CPU, but a hold is a hold */
    n.pass_end(10 * kMs, 3 * kMs + 30 * kUs);
    EXPECT_FALSE(n.due(10 * kMs + 500 * kUs, 3 * kMs + 40 * kUs));
    EXPECT_TRUE(n.due(11 * kMs, 3 * kMs + 40 * kUs));
}

TEST(IdleNap, NapsDoubleWhileNothingHappensUpToTheMaximum)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 50 * kUs, 20 * kUs, 1000 * kUs);
    spin_not_due(n, 0, kMs);
    int64_t t = kMs;
    const int64_t expect[] = {50, 100, 200, 400, 800, 1000, 1000};
    for (int64_t us : expect) {
        ASSERT_TRUE(n.due(t));
        EXPECT_EQ(n.nap_ns(), us * kUs);
        t += n.nap_ns();
        n.napped();
        n.pass_end(t);
    }
    n.busy(t); /* a request of ours: the next idle period naps 50 us first */
    EXPECT_EQ(n.nap_ns(), 50 * kUs);
    n.napped();
    n.hold(t + kMs); /* a message cut a nap short */
    EXPECT_EQ(n.nap_ns(), 50 * kUs);
}

TEST(IdleNap, WithoutAMaximumTheNapStaysPut)
{
    constexpr int64_t kUs = 1000;
    IdleNap n(kMs, 10 * kMs, 20 * kUs);
    n.napped();
    n.napped();
    EXPECT_EQ(n.nap_ns(), 10 * kMs);
    IdleNap smaller_max(kMs, 50 * kUs, 20 * kUs, 10 * kUs);
    smaller_max.napped();
    EXPECT_EQ(smaller_max.nap_ns(), 50 * kUs);
}

} // namespace
