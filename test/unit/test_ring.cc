/*
 * test_ring.cc — SPSC ring: table-driven wrap-around (slot index and the
 * 64-bit counter), full/empty, slot stamps, and hostile peer indices.
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

TEST(Ring, HostileProducerIndexIsCorruptForDepthAndIgnoredByPop)
{
    Ring r(8, 0);
    r.idx.tail.store(9); /* claims 9 entries in an 8-slot ring */
    ov_req_desc d;
    EXPECT_EQ(r.c.depth(), -1);
    EXPECT_EQ(r.c.pop(&d), OV_RING_EMPTY); /* no slot is stamped: nothing to read */
    r.idx.tail.store(UINT64_MAX);         /* "behind" the consumer */
    EXPECT_EQ(r.c.depth(), -1);
    r.idx.tail.store(8); /* exactly full is legal */
    EXPECT_EQ(r.c.depth(), 8);
    EXPECT_EQ(r.c.pop(&d), OV_RING_EMPTY);
    ASSERT_EQ(r.p.push(mk(3)), OV_RING_OK); /* pop follows stamps, whatever the index says */
    r.idx.tail.store(0);
    ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
    EXPECT_EQ(d.cookie, 3u);
}

TEST(Ring, SlotIsReadOnlyOnceItCarriesThisLapsStamp)
{
    Ring r(4, 0);
    ov_req_desc d;
    r.slots[0] = mk(7); /* written, not stamped (a producer mid-push) */
    r.idx.tail.store(1);
    EXPECT_EQ(r.c.pop(&d), OV_RING_EMPTY);
    r.slots[0].stamp = ov_ring_stamp(4, 2); /* the stamp of the next lap */
    EXPECT_EQ(r.c.pop(&d), OV_RING_EMPTY);
    r.slots[0].stamp = ov_ring_stamp(0, 2);
    ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
    EXPECT_EQ(d.cookie, 7u);
    EXPECT_EQ(r.c.pop(&d), OV_RING_EMPTY); /* slot 1 is still zero */
}

TEST(Ring, ProducerStampsTheSlotWhateverTheCallerPassed)
{
    Ring r(2, 0);
    ov_req_desc v = mk(1);
    v.stamp = ov_ring_stamp(2, 1); /* a lie: the next lap's stamp */
    ASSERT_EQ(r.p.push(v), OV_RING_OK);
    ASSERT_EQ(r.p.push(v), OV_RING_OK);
    EXPECT_EQ(r.slots[0].stamp, ov_ring_stamp(0, 1));
    EXPECT_EQ(r.slots[1].stamp, ov_ring_stamp(1, 1));
    ov_req_desc d;
    ASSERT_EQ(r.c.pop(&d), OV_RING_OK);
    ASSERT_EQ(r.p.push(v), OV_RING_OK); /* reuses slot 0 one lap later */
    EXPECT_EQ(r.slots[0].stamp, ov_ring_stamp(2, 1));
}

struct StampCase {
    uint64_t index;
    uint32_t slots;
};

class RingStamp : public testing::TestWithParam<StampCase> {};

TEST_P(RingStamp, OddAndDifferentFromTheNeighbouringLaps)
{
    const StampCase c = GetParam();
    const unsigned shift = ov_ring_lap_shift(c.slots);
    const uint32_t here = ov_ring_stamp(c.index, shift);
    EXPECT_EQ(here & 1u, 1u) << "a zeroed slot must never look written";
    EXPECT_NE(here, ov_ring_stamp(c.index - c.slots, shift));
    EXPECT_NE(here, ov_ring_stamp(c.index + c.slots, shift));
    EXPECT_EQ(here, ov_ring_stamp(c.index | (c.slots - 1), shift)) << "one stamp per lap";
}

INSTANTIATE_TEST_SUITE_P(Table, RingStamp,
                         testing::Values(StampCase{0, 2}, StampCase{5, 4}, StampCase{1000, 256},
                                         StampCase{uint64_t(1) << 33, 65536},
                                         /* the 64-bit counter wraps between the laps */
                                         StampCase{0, 65536}, StampCase{UINT64_MAX, 2},
                                         StampCase{UINT64_MAX - 3, 4}));

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
