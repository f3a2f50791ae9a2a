/*
 * test_backend_batch.cc — OV_REQ_BATCH (backend/op_batch.cc) through a real
 * backend (forked child) and real frontends: a batch moves the bytes its
 * entries name, in order, answers with one completion, writes get results
 * into its own block, fails an entry the way its own descriptor would fail
 * (and runs none after it), and fails a malformed or misplaced block whole,
 * touching nothing, with the backend serving on.  BatchChecks: the pure
 * checks of op_batch.h at their edges.  BatchEntryWriter: osc virt's
 * streaming entry writer (osc_virt_batch.h) produces the wire layout, and
 * the backend runs what it wrote.
 */
#include <cstring>
#include <vector>

#include "harness.h"
#include "op_batch.h"
#include "osc_virt_batch.h"

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

/* The checks that need no backend (op_batch.h), at their edges. */
TEST(BatchChecks, DescriptorCountAndLength)
{
    ov_req_desc d{};
    d.op = OV_OP_PUT;
    d.flags = OV_REQ_BATCH;
    d.dtype_kind = OV_DT_BYTES;
    d.dtype_size = 1;
    const uint32_t feats = OV_FEAT_BATCH | OV_FEAT_INLINE;
    d.length = OV_BATCH_ENTRIES_MAX * kEntry;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_OK);
    d.length = (OV_BATCH_ENTRIES_MAX + 1) * kEntry;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_TOO_LARGE) << "count too large";
    d.length = UINT64_MAX - (UINT64_MAX % kEntry);
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_TOO_LARGE) << "a huge whole count";
    d.length = kEntry - 1;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_BAD_DTYPE) << "a truncated entry";
    d.length = kEntry;
    EXPECT_EQ(ov_batch_check_desc(d, OV_FEAT_INLINE), OV_ERR_NOT_SUPPORTED);
    EXPECT_EQ(ov_batch_check_desc(d, OV_FEAT_BATCH), OV_ERR_NOT_SUPPORTED);
    d.op = OV_OP_MAX;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_BAD_OP);
    d.op = OV_OP_CAS;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_BAD_FLAGS);
    d.op = OV_OP_GET;
    d.flags = OV_REQ_BATCH | OV_REQ_INLINE;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_BAD_FLAGS);
    d.flags = OV_REQ_BATCH;
    d.result_off = 8;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_BAD_FLAGS);
    d.result_off = 0;
    d.dtype_size = 8;
    EXPECT_EQ(ov_batch_check_desc(d, feats), OV_ERR_BAD_DTYPE);
}

TEST(BatchChecks, EntriesAgainstTheWindow)
{
    ov_batch_entry e[2] = {{0, 8, 0, {}}, {4088, 8, 0, {}}};
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_PUT, 4096), OV_OK) << "the last 8 bytes";
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_PUT, 4095), OV_ERR_BOUNDS) << "one byte past";
    e[1].target_off = UINT64_MAX - 3;
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_GET, 4096), OV_ERR_BOUNDS) << "offset + length overflows";
    EXPECT_EQ(ov_batch_check_entries(e, 1, OV_OP_GET, 4096), OV_OK) << "only n entries are read";
    e[1] = ov_batch_entry{0, OV_INLINE_ORIGIN_MAX, 0, {}};
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_PUT, 4096), OV_OK);
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_GET, 4096), OV_ERR_TOO_LARGE);
    e[1].length = 0;
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_PUT, 4096), OV_ERR_BAD_DTYPE);
    e[1].length = 1;
    e[1].reserved = 0x80000000u;
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_PUT, 4096), OV_ERR_BAD_FLAGS);
    e[1].reserved = 0;
    e[1].target_off = 1ull << 40;
    EXPECT_EQ(ov_batch_check_entries(e, 2, OV_OP_PUT, UINT64_MAX), OV_OK) << "size unknown: no bounds";
}

TEST_F(BackendBatch, AnEntryOutsideTheWindowFailsTheWholeBatch)
{
    put_entry(0, 0, 1);
    put_entry(1, 4089, 2); /* one byte past the window */
    put_entry(2, 16, 3);
    ov_completion c = roundtrip(b, batch(OV_OP_PUT, wa, 3));
    EXPECT_EQ(c.status, OV_ERR_BOUNDS);
    EXPECT_EQ(c.bytes, 0u);
    put_entry(1, UINT64_MAX - 3, 2); /* offset + length wraps around */
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 3)).status, OV_ERR_BOUNDS);
    EXPECT_EQ(std::memcmp(pa, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24), 0) << "an entry ran";
    /* A get batch with an entry out of range writes no result either. */
    std::memset(pa, 0x5a, 64);
    std::memset(blk.base, 0, 3 * kEntry);
    entries()[0] = ov_batch_entry{0, 8, 0, {}};
    entries()[1] = ov_batch_entry{4095, 2, 0, {}};
    EXPECT_EQ(roundtrip(b, batch(OV_OP_GET, wa, 2)).status, OV_ERR_BOUNDS);
    EXPECT_EQ(entries()[0].data[0], 0) << "a refused get wrote a result";
}

TEST_F(BackendBatch, WithoutAGrantEachEntryFailsAsItsOwnDescriptorWould)
{
    /* Read-only: puts fail with the code a single inline put gets, and the
     * first failure stops the batch; gets still run. */
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ), OV_OK);
    put_entry(0, 0, 9);
    put_entry(1, 8, 9);
    ov_completion c = roundtrip(b, batch(OV_OP_PUT, wa, 2));
    EXPECT_EQ(c.status, OV_ERR_PERM);
    EXPECT_EQ(c.bytes, 0u);
    EXPECT_EQ(std::memcmp(pa, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0) << "a put without write permission ran";
    std::memcpy(pa, "abcdefgh", 8);
    entries()[0] = ov_batch_entry{0, 8, 0, {}};
    c = roundtrip(b, batch(OV_OP_GET, wa, 1));
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_EQ(std::memcmp(entries()[0].data, "abcdefgh", 8), 0);
    /* No grant at all: the window is not b's to see, so its size is not
     * told either: the answer is the one for an unknown window. */
    ov_win_t hidden{};
    ASSERT_EQ(ov_fe_win_create(a, 4096, &hidden), OV_OK);
    entries()[0] = ov_batch_entry{1u << 20, 8, 0, {}};
    EXPECT_EQ(roundtrip(b, batch(OV_OP_GET, hidden, 1)).status, OV_ERR_NO_WINDOW);
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
    entries()[1].length = 0;
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 2)).status, OV_ERR_BAD_DTYPE);
    entries()[1].length = 9; /* a put of 9 is fine, a get of 9 is not */
    EXPECT_EQ(roundtrip(b, batch(OV_OP_GET, wa, 2)).status, OV_ERR_TOO_LARGE);
    EXPECT_EQ(std::memcmp(pa, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0) << "a malformed batch ran";

    ov_req_desc d = batch(OV_OP_PUT, wa, 1);
    d.length = kEntry + 8; /* truncated: not whole entries */
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_DTYPE);
    d.length = 0;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_DTYPE);
    d = batch(OV_OP_PUT, wa, OV_BATCH_ENTRIES_MAX + 1); /* count too large */
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_TOO_LARGE);
    d = batch(OV_OP_ACC, wa, 1);
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_FLAGS);
    d = batch(OV_OP_PUT, wa, 1);
    d.flags |= OV_REQ_QUIET;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_FLAGS);
    d = batch(OV_OP_PUT, wa, 1);
    d.target_off = 8;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BAD_FLAGS);
    /* The block must lie inside a window b owns: not past its end (a
     * truncated block), not in a's, not in a stale window. */
    d = batch(OV_OP_PUT, wa, 2, blk.size - kEntry);
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BOUNDS);
    d = batch(OV_OP_PUT, wa, 1, UINT64_MAX - 8); /* local_off + length wraps */
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_BOUNDS);
    d = copy_req(OV_OP_PUT, wa, 0, wa, 0, kEntry);
    d.flags = OV_REQ_BATCH;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_LOCAL_ACCESS);
    d = batch(OV_OP_PUT, wa, 1);
    d.local_epoch++;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_LOCAL_ACCESS);
    /* The block must not overlap the target window (b's own here). */
    d = batch(OV_OP_GET, blk, 1);
    entries()[0] = ov_batch_entry{512, 8, 0, {}};
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_LOCAL_ACCESS);
    /* A wrong target window: an id nobody has, a stale epoch. */
    put_entry(0, 0, 5);
    d = batch(OV_OP_PUT, wa, 1);
    d.target_win = 0x7fffff;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_NO_WINDOW);
    d = batch(OV_OP_PUT, wa, 1);
    d.target_epoch++;
    EXPECT_EQ(roundtrip(b, d).status, OV_ERR_STALE_WINDOW);
    EXPECT_EQ(std::memcmp(pa, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0) << "a refused batch ran";
    /* And the connection, and the backend, still serve. */
    EXPECT_EQ(roundtrip(b, batch(OV_OP_PUT, wa, 1)).status, OV_OK);
    uint64_t v = 0;
    std::memcpy(&v, pa, 8);
    EXPECT_EQ(v, 5u);
    ov_fe_t *c2 = connect_fe(be.uri(), "guest-c", 1, 2);
    ASSERT_NE(c2, nullptr) << "the backend survived";
    ov_fe_close(c2);
}

/* Every length a put entry may have, and a get entry: offset, length, a zero
 * reserved word, the origin bytes and zeros after them, on a block whose old
 * contents were all ones (the streaming stores replace whole words). */
TEST(BatchEntryWriter, WritesTheWireLayout)
{
    alignas(64) ov_batch_entry e[OV_INLINE_ORIGIN_MAX + 1];
    std::memset(e, 0xff, sizeof e);
    unsigned char origin[OV_INLINE_ORIGIN_MAX];
    for (unsigned i = 0; i < sizeof origin; i++)
        origin[i] = static_cast<unsigned char>(0xa0 + i);
    for (uint32_t n = 1; n <= OV_INLINE_ORIGIN_MAX; n++)
        ov::osc::write_batch_entry(&e[n - 1], 1000 * n, n, reinterpret_cast<const char *>(origin));
    ov::osc::write_batch_entry(&e[OV_INLINE_ORIGIN_MAX], 77, 8, nullptr); /* a get */
    ov::osc::order_batch_entries();
    for (uint32_t n = 1; n <= OV_INLINE_ORIGIN_MAX; n++) {
        const ov_batch_entry &x = e[n - 1];
        EXPECT_EQ(x.target_off, 1000u * n);
        EXPECT_EQ(x.length, n);
        EXPECT_EQ(x.reserved, 0u);
        for (uint32_t k = 0; k < OV_INLINE_ORIGIN_MAX; k++)
            EXPECT_EQ(x.data[k], k < n ? origin[k] : 0) << "length " << n << " byte " << k;
    }
    const ov_batch_entry &g = e[OV_INLINE_ORIGIN_MAX];
    EXPECT_EQ(g.target_off, 77u);
    EXPECT_EQ(g.length, 8u);
    EXPECT_EQ(g.reserved, 0u);
    for (unsigned char c : g.data)
        EXPECT_EQ(c, 0);
}

/* The backend runs a batch written by the origin's writer: puts of 1-16
 * bytes land, and a get batch written the same way reads them back. */
TEST_F(BackendBatch, EntriesFromTheStreamingWriterRun)
{
    unsigned char origin[OV_INLINE_ORIGIN_MAX];
    for (unsigned i = 0; i < sizeof origin; i++)
        origin[i] = static_cast<unsigned char>(0x31 + i);
    uint64_t at = 0;
    for (uint32_t n = 1; n <= OV_INLINE_ORIGIN_MAX; n++) {
        ov::osc::write_batch_entry(&entries()[n - 1], at, n, reinterpret_cast<const char *>(origin));
        at += n;
    }
    ov::osc::order_batch_entries();
    ov_completion c = roundtrip(b, batch(OV_OP_PUT, wa, OV_INLINE_ORIGIN_MAX));
    ASSERT_EQ(c.status, OV_OK);
    at = 0;
    for (uint32_t n = 1; n <= OV_INLINE_ORIGIN_MAX; n++) {
        EXPECT_EQ(std::memcmp(pa + at, origin, n), 0) << "put of " << n << " bytes";
        at += n;
    }
    for (uint32_t i = 0; i < 4; i++)
        ov::osc::write_batch_entry(&entries()[i], 8 * i, 8, nullptr);
    ov::osc::order_batch_entries();
    c = roundtrip(b, batch(OV_OP_GET, wa, 4));
    ASSERT_EQ(c.status, OV_OK);
    for (uint32_t i = 0; i < 4; i++)
        EXPECT_EQ(std::memcmp(entries()[i].data, pa + 8 * i, 8), 0) << "get " << i;
}
