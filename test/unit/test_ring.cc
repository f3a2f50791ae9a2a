/*
 * test_ring.cc — SPSC ring: table-driven wrap-around (slot index and the
 * 64-bit counter), full/empty, and hostile peer indices.
 */
#include <gtest/gtest.h>

#include <vector>

#include "ov_ring.h"

namespace {
struct Ring {
    alignas(64) ov_ring_idx idx;
    std::vector<ov_req_desc> slots;
    ov_ring_producer<ov_req_desc> p;
    ov_ring_consumer<ov_req_desc> c;
    Ring(uint32_t n, uint64_t start) : slots(n)
    {
        ov_ring_init(&idx, start);
        p = ov_ring_producer<ov_req_desc>(&idx, slots.data(), n, start);
        c = ov_ring_consumer<ov_req_desc>(&idx, slots.data(), n, start);
    }
};
ov_req_desc mk(uint64_t v)
{
    ov_req_desc d{};
    d.cookie = v;
    d.length = ~v;
    return d;
}
} // namespace

struct WrapCase {
    uint32_t slots;
    uint64_t start;
    uint32_t burst; /* items pushed before popping */
    uint32_t rounds;
};

class RingWrap : public testing::TestWithParam<WrapCase> {};

TEST_P(RingWrap, FifoOrderAcrossWrap)
{
    const WrapCase w = GetParam();
    Ring r(w.slots, w.start);
    uint64_t next_in = 0, next_out = 0;
    for (uint32_t round = 0; round < w.rounds; round++) {
        for (uint32_t i = 0; i < w.burst; i++)
            ASSERT_EQ(r.p.push(mk(next_in++)), OV_RING_OK) << "round " << round;
        EXPECT_EQ(r.c.depth(), int64_t(w.burst));
        EXPECT_EQ(r.p.space(), int64_t(w.slots - w.burst));
        ov_req_desc d;
        for (uint32_t i = 0; i < w.burst; i++) {
            ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
            EXPECT_EQ(d.cookie, next_out);
            EXPECT_EQ(d.length, ~next_out);
            next_out++;
        }
        EXPECT_EQ(r.c.pop(&d), OV_RING_EMPTY);
    }
    EXPECT_EQ(r.p.tail(), w.start + uint64_t(w.burst) * w.rounds);
    EXPECT_EQ(r.idx.head.load(), r.idx.tail.load());
}

INSTANTIATE_TEST_SUITE_P(Table, RingWrap,
                         testing::Values(WrapCase{2, 0, 1, 7}, WrapCase{2, 0, 2, 5},
                                         WrapCase{4, 0, 3, 9}, WrapCase{8, 5, 8, 4},
                                         WrapCase{16, 0, 15, 10},
                                         /* the 64-bit counters wrap during the run */
                                         WrapCase{4, UINT64_MAX - 2, 3, 5},
                                         WrapCase{8, UINT64_MAX - 7, 8, 3},
                                         WrapCase{256, UINT64_MAX - 100, 200, 4}));

TEST(Ring, FullThenDrainOne)
{
    Ring r(4, UINT64_MAX - 1);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(r.p.push(mk(uint64_t(i))), OV_RING_OK);
    EXPECT_EQ(r.p.push(mk(9)), OV_RING_FULL);
    ov_req_desc d;
    ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
    EXPECT_EQ(d.cookie, 0u);
    EXPECT_EQ(r.p.push(mk(4)), OV_RING_OK);
    EXPECT_EQ(r.p.push(mk(5)), OV_RING_FULL);
}

TEST(Ring, HostileProducerIndexIsCorruptNotOverread)
{
    Ring r(8, 0);
    r.idx.tail.store(9); /* claims 9 entries in an 8-slot ring */
    ov_req_desc d;
    EXPECT_EQ(r.c.pop(&d), OV_RING_CORRUPT);
    EXPECT_EQ(r.c.depth(), -1);
    r.idx.tail.store(UINT64_MAX); /* "behind" the consumer */
    EXPECT_EQ(r.c.pop(&d), OV_RING_CORRUPT);
    r.idx.tail.store(8); /* exactly full is legal */
    EXPECT_EQ(r.c.depth(), 8);
    EXPECT_EQ(r.c.pop(&d), OV_RING_OK);
}

TEST(Ring, HostileConsumerIndexIsCorrupt)
{
    Ring r(4, 100);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(r.p.push(mk(uint64_t(i))), OV_RING_OK);
    r.idx.head.store(105); /* consumer claims to be ahead of the producer */
    EXPECT_EQ(r.p.push(mk(1)), OV_RING_CORRUPT);
    EXPECT_EQ(r.p.space(), -1);
    r.idx.head.store(50); /* too far behind */
    EXPECT_EQ(r.p.space(), -1);
    r.idx.head.store(102);
    EXPECT_EQ(r.p.space(), 2);
}

TEST(Ring, ConsumerNeverRereadsItsOwnIndex)
{
    Ring r(4, 0);
    ASSERT_EQ(r.p.push(mk(1)), OV_RING_OK);
    ASSERT_EQ(r.p.push(mk(2)), OV_RING_OK);
    ov_req_desc d;
    ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
    r.idx.head.store(0); /* peer scribbles on the consumer's published index */
    ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
    EXPECT_EQ(d.cookie, 2u);
    EXPECT_EQ(r.c.head(), 2u);
}
