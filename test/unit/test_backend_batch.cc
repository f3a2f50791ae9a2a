/*
 * test_backend_batch.cc — OV_REQ_BATCH (backend/op_batch.cc) through a real
 * backend (forked child) and real frontends: a batch moves the bytes its
 * entries name, in order, answers with one completion, writes get results
 * into its own block, fails an entry the way its own descriptor would fail
 * (the other entries still run), and fails a malformed or misplaced block
 * whole, touching nothing.
 */
#include <cstring>
#include <vector>

#include "harness.h"

namespace {

constexpr uint64_t kEntry = sizeof(ov_batch_entry);

class BackendBatch : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    /* a owns the target windows (guest-a, rank 0); b batches to them
     * (guest-b, rank 1) from entries in its own window `blk`. */
    ov_fe_t *a = nullptr, *b = nullptr;
    ov_win_t wa{}, blk{};
    char *pa = nullptr;
    void SetUp() override
    {
        ASSERT_TRUE(be.start());
        a = connect_fe(be.uri(), "guest-a", 1, 0);
        b = connect_fe(be.uri(), "guest-b", 1, 1);
        ASSERT_TRUE(a && b);
        ASSERT_TRUE(ov_fe_features(b) & OV_FEAT_BATCH) << "the backend offers batches";
        ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
        ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
        pa = static_cast<char *>(wa.base);
        ASSERT_EQ(ov_fe_win_create(b, 2 * OV_BATCH_ENTRIES_MAX * kEntry, &blk), OV_OK);
    }
    void TearDown() override
    {
        ov_fe_close(a);
        ov_fe_close(b);
    }
    ov_batch_entry *entries(uint64_t at = 0) { return reinterpret_cast<ov_batch_entry *>(static_cast<char *>(blk.base) + at); }
    /* A batch of `n` entries at blk+at to window w. */
    ov_req_desc batch(uint16_t op, const ov_win_t &w, uint64_t n, uint64_t at = 0)
    {
        ov_req_desc d = copy_req(op, w, 0, blk, at, n * kEntry);
        d.flags = OV_REQ_BATCH;
        return d;
    }
    void put_entry(uint64_t i, uint64_t toff, uint64_t v)
    {
        ov_batch_entry &e = entries()[i];
        e = ov_batch_entry{toff, 8, 0, {}};
        std::memcpy(e.data, &v, 8);
    }
};

} // namespace

TEST_F(BackendBatch, PutsLandInOrderAndGetsComeBackInTheBlock)
{
    const uint64_t n = OV_BATCH_ENTRIES_MAX;
    for (uint64_t i = 0; i < n; i++) {
        put_entry(i, 8 * (i % 100), 1000 + i); /* entries 100.. rewrite 0..: the later wins */
    }
    ov_completion c = roundtrip(b, batch(OV_OP_PUT, wa, n));
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_EQ(c.bytes, 8 * n);
    for (uint64_t k = 0; k < 100; k++) {
        uint64_t v = 0;
        std::memcpy(&v, pa + 8 * k, 8);
        EXPECT_EQ(v, 1000 + (k < n - 100 ? k + 100 : k)) << "offset " << 8 * k;
    }
    /* Gets of different lengths: each result lands in its own entry's data. */
    std::memset(blk.base, 0, n * kEntry);
    for (uint64_t i = 0; i < 10; i++) {
        entries()[i] = ov_batch_entry{8 * i, uint32_t(1 + i % 8), 0, {}};
    }
    c = roundtrip(b, batch(OV_OP_GET, wa, 10));
    EXPECT_EQ(c.status, OV_OK);
    for (uint64_t i = 0; i < 10; i++) {
        EXPECT_EQ(std::memcmp(entries()[i].data, pa + 8 * i, 1 + i % 8), 0) << "entry " << i;
        EXPECT_EQ(entries()[i].data[1 + i % 8], 0) << "entry " << i << ": past its length";
    }
}

TEST_F(BackendBatch, AFailingEntryFailsTheBatchAndTheOthersStillRun)
{
    put_entry(0, 0, 1);
    put_entry(1, 4089, 2); /* one byte past the window */
    put_entry(2, 16, 3);
    ov_completion c = roundtrip(b, batch(OV_OP_PUT, wa, 3));
    EXPECT_EQ(c.status, OV_ERR_BOUNDS);
    uint64_t v = 0;
    std::memcpy(&v, pa, 8);
    EXPECT_EQ(v, 1u);
    std::memcpy(&v, pa + 16, 8);
    EXPECT_EQ(v, 3u);
    /* Without write permission no entry lands. */
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ), OV_OK);
    put_entry(0, 0, 9);
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 1)).status, OV_ERR_PERM);
    std::memcpy(&v, pa, 8);
    EXPECT_EQ(v, 1u);
}

TEST_F(BackendBatch, AMalformedOrMisplacedBlockFailsWholeAndTouchesNothing)
{
    put_entry(0, 0, 5);
    put_entry(1, 8, 6);
    entries()[1].reserved = 1;
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 2)).status, OV_ERR_BAD_FLAGS);
    entries()[1].reserved = 0;
    entries()[1].length = OV_INLINE_ORIGIN_MAX + 1;
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 2)).status, OV_ERR_TOO_LARGE);
    entries()[1].length = 9; /* a put of 9 is fine, a get of 9 is not */
    EXPECT_EQ(roundtrip(b, batch(OV_OP_GET, wa, 2)).status, OV_ERR_TOO_LARGE);
    EXPECT_EQ(std::memcmp(pa, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0) << "a malformed batch ran";

    ov_req_desc d = batch(OV_OP_PUT, wa, 1);
    d.length = kEntry + 8; /* not whole entries */
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_DTYPE);
    d.length = 0;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_DTYPE);
    d = batch(OV_OP_PUT, wa, OV_BATCH_ENTRIES_MAX + 1);
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_TOO_LARGE);
    d = batch(OV_OP_ACC, wa, 1);
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_FLAGS);
    d = batch(OV_OP_PUT, wa, 1);
    d.flags |= OV_REQ_QUIET;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_FLAGS);
    d = batch(OV_OP_PUT, wa, 1);
    d.target_off = 8;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_FLAGS);
    /* The block must lie inside a window b owns: not past its end, not in a's. */
    d = batch(OV_OP_PUT, wa, 2, blk.size - kEntry);
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BOUNDS);
    d = copy_req(OV_OP_PUT, wa, 0, wa, 0, kEntry);
    d.flags = OV_REQ_BATCH;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_LOCAL_ACCESS);
    d = batch(OV_OP_PUT, wa, 1);
    d.local_epoch++;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(std::memcmp(pa, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0) << "a refused batch ran";
    /* And the connection still works. */
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 1)).status, OV_OK);
    uint64_t v = 0;
    std::memcpy(&v, pa, 8);
    EXPECT_EQ(v, 5u);
}
