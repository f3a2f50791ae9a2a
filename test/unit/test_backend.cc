/*
 * test_backend.cc — the backend through its real sockets and shared memory:
 * attach/detach state machine, malformed messages, put/get with grants,
 * isolation, validation end to end, sleep/wake, ring corruption, TCP, status.
 */
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <thread>

#include "harness.h"
#include "ov_frontend_impl.h"
#include "wire.h"

class Backend : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    void SetUp() override { ASSERT_TRUE(be.start()); }
    ov_fe_t *connect(const char *guest, uint64_t job, uint32_t rank)
    {
        return connect_fe(be.uri(), guest, job, rank);
    }
};

TEST_F(Backend, AttachStateMachine)
{
    Raw r;
    ASSERT_TRUE(r.connect(be.uri()));
    EXPECT_EQ(r.attach(), OV_ERR_STATE);
    EXPECT_EQ(r.rings(), OV_ERR_STATE);
    ov_win_create_req w{4096, 0};
    ov_win_create_rep wr{};
    EXPECT_EQ(r.call(OV_MSG_WIN_CREATE, &w, sizeof(w), &wr, sizeof(wr)), OV_ERR_STATE);
    EXPECT_EQ(r.hello("g1", 1, 0), OV_OK);
    EXPECT_EQ(r.hello("g1", 1, 0), OV_ERR_STATE);
    EXPECT_EQ(r.rings(), OV_ERR_STATE);
    EXPECT_EQ(r.attach(), OV_OK);
    EXPECT_EQ(r.nfds, 1);
    EXPECT_EQ(r.attach(), OV_ERR_STATE);
    EXPECT_EQ(r.rings(3, 8), OV_ERR_BAD_ARG);
    EXPECT_EQ(r.rings(8, 4), OV_ERR_BAD_ARG);
    EXPECT_EQ(r.rings(1u << 20, 1u << 20), OV_ERR_BAD_ARG);
    EXPECT_EQ(r.rings(8, 16), OV_OK);
    EXPECT_EQ(r.nfds, 1); /* doorbell */
    EXPECT_EQ(r.rings(), OV_ERR_STATE);
    EXPECT_EQ(r.call(OV_MSG_WIN_CREATE, &w, sizeof(w), &wr, sizeof(wr)), OV_OK);
    ov_detach_req dr{};
    ov_simple_rep sr{};
    EXPECT_EQ(r.call(OV_MSG_DETACH, &dr, sizeof(dr), &sr, sizeof(sr)), OV_OK);
    EXPECT_TRUE(r.closed_by_peer());
}

TEST_F(Backend, MalformedMessagesCloseTheConnection)
{
    {
        Raw r;
        ASSERT_TRUE(r.connect(be.uri()));
        char junk[8] = {};
        ov_hello_rep rep{};
        EXPECT_EQ(r.call(OV_MSG_HELLO, junk, sizeof(junk), &rep, sizeof(rep)), OV_ERR_PROTO);
        EXPECT_TRUE(r.closed_by_peer());
    }
    {
        Raw r;
        ASSERT_TRUE(r.connect(be.uri()));
        uint32_t garbage[8] = {0xdeadbeef, 1, 2, 3, 4, 5, 6, 7};
        ASSERT_EQ(write(r.fd.get(), garbage, sizeof(garbage)), ssize_t(sizeof(garbage)));
        EXPECT_TRUE(r.closed_by_peer());
    }
    {
        Raw r; /* bad guest name */
        ASSERT_TRUE(r.connect(be.uri()));
        EXPECT_EQ(r.hello("../etc", 1, 0), OV_ERR_PROTO);
        EXPECT_TRUE(r.closed_by_peer());
    }
    /* the backend still serves others */
    ov_fe_t *fe = connect("g2", 1, 0);
    ASSERT_NE(fe, nullptr);
    ov_fe_close(fe);
}

TEST_F(Backend, DuplicateRankRefused)
{
    ov_fe_t *a = connect("g1", 9, 3);
    ASSERT_NE(a, nullptr);
    ov_fe_params_t p = fe_params(be.uri(), "g1", 9, 3);
    ov_fe_t *b = nullptr;
    EXPECT_EQ(ov_fe_open(&p, &b), OV_ERR_EXISTS);
    EXPECT_NE(std::string(ov_fe_last_error(b)).find("refused"), std::string::npos);
    ov_fe_close(b);
    ov_fe_close(a);
}

TEST_F(Backend, RegionFdIsSealed)
{
    Raw r;
    ASSERT_TRUE(r.connect(be.uri()));
    ASSERT_EQ(r.hello("g1", 1, 0), OV_OK);
    ASSERT_EQ(r.attach(), OV_OK);
    ASSERT_EQ(r.nfds, 1);
    int seals = fcntl(r.fds[0].get(), F_GET_SEALS);
    EXPECT_TRUE(seals & F_SEAL_SHRINK);
    EXPECT_TRUE(seals & F_SEAL_GROW);
    EXPECT_NE(ftruncate(r.fds[0].get(), 4096), 0);
    EXPECT_EQ(errno, EPERM);
}

TEST_F(Backend, PutGetAcrossGuestsNeedsGrant)
{
    ov_fe_t *a = connect("guest-a", 1, 0), *b = connect("guest-b", 1, 1);
    ASSERT_TRUE(a && b);
    EXPECT_NE(ov_fe_region_base(a), ov_fe_region_base(b));
    ov_win_t wa, wb;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_win_create(b, 4096, &wb), OV_OK);
    char *pa = static_cast<char *>(wa.base), *pb = static_cast<char *>(wb.base);
    strcpy(pb, "hello from b");
    EXPECT_EQ(roundtrip(b, copy_req(OV_OP_PUT, wa, 100, wb, 0, 13)).status, OV_ERR_NO_WINDOW);
    EXPECT_EQ(pa[100], 0);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ), OV_OK);
    EXPECT_EQ(roundtrip(b, copy_req(OV_OP_PUT, wa, 100, wb, 0, 13)).status, OV_ERR_PERM);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    ov_completion c = roundtrip(b, copy_req(OV_OP_PUT, wa, 100, wb, 0, 13));
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_EQ(c.bytes, 13u);
    EXPECT_STREQ(pa + 100, "hello from b");
    strcpy(pa + 2000, "reply from a");
    c = roundtrip(b, copy_req(OV_OP_GET, wa, 2000, wb, 512, 13));
    EXPECT_EQ(c.status, OV_OK);
    EXPECT_STREQ(pb + 512, "reply from a");
    EXPECT_EQ(roundtrip(b, copy_req(OV_OP_PUT, wa, 4090, wb, 0, 13)).status, OV_ERR_BOUNDS);
    ASSERT_EQ(ov_fe_revoke(a, &wa, 1), OV_OK);
    EXPECT_EQ(roundtrip(b, copy_req(OV_OP_GET, wa, 0, wb, 0, 8)).status, OV_ERR_NO_WINDOW);
    /* only the owner manages its window; to others it is no window at all */
    EXPECT_EQ(ov_fe_grant(b, &wa, 1, OV_PERM_READ), OV_ERR_NO_WINDOW);
    EXPECT_EQ(ov_fe_win_free(b, &wa), OV_ERR_NO_WINDOW);
    ov_fe_close(a);
    ov_fe_close(b);
}

TEST_F(Backend, GrantsDoNotCrossJobs)
{
    ov_fe_t *a = connect("guest-a", 1, 0), *other = connect("guest-c", 2, 1);
    ASSERT_TRUE(a && other);
    ov_win_t wa, wo;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_win_create(other, 4096, &wo), OV_OK);
    ASSERT_EQ(ov_fe_grant(a, &wa, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK); /* rank 1 of job 1 */
    EXPECT_EQ(roundtrip(other, copy_req(OV_OP_GET, wa, 0, wo, 0, 8)).status, OV_ERR_NO_WINDOW);
    ov_fe_close(a);
    ov_fe_close(other);
}

TEST_F(Backend, BadRequestsGetErrorsAndServiceContinues)
{
    ov_fe_t *a = connect("guest-a", 1, 0);
    ASSERT_NE(a, nullptr);
    ov_win_t w, w2;
    ASSERT_EQ(ov_fe_win_create(a, 1024, &w), OV_OK);
    ASSERT_EQ(ov_fe_win_create(a, 1024, &w2), OV_OK);
    ov_req_desc d = copy_req(OV_OP_PUT, w, 0, w2, 0, 8);
    d.op = 77;
    EXPECT_EQ(roundtrip(a, d).status, OV_ERR_BAD_OP);
    d = copy_req(OV_OP_PUT, w, UINT64_MAX - 4, w2, 0, 8);
    EXPECT_EQ(roundtrip(a, d).status, OV_ERR_BOUNDS);
    d = copy_req(OV_OP_PUT, w, 0, w2, 0, 6);
    d.dtype_size = 4;
    EXPECT_EQ(roundtrip(a, d).status, OV_ERR_BAD_DTYPE);
    ov_win_t old = w;
    ASSERT_EQ(ov_fe_win_free(a, &w), OV_OK);
    EXPECT_EQ(ov_fe_win_free(a, &old), OV_ERR_NO_WINDOW);
    EXPECT_EQ(roundtrip(a, copy_req(OV_OP_PUT, old, 0, w2, 0, 8)).status, OV_ERR_NO_WINDOW);
    ov_win_t w3;
    ASSERT_EQ(ov_fe_win_create(a, 1024, &w3), OV_OK); /* may reuse the id: new epoch */
    if (w3.id == old.id) {
        EXPECT_NE(w3.epoch, old.epoch);
        EXPECT_EQ(roundtrip(a, copy_req(OV_OP_PUT, old, 0, w2, 0, 8)).status, OV_ERR_STALE_WINDOW);
    }
    ov_req_desc nop{};
    nop.cookie = 5;
    EXPECT_EQ(roundtrip(a, nop).status, OV_OK);
    ov_fe_close(a);
}

TEST_F(Backend, ManyOutstandingRequestsAndSleepWake)
{
    ov_fe_t *a = connect("guest-a", 1, 0);
    ASSERT_NE(a, nullptr);
    ov_req_desc nop{};
    int inflight = 0, done = 0;
    while (done < 5000) {
        while (inflight < 300 && ov_fe_submit(a, &nop) == OV_OK)
            inflight++;
        ov_completion c;
        ASSERT_EQ(ov_fe_wait(a, &c, 3000), OV_OK) << ov_fe_last_error(a);
        inflight--;
        done++;
    }
    while (inflight) {
        ov_completion c;
        ASSERT_EQ(ov_fe_wait(a, &c, 3000), OV_OK);
        inflight--;
    }
    /* let the backend fall asleep, then wake it with the doorbell */
    for (int i = 0; i < 3; i++) {
        usleep(100000);
        EXPECT_EQ(a->pctl->backend_sleeping.load(), 1u);
        EXPECT_EQ(roundtrip(a, nop).status, OV_OK);
    }
    ov_fe_close(a);
}

/* ov_fe_unserved tells a backend that does not run (here: stopped) from one
 * that is slow to answer, and ov_fe_block, which a waiter uses once it saw
 * that, returns the completion as soon as the backend serves it. */
TEST_F(Backend, UnservedCountsUntakenRequestsAndBlockWaitsForThem)
{
    ov_fe_t *a = connect("guest-a", 1, 0);
    ASSERT_NE(a, nullptr);
    ov_req_desc nop{};
    EXPECT_EQ(roundtrip(a, nop).status, OV_OK);
    EXPECT_EQ(ov_fe_unserved(a), 0);
    ASSERT_EQ(kill(be.pid, SIGSTOP), 0);
    for (uint64_t i = 1; i <= 3; i++) {
        nop.cookie = uint32_t(i);
        ASSERT_EQ(ov_fe_submit(a, &nop), OV_OK);
        EXPECT_EQ(ov_fe_unserved(a), int64_t(i));
    }
    ov_completion c;
    EXPECT_EQ(ov_fe_poll(a, &c), OV_ERR_AGAIN);
    std::thread resume([&] {
        usleep(50000);
        kill(be.pid, SIGCONT);
    });
    for (uint32_t i = 1; i <= 3; i++) {
        ASSERT_EQ(ov_fe_block(a, &c, 3000), OV_OK) << ov_fe_last_error(a);
        EXPECT_EQ(c.cookie, i);
        EXPECT_EQ(c.status, OV_OK);
    }
    resume.join();
    EXPECT_EQ(ov_fe_unserved(a), 0);
    ov_fe_close(a);
}

TEST_F(Backend, FullCompletionRingDoesNotDeadlockASleepingBackend)
{
    ov_fe_params_t p = fe_params(be.uri(), "guest-a", 1, 0);
    p.rq_slots = 8;
    p.cq_slots = 8;
    ov_fe_t *a = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &a), OV_OK);
    ov_req_desc nop{};
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(ov_fe_submit(a, &nop), OV_OK);
    usleep(50000); /* backend fills the completion ring */
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(ov_fe_submit(a, &nop), OV_OK); /* stuck behind the full completion ring */
    EXPECT_EQ(ov_fe_submit(a, &nop), OV_ERR_AGAIN);
    usleep(100000); /* backend falls asleep with 8 requests pending */
    for (int i = 0; i < 16; i++) {
        ov_completion c;
        ASSERT_EQ(ov_fe_wait(a, &c, 2000), OV_OK) << "completion " << i << ": " << ov_fe_last_error(a);
    }
    ov_fe_close(a);
}

TEST_F(Backend, CorruptRingDisconnectsOnlyTheCulprit)
{
    ov_fe_t *bad = connect("guest-a", 1, 0), *good = connect("guest-b", 1, 1);
    ASSERT_TRUE(bad && good);
    auto l = ov_proc_block(bad->params.rq_slots, bad->params.cq_slots);
    /* The request ring's index is not read by the backend's pop (slots are
     * stamped, ov_ring.h); the completion ring's consumer index is, once
     * the backend has filled the ring as far as it last knew. */
    auto *cqi = reinterpret_cast<ov_ring_idx *>(reinterpret_cast<char *>(bad->pctl) + l.cq_off);
    cqi->head.store(cqi->head.load() + 100000); /* hostile index */
    ov_req_desc nop{};
    for (uint32_t i = 0; i < bad->params.cq_slots; i++)
        ASSERT_EQ(ov_fe_submit(bad, &nop), OV_OK);
    /* once the backend has taken those into the completion ring, one more
     * that needs the index (bounded wait: slow under ASan) */
    ov_status_t sub = OV_ERR_AGAIN;
    for (int tries = 0; tries < 3000 && sub == OV_ERR_AGAIN; tries++) {
        usleep(1000);
        sub = ov_fe_submit(bad, &nop);
    }
    ASSERT_EQ(sub, OV_OK);
    uint64_t one = 1;
    ASSERT_EQ(write(bad->doorbell.get(), &one, 8), 8);
    /* consuming completions writes a sane index over the hostile one: give
     * the backend's pass (woken by that doorbell, which buys no spin) time
     * to read it first */
    usleep(200 * 1000);
    ov_completion c;
    ov_status_t s = OV_OK;
    for (uint32_t i = 0; i <= bad->params.cq_slots && s == OV_OK; i++)
        s = ov_fe_wait(bad, &c, 3000); /* the completions it did post, then the end */
    EXPECT_EQ(s, OV_ERR_BACKEND_GONE);
    EXPECT_EQ(roundtrip(good, nop).status, OV_OK);
    ov_fe_close(bad);
    ov_fe_close(good);
}

TEST_F(Backend, StatusForTheHostOnly)
{
    ov_fe_t *a = connect("guest-a", 1, 0);
    ASSERT_NE(a, nullptr);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(a, 8192, &w), OV_OK);
    ov_req_desc nop{};
    roundtrip(a, nop);
    Raw r;
    ASSERT_TRUE(r.connect(be.uri()));
    ov_status_req q{};
    std::vector<uint8_t> buf(1 << 16);
    ASSERT_EQ(r.call(OV_MSG_STATUS, &q, sizeof(q), buf.data(), uint32_t(buf.size())), OV_OK);
    ov_status_snapshot s;
    ASSERT_EQ(ov_status_decode(buf.data(), r.last.len, &s), OV_OK);
    ASSERT_EQ(s.guests.size(), 1u);
    EXPECT_STREQ(s.guests[0].name, "guest-a");
    EXPECT_EQ(s.guests[0].nwins, 1u);
    EXPECT_EQ(s.guests[0].requests, 1u);
    ASSERT_EQ(s.procs.size(), 1u);
    EXPECT_EQ(s.procs[0].pid, uint32_t(getpid()));
    ASSERT_EQ(s.wins.size(), 1u);
    EXPECT_EQ(s.wins[0].size, 8192u);
    ov_fe_close(a);
}

TEST(BackendTcp, ControlPlaneWorksRegionIsRefused)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    std::string uri = "tcp:127.0.0.1:" + std::to_string(free_port());
    be.opts.tcp = uri;
    ASSERT_TRUE(be.start());
    ov_fe_params_t p = fe_params(uri, "vm-1", 1, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_open(&p, &fe), OV_OK) << ov_fe_last_error(fe);
    EXPECT_EQ(ov_fe_attach(fe), OV_ERR_NO_FD_TRANSPORT);
    EXPECT_NE(std::string(ov_fe_last_error(fe)).find("tcp:"), std::string::npos);
    ov_fe_close(fe);
    Raw r; /* the backend refuses too, and denies STATUS to non-host peers */
    ASSERT_TRUE(r.connect(uri));
    EXPECT_EQ(r.hello("vm-1", 1, 1), OV_OK);
    EXPECT_EQ(r.attach(), OV_ERR_NO_FD_TRANSPORT);
    ov_status_req q{};
    ov_simple_rep sr{};
    Raw r2;
    ASSERT_TRUE(r2.connect(uri));
    EXPECT_EQ(r2.call(OV_MSG_STATUS, &q, sizeof(q), &sr, sizeof(sr)), OV_ERR_DENIED);
}

TEST_F(Backend, GuestNameIsBoundToItsNamespace)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root for unshare(CLONE_NEWNET)";
    ov_fe_t *a = connect("guest-a", 1, 0);
    ASSERT_NE(a, nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) != 0)
            _exit(10);
        Raw r;
        if (!r.connect(be.uri()))
            _exit(11);
        if (r.hello("guest-a", 1, 5) != OV_ERR_DENIED) /* someone else's guest */
            _exit(12);
        Raw r2;
        if (!r2.connect(be.uri()) || r2.hello("guest-z", 1, 6) != OV_OK || r2.attach() != OV_OK)
            _exit(13);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    if (WEXITSTATUS(st) == 10)
        GTEST_SKIP() << "unshare(CLONE_NEWNET) not permitted here";
    EXPECT_EQ(WEXITSTATUS(st), 0);
    ov_fe_close(a);
}
