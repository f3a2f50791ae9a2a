// The in-flight FIFO of a backend link (ompi/mca/osc/virt/osc_virt_fifo.h):
// order across wrap-around and growth, back() after push_back().
#include "osc_virt_fifo.h"

#include <gtest/gtest.h>

#include <deque>

namespace {

using ov::osc::Fifo;

struct Rec {
    uint64_t id;
    char pad[56]; /* the size of a link's Completion record */
};

TEST(Fifo, CapacityIsAPowerOfTwo)
{
    EXPECT_EQ(Fifo<Rec>(1).capacity(), 1u);
    EXPECT_EQ(Fifo<Rec>(5).capacity(), 8u);
    EXPECT_EQ(Fifo<Rec>(64).capacity(), 64u);
}

/* Interleaved pushes and pops against std::deque as the reference: the
 * head runs around the array many times and the array grows twice while
 * entries wrap its end. */
TEST(Fifo, KeepsOrderAcrossWrapAndGrowth)
{
    Fifo<Rec> f(4);
    std::deque<uint64_t> ref;
    uint64_t next = 1;
    const int pattern[][2] = {{3, 2}, {3, 3}, {5, 1}, {9, 4}, {2, 11}, {40, 20}, {1, 21}};
    for (int round = 0; round < 3; ++round) {
        for (const auto &step : pattern) {
            for (int i = 0; i < step[0]; ++i) {
                f.push_back(Rec{next, {}});
                EXPECT_EQ(f.back().id, next);
                ref.push_back(next++);
            }
            for (int i = 0; i < step[1]; ++i) {
                ASSERT_FALSE(f.empty());
                EXPECT_EQ(f.front().id, ref.front());
                f.pop_front();
                ref.pop_front();
            }
            ASSERT_EQ(f.size(), ref.size());
        }
    }
    EXPECT_EQ(f.capacity(), 64u); /* 4 -> 8 -> 16 -> 32 -> 64, never shrinks */
    while (!f.empty()) {
        EXPECT_EQ(f.front().id, ref.front());
        f.pop_front();
        ref.pop_front();
    }
    EXPECT_TRUE(ref.empty());
}

TEST(Fifo, BackIsWritable)
{
    Fifo<Rec> f(2);
    f.push_back(Rec{1, {}});
    f.back().id = 7;
    f.push_back(Rec{2, {}});
    f.push_back(Rec{3, {}}); /* grows */
    EXPECT_EQ(f.front().id, 7u);
}

} // namespace
