/*
 * test_identity.cc — who may be whom (ov_protocol.h, identity; ov_job_id.h):
 * a job is its secret, not a number another tenant can guess; a rank is
 * bound to the guest that first claimed it; two jobs never share; the
 * secret never reaches the log.  And what a caller without a grant may
 * learn: nothing that tells a window id from a free one; a broken header
 * gets the error reply the contract promises before the close.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>

#include "harness.h"
#include "ov_sha256.h"

namespace {

/* An Open MPI job key, as ORTE puts it in the environment. */
const char *kVictimKey = "5a3ea0745b59d01b-8e2f6b63003402f1";

ov_fe_t *connect_job(const std::string &uri, const char *guest, const ov_job_secret &job, uint32_t rank,
                     ov_status_t *status = nullptr)
{
    ov_fe_params_t p = fe_params(uri, guest, 0, rank);
    memcpy(p.job_secret, job.b, sizeof(p.job_secret));
    ov_fe_t *fe = nullptr;
    ov_status_t s = ov_fe_connect(&p, &fe);
    if (status)
        *status = s;
    if (s != OV_OK) {
        ov_fe_close(fe);
        return nullptr;
    }
    return fe;
}

/* connect_job, retried while the rank is still held (a closed
 * connection's release is asynchronous), for at most 3 s */
ov_fe_t *claim(const std::string &uri, const char *guest, const ov_job_secret &job, uint32_t rank, ov_status_t *s)
{
    const int64_t t0 = ms_now();
    ov_fe_t *fe;
    while (!(fe = connect_job(uri, guest, job, rank, s)) && *s == OV_ERR_EXISTS && ms_now() - t0 < 3000)
        usleep(5000);
    return fe;
}

ov_job_secret secret_of(const char *key)
{
    ov_job_secret s{};
    EXPECT_EQ(ov_job_secret_from_key(key, &s), OV_OK);
    return s;
}

std::string hex(const unsigned char *b, size_t n)
{
    std::string s;
    char x[3];
    for (size_t i = 0; i < n; i++) {
        snprintf(x, sizeof(x), "%02x", b[i]);
        s += x;
    }
    return s;
}

} // namespace

/* ---------------------------------------------------------------- the secret */

TEST(JobId, SecretComesFromOpenMpisKeyOnly)
{
    ov_job_secret a{}, b{}, c{};
    ASSERT_EQ(ov_job_secret_from_key(kVictimKey, &a), OV_OK);
    ASSERT_EQ(ov_job_secret_from_key(kVictimKey, &b), OV_OK);
    EXPECT_EQ(memcmp(a.b, b.b, sizeof(a.b)), 0) << "every rank derives the same secret";
    ASSERT_EQ(ov_job_secret_from_key("5a3ea0745b59d01b-8e2f6b63003402f0", &c), OV_OK);
    EXPECT_NE(memcmp(a.b, c.b, sizeof(a.b)), 0) << "another job's key, another secret";
    EXPECT_NE(ov_job_public_key(a), ov_job_public_key(c));
    /* fewer than 128 bits, or not a key at all: refused, never padded */
    EXPECT_EQ(ov_job_secret_from_key(nullptr, &c), OV_ERR_NOT_SUPPORTED);
    EXPECT_EQ(ov_job_secret_from_key("", &c), OV_ERR_NOT_SUPPORTED);
    EXPECT_EQ(ov_job_secret_from_key("5a3ea0745b59d01b", &c), OV_ERR_NOT_SUPPORTED);
    EXPECT_EQ(ov_job_secret_from_key("5a3ea0745b59d01b-8e2f6b63003402fZ", &c), OV_ERR_NOT_SUPPORTED);
    /* the environment path reads the same variable ORTE sets */
    setenv("OMPI_MCA_orte_precondition_transports", kVictimKey, 1);
    EXPECT_EQ(ov_job_secret_from_env(&c), OV_OK);
    EXPECT_EQ(memcmp(a.b, c.b, sizeof(a.b)), 0);
    unsetenv("OMPI_MCA_orte_precondition_transports");
    EXPECT_EQ(ov_job_secret_from_env(&c), OV_ERR_NOT_SUPPORTED);
    /* the public key is not a piece of the secret */
    const uint64_t k = ov_job_public_key(a);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(a.b), 32).find(std::string(reinterpret_cast<const char *>(&k), 8)),
              std::string::npos);
}

/* ---------------------------------------------------------------- the backend */

class Identity : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    std::string log_path = tmp.path + "/backend.log";
    static constexpr uint32_t kMaxProcs = 8; /* no test here needs more at once */
    void SetUp() override
    {
        be.opts.quota.job_procs = kMaxProcs;
        /* the backend child logs everything, debug included, to a file */
        int saved = dup(2), f = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_GE(f, 0);
        dup2(f, 2);
        ov_log_verbose = 1;
        bool ok = be.start();
        ov_log_verbose = 0;
        dup2(saved, 2);
        close(saved);
        close(f);
        ASSERT_TRUE(ok);
    }
    void TearDown() override { unlink(log_path.c_str()); }
    std::string log()
    {
        std::ifstream in(log_path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
};

/* The attack: a victim job's rank 0 grants rank 1 a window before
 * rank 1 has connected; a process in another guest claims rank 1 of "the
 * same job" with everything another tenant could know -- the old numeric
 * job id, the public key, a guessed key -- but not the secret. */
TEST_F(Identity, ForgedJobCannotReadTheVictimsWindows)
{
    const ov_job_secret victim = secret_of(kVictimKey);
    ov_fe_t *v0 = connect_job(be.uri(), "victim", victim, 0);
    ASSERT_NE(v0, nullptr);
    ov_win_t w{};
    ASSERT_EQ(ov_fe_win_create(v0, 4096, &w), OV_OK);
    memcpy(w.base, "victim's data", 14);
    ASSERT_EQ(ov_fe_grant(v0, &w, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);

    const uint64_t pub = ov_job_public_key(victim);
    std::vector<ov_job_secret> forgeries;
    ov_job_secret f{};
    memcpy(f.b, &pub, sizeof(pub)); /* the public key where the secret goes */
    forgeries.push_back(f);
    f = ov_job_secret{};
    const uint64_t old_style = (uint64_t{0x6f76} << 48) | 2046230529u; /* the former jobid-based key */
    memcpy(f.b, &old_style, sizeof(old_style));
    forgeries.push_back(f);
    forgeries.push_back(secret_of("5a3ea0745b59d01b-8e2f6b63003402f0")); /* one bit off */
    for (const ov_job_secret &forged : forgeries) {
        ov_fe_t *atk = connect_job(be.uri(), "attacker", forged, 1);
        ASSERT_NE(atk, nullptr); /* it may be a job of its own... */
        ov_win_t mine{};
        ASSERT_EQ(ov_fe_win_create(atk, 4096, &mine), OV_OK);
        ov_completion c = roundtrip(atk, copy_req(OV_OP_GET, w, 0, mine, 0, 14));
        EXPECT_EQ(c.status, OV_ERR_NO_WINDOW) << "...but never the victim's";
        EXPECT_NE(memcmp(mine.base, "victim's data", 14), 0);
        c = roundtrip(atk, copy_req(OV_OP_PUT, w, 0, mine, 0, 14));
        EXPECT_EQ(c.status, OV_ERR_NO_WINDOW);
        ov_fe_close(atk);
    }
    EXPECT_STREQ(static_cast<char *>(w.base), "victim's data");
    /* the real rank 1, with the secret, still gets its grant */
    ov_fe_t *v1 = connect_job(be.uri(), "victim", victim, 1);
    ASSERT_NE(v1, nullptr);
    ov_win_t mine{};
    ASSERT_EQ(ov_fe_win_create(v1, 4096, &mine), OV_OK);
    EXPECT_EQ(roundtrip(v1, copy_req(OV_OP_GET, w, 0, mine, 0, 14)).status, OV_OK);
    EXPECT_EQ(memcmp(mine.base, "victim's data", 14), 0);
    ov_fe_close(v1);
    ov_fe_close(v0);
}

/* A rank belongs to the guest that first claimed it while its job lives:
 * even with the secret, another guest cannot take it over; a second
 * claimant while the first lives is refused with a clear error. */
TEST_F(Identity, RankIsBoundToItsFirstGuest)
{
    const ov_job_secret job = secret_of(kVictimKey);
    ov_fe_t *r0 = connect_job(be.uri(), "guest-a", job, 0);
    ov_fe_t *r1 = connect_job(be.uri(), "guest-b", job, 1);
    ASSERT_NE(r0, nullptr);
    ASSERT_NE(r1, nullptr);
    ov_status_t s = OV_OK;
    EXPECT_EQ(connect_job(be.uri(), "guest-b", job, 1, &s), nullptr);
    EXPECT_EQ(s, OV_ERR_EXISTS);
    EXPECT_EQ(connect_job(be.uri(), "guest-c", job, 1, &s), nullptr);
    EXPECT_NE(s, OV_OK);
    ov_fe_close(r1); /* rank 1 leaves; its job lives on in rank 0 */
    EXPECT_EQ(claim(be.uri(), "guest-c", job, 1, &s), nullptr);
    EXPECT_EQ(s, OV_ERR_DENIED) << "rank 1 was taken over from another guest";
    EXPECT_NE(log().find("belongs to guest guest-b"), std::string::npos);
    ov_fe_t *again = claim(be.uri(), "guest-b", job, 1, &s); /* its own guest may come back */
    EXPECT_NE(again, nullptr) << ov_strerror(s);
    ov_fe_close(again);
    ov_fe_close(r0);
    /* the job is gone with its last process: a new job may place rank 1 anywhere */
    const int64_t t0 = ms_now();
    ov_fe_t *fresh = nullptr;
    while (!(fresh = connect_job(be.uri(), "guest-c", job, 1, &s)) && ms_now() - t0 < 3000)
        usleep(5000); /* DENIED until the backend has seen rank 0 go */
    EXPECT_NE(fresh, nullptr) << ov_strerror(s);
    ov_fe_close(fresh);
}

/* A job binds at most quota.job_procs ranks on one backend, however many it
 * claims one after another. */
TEST_F(Identity, RankBindingsAreBounded)
{
    const ov_job_secret job = secret_of(kVictimKey);
    ov_fe_t *r0 = connect_job(be.uri(), "g", job, 0);
    ASSERT_NE(r0, nullptr);
    ov_status_t s = OV_OK;
    for (uint32_t rank = 1; rank < kMaxProcs; rank++) {
        ov_fe_t *fe = claim(be.uri(), "g", job, rank, &s);
        EXPECT_NE(fe, nullptr) << "rank " << rank << ": " << ov_strerror(s);
        ov_fe_close(fe);
    }
    /* the next rank: refused for the job's bindings (the global process
     * limit also says NOMEM, so the log tells which) */
    const int64_t t0 = ms_now();
    bool bounded = false;
    while (!bounded && ms_now() - t0 < 3000) {
        ov_fe_t *fe = claim(be.uri(), "g", job, kMaxProcs, &s);
        EXPECT_EQ(fe, nullptr) << "rank binding number " << kMaxProcs + 1;
        ov_fe_close(fe);
        bounded = s == OV_ERR_NOMEM && log().find("the most a job may") != std::string::npos;
        if (!bounded)
            usleep(5000);
    }
    EXPECT_TRUE(bounded);
    ov_fe_t *back = claim(be.uri(), "g", job, 2, &s); /* a bound rank may always come back */
    EXPECT_NE(back, nullptr) << ov_strerror(s);
    ov_fe_close(back);
    ov_fe_close(r0);
}

TEST_F(Identity, TwoJobsNeverShare)
{
    const ov_job_secret a = secret_of(kVictimKey), b = secret_of("0123456789abcdef-fedcba9876543210");
    ov_fe_t *a0 = connect_job(be.uri(), "g", a, 0), *b0 = connect_job(be.uri(), "g", b, 0);
    ASSERT_NE(a0, nullptr) << "same guest, same rank, another job: no clash";
    ASSERT_NE(b0, nullptr);
    ov_win_t wa{}, wb{};
    ASSERT_EQ(ov_fe_win_create(a0, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_win_create(b0, 4096, &wb), OV_OK);
    EXPECT_NE(ov_fe_region_base(a0), ov_fe_region_base(b0)) << "one region per (guest, job)";
    ASSERT_EQ(ov_fe_grant(a0, &wa, 0, OV_PERM_READ), OV_OK); /* rank 0 of ITS job */
    EXPECT_EQ(roundtrip(b0, copy_req(OV_OP_GET, wa, 0, wb, 0, 8)).status, OV_ERR_NO_WINDOW);
    ov_fe_close(b0);
    ov_fe_close(a0);
}

TEST_F(Identity, SecretNeverReachesTheLog)
{
    const ov_job_secret job = secret_of(kVictimKey);
    ov_fe_t *fe = connect_job(be.uri(), "g", job, 0);
    ASSERT_NE(fe, nullptr);
    ov_fe_close(fe);
    ov_fe_t *dup = connect_job(be.uri(), "g", job, 0); /* and a refusal or two, which log more */
    ov_fe_close(dup);
    usleep(100000);
    const std::string l = log();
    char pub[17];
    snprintf(pub, sizeof(pub), "%016llx", (unsigned long long) ov_job_public_key(job));
    EXPECT_NE(l.find(pub), std::string::npos) << "the debug log names the job by its public key:\n" << l;
    EXPECT_EQ(l.find(hex(job.b, 8)), std::string::npos) << "the secret is in the log";
    EXPECT_EQ(l.find("5a3ea0745b59d01b"), std::string::npos) << "Open MPI's key is in the log";
}

/* ---------------------------------------------------------------- no window-id oracle */

/* To a caller holding no grant, a live window, a free id and a stale epoch
 * look the same, on the data path and on the control path. */
TEST_F(Identity, NoGrantNoWindowAndStaleLookAlike)
{
    ov_fe_t *owner = connect_fe(be.uri(), "guest-a", 1, 0);
    ov_fe_t *same_job = connect_fe(be.uri(), "guest-b", 1, 1);
    ov_fe_t *other_job = connect_fe(be.uri(), "guest-c", 2, 0);
    ASSERT_TRUE(owner && same_job && other_job);
    ov_win_t w{}, gone{}, ls{}, lo{};
    ASSERT_EQ(ov_fe_win_create(owner, 4096, &w), OV_OK);
    ASSERT_EQ(ov_fe_win_create(owner, 4096, &gone), OV_OK);
    ASSERT_EQ(ov_fe_win_create(same_job, 4096, &ls), OV_OK);
    ASSERT_EQ(ov_fe_win_create(other_job, 4096, &lo), OV_OK);
    ov_win_t freed = gone; /* an id nobody holds now */
    ASSERT_EQ(ov_fe_win_free(owner, &gone), OV_OK);
    ov_win_t stale = w, absent = w;
    stale.epoch += 7;
    absent.id = 60000;
    for (ov_fe_t *fe : {same_job, other_job}) {
        const ov_win_t &local = fe == same_job ? ls : lo;
        for (const ov_win_t *t : {&w, &stale, &absent, &freed}) {
            EXPECT_EQ(roundtrip(fe, copy_req(OV_OP_GET, *t, 0, local, 0, 8)).status, OV_ERR_NO_WINDOW)
                << "window " << t->id << "." << t->epoch;
            ov_req_desc lk{};
            lk.cookie = 99;
            lk.op = OV_OP_LOCK;
            lk.target_win = t->id;
            lk.target_epoch = t->epoch;
            EXPECT_EQ(roundtrip(fe, lk).status, OV_ERR_NO_WINDOW);
            ov_win_t copy = *t; /* control path: free and grant someone else's window */
            EXPECT_EQ(ov_fe_grant(fe, &copy, 0, OV_PERM_READ), OV_ERR_NO_WINDOW);
            EXPECT_EQ(ov_fe_win_free(fe, &copy), OV_ERR_NO_WINDOW);
        }
    }
    /* a grantee learns that its window's epoch moved; the owner too */
    ASSERT_EQ(ov_fe_grant(owner, &w, 1, OV_PERM_READ), OV_OK);
    EXPECT_EQ(roundtrip(same_job, copy_req(OV_OP_GET, stale, 0, ls, 0, 8)).status, OV_ERR_STALE_WINDOW);
    EXPECT_EQ(roundtrip(same_job, copy_req(OV_OP_GET, w, 0, ls, 0, 8)).status, OV_OK);
    ov_win_t own_stale = stale;
    EXPECT_EQ(ov_fe_win_free(owner, &own_stale), OV_ERR_STALE_WINDOW);
    ov_fe_close(other_job);
    ov_fe_close(same_job);
    ov_fe_close(owner);
}

/* ---------------------------------------------------------------- broken headers */

namespace {

/* Sends raw bytes, then reads: the reply header and status, and whether the
 * connection was closed after it. */
struct Answer {
    bool replied = false, closed = false;
    ov_msg_hdr h{};
    int32_t status = 0;
};
Answer send_raw(const std::string &uri, const ov_msg_hdr &h)
{
    Answer a;
    Raw r;
    if (!r.connect(uri))
        return a;
    uint8_t out[sizeof(h) + 64] = {};
    memcpy(out, &h, sizeof(h));
    size_t n = sizeof(h) + (h.len <= 64 ? h.len : 0);
    if (write(r.fd.get(), out, n) != ssize_t(n))
        return a;
    uint8_t in[sizeof(ov_msg_hdr) + sizeof(ov_simple_rep)];
    size_t got = 0;
    const int64_t until = ms_now() + 3000;
    while (ms_now() < until) {
        pollfd p{r.fd.get(), POLLIN, 0};
        if (poll(&p, 1, 50) != 1)
            continue;
        ssize_t k = recv(r.fd.get(), got < sizeof(in) ? in + got : in, got < sizeof(in) ? sizeof(in) - got : 1, 0);
        if (k <= 0) {
            a.closed = k == 0;
            break;
        }
        got += size_t(k);
    }
    if (got >= sizeof(in)) {
        a.replied = true;
        memcpy(&a.h, in, sizeof(a.h));
        memcpy(&a.status, in + sizeof(a.h), 4);
    }
    return a;
}

} // namespace

TEST_F(Identity, BadMagicAndUnknownTypeGetTheErrorReplyThenClose)
{
    struct Case {
        const char *what;
        ov_msg_hdr h;
        int32_t status;
    } cases[] = {
        {"bad magic", {0xdeadbeefu, OV_PROTOCOL_VERSION, OV_MSG_HELLO, 0, 41}, OV_ERR_PROTO},
        {"unknown type", {OV_MSG_MAGIC, OV_PROTOCOL_VERSION, 99, 0, 42}, OV_ERR_PROTO},
        {"type 0", {OV_MSG_MAGIC, OV_PROTOCOL_VERSION, 0, 0, 43}, OV_ERR_PROTO},
        {"a reply as a request", {OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_HELLO | OV_MSG_REPLY, 0, 44}, OV_ERR_PROTO},
        {"other version", {OV_MSG_MAGIC, OV_PROTOCOL_VERSION + 1, OV_MSG_HELLO, 0, 45}, OV_ERR_VERSION},
    };
    for (const Case &c : cases) {
        Answer a = send_raw(be.uri(), c.h);
        EXPECT_TRUE(a.replied) << c.what << ": no error reply";
        EXPECT_TRUE(a.closed) << c.what << ": connection left open";
        if (!a.replied)
            continue;
        EXPECT_EQ(a.h.magic, OV_MSG_MAGIC) << c.what;
        EXPECT_EQ(a.h.seq, c.h.seq) << c.what;
        EXPECT_EQ(a.h.type, uint16_t(c.h.type | OV_MSG_REPLY)) << c.what;
        EXPECT_EQ(a.status, c.status) << c.what;
    }
    ov_fe_t *fe = connect_fe(be.uri(), "g", 1, 0); /* and the backend serves on */
    EXPECT_NE(fe, nullptr);
    ov_fe_close(fe);
}
