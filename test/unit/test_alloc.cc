/*
 * test_alloc.cc — region heap allocator.
 */
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "alloc.h"

TEST(Alloc, AlignsAndFills)
{
    ov_heap h(4096, 64 * 10);
    uint64_t a, b, c;
    ASSERT_EQ(h.alloc(1, &a), OV_OK);
    EXPECT_EQ(a, 4096u);
    ASSERT_EQ(h.alloc(65, &b), OV_OK);
    EXPECT_EQ(b, 4096u + 64);
    EXPECT_EQ(h.block_size(b), 128u);
    ASSERT_EQ(h.alloc(64 * 7, &c), OV_OK);
    EXPECT_EQ(h.used(), 640u);
    uint64_t d;
    EXPECT_EQ(h.alloc(1, &d), OV_ERR_NOMEM);
    EXPECT_EQ(h.alloc(1u << 20, &d), OV_ERR_NOMEM); /* more than the heap holds: no room, not a bad request */
    EXPECT_EQ(h.alloc(0, &d), OV_ERR_BAD_ARG);
    EXPECT_EQ(h.alloc(UINT64_MAX, &d), OV_ERR_BAD_ARG);
    EXPECT_EQ(h.alloc(UINT64_MAX - 10, &d), OV_ERR_BAD_ARG);
}

TEST(Alloc, FreeCoalescesBothSides)
{
    ov_heap h(0, 64 * 3);
    uint64_t a, b, c;
    ASSERT_EQ(h.alloc(64, &a), OV_OK);
    ASSERT_EQ(h.alloc(64, &b), OV_OK);
    ASSERT_EQ(h.alloc(64, &c), OV_OK);
    EXPECT_EQ(h.free(a), OV_OK);
    EXPECT_EQ(h.free(c), OV_OK);
    EXPECT_EQ(h.free_extents(), 2u);
    EXPECT_EQ(h.free(b), OV_OK);
    EXPECT_EQ(h.free_extents(), 1u);
    uint64_t all;
    EXPECT_EQ(h.alloc(64 * 3, &all), OV_OK);
    EXPECT_EQ(all, 0u);
}

TEST(Alloc, RejectsBadFrees)
{
    ov_heap h(0, 4096);
    uint64_t a;
    ASSERT_EQ(h.alloc(128, &a), OV_OK);
    EXPECT_EQ(h.free(a + 64), OV_ERR_BAD_ARG); /* not a block start */
    EXPECT_EQ(h.free(9999), OV_ERR_BAD_ARG);
    EXPECT_EQ(h.free(a), OV_OK);
    EXPECT_EQ(h.free(a), OV_ERR_BAD_ARG); /* double free */
    EXPECT_EQ(h.used(), 0u);
}

TEST(Alloc, RandomisedNoOverlapAndFullRecovery)
{
    const uint64_t base = 4096, size = 1 << 20;
    ov_heap h(base, size);
    std::mt19937_64 rng(42);
    std::vector<std::pair<uint64_t, uint64_t>> live;
    for (int i = 0; i < 5000; i++) {
        if (live.empty() || rng() % 3) {
            uint64_t sz = 1 + rng() % 20000, off;
            if (h.alloc(sz, &off) == OV_OK) {
                ASSERT_EQ(off % 64, 0u);
                ASSERT_GE(off, base);
                ASSERT_LE(off + sz, base + size);
                for (auto &l : live)
                    ASSERT_TRUE(off + sz <= l.first || l.first + l.second <= off) << "overlap";
                live.emplace_back(off, sz);
            }
        } else {
            size_t k = rng() % live.size();
            ASSERT_EQ(h.free(live[k].first), OV_OK);
            live.erase(live.begin() + long(k));
        }
    }
    for (auto &l : live)
        ASSERT_EQ(h.free(l.first), OV_OK);
    EXPECT_EQ(h.used(), 0u);
    EXPECT_EQ(h.free_extents(), 1u);
    EXPECT_EQ(h.live_blocks(), 0u);
}
