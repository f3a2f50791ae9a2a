// The osc virt link lock (ompi/mca/osc/virt/osc_virt_link.h, LinkMutex): a
// flag below MPI_THREAD_MULTIPLE, a mutex at it.  In both modes the progress
// callback's try_lock must fail while a call of ours holds the lock (it is
// reached through opal_progress from inside such a call) and succeed after.
#include "osc_virt_link.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using ov::osc::LinkMutex;

class LinkMutexModes : public ::testing::TestWithParam<bool> {};

TEST_P(LinkMutexModes, TryLockFailsWhileHeldAndSucceedsAfter)
{
    LinkMutex mu;
    mu.set_threaded(GetParam());
    {
        std::unique_lock<LinkMutex> guard(mu);
        EXPECT_FALSE(mu.try_lock()) << "re-entered while held";
        guard.unlock(); /* issue_check drops the guard while it waits */
        ASSERT_TRUE(mu.try_lock());
        mu.unlock();
        guard.lock();
        EXPECT_FALSE(mu.try_lock());
    }
    ASSERT_TRUE(mu.try_lock());
    EXPECT_FALSE(mu.try_lock());
    mu.unlock();
}

INSTANTIATE_TEST_SUITE_P(Both, LinkMutexModes, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool> &i) {
                             return i.param ? "threaded" : "single";
                         });

TEST(LinkMutex, ThreadedModeExcludesOtherThreads)
{
    LinkMutex mu;
    mu.set_threaded(true);
    constexpr int kThreads = 4, kRounds = 20000;
    long counter = 0; /* unsynchronised but for mu: a lost update shows a hole */
    std::atomic<int> inside{0};
    std::atomic<bool> overlap{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
        ts.emplace_back([&] {
            for (int i = 0; i < kRounds; ++i) {
                std::lock_guard<LinkMutex> g(mu);
                if (inside.fetch_add(1) != 0) {
                    overlap = true;
                }
                ++counter;
                inside.fetch_sub(1);
            }
        });
    }
    for (auto &t : ts) {
        t.join();
    }
    EXPECT_FALSE(overlap.load());
    EXPECT_EQ(counter, long{kThreads} * kRounds);
}

} // namespace
