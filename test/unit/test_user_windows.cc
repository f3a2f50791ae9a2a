/*
 * test_user_windows.cc — windows over a process's own memory (WIN_REGISTER,
 * ov_fe_win_register) through a real backend: the feature gate, bad
 * registrations, every op from a peer in another guest on the owner's
 * memory, the owner's own use as local buffer, memory unmapped after
 * registration, batches of puts and gets (OV_REQ_BATCH) on it, free and
 * owner death, status accounting.
 */
#include <sys/mman.h>
#include <time.h>

#include <cstring>
#include <vector>

#include "harness.h"
#include "wire.h"

namespace {
/* copy_req() with an accumulate's op and element type, and a result offset. */
ov_req_desc req(uint16_t op, const ov_win_t &t, uint64_t toff, const ov_win_t &l, uint64_t loff, uint64_t len,
                uint8_t acc_op = 0, uint8_t kind = OV_DT_BYTES, uint16_t size = 1, uint64_t roff = 0)
{
    ov_req_desc d = copy_req(op, t, toff, l, loff, len);
    d.acc_op = acc_op;
    d.dtype_kind = kind;
    d.dtype_size = size;
    d.result_off = roff;
    return d;
}
/* An OV_REQ_INLINE put of len (<= 16) bytes of src to t + toff. */
ov_req_desc inline_put_req(const ov_win_t &t, uint64_t toff, const void *src, uint64_t len)
{
    ov_req_desc d = copy_req(OV_OP_PUT, t, toff, ov_win_t{}, 0, len);
    d.flags = OV_REQ_INLINE;
    memcpy(ov_req_inline_origin(&d), src, len);
    return d;
}
ov_status_t run(ov_fe_t *fe, const ov_req_desc &d)
{
    ov_completion c{};
    if (ov_fe_submit(fe, &d) != OV_OK || ov_fe_wait(fe, &c, 3000) != OV_OK || c.cookie != d.cookie)
        return OV_ERR_TIMEOUT;
    return ov_status_t(c.status);
}
uint32_t guest_windows(const std::string &uri, const char *guest)
{
    Raw r;
    if (!r.connect(uri))
        return 999;
    ov_status_req q{};
    std::vector<uint8_t> buf(1 << 16);
    ov_status_snapshot s;
    if (r.call(OV_MSG_STATUS, &q, sizeof(q), buf.data(), uint32_t(buf.size())) != OV_OK ||
        ov_status_decode(buf.data(), r.last.len, &s) != OV_OK)
        return 999;
    for (auto &g : s.guests)
        if (strcmp(g.name, guest) == 0)
            return g.nwins;
    return 0;
}
/* What both batch tests put first: 1000 + i at 8 * i for i < 20, then
 * 1..5 at offset 0 (the last wins). */
void expect_twenty_puts(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    EXPECT_EQ(v, 5u);
    for (uint64_t i = 1; i < 20; i++) {
        memcpy(&v, p + 8 * i, 8);
        EXPECT_EQ(v, 1000 + i) << "offset " << 8 * i;
    }
}
} // namespace

class UserWindows : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    ov_fe_t *fe = nullptr;
    void SetUp() override
    {
        ASSERT_TRUE(be.start());
        ov_fe_params_t p = fe_params(be.uri(), "guest-a", 1, 0);
        ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK) << ov_fe_last_error(fe);
        if (!(ov_fe_features(fe) & OV_FEAT_USER_WINDOWS)) {
            if (ptrace_denied())
                GTEST_SKIP() << "process_vm_readv: EPERM (the backend may not read this process)";
            FAIL() << "user windows not offered although ptrace access is permitted";
        }
        EXPECT_TRUE(ov_fe_features(fe) & OV_FEAT_SINGLE_COPY);
    }
    void TearDown() override { ov_fe_close(fe); }
    /* Two pages registered as *w and granted to rank 1, the second then
     * unmapped again. */
    void two_pages_second_gone(long pg, char **p, ov_win_t *w)
    {
        *p = static_cast<char *>(mmap(nullptr, size_t(2 * pg), PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        ASSERT_NE(*p, MAP_FAILED);
        ASSERT_EQ(ov_fe_win_register(fe, *p, uint64_t(2 * pg), w), OV_OK);
        ASSERT_EQ(ov_fe_grant(fe, w, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
        ASSERT_EQ(munmap(*p + pg, size_t(pg)), 0);
    }
};

TEST_F(UserWindows, BadRegistrationsAreRefused)
{
    ov_win_t w;
    std::vector<char> mem(4096);
    EXPECT_EQ(ov_fe_win_register(fe, mem.data(), 0, &w), OV_ERR_BAD_ARG);
    EXPECT_EQ(ov_fe_win_register(fe, nullptr, 64, &w), OV_ERR_BAD_ARG);
    long pg = sysconf(_SC_PAGESIZE);
    char *p = static_cast<char *>(mmap(nullptr, size_t(2 * pg), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p + pg, size_t(pg)), 0);
    EXPECT_EQ(ov_fe_win_register(fe, p, uint64_t(2 * pg), &w), OV_ERR_BAD_ARG); /* last byte unmapped */
    EXPECT_EQ(ov_fe_win_register(fe, p + pg, 16, &w), OV_ERR_BAD_ARG);          /* first byte unmapped */
    EXPECT_EQ(ov_fe_win_register(fe, p, uint64_t(pg), &w), OV_OK);
    EXPECT_EQ(w.offset, 0u);
    EXPECT_EQ(w.base, p);
    EXPECT_EQ(ov_fe_win_free(fe, &w), OV_OK);
    munmap(p, size_t(pg));
    /* a range that wraps, sent raw (the library never would) */
    Raw r;
    ASSERT_TRUE(r.connect(be.uri()));
    ASSERT_EQ(r.hello("guest-a", 1, 7), OV_OK);
    ASSERT_EQ(r.attach(), OV_OK);
    ASSERT_EQ(r.rings(), OV_OK);
    ov_win_register_req q{UINT64_MAX - 8, 64};
    ov_win_create_rep rep{};
    EXPECT_EQ(r.call(OV_MSG_WIN_REGISTER, &q, sizeof(q), &rep, sizeof(rep)), OV_ERR_BAD_ARG);
    char junk[8] = {};
    EXPECT_EQ(r.call(OV_MSG_WIN_REGISTER, junk, sizeof(junk), &rep, sizeof(rep)), OV_ERR_PROTO);
    EXPECT_TRUE(r.closed_by_peer());
}

/* A process in another guest works on our heap memory through every op. */
TEST_F(UserWindows, PeersWorkOnTheOwnersMemory)
{
    std::vector<int64_t> mine(512, 0);
    for (int i = 0; i < 8; i++)
        mine[size_t(i)] = 100 + i;
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_register(fe, mine.data(), mine.size() * 8, &w), OV_OK);
    ASSERT_EQ(ov_fe_grant(fe, &w, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    EXPECT_EQ(guest_windows(be.uri(), "guest-a"), 1u);
    pid_t k = fork();
    if (k == 0) {
        ov_fe_params_t p = fe_params(be.uri(), "guest-b", 1, 1);
        ov_fe_t *b = nullptr;
        ov_win_t l;
        if (ov_fe_connect(&p, &b) != OV_OK || ov_fe_win_create(b, 4096, &l) != OV_OK)
            _exit(2);
        auto *lb = static_cast<int64_t *>(l.base);
        lb[0] = 5;
        strcpy(static_cast<char *>(l.base) + 1024, "put by a peer");
        int step = 10;
        auto check = [&](bool ok) {
            if (!ok)
                _exit(step);
            step++;
        };
        check(run(b, req(OV_OP_PUT, w, 2048, l, 1024, 14)) == OV_OK);
        check(run(b, req(OV_OP_ACC, w, 0, l, 0, 8, OV_ACC_SUM, OV_DT_INT, 8)) == OV_OK);        /* 100+5 */
        check(run(b, req(OV_OP_GET_ACC, w, 8, l, 0, 8, OV_ACC_PROD, OV_DT_INT, 8, 64)) == OV_OK); /* 101*5 */
        check(lb[8] == 101);
        lb[16] = -1;  /* CAS origin */
        lb[17] = 102; /* compare */
        check(run(b, req(OV_OP_CAS, w, 16, l, 128, 8, 0, OV_DT_INT, 8, 256)) == OV_OK);
        check(lb[32] == 102);
        check(run(b, req(OV_OP_GET, w, 0, l, 512, 32)) == OV_OK);
        check(lb[64] == 105 && lb[65] == 505 && lb[66] == -1 && lb[67] == 103);
        ov_req_desc lk = req(OV_OP_LOCK, w, 3, l, 0, 0);
        lk.flags = OV_REQ_EXCLUSIVE;
        lk.local_win = lk.local_epoch = 0;
        check(run(b, lk) == OV_OK);
        /* single copy on both sides: our heap into the owner's heap */
        std::string msg = "from the peer's heap";
        ov_req_desc d = req(OV_OP_PUT, w, 3000, l, 0, msg.size() + 1);
        d.flags = OV_REQ_LOCAL_VA;
        d.local_win = d.local_epoch = 0;
        d.local_off = uintptr_t(msg.c_str());
        check(run(b, d) == OV_OK);
        check(run(b, req(OV_OP_PUT, w, 4090, l, 0, 8)) == OV_ERR_BOUNDS);
        ov_fe_close(b);
        _exit(0);
    }
    int st = 0;
    waitpid(k, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0) << "first failing step in the peer";
    EXPECT_STREQ(reinterpret_cast<char *>(mine.data()) + 2048, "put by a peer");
    EXPECT_STREQ(reinterpret_cast<char *>(mine.data()) + 3000, "from the peer's heap");
    EXPECT_EQ(mine[0], 105);
    EXPECT_EQ(mine[1], 505);
    EXPECT_EQ(mine[2], -1);
    EXPECT_EQ(mine[3], 103);
    /* the peer died holding slot 3: released */
    ov_req_desc lk = req(OV_OP_LOCK, w, 3, w, 0, 0);
    lk.flags = OV_REQ_EXCLUSIVE;
    lk.local_win = lk.local_epoch = 0;
    ov_status_t s;
    int64_t t0 = ms_now();
    while ((s = run(fe, lk)) == OV_ERR_LOCK_BUSY && ms_now() - t0 < 3000)
        usleep(2000);
    EXPECT_EQ(s, OV_OK);
    ASSERT_EQ(ov_fe_win_free(fe, &w), OV_OK);
    EXPECT_EQ(guest_windows(be.uri(), "guest-a"), 0u);
}

TEST_F(UserWindows, TheOwnersRegisteredWindowAsLocalBuffer)
{
    char mine[256] = "my registered bytes";
    ov_win_t u, r;
    ASSERT_EQ(ov_fe_win_register(fe, mine, sizeof(mine), &u), OV_OK);
    ASSERT_EQ(ov_fe_win_create(fe, 4096, &r), OV_OK);
    EXPECT_EQ(run(fe, req(OV_OP_PUT, r, 10, u, 0, 20)), OV_OK);
    EXPECT_STREQ(static_cast<char *>(r.base) + 10, "my registered bytes");
    strcpy(static_cast<char *>(r.base) + 100, "back again");
    EXPECT_EQ(run(fe, req(OV_OP_GET, r, 100, u, 128, 11)), OV_OK);
    EXPECT_STREQ(mine + 128, "back again");
    EXPECT_EQ(run(fe, req(OV_OP_PUT, u, 64, u, 0, 20)), OV_OK); /* registered to registered */
    EXPECT_STREQ(mine + 64, "my registered bytes");
    EXPECT_EQ(run(fe, req(OV_OP_GET, r, 0, u, 250, 8)), OV_ERR_BOUNDS);
}

TEST_F(UserWindows, MemoryUnmappedAfterRegistrationFailsRequestsOnly)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = static_cast<char *>(mmap(nullptr, size_t(pg), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ov_win_t u, r;
    ASSERT_EQ(ov_fe_win_register(fe, p, uint64_t(pg), &u), OV_OK);
    ASSERT_EQ(ov_fe_win_create(fe, 4096, &r), OV_OK);
    ASSERT_EQ(munmap(p, size_t(pg)), 0); /* erroneous, and must not hurt the backend */
    EXPECT_EQ(run(fe, req(OV_OP_PUT, u, 0, r, 0, 8)), OV_ERR_BOUNDS);
    EXPECT_EQ(run(fe, req(OV_OP_GET, u, 0, r, 0, 8)), OV_ERR_BOUNDS);
    EXPECT_EQ(run(fe, req(OV_OP_ACC, u, 0, r, 0, 8, OV_ACC_SUM, OV_DT_INT, 8)), OV_ERR_BOUNDS);
    EXPECT_EQ(run(fe, req(OV_OP_PUT, r, 0, u, 0, 8)), OV_ERR_LOCAL_ACCESS); /* as local buffer */
    ov_req_desc nop{};
    nop.cookie = 1;
    EXPECT_EQ(run(fe, nop), OV_OK);
    EXPECT_EQ(ov_fe_win_free(fe, &u), OV_OK);
}

/* Inline puts to a registered window are written several per system call
 * (backend/put_batch.cc) when the backend finds them waiting together: here
 * 41 submitted while it sleeps, so it wakes to all of them.  Each keeps its
 * own completion, in ring order: a later put to the same bytes wins, the one
 * to a page the owner unmapped fails alone with OV_ERR_BOUNDS, and those
 * after it still land. */
TEST_F(UserWindows, BatchedInlinePutsKeepOrderAndTheirOwnResults)
{
    const long pg = sysconf(_SC_PAGESIZE);
    char *p = nullptr;
    ov_win_t w;
    ASSERT_NO_FATAL_FAILURE(two_pages_second_gone(pg, &p, &w));
    pid_t k = fork();
    if (k == 0) {
        ov_fe_params_t pp = fe_params(be.uri(), "guest-b", 1, 1);
        ov_fe_t *b = nullptr;
        if (ov_fe_connect(&pp, &b) != OV_OK)
            _exit(2);
        usleep(200 * 1000); /* the backend goes to sleep */
        std::vector<ov_req_desc> ds;
        for (uint64_t i = 0; i < 20; i++) { /* 8 bytes each at 8 * i, then 5 more at 0 */
            uint64_t v = 1000 + i;
            ds.push_back(inline_put_req(w, 8 * i, &v, 8));
        }
        for (uint64_t v = 1; v <= 5; v++)
            ds.push_back(inline_put_req(w, 0, &v, 8));
        const uint64_t bad = 77;
        ds.push_back(inline_put_req(w, uint64_t(pg) + 8, &bad, 8)); /* index 25: the unmapped page */
        for (uint64_t i = 0; i < 15; i++) {
            uint64_t v[2] = {2000 + i, 3000 + i};
            ds.push_back(inline_put_req(w, 512 + 16 * i, v, 16)); /* 16 bytes: the inline maximum */
        }
        for (auto &d : ds)
            if (ov_fe_submit(b, &d) != OV_OK)
                _exit(3);
        for (size_t i = 0; i < ds.size(); i++) {
            ov_completion c{};
            if (ov_fe_wait(b, &c, 3000) != OV_OK || c.cookie != ds[i].cookie)
                _exit(4);
            if (c.status != (i == 25 ? OV_ERR_BOUNDS : OV_OK))
                _exit(10 + int(i));
        }
        ov_fe_close(b);
        _exit(0);
    }
    int st = 0;
    waitpid(k, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0) << "2: connect, 3: submit, 4: wait, 10 + i: status of put i";
    expect_twenty_puts(p);
    for (uint64_t i = 0; i < 15; i++) {
        uint64_t two[2];
        memcpy(two, p + 512 + 16 * i, 16);
        EXPECT_EQ(two[0], 2000 + i) << "offset " << 512 + 16 * i;
        EXPECT_EQ(two[1], 3000 + i) << "offset " << 520 + 16 * i;
    }
    EXPECT_EQ(ov_fe_win_free(fe, &w), OV_OK);
    munmap(p, size_t(pg));
}

/* An OV_REQ_BATCH to a registered window (op_batch.cc, batch_on_owner): the
 * entries go to the owner's memory in order (a later put to the same bytes
 * wins), entries to consecutive bytes share one transfer, and an entry on
 * a page the owner unmapped fails the batch with the error its own request
 * would get, after every entry before it ran and before any after it.  A
 * get batch brings the owner's bytes back into the entries. */
TEST_F(UserWindows, BatchesRunOnTheOwnersMemoryUpToAnUnreachablePage)
{
    const long pg = sysconf(_SC_PAGESIZE);
    char *p = nullptr;
    ov_win_t w;
    ASSERT_NO_FATAL_FAILURE(two_pages_second_gone(pg, &p, &w));
    pid_t k = fork();
    if (k == 0) {
        ov_fe_params_t pp = fe_params(be.uri(), "guest-b", 1, 1);
        ov_fe_t *b = nullptr;
        ov_win_t blk;
        if (ov_fe_connect(&pp, &b) != OV_OK || ov_fe_win_create(b, 4096, &blk) != OV_OK)
            _exit(2);
        auto *e = static_cast<ov_batch_entry *>(blk.base);
        size_t n = 0;
        auto add = [&](uint64_t off, uint64_t v0, uint64_t v1, uint32_t len) {
            e[n] = ov_batch_entry{off, len, 0, {}};
            memcpy(e[n].data, &v0, 8);
            memcpy(e[n].data + 8, &v1, 8);
            n++;
        };
        for (uint64_t i = 0; i < 20; i++) /* consecutive: one transfer */
            add(8 * i, 1000 + i, 0, 8);
        for (uint64_t v = 1; v <= 5; v++) /* the same bytes again: the last wins */
            add(0, v, 0, 8);
        add(uint64_t(pg) + 8, 77, 0, 8); /* entry 25: the unmapped page */
        for (uint64_t i = 0; i < 4; i++)
            add(512 + 16 * i, 2000 + i, 3000 + i, 16); /* after the failure: never run */
        ov_req_desc d = copy_req(OV_OP_PUT, w, 0, blk, 0, n * sizeof(ov_batch_entry));
        d.flags = OV_REQ_BATCH;
        ov_completion c = roundtrip(b, d);
        if (c.status != OV_ERR_BOUNDS)
            _exit(3);
        if (c.bytes != 25 * 8)
            _exit(4);
        n = 0;
        for (uint64_t i = 0; i < 10; i++)
            add(8 * i, 0, 0, 8);
        d = copy_req(OV_OP_GET, w, 0, blk, 0, n * sizeof(ov_batch_entry));
        d.flags = OV_REQ_BATCH;
        c = roundtrip(b, d);
        if (c.status != OV_OK)
            _exit(5);
        for (uint64_t i = 0; i < 10; i++) {
            uint64_t v;
            memcpy(&v, e[i].data, 8);
            if (v != (i == 0 ? 5 : 1000 + i))
                _exit(10 + int(i));
        }
        ov_fe_close(b);
        _exit(0);
    }
    int st = 0;
    waitpid(k, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0) << "2: connect, 3: put batch status, 4: its bytes, 5: get batch status, "
                                     "10 + i: get result i";
    expect_twenty_puts(p);
    uint64_t v;
    for (uint64_t i = 0; i < 4; i++) {
        memcpy(&v, p + 512 + 16 * i, 8);
        EXPECT_EQ(v, 0u) << "entry after the failing one ran, offset " << 512 + 16 * i;
    }
    EXPECT_EQ(ov_fe_win_free(fe, &w), OV_OK);
    munmap(p, size_t(pg));
}

TEST_F(UserWindows, GoneWithTheirOwner)
{
    ov_win_t r; /* before the owner dies, so it cannot reuse the dead window's id */
    ASSERT_EQ(ov_fe_win_create(fe, 64, &r), OV_OK);
    int pfd[2];
    ASSERT_EQ(pipe(pfd), 0);
    pid_t k = fork();
    if (k == 0) {
        static char mem[4096];
        ov_fe_params_t p = fe_params(be.uri(), "guest-c", 1, 2);
        ov_fe_t *o = nullptr;
        ov_win_t w{};
        if (ov_fe_connect(&p, &o) != OV_OK || ov_fe_win_register(o, mem, sizeof(mem), &w) != OV_OK ||
            ov_fe_grant(o, &w, 0, OV_PERM_READ | OV_PERM_WRITE) != OV_OK)
            _exit(1);
        (void) !write(pfd[1], &w, sizeof(w));
        _exit(0); /* dies owning a registered window */
    }
    ov_win_t w{};
    ASSERT_EQ(read(pfd[0], &w, sizeof(w)), ssize_t(sizeof(w)));
    close(pfd[0]);
    close(pfd[1]);
    int st = 0;
    waitpid(k, &st, 0);
    ov_status_t s;
    int64_t t0 = ms_now();
    /* OV_OK cannot come back (the memory is gone); until the backend has
     * noticed the death the window is stale, then it is gone */
    while ((s = run(fe, req(OV_OP_GET, w, 0, r, 0, 8))) == OV_ERR_STALE_WINDOW && ms_now() - t0 < 3000)
        usleep(2000);
    EXPECT_EQ(s, OV_ERR_NO_WINDOW);
    EXPECT_EQ(guest_windows(be.uri(), "guest-c"), 0u);
}

TEST(UserWindowsOff, NotOfferedWithoutSingleCopy)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    be.opts.single_copy = false;
    ASSERT_TRUE(be.start());
    ov_fe_params_t p = fe_params(be.uri(), "guest-a", 1, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK);
    EXPECT_EQ(ov_fe_features(fe) & OV_FEAT_USER_WINDOWS, 0u);
    char mem[64];
    ov_win_t w;
    EXPECT_EQ(ov_fe_win_register(fe, mem, sizeof(mem), &w), OV_ERR_NOT_SUPPORTED);
    ov_fe_close(fe);
    Raw r; /* the backend refuses it too, and keeps the connection */
    ASSERT_TRUE(r.connect(be.uri()));
    ASSERT_EQ(r.hello("guest-a", 1, 1), OV_OK);
    ASSERT_EQ(r.attach(), OV_OK);
    ASSERT_EQ(r.rings(), OV_OK);
    ov_win_register_req q{uintptr_t(mem), sizeof(mem)};
    ov_win_create_rep rep{};
    EXPECT_EQ(r.call(OV_MSG_WIN_REGISTER, &q, sizeof(q), &rep, sizeof(rep)), OV_ERR_NOT_SUPPORTED);
    ov_win_create_req c{64, 0};
    EXPECT_EQ(r.call(OV_MSG_WIN_CREATE, &c, sizeof(c), &rep, sizeof(rep)), OV_OK);
}
