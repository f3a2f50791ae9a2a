/*
 * test_backend_ops.cc — protocol v2 operations through a real backend
 * (forked child) and real frontends: accumulate, get_accumulate, CAS, their
 * atomicity between processes, locks, and lock release when the holder dies
 * or the window is freed.
 */
#include <time.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "harness.h"

namespace {
/* copy_req() with an optional local window (NULL: none, e.g. LOCAL_VA). */
ov_req_desc desc(uint16_t op, const ov_win_t &target, uint64_t toff, const ov_win_t *local, uint64_t loff,
                 uint64_t len)
{
    return copy_req(op, target, toff, local ? *local : ov_win_t{}, loff, len);
}
ov_req_desc accumulate(uint16_t op, uint8_t acc_op, uint8_t kind, uint16_t size, const ov_win_t &target,
                       uint64_t toff, const ov_win_t &local, uint64_t loff, uint64_t len, uint64_t roff = 0)
{
    ov_req_desc d = desc(op, target, toff, &local, loff, len);
    d.acc_op = acc_op;
    d.dtype_kind = kind;
    d.dtype_size = size;
    d.result_off = roff;
    return d;
}
ov_req_desc lock_req(uint16_t op, const ov_win_t &w, uint32_t slot, bool excl)
{
    ov_req_desc d = desc(op, w, slot, nullptr, 0, 0);
    d.flags = excl ? OV_REQ_EXCLUSIVE : 0;
    return d;
}
ov_status_t run(ov_fe_t *fe, const ov_req_desc &d, uint64_t *bytes = nullptr)
{
    ov_completion c{};
    if (ov_fe_submit(fe, &d) != OV_OK || ov_fe_wait(fe, &c, 3000) != OV_OK || c.cookie != d.cookie)
        return OV_ERR_TIMEOUT;
    if (bytes)
        *bytes = c.bytes;
    return ov_status_t(c.status);
}
} // namespace

class BackendOps : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    void SetUp() override { ASSERT_TRUE(be.start()); }
    ov_fe_t *connect(const char *guest, uint64_t job, uint32_t rank)
    {
        return connect_fe(be.uri(), guest, job, rank);
    }
};

TEST_F(BackendOps, AccumulateGetAccumulateCasAcrossGuests)
{
    ov_fe_t *a = connect("guest-a", 1, 0), *b = connect("guest-b", 1, 1);
    ASSERT_TRUE(a && b);
    ov_win_t wa, wb;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_win_create(b, 4096, &wb), OV_OK);
    auto *ta = static_cast<int64_t *>(wa.base);
    auto *lb = static_cast<int64_t *>(wb.base);
    for (int i = 0; i < 4; i++) {
        ta[i] = 100 * (i + 1);
        lb[i] = i + 1;
    }
    ov_req_desc d = accumulate(OV_OP_ACC, OV_ACC_SUM, OV_DT_INT, 8, wa, 0, wb, 0, 32);
    EXPECT_EQ(run(b, d), OV_ERR_NO_WINDOW);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ), OV_OK);
    EXPECT_EQ(run(b, d), OV_ERR_PERM);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    uint64_t bytes = 0;
    EXPECT_EQ(run(b, d, &bytes), OV_OK);
    EXPECT_EQ(bytes, 32u);
    EXPECT_EQ(ta[0], 101);
    EXPECT_EQ(ta[3], 404);
    /* fetch-and-op: old values to b's window at 512, target multiplied */
    d = accumulate(OV_OP_GET_ACC, OV_ACC_PROD, OV_DT_INT, 8, wa, 8, wb, 0, 16, 512);
    EXPECT_EQ(run(b, d), OV_OK);
    EXPECT_EQ(lb[64], 202);
    EXPECT_EQ(lb[65], 303);
    EXPECT_EQ(ta[1], 202);
    EXPECT_EQ(ta[2], 606);
    d = accumulate(OV_OP_GET_ACC, OV_ACC_NO_OP, OV_DT_INT, 8, wa, 24, wb, 0, 8, 1024);
    EXPECT_EQ(run(b, d), OV_OK);
    EXPECT_EQ(lb[128], 404);
    EXPECT_EQ(ta[3], 404);
    /* unaligned doubles: MAX at an odd offset */
    double x = 1.5, y = 2.5;
    memcpy(static_cast<char *>(wa.base) + 101, &x, 8);
    memcpy(static_cast<char *>(wb.base) + 203, &y, 8);
    d = accumulate(OV_OP_ACC, OV_ACC_MAX, OV_DT_FLOAT, 8, wa, 101, wb, 203, 8);
    EXPECT_EQ(run(b, d), OV_OK);
    memcpy(&x, static_cast<char *>(wa.base) + 101, 8);
    EXPECT_EQ(x, 2.5);
    /* CAS: swap 101 -> 7 when target == 101; then a failing compare */
    lb[200] = 7;
    lb[201] = 101;
    d = accumulate(OV_OP_CAS, 0, OV_DT_INT, 8, wa, 0, wb, 1600, 8, 1700);
    EXPECT_EQ(run(b, d), OV_OK);
    EXPECT_EQ(ta[0], 7);
    int64_t old;
    memcpy(&old, static_cast<char *>(wb.base) + 1700, 8);
    EXPECT_EQ(old, 101);
    EXPECT_EQ(run(b, d), OV_OK);
    EXPECT_EQ(ta[0], 7);
    memcpy(&old, static_cast<char *>(wb.base) + 1700, 8);
    EXPECT_EQ(old, 7);
    /* rejected: op not defined on the type, dtype, bounds */
    EXPECT_EQ(run(b, accumulate(OV_OP_ACC, OV_ACC_LAND, OV_DT_FLOAT, 8, wa, 0, wb, 0, 8)), OV_ERR_BAD_OP);
    EXPECT_EQ(run(b, accumulate(OV_OP_ACC, OV_ACC_SUM, OV_DT_INT, 16, wa, 0, wb, 0, 16)), OV_ERR_BAD_DTYPE);
    EXPECT_EQ(run(b, accumulate(OV_OP_GET_ACC, OV_ACC_SUM, OV_DT_INT, 8, wa, 0, wb, 0, 8, 4092)), OV_ERR_BOUNDS);
    EXPECT_EQ(ta[0], 7);
    ov_fe_close(a);
    ov_fe_close(b);
}

/* Two processes add 1 to one counter many times with many requests in
 * flight, and fetch-and-add another: no update is lost and every fetched
 * value is distinct. */
TEST_F(BackendOps, AccumulatesAreAtomicBetweenProcesses)
{
    ov_fe_t *a = connect("guest-a", 2, 0);
    ASSERT_NE(a, nullptr);
    ov_win_t wa;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &wa, 2, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    const int N = 3000;
    int res[2][2];
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        ASSERT_EQ(pipe(res[k]), 0);
        kids[k] = fork();
        if (kids[k] == 0) {
            ov_fe_params_t p = fe_params(be.uri(), k ? "guest-c" : "guest-b", 2, uint32_t(k + 1));
            ov_fe_t *fe = nullptr;
            ov_win_t w;
            if (ov_fe_connect(&p, &fe) != OV_OK || ov_fe_win_create(fe, uint64_t(N) * 8 + 64, &w) != OV_OK)
                _exit(2);
            auto *one = static_cast<uint64_t *>(w.base);
            one[0] = 1;
            int sent = 0, done = 0;
            while (done < 2 * N) {
                while (sent < 2 * N) { /* even: add; odd: fetch-and-add into slot sent/2 */
                    ov_req_desc d = sent % 2 ? accumulate(OV_OP_GET_ACC, OV_ACC_SUM, OV_DT_UINT, 8, wa, 8, w, 0, 8,
                                                          8 + uint64_t(sent / 2) * 8)
                                             : accumulate(OV_OP_ACC, OV_ACC_SUM, OV_DT_UINT, 8, wa, 0, w, 0, 8);
                    if (ov_fe_submit(fe, &d) != OV_OK)
                        break;
                    sent++;
                }
                ov_completion c;
                if (ov_fe_wait(fe, &c, 3000) != OV_OK || c.status != OV_OK)
                    _exit(3);
                done++;
            }
            ssize_t len = ssize_t(N) * 8;
            _exit(write(res[k][1], one + 1, size_t(len)) == len ? 0 : 4);
        }
        close(res[k][1]);
    }
    std::vector<uint64_t> fetched;
    for (int k = 0; k < 2; k++) {
        std::vector<uint64_t> got(N);
        size_t have = 0;
        while (have < got.size() * 8) {
            ssize_t n = read(res[k][0], reinterpret_cast<char *>(got.data()) + have, got.size() * 8 - have);
            if (n <= 0)
                break;
            have += size_t(n);
        }
        int st = 0;
        waitpid(kids[k], &st, 0);
        close(res[k][0]);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child " << k << " status " << st;
        ASSERT_EQ(have, got.size() * 8);
        fetched.insert(fetched.end(), got.begin(), got.end());
    }
    auto *t = static_cast<uint64_t *>(wa.base);
    EXPECT_EQ(t[0], uint64_t(2 * N));
    EXPECT_EQ(t[1], uint64_t(2 * N));
    std::sort(fetched.begin(), fetched.end());
    for (int i = 0; i < 2 * N; i++)
        ASSERT_EQ(fetched[size_t(i)], uint64_t(i)) << "fetch-and-add values must be 0..2N-1, each once";
    ov_fe_close(a);
}

TEST_F(BackendOps, LocksBetweenProcesses)
{
    ov_fe_t *a = connect("guest-a", 3, 0), *b = connect("guest-b", 3, 1), *c = connect("guest-b", 3, 2);
    ASSERT_TRUE(a && b && c);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(a, 64, &w), OV_OK);
    EXPECT_EQ(run(b, lock_req(OV_OP_LOCK, w, 0, false)), OV_ERR_NO_WINDOW);
    ASSERT_EQ(ov_fe_grant(a, &w, 1, OV_PERM_READ), OV_OK); /* any grant may lock */
    ASSERT_EQ(ov_fe_grant(a, &w, 2, OV_PERM_WRITE), OV_OK);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w, 0, true)), OV_OK); /* the owner locks its own window */
    EXPECT_EQ(run(b, lock_req(OV_OP_LOCK, w, 0, false)), OV_ERR_LOCK_BUSY);
    EXPECT_EQ(run(b, lock_req(OV_OP_UNLOCK, w, 0, false)), OV_ERR_LOCK_STATE);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w, 0, true)), OV_ERR_LOCK_STATE);
    EXPECT_EQ(run(b, lock_req(OV_OP_LOCK, w, 1, true)), OV_OK); /* other slot */
    EXPECT_EQ(run(a, lock_req(OV_OP_UNLOCK, w, 0, false)), OV_OK);
    EXPECT_EQ(run(b, lock_req(OV_OP_LOCK, w, 0, false)), OV_OK);
    EXPECT_EQ(run(c, lock_req(OV_OP_LOCK, w, 0, false)), OV_OK); /* shared + shared */
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w, 0, true)), OV_ERR_LOCK_BUSY);
    EXPECT_EQ(run(b, lock_req(OV_OP_UNLOCK, w, 0, false)), OV_OK);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w, 0, true)), OV_ERR_LOCK_BUSY);
    EXPECT_EQ(run(c, lock_req(OV_OP_UNLOCK, w, 0, false)), OV_OK);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w, 0, true)), OV_OK);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w, OV_LOCK_SLOTS, true)), OV_ERR_BOUNDS);
    ov_req_desc bad = lock_req(OV_OP_UNLOCK, w, 0, true);
    EXPECT_EQ(run(a, bad), OV_ERR_BAD_FLAGS);
    /* a busy lock is a retry, not an error in the counters */
    Raw r;
    ASSERT_TRUE(r.connect(be.uri()));
    ov_status_req q{};
    std::vector<uint8_t> buf(1 << 16);
    ASSERT_EQ(r.call(OV_MSG_STATUS, &q, sizeof(q), buf.data(), uint32_t(buf.size())), OV_OK);
    ov_status_snapshot s;
    ASSERT_EQ(ov_status_decode(buf.data(), r.last.len, &s), OV_OK);
    uint64_t errors = 0;
    for (auto &g : s.guests)
        errors += g.errors;
    EXPECT_EQ(errors, 5u); /* NO_WINDOW, 2 LOCK_STATE, BOUNDS, BAD_FLAGS; the 3 BUSY are not errors */
    ov_fe_close(a);
    ov_fe_close(b);
    ov_fe_close(c);
}

TEST_F(BackendOps, LocksDieWithTheirHolderAndTheirWindow)
{
    ov_fe_t *a = connect("guest-a", 4, 0), *b = connect("guest-b", 4, 1);
    ASSERT_TRUE(a && b);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(a, 64, &w), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &w, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &w, 2, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    int pfd[2];
    ASSERT_EQ(pipe(pfd), 0);
    pid_t kid = fork();
    if (kid == 0) { /* takes slot 3 exclusively and dies holding it */
        ov_fe_params_t p = fe_params(be.uri(), "guest-c", 4, 2);
        ov_fe_t *fe = nullptr;
        if (ov_fe_connect(&p, &fe) != OV_OK || run(fe, lock_req(OV_OP_LOCK, w, 3, true)) != OV_OK)
            _exit(1);
        (void) !write(pfd[1], "l", 1);
        _exit(0);
    }
    char ch = 0;
    ASSERT_EQ(read(pfd[0], &ch, 1), 1);
    int st = 0;
    waitpid(kid, &st, 0);
    close(pfd[0]);
    close(pfd[1]);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ov_status_t s;
    int64_t t0 = ms_now();
    while ((s = run(b, lock_req(OV_OP_LOCK, w, 3, true))) == OV_ERR_LOCK_BUSY && ms_now() - t0 < 3000)
        usleep(2000); /* the backend notices the death asynchronously */
    EXPECT_EQ(s, OV_OK);

    /* b holds slot 3; the window is freed: the lock goes with it */
    ov_win_t old = w;
    ASSERT_EQ(ov_fe_win_free(a, &w), OV_OK);
    EXPECT_EQ(run(b, lock_req(OV_OP_UNLOCK, old, 3, false)), OV_ERR_NO_WINDOW);
    ov_win_t w2;
    ASSERT_EQ(ov_fe_win_create(a, 64, &w2), OV_OK);
    ASSERT_EQ(w2.id, old.id) << "the freed id is reused first";
    /* b holds no grant on the window now under that id: to b it is no window */
    EXPECT_EQ(run(b, lock_req(OV_OP_UNLOCK, old, 3, false)), OV_ERR_NO_WINDOW);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w2, 3, true)), OV_OK) << "the new window starts unlocked";
    ov_fe_close(a);
    ov_fe_close(b);
}

/* The lock table is bounded per process (ov_protocol.h, OV_OP_LOCK). */
TEST_F(BackendOps, AProcessHoldsAtMost65536Locks)
{
    ov_fe_t *a = connect("guest-a", 5, 0);
    ASSERT_NE(a, nullptr);
    ov_win_t w1, w2;
    ASSERT_EQ(ov_fe_win_create(a, 64, &w1), OV_OK);
    ASSERT_EQ(ov_fe_win_create(a, 64, &w2), OV_OK);
    uint32_t sent = 0, done = 0, ok = 0;
    while (done < OV_LOCK_SLOTS) { /* every slot of w1, many requests in flight */
        while (sent < OV_LOCK_SLOTS) {
            ov_req_desc d = lock_req(OV_OP_LOCK, w1, sent, false);
            if (ov_fe_submit(a, &d) != OV_OK)
                break;
            sent++;
        }
        ov_completion c;
        ASSERT_EQ(ov_fe_wait(a, &c, 3000), OV_OK);
        ok += c.status == OV_OK;
        done++;
    }
    EXPECT_EQ(ok, OV_LOCK_SLOTS);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w2, 0, true)), OV_ERR_NOMEM);
    EXPECT_EQ(run(a, lock_req(OV_OP_UNLOCK, w1, 7, false)), OV_OK);
    EXPECT_EQ(run(a, lock_req(OV_OP_LOCK, w2, 0, true)), OV_OK);
    ov_fe_close(a);
}
