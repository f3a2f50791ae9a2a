/*
 * test_backend_quick.cc — the backend's quick path for small inline PUT and
 * GET (backend/quick.cc) through a real backend (forked child) and real
 * frontends: it moves the right bytes, and what it remembers about a target
 * window never outlives a change to that window's grants, epoch or owner.
 * Every request here is one the quick path takes or declines on purpose;
 * the answers must be those of the general path (test_backend.cc).
 */
#include <cstring>
#include <vector>

#include "harness.h"

namespace {

/* An OV_REQ_INLINE put of `len` bytes of `src` to target+toff. */
ov_req_desc inline_put(const ov_win_t &target, uint64_t toff, const void *src, uint64_t len)
{
    ov_req_desc d = copy_req(OV_OP_PUT, target, toff, ov_win_t{}, 0, len);
    d.flags = OV_REQ_INLINE;
    std::memcpy(ov_req_inline_origin(&d), src, len);
    return d;
}

/* An OV_REQ_INLINE get of `len` bytes at target+toff. */
ov_req_desc inline_get(const ov_win_t &target, uint64_t toff, uint64_t len)
{
    ov_req_desc d = copy_req(OV_OP_GET, target, toff, ov_win_t{}, 0, len);
    d.flags = OV_REQ_INLINE;
    return d;
}

class BackendQuick : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    /* a owns the windows (guest-a, rank 0); b reaches them (guest-b, rank 1). */
    ov_fe_t *a = nullptr, *b = nullptr;
    void SetUp() override
    {
        ASSERT_TRUE(be.start());
        a = connect("guest-a", 1, 0);
        b = connect("guest-b", 1, 1);
        ASSERT_TRUE(a && b);
    }
    void TearDown() override
    {
        ov_fe_close(a);
        ov_fe_close(b);
    }
    ov_fe_t *connect(const char *guest, uint64_t job, uint32_t rank)
    {
        ov_fe_t *fe = connect_fe(be.uri(), guest, job, rank);
        EXPECT_TRUE(fe && (ov_fe_features(fe) & OV_FEAT_INLINE)) << "the backend offers inline requests";
        return fe;
    }
    static uint64_t get8(ov_fe_t *fe, const ov_win_t &w, uint64_t off, int32_t *status)
    {
        ov_completion c = roundtrip(fe, inline_get(w, off, 8));
        *status = c.status;
        return c.inline_result;
    }
};

} // namespace

TEST_F(BackendQuick, MovesTheBytesAndAnswersLikeTheGeneralPath)
{
    ov_win_t wa;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    char *pa = static_cast<char *>(wa.base);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);

    const char msg[] = "sixteen bytes!!"; /* 16 with its NUL: the inline put limit */
    ov_completion c = roundtrip(b, inline_put(wa, 100, msg, 16));
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_EQ(c.bytes, 16u);
    EXPECT_STREQ(pa + 100, msg);

    const uint64_t v = 0x0123456789abcdefull;
    std::memcpy(pa + 4088, &v, 8); /* the window's last 8 bytes */
    int32_t st = -1;
    EXPECT_EQ(get8(b, wa, 4088, &st), v);
    EXPECT_EQ(st, OV_OK);
    c = roundtrip(b, inline_get(wa, 4090, 3));
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_EQ(c.bytes, 3u);
    EXPECT_EQ(std::memcmp(&c.inline_result, pa + 4090, 3), 0);

    /* One byte past the window, in either direction of the request. */
    EXPECT_EQ(roundtrip(b, inline_put(wa, 4081, msg, 16)).status, OV_ERR_BOUNDS);
    EXPECT_EQ(roundtrip(b, inline_get(wa, 4089, 8)).status, OV_ERR_BOUNDS);
    EXPECT_EQ(roundtrip(b, inline_get(wa, ~uint64_t(0) - 3, 8)).status, OV_ERR_BOUNDS);
    /* Too long to ride inline. */
    EXPECT_EQ(roundtrip(b, inline_get(wa, 0, 9)).status, OV_ERR_TOO_LARGE);
    /* Flags the quick path does not take still get the general path's answer. */
    ov_req_desc odd = inline_put(wa, 0, msg, 8);
    odd.flags |= OV_REQ_EXCLUSIVE;
    EXPECT_EQ(roundtrip(b, odd).status, OV_ERR_BAD_FLAGS);
    EXPECT_STREQ(pa + 100, msg) << "nothing else was written";

    /* Two windows in turn: each request reaches its own window's memory. */
    ov_win_t wa2;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa2), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &wa2, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    char *pa2 = static_cast<char *>(wa2.base);
    for (uint64_t i = 1; i <= 3; i++) {
        EXPECT_EQ(roundtrip(b, inline_put(wa, 200, &i, 8)).status, OV_OK);
        const uint64_t j = 10 * i;
        EXPECT_EQ(roundtrip(b, inline_put(wa2, 200, &j, 8)).status, OV_OK);
        EXPECT_EQ(std::memcmp(pa + 200, &i, 8), 0);
        EXPECT_EQ(std::memcmp(pa2 + 200, &j, 8), 0);
        EXPECT_EQ(get8(b, wa, 200, &st), i);
        EXPECT_EQ(get8(b, wa2, 200, &st), j);
    }

    /* The owner needs no grant on its own window. */
    EXPECT_EQ(roundtrip(a, inline_put(wa, 0, "own", 4)).status, OV_OK);
    EXPECT_STREQ(pa, "own");
}

/* The quick path remembers b's rights on wa: every change of the grant
 * must be seen by the very next request. */
TEST_F(BackendQuick, AGrantChangeIsSeenByTheNextRequest)
{
    ov_win_t wa;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    char *pa = static_cast<char *>(wa.base);
    const uint64_t one = 1, two = 2, three = 3;

    /* Full rights first, so that what is remembered is worth the most. */
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    EXPECT_EQ(roundtrip(b, inline_put(wa, 0, &one, 8)).status, OV_OK);
    EXPECT_EQ(std::memcmp(pa, &one, 8), 0);

    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ), OV_OK);
    EXPECT_EQ(roundtrip(b, inline_put(wa, 0, &two, 8)).status, OV_ERR_PERM);
    EXPECT_EQ(std::memcmp(pa, &one, 8), 0) << "a put without write permission landed";
    int32_t st = -1;
    EXPECT_EQ(get8(b, wa, 0, &st), one);
    EXPECT_EQ(st, OV_OK);

    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_WRITE), OV_OK);
    EXPECT_EQ(roundtrip(b, inline_get(wa, 0, 8)).status, OV_ERR_PERM);
    EXPECT_EQ(roundtrip(b, inline_put(wa, 0, &two, 8)).status, OV_OK);
    EXPECT_EQ(std::memcmp(pa, &two, 8), 0);

    ASSERT_EQ(ov_fe_revoke(a, &wa, 1), OV_OK);
    EXPECT_EQ(roundtrip(b, inline_put(wa, 0, &three, 8)).status, OV_ERR_NO_WINDOW);
    EXPECT_EQ(roundtrip(b, inline_get(wa, 0, 8)).status, OV_ERR_NO_WINDOW);
    EXPECT_EQ(std::memcmp(pa, &two, 8), 0) << "a put after the revoke landed";
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    EXPECT_EQ(roundtrip(b, inline_put(wa, 0, &three, 8)).status, OV_OK);
    EXPECT_EQ(std::memcmp(pa, &three, 8), 0);
}

/* A freed window's id comes back with a new epoch and other memory: the
 * old epoch must fail and the new one must reach the new memory. */
TEST_F(BackendQuick, AFreedWindowIsNeverReachedThroughItsOldEntry)
{
    ov_win_t old;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &old), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &old, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    const uint64_t v1 = 11, v2 = 22;
    EXPECT_EQ(roundtrip(b, inline_put(old, 8, &v1, 8)).status, OV_OK);
    ASSERT_EQ(ov_fe_win_free(a, &old), OV_OK);

    EXPECT_NE(roundtrip(b, inline_put(old, 8, &v2, 8)).status, OV_OK);
    int32_t st = OV_OK;
    (void) get8(b, old, 8, &st);
    EXPECT_NE(st, OV_OK);

    ov_win_t fresh; /* 8 KiB: not the freed block */
    ASSERT_EQ(ov_fe_win_create(a, 8192, &fresh), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &fresh, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    EXPECT_EQ(fresh.id, old.id) << "the freed id is reused (else this checks less)";
    EXPECT_EQ(roundtrip(b, inline_put(old, 8, &v2, 8)).status, OV_ERR_STALE_WINDOW);
    EXPECT_EQ(roundtrip(b, inline_put(fresh, 8184, &v2, 8)).status, OV_OK);
    EXPECT_EQ(std::memcmp(static_cast<char *>(fresh.base) + 8184, &v2, 8), 0);
    EXPECT_EQ(get8(b, fresh, 8184, &st), v2);
    EXPECT_EQ(st, OV_OK);
    /* Right after the new epoch was served, nothing changed since: the old
     * one must still fail, not reach the new window's memory. */
    const uint64_t v3 = 33;
    EXPECT_EQ(roundtrip(b, inline_put(old, 8, &v3, 8)).status, OV_ERR_STALE_WINDOW);
    EXPECT_EQ(std::memcmp(static_cast<char *>(fresh.base) + 8, "\0\0\0\0\0\0\0\0", 8), 0);
}

/* Two processes with different rights on one window each get their own
 * answer (what one learned is not the other's). */
TEST_F(BackendQuick, EachProcessKeepsItsOwnRights)
{
    ov_fe_t *c = connect("guest-c", 1, 2), *other_job = connect("guest-d", 2, 1);
    ASSERT_TRUE(c && other_job);
    ov_win_t wa;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &wa, 2, OV_PERM_READ), OV_OK);
    const uint64_t v = 7;
    for (int round = 0; round < 2; round++) { /* the second round is served from what was learned */
        EXPECT_EQ(roundtrip(b, inline_put(wa, 0, &v, 8)).status, OV_OK);
        EXPECT_EQ(roundtrip(c, inline_put(wa, 0, &v, 8)).status, OV_ERR_PERM);
        EXPECT_EQ(roundtrip(c, inline_get(wa, 0, 8)).status, OV_OK);
        EXPECT_EQ(roundtrip(other_job, inline_get(wa, 0, 8)).status, OV_ERR_NO_WINDOW);
    }
    ov_fe_close(c);
    ov_fe_close(other_job);
}

/* OV_REQ_QUIET (ov_protocol.h): a put or accumulate that succeeds posts no
 * completion, one that fails posts its error in ring order, and the next
 * request's completion says every quiet one before it is done.  Without
 * the feature's support the backend would answer every quiet put (and the
 * frontend's counting would be off by one per put). */
TEST_F(BackendQuick, QuietRequestsCompleteOnlyWhenTheyFail)
{
    ASSERT_TRUE(ov_fe_features(b) & OV_FEAT_QUIET);
    ov_win_t wa;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    char *pa = static_cast<char *>(wa.base);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    std::vector<ov_req_desc> ds;
    for (uint64_t i = 0; i < 100; i++) { /* 100 quiet puts: the quick path */
        ov_req_desc d = inline_put(wa, 8 * i, &i, 8);
        d.flags |= OV_REQ_QUIET;
        ds.push_back(d);
    }
    const uint64_t junk = 7;
    ov_req_desc bad = inline_put(wa, 4092, &junk, 8); /* past the window's end */
    bad.flags |= OV_REQ_QUIET;
    ds.push_back(bad);
    int64_t one = 5;
    ov_req_desc acc = inline_put(wa, 1024, &one, 8); /* a quiet accumulate: the general path */
    acc.op = OV_OP_ACC;
    acc.acc_op = OV_ACC_SUM;
    acc.dtype_kind = OV_DT_INT;
    acc.dtype_size = 8;
    acc.flags |= OV_REQ_QUIET;
    ds.push_back(acc);
    ds.push_back(acc);
    ov_req_desc nop{};
    nop.cookie = 0x12345;
    ds.push_back(nop);
    for (auto &d : ds)
        ASSERT_EQ(ov_fe_submit(b, &d), OV_OK);
    ov_completion c{};
    ASSERT_EQ(ov_fe_wait(b, &c, 3000), OV_OK);
    EXPECT_EQ(c.cookie, bad.cookie); /* only the failed one, first */
    EXPECT_EQ(c.status, OV_ERR_BOUNDS);
    ASSERT_EQ(ov_fe_wait(b, &c, 3000), OV_OK);
    EXPECT_EQ(c.cookie, nop.cookie); /* then the NOP: everything before it is done */
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_EQ(ov_fe_poll(b, &c), OV_ERR_AGAIN);
    for (uint64_t i = 0; i < 100; i++) {
        uint64_t v;
        memcpy(&v, pa + 8 * i, 8);
        EXPECT_EQ(v, i) << "offset " << 8 * i;
    }
    int64_t sum;
    memcpy(&sum, pa + 1024, 8);
    EXPECT_EQ(sum, 10); /* both accumulates, on a zeroed window */

    /* not for ops with a result, and only with the feature */
    ov_req_desc get = inline_get(wa, 0, 8);
    get.flags |= OV_REQ_QUIET;
    EXPECT_EQ(roundtrip(b, get).status, OV_ERR_BAD_FLAGS);
}
