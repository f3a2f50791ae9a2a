/*
 * test_core_share.cc — the data-plane thread moving off a waiter's core
 * (backend/core_share.h), with a fake clock, on a thread of its own so the
 * test runner's affinity is never touched.
 */
#include <gtest/gtest.h>

#include <sched.h>

#include <thread>

#include "core_share.h"

namespace {
bool allowed(int cpu)
{
    cpu_set_t m;
    return sched_getaffinity(0, sizeof(m), &m) == 0 && CPU_ISSET(cpu, &m);
}
int cpus_allowed()
{
    cpu_set_t m;
    return sched_getaffinity(0, sizeof(m), &m) == 0 ? CPU_COUNT(&m) : 0;
}

/* fn(dodger, cpu) on a thread of its own, the dodger initialised there */
template <class Fn> void on_own_thread(bool enabled, Fn fn)
{
    std::thread([&] {
        ov_core_dodger d;
        d.init(enabled);
        fn(d, sched_getcpu());
    }).join();
}
} // namespace

TEST(CoreShare, MovesOffAfterAStreakAndComesBack)
{
    if (cpus_allowed() < 2)
        GTEST_SKIP() << "one cpu: nowhere to move";
    on_own_thread(true, [](ov_core_dodger &d, int cpu) {
        int64_t t = 1000;
        for (uint32_t i = 0; i + 1 < ov_core_dodger::threshold; i++)
            d.shared(cpu, t += 1000);
        EXPECT_EQ(d.moves(), 0u);
        EXPECT_TRUE(allowed(cpu));
        d.shared(cpu, t += 1000);
        EXPECT_EQ(d.moves(), 1u);
        EXPECT_TRUE(d.moved());
        EXPECT_FALSE(allowed(cpu));
        EXPECT_NE(sched_getcpu(), cpu); /* setaffinity migrates before it returns */
        d.tick([&] { return t + ov_core_dodger::hold_ns - 1; });
        EXPECT_FALSE(allowed(cpu)); /* still holding */
        d.tick([&] { return t + ov_core_dodger::hold_ns; });
        EXPECT_FALSE(d.moved());
        EXPECT_TRUE(allowed(cpu));
    });
}

TEST(CoreShare, SharesBrokenByApartDoNotMoveIt)
{
    if (cpus_allowed() < 2)
        GTEST_SKIP() << "one cpu: nowhere to move";
    on_own_thread(true, [](ov_core_dodger &d, int cpu) {
        int64_t t = 0;
        /* many shares, but a waiter elsewhere between every few of them */
        for (uint32_t i = 0; i < 8 * ov_core_dodger::threshold; i++) {
            if (i % (ov_core_dodger::threshold - 1) == 0)
                d.apart();
            d.shared(cpu, t += 1000);
        }
        EXPECT_EQ(d.moves(), 0u);
        EXPECT_TRUE(allowed(cpu));
    });
}

TEST(CoreShare, SlowStreakStillMoves)
{
    /* A bulk transfer sharing our core: one piece served every ~100 us,
     * nothing apart.  The old 64-within-20-ms rule never fired on it. */
    if (cpus_allowed() < 2)
        GTEST_SKIP() << "one cpu: nowhere to move";
    on_own_thread(true, [](ov_core_dodger &d, int cpu) {
        int64_t t = 0;
        for (uint32_t i = 0; i < ov_core_dodger::threshold; i++)
            d.shared(cpu, t += 2 * 1000 * 1000); /* 2 ms apart */
        EXPECT_EQ(d.moves(), 1u);
        EXPECT_FALSE(allowed(cpu));
    });
}

TEST(CoreShare, DisabledNeverMoves)
{
    on_own_thread(false /* --bind-cpu: the operator's placement wins */, [](ov_core_dodger &d, int cpu) {
        for (uint32_t i = 0; i < 2 * ov_core_dodger::threshold; i++)
            d.shared(cpu, 1000 + i);
        EXPECT_EQ(d.moves(), 0u);
        EXPECT_TRUE(allowed(cpu));
    });
}
