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

} // namespace
