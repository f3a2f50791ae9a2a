/*
 * test_flood.cc — one hostile guest against the backend's shared resources
 * (per-tenant quotas, backend/quota.h) and its one data-plane thread, while
 * a legitimate client of another guest measures its 8-byte GET round trip.
 *
 * Each case: a backend in a forked child on a temp dir, its log in a file;
 * the attacker a forked child in a network namespace of its own (another
 * guest: needs root for unshare(CLONE_NEWNET), else the case is skipped);
 * the victim this process (the host namespace).  Asserted in every case:
 * the victim connects, its round trip p99 stays under OV_FLOOD_P99_US
 * (default 20,000 us: a generous bound for a loaded, shared 2-core machine, still
 * two orders of magnitude under the seconds these attacks used to cost;
 * the measured p99 is printed), and the backend's log stays under 1 MB.
 */
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <new>

#include "harness.h"
#include "ov_frontend_impl.h"

namespace {

bool can_unshare_net()
{
    pid_t k = fork();
    if (k == 0)
        _exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
    int st = 0;
    waitpid(k, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The backend child's CPU time so far (user + system), in ms. */
int64_t cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", int(pid));
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields after comm: state is field 3 */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return int64_t(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

/* An attacker: a child in a network namespace of its own runs `attack`,
 * which leaves up to four numbers for the test (sent through a pipe), then
 * holds whatever it opened until stop(). */
struct Attacker {
    pid_t pid = -1;
    int report_r = -1;
    uint64_t result[4] = {};
    bool start(const std::function<void(uint64_t *)> &attack)
    {
        int rep[2];
        if (pipe(rep) != 0)
            return false;
        pid = fork();
        if (pid == 0) {
            close(rep[0]);
            rlimit rl{8192, 8192}; /* floods hold thousands of sockets */
            setrlimit(RLIMIT_NOFILE, &rl);
            uint64_t out[4] = {};
            if (unshare(CLONE_NEWNET) != 0)
                _exit(2);
            attack(out);
            if (write(rep[1], out, sizeof(out)) != ssize_t(sizeof(out)))
                _exit(3);
            for (;;)
                pause(); /* holding what it opened until stop() */
        }
        close(rep[1]);
        report_r = rep[0];
        return pid > 0;
    }
    /* Its numbers, once the attack is done (bounded). */
    bool report(int timeout_ms = 30000)
    {
        pollfd p{report_r, POLLIN, 0};
        return poll(&p, 1, timeout_ms) == 1 && read(report_r, result, sizeof(result)) == ssize_t(sizeof(result));
    }
    bool done() /* report ready?  (non-blocking) */
    {
        pollfd p{report_r, POLLIN, 0};
        return poll(&p, 1, 0) == 1;
    }
    /* kill, not EOF on its pipe: a later attacker's child holds a copy */
    void stop()
    {
        if (pid <= 0)
            return;
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        close(report_r);
        pid = -1;
    }
    ~Attacker() { stop(); }
};

struct Latency {
    double p50_us = 0, p99_us = 0, max_us = 0;
    size_t n = 0;
};

Latency summarize(std::vector<double> v)
{
    Latency l;
    if (v.empty())
        return l;
    std::sort(v.begin(), v.end());
    l.n = v.size();
    l.p50_us = v[v.size() / 2];
    l.p99_us = v[std::min(v.size() - 1, v.size() * 99 / 100)];
    l.max_us = v.back();
    return l;
}

double p99_bound_us()
{
    const char *e = getenv("OV_FLOOD_P99_US");
    return e && *e ? atof(e) : 20000.0;
}

class Flood : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    ov_fe_t *victim = nullptr;
    ov_win_t vwin{};
    void SetUp() override
    {
        if (!can_unshare_net())
            GTEST_SKIP() << "needs root (unshare(CLONE_NEWNET)) to play a second guest";
        be.log_path = tmp.path + "/backend.log";
    }
    void TearDown() override
    {
        if (victim)
            ov_fe_close(victim);
        be.stop();
        struct stat st {};
        if (!be.log_path.empty() && stat(be.log_path.c_str(), &st) == 0) {
            printf("[ flood ] backend log: %lld bytes\n", (long long) st.st_size);
            EXPECT_LT(st.st_size, 1 << 20) << "the backend's log must stay under 1 MB";
        }
        if (!HasFailure())
            unlink(be.log_path.c_str());
    }
    /* The legitimate client: guest "victim", its own job, a 4 KiB window. */
    bool connect_victim()
    {
        victim = connect_fe(be.uri(), "victim", 0x7001, 0);
        return victim && ov_fe_win_create(victim, 4096, &vwin) == OV_OK;
    }
    /* 8-byte GETs from its own window: at least `min_n`, and on until
     * `until` says stop (bounded by 20 s). */
    Latency measure(size_t min_n, const std::function<bool()> &until = [] { return true; },
                    std::vector<int64_t> *done_at = nullptr /* ov_now_ns() of each completion */)
    {
        std::vector<double> t;
        const int64_t give_up = ms_now() + 20000;
        while ((t.size() < min_n || !until()) && ms_now() < give_up) {
            ov_req_desc d = copy_req(OV_OP_GET, vwin, 0, vwin, 64, 8);
            int64_t t0 = ov_now_ns();
            ov_completion c = roundtrip(victim, d);
            const int64_t t1 = ov_now_ns();
            t.push_back(double(t1 - t0) / 1000.0);
            if (done_at)
                done_at->push_back(t1);
            if (c.status != OV_OK)
                break;
        }
        return summarize(t);
    }
    void check(const char *what, const Latency &l)
    {
        printf("[ flood ] %s: victim 8-byte get round trip over %zu: p50 %.1f us, p99 %.1f us, max %.1f us\n",
               what, l.n, l.p50_us, l.p99_us, l.max_us);
        EXPECT_GE(l.n, 100u);
        EXPECT_LT(l.p99_us, p99_bound_us()) << what;
    }
};

/* HELLO as (guest, job, rank) on a fresh connection, kept in out; the
 * status, and the limit an OV_ERR_QUOTA names.  A connection refused at
 * accept has its refusal waiting even if the backend closed it before our
 * HELLO went out (EPIPE): it is read either way. */
ov_status_t raw_hello(const std::string &uri, const char *guest, uint64_t job, uint32_t rank,
                      std::vector<Raw> *out, uint32_t *limit)
{
    out->emplace_back();
    Raw &r = out->back();
    if (!r.connect(uri))
        return OV_ERR_BACKEND_GONE;
    ov_hello_req h{};
    const ov_job_secret js = ov_job_secret_from_seed(job);
    memcpy(h.job_secret, js.b, sizeof(h.job_secret));
    h.rank = rank;
    strncpy(h.guest, guest, sizeof(h.guest) - 1);
    (void) ov_msg_send(r.fd.get(), OV_MSG_HELLO, ++r.seq, &h, sizeof(h), nullptr, 0, false);
    ov_hello_rep rep{}; /* a refusal is an ov_simple_rep: status and limit in the same place */
    ov_msg_hdr hdr;
    ov_status_t s = ov_msg_recv(r.fd.get(), &hdr, &rep, sizeof(rep), nullptr, nullptr, 5000);
    if (s != OV_OK)
        return s;
    *limit = rep.proc_id;
    return ov_status_t(rep.status);
}

} // namespace

/* 2,000 connections and HELLOs from one guest, 1,000 from a second: each
 * guest gets at most its share (1,024 here), the rest OV_ERR_QUOTA naming
 * the limit; the victim still connects; `ompi-virt-status --json` reads all
 * ~2,000 processes (paged).  Before per-guest limits the first guest alone
 * took 2,000 of the backend's process slots (and at its 4,096 every client). */
TEST_F(Flood, ProcessFloodFromOneGuest)
{
    be.opts.quota.procs = 2100; /* backend-wide, so that one guest's 2,000 would fill it */
    be.nofile = 16384;          /* connections: 3,270 in all, 1,024 per guest */
    ASSERT_TRUE(be.start());
    /* n processes of guest, each a job of its own (with its own region:
     * status lists attached processes) */
    auto flood = [this](const char *guest, uint64_t jobs, uint32_t n) {
        return [this, guest, jobs, n](uint64_t *out) {
            static std::vector<Raw> keep; /* held until the attacker stops */
            keep.reserve(n);
            for (uint32_t i = 0; i < n; i++) {
                uint32_t limit = 0;
                ov_status_t s = raw_hello(be.uri(), guest, jobs + i, 0, &keep, &limit);
                if (s == OV_OK)
                    s = keep.back().attach();
                out[s == OV_OK ? 0 : s == OV_ERR_QUOTA ? 1 : 2]++;
                if (s == OV_ERR_QUOTA && out[3] == 0)
                    out[3] = limit;
            }
        };
    };
    Attacker a, b;
    int64_t t0 = ms_now();
    ASSERT_TRUE(a.start(flood("atk", 0xa0000, 2000)));
    ASSERT_TRUE(a.report());
    ASSERT_TRUE(b.start(flood("atk2", 0xb0000, 1000)));
    ASSERT_TRUE(b.report());
    printf("[ flood ] guest atk: %llu admitted, %llu refused (limit %llu: %s), %llu other; guest atk2: %llu "
           "admitted; %lld ms\n",
           (unsigned long long) a.result[0], (unsigned long long) a.result[1], (unsigned long long) a.result[3],
           ov_limit_name(uint32_t(a.result[3])), (unsigned long long) a.result[2],
           (unsigned long long) b.result[0], (long long) (ms_now() - t0));
    EXPECT_EQ(a.result[0], 1024u); /* min(1,024 per guest, half of 2,100) */
    EXPECT_EQ(a.result[1], 976u);
    EXPECT_EQ(a.result[3], uint64_t(OV_LIMIT_GUEST_CONNS)); /* its 1,025th connection */
    EXPECT_EQ(b.result[0], 1000u);
    ASSERT_TRUE(connect_victim());
    check("2,024 processes held by two guests", measure(2000));

    /* status of ~2,000 processes: pages, so it always fits */
    std::string out = tmp.path + "/status.json";
    pid_t st = spawn({"/bin/sh", "-c", std::string(OV_STATUS_BIN) + " --json --dir " + tmp.path + " > " + out});
    int ws = 0;
    waitpid(st, &ws, 0);
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    FILE *f = fopen(out.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string json;
    char buf[65536];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;)
        json.append(buf, n);
    fclose(f);
    unlink(out.c_str());
    size_t procs = 0;
    for (size_t p = 0; (p = json.find("\"rank\":", p)) != std::string::npos; p++)
        procs++;
    printf("[ flood ] ompi-virt-status --json: %zu bytes, %zu processes\n", json.size(), procs);
    EXPECT_EQ(procs, 2025u);
    EXPECT_NE(json.find("\"scope\":\"guest\""), std::string::npos);
    EXPECT_NE(json.find("\"processes\":[2025,2100]"), std::string::npos) << "backend-wide usage against quota";
    a.stop();
    b.stop();
}

/* One guest creates windows as fast as it can: refused at its own quota
 * (OV_ERR_QUOTA, limit "windows per guest"), and the victim still creates
 * one.  Before, one connection took all 65,533 ids in 339 ms. */
TEST_F(Flood, WindowFloodFromOneGuest)
{
    be.opts.quota.guest_windows = 4096;
    ASSERT_TRUE(be.start());
    Attacker a;
    ASSERT_TRUE(a.start([this](uint64_t *out) {
        static std::vector<Raw> keep;
        uint32_t limit;
        if (raw_hello(be.uri(), "atk", 0xbad, 0, &keep, &limit) != OV_OK || keep.back().attach() != OV_OK ||
            keep.back().rings() != OV_OK)
            return;
        for (;;) {
            ov_win_create_req w{64, 0};
            ov_win_create_rep wr{};
            ov_status_t s = keep.back().call(OV_MSG_WIN_CREATE, &w, sizeof(w), &wr, sizeof(wr));
            if (s != OV_OK) {
                out[1] = uint64_t(uint32_t(s));
                out[2] = wr.win_id;
                break;
            }
            out[0]++;
        }
    }));
    ASSERT_TRUE(a.report());
    printf("[ flood ] attacker made %llu windows, then status %d, limit %s\n", (unsigned long long) a.result[0],
           int32_t(a.result[1]), ov_limit_name(uint32_t(a.result[2])));
    EXPECT_EQ(a.result[0], 4096u);
    EXPECT_EQ(int32_t(a.result[1]), OV_ERR_QUOTA);
    EXPECT_EQ(a.result[2], uint64_t(OV_LIMIT_GUEST_WINDOWS));
    ASSERT_TRUE(connect_victim()) << "the victim's WIN_CREATE must succeed";
    check("4,096 windows held by another guest", measure(2000));
    a.stop();
}

/* The backend at a low open-file limit: connections are capped per guest
 * below it (clamp_to_fds), so a guest opening 1,000 connections takes its
 * half and the victim still connects. */
TEST_F(Flood, ConnectionStormAtLowFdLimit)
{
    be.nofile = 256;
    ASSERT_TRUE(be.start());
    Attacker a;
    ASSERT_TRUE(a.start([this](uint64_t *out) {
        static std::vector<Raw> keep;
        for (int i = 0; i < 1000; i++) {
            uint32_t limit;
            ov_status_t s = raw_hello(be.uri(), "atk", 0xc000 + i, 0, &keep, &limit);
            out[s == OV_OK ? 0 : s == OV_ERR_QUOTA ? 1 : 2]++;
        }
    }));
    ASSERT_TRUE(a.report());
    printf("[ flood ] 1,000 connections at RLIMIT_NOFILE 256: %llu admitted, %llu refused by quota, %llu other\n",
           (unsigned long long) a.result[0], (unsigned long long) a.result[1], (unsigned long long) a.result[2]);
    EXPECT_EQ(a.result[0], (256u - ov_quota::kFdReserve) / ov_quota::kFdsPerConn / 2);
    ASSERT_TRUE(connect_victim());
    check("a guest at its connection share", measure(2000));
    a.stop();
}

/* Descriptors run out under the backend (held by something else), then
 * connections take the rest: accept refuses at the headroom it keeps (or
 * fails with EMFILE).  It must not spin on the listener nor log a line per
 * try; the connected victim keeps its round trip, and once the storm is
 * over new clients connect.  Before: 87-100% CPU and 10.6 M log lines in
 * 14.5 s. */
TEST_F(Flood, EmfileStorm)
{
    /* the victim, the late client after the storm, the doorbell passed, and
     * the headroom accept keeps (so the storm is refused before EMFILE) */
    be.leave_fds = 2 * ov_quota::kFdsPerConn + 1 + ov_quota::kFdHeadroom;
    ASSERT_TRUE(be.start());
    ASSERT_TRUE(connect_victim()); /* before the table fills */
    Attacker a;
    const int64_t cpu0 = cpu_ms(be.pid), t0 = ms_now();
    ASSERT_TRUE(a.start([this](uint64_t *out) {
        static std::vector<ov_fd> keep;
        const int64_t end = ms_now() + 1500;
        ov_comm_uri u{OV_COMM_UNIX, be.dir + "/backend.sock", "", 0};
        while (ms_now() < end) { /* connect, hold, again: the backlog stays full */
            ov_fd fd;
            int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            strncpy(a.sun_path, u.path.c_str(), sizeof(a.sun_path) - 1);
            if (connect(s, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0) {
                out[0]++;
                keep.emplace_back(s);
            } else {
                close(s);
                usleep(100);
            }
        }
    }));
    Latency l = measure(500, [&a] { return a.done(); });
    ASSERT_TRUE(a.report());
    const int64_t cpu = cpu_ms(be.pid) - cpu0, wall = ms_now() - t0;
    printf("[ flood ] EMFILE storm: %llu connects in %lld ms, backend cpu %lld ms (including the victim's gets)\n",
           (unsigned long long) a.result[0], (long long) wall, (long long) cpu);
    check("EMFILE storm", l);
    a.stop(); /* its connections close: descriptors come back */
    usleep(300 * 1000);
    ov_fe_t *late = nullptr;
    std::string why;
    for (int i = 0; i < 50 && !late; i++) { /* the listener may be resting (100 ms) */
        ov_fe_params_t p = fe_params(be.uri(), "late", 0x7002, 0);
        if (ov_fe_connect(&p, &late) != OV_OK) {
            why = late ? ov_fe_last_error(late) : "no frontend";
            ov_fe_close(late);
            late = nullptr;
            usleep(50 * 1000);
        }
    }
    EXPECT_NE(late, nullptr) << "a client connects once the storm is over: " << why;
    ov_fe_close(late);
}

/* The same storm with no victim traffic: what the backend itself burns. */
TEST_F(Flood, EmfileStormCostsNoBusyLoop)
{
    be.leave_fds = 8;
    ASSERT_TRUE(be.start());
    Attacker a;
    const int64_t cpu0 = cpu_ms(be.pid), t0 = ms_now();
    ASSERT_TRUE(a.start([this](uint64_t *out) {
        static std::vector<ov_fd> keep;
        ov_comm_uri u{OV_COMM_UNIX, be.dir + "/backend.sock", "", 0};
        for (int i = 0; i < 120; i++) { /* within the listen backlog (128): connect never blocks */
            ov_fd fd;
            if (ov_comm_connect(u, &fd) == OV_OK) {
                out[0]++;
                keep.push_back(std::move(fd));
            }
        }
    }));
    ASSERT_TRUE(a.report());
    usleep(1000 * 1000); /* pending connections wait in the backlog */
    const int64_t cpu = cpu_ms(be.pid) - cpu0, wall = ms_now() - t0;
    printf("[ flood ] EMFILE with %llu connections pending: backend cpu %lld ms of %lld ms\n",
           (unsigned long long) a.result[0], (long long) cpu, (long long) wall);
    EXPECT_LT(cpu, wall / 5) << "accept must not busy-loop at EMFILE";
    a.stop();
}

/* Connections that stop mid-header, mid-payload, or before HELLO are
 * closed after the stall timeout.  Before, they stayed open for ever. */
TEST_F(Flood, StalledMessagesAreDropped)
{
    be.opts.stall_ms = 300;
    ASSERT_TRUE(be.start());
    Raw half_header, half_payload, silent;
    ASSERT_TRUE(half_header.connect(be.uri()) && half_payload.connect(be.uri()) && silent.connect(be.uri()));
    ov_msg_hdr h{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_HELLO, sizeof(ov_hello_req), 1};
    ASSERT_EQ(write(half_header.fd.get(), &h, 8), 8);
    char msg[sizeof(h) + 10] = {};
    std::memcpy(msg, &h, sizeof(h));
    ASSERT_EQ(write(half_payload.fd.get(), msg, sizeof(msg)), ssize_t(sizeof(msg)));
    const int64_t t0 = ms_now();
    EXPECT_TRUE(half_header.closed_by_peer());
    EXPECT_TRUE(half_payload.closed_by_peer());
    EXPECT_TRUE(silent.closed_by_peer());
    printf("[ flood ] stalled connections closed after %lld ms (stall timeout 300 ms)\n", (long long) (ms_now() - t0));
    ASSERT_TRUE(connect_victim());
    check("after stalled clients", measure(1000));
}

/* Twenty WIN_FREE/WIN_CREATE(1000 MiB) pairs in one write from another
 * guest.  Before, each create cleared 1000 MiB on the backend thread: 3 s
 * of stall and a 2.84 s victim round trip. */
TEST_F(Flood, ExpensiveControlWorkDoesNotStallOthers)
{
    be.opts.region_size = uint64_t(1100) << 20;
    ASSERT_TRUE(be.start());
    ASSERT_TRUE(connect_victim());
    Attacker a;
    ASSERT_TRUE(a.start([this](uint64_t *out) {
        static std::vector<Raw> keep;
        uint32_t limit;
        if (raw_hello(be.uri(), "atk", 0xd00d, 0, &keep, &limit) != OV_OK || keep.back().attach() != OV_OK ||
            keep.back().rings() != OV_OK)
            return;
        Raw &r = keep.back();
        usleep(200 * 1000); /* the victim is measuring by now */
        const uint64_t big = uint64_t(1000) << 20;
        ov_win_create_req w{big, 0};
        ov_win_create_rep wr{};
        if (r.call(OV_MSG_WIN_CREATE, &w, sizeof(w), &wr, sizeof(wr)) != OV_OK)
            return;
        /* ids are reused at once, epochs step by 2 per free+create */
        std::vector<uint8_t> burst;
        uint32_t seq = 100;
        for (uint32_t k = 0; k < 20; k++) {
            ov_win_ref_req f{wr.win_id, wr.win_epoch + 2 * k};
            ov_msg_hdr hf{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_WIN_FREE, sizeof(f), seq++};
            ov_msg_hdr hc{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_WIN_CREATE, sizeof(w), seq++};
            auto add = [&burst](const void *p, size_t n) {
                burst.insert(burst.end(), static_cast<const uint8_t *>(p), static_cast<const uint8_t *>(p) + n);
            };
            add(&hf, sizeof(hf));
            add(&f, sizeof(f));
            add(&hc, sizeof(hc));
            add(&w, sizeof(w));
        }
        const int64_t t0 = ov_now_ns();
        if (write(r.fd.get(), burst.data(), burst.size()) != ssize_t(burst.size()))
            return;
        for (int i = 0; i < 40; i++) {
            ov_msg_hdr h;
            ov_win_create_rep rep{};
            if (ov_msg_recv(r.fd.get(), &h, &rep, sizeof(rep), nullptr, nullptr, 20000) != OV_OK)
                return;
            out[rep.status == OV_OK ? 0 : 1]++;
        }
        out[2] = uint64_t(ov_now_ns() - t0) / 1000;
        usleep(200 * 1000);
    }));
    Latency l = measure(1000, [&a] { return a.done(); });
    ASSERT_TRUE(a.report());
    printf("[ flood ] 20 free/create(1000 MiB) pairs: %llu ok, %llu failed, all answered in %llu us\n",
           (unsigned long long) a.result[0], (unsigned long long) a.result[1], (unsigned long long) a.result[2]);
    EXPECT_EQ(a.result[0], 40u);
    check("20 free/create(1000 MiB) pairs from another guest", l);
    EXPECT_LT(l.max_us, 100000.0) << "no single round trip may wait for the whole burst";
    a.stop();
}

/* Freeing a window whose pages a guest touched costs the kernel time in
 * proportion to those pages (they are punched out of the region: 55 ms
 * for 512 MiB on a quiet machine, 0.5 s on a loaded one).  Done on the
 * event loop, every other guest waited that long.  Now the reclaimer
 * thread punches (reclaimer.h), and the attacker's next WIN_CREATE, which
 * needs those bytes back, waits for it unanswered instead of failing.
 * Judged by what the victim got done while the attacker's free and the
 * create after it were under way (CLOCK_MONOTONIC is the same in both
 * processes): on the event loop the punch let the victim through at most
 * once or twice; off it the victim keeps going. */
TEST_F(Flood, FreeingTouchedMemoryDoesNotStallOthers)
{
    be.opts.region_size = uint64_t(600) << 20;
    ASSERT_TRUE(be.start());
    ASSERT_TRUE(connect_victim());
    /* Up to three attacks: on a heavily loaded machine the victim itself can
     * go unscheduled for a whole free (0 round trips once in a while, also
     * before the reclaimer existed); a backend that frees on its own thread
     * serves nobody during any of the frees, so it still fails all three. */
    size_t least_during = 0;
    for (int attempt = 1; attempt <= 3 && least_during < 20; attempt++) {
        Attacker a;
        ASSERT_TRUE(a.start([this](uint64_t *out) {
            static std::vector<Raw> keep;
            uint32_t limit;
            if (raw_hello(be.uri(), "atk", 0xd11d, 0, &keep, &limit) != OV_OK || keep.back().attach() != OV_OK)
                return;
            Raw &r = keep.back();
            ov_mapping region; /* the region fd came with the ATTACH reply */
            if (r.nfds < 1 || !region.map(r.fds[0].get(), size_t(be.opts.region_size)) || r.rings() != OV_OK)
                return;
            const uint64_t big = uint64_t(512) << 20;
            auto create = [&r](uint64_t size, ov_win_create_rep *wr) {
                ov_win_create_req w{size, 0};
                return r.call(OV_MSG_WIN_CREATE, &w, sizeof(w), wr, sizeof(*wr)) == OV_OK;
            };
            ov_win_create_rep wr{};
            if (!create(big, &wr))
                return;
            usleep(200 * 1000); /* the victim is measuring by now */
            for (int k = 0; k < 2; k++) {
                char *p = region.data() + wr.offset;
                std::memset(p, 0x5a, big); /* every page */
                const int64_t t0 = ov_now_ns();
                ov_win_ref_req f{wr.win_id, wr.win_epoch};
                ov_simple_rep fr{};
                if (r.call(OV_MSG_WIN_FREE, &f, sizeof(f), &fr, sizeof(fr)) != OV_OK || !create(big, &wr))
                    return; /* the create needs the freed bytes: it waits for them, it does not fail */
                const int64_t t1 = ov_now_ns();
                p = region.data() + wr.offset;
                if (p[0] != 0 || p[big / 2] != 0 || p[big - 1] != 0)
                    return; /* a new window over punched bytes reads zeros */
                out[2 * k] = uint64_t(t0);
                out[2 * k + 1] = uint64_t(t1);
            }
            usleep(200 * 1000);
        }));
        std::vector<int64_t> done_at;
        Latency l = measure(1000, [&a] { return a.done(); }, &done_at);
        ASSERT_TRUE(a.report());
        printf("[ flood ] attempt %d\n", attempt);
        check("2 touched 512 MiB windows freed by another guest", l);
        least_during = SIZE_MAX;
        for (int k = 0; k < 2; k++) {
            const int64_t t0 = int64_t(a.result[2 * k]), t1 = int64_t(a.result[2 * k + 1]);
            ASSERT_GT(t1, t0) << "round " << k << ": the free and create failed, or the new window was not zero";
            const size_t during = size_t(std::count_if(done_at.begin(), done_at.end(),
                                                       [=](int64_t t) { return t > t0 && t < t1; }));
            printf("[ flood ] round %d: the attacker's free + create took %.1f ms; the victim completed %zu round "
                   "trips meanwhile\n", k, double(t1 - t0) / 1e6, during);
            least_during = std::min(least_during, during);
        }
        a.stop();
    }
    EXPECT_GE(least_during, 20u) << "the victim waited for the attacker's pages to be freed, in three attacks of three";
}

/* A guest that rings its doorbell every 250 us with nothing queued.  Each
 * ring used to buy the full post-request spin (8x CPU amplification). */
TEST_F(Flood, EmptyDoorbellsBuyNoSpin)
{
    be.opts.spin_us = 200; /* the shipped default */
    ASSERT_TRUE(be.start());
    ASSERT_TRUE(connect_victim()); /* idle: only the attacker's rings wake the backend */
    Attacker a;
    const int64_t cpu0 = cpu_ms(be.pid), t0 = ms_now();
    ASSERT_TRUE(a.start([this](uint64_t *out) {
        ov_fe_params_t p = fe_params(be.uri(), "atk", 0xbe11, 0);
        ov_fe_t *fe = nullptr;
        if (ov_fe_connect(&p, &fe) != OV_OK)
            return;
        const int64_t end = ms_now() + 1000;
        while (ms_now() < end) {
            uint64_t one = 1;
            if (write(fe->doorbell.get(), &one, sizeof(one)) == sizeof(one))
                out[0]++;
            usleep(250);
        }
        ov_fe_close(fe);
    }));
    ASSERT_TRUE(a.report());
    const int64_t cpu = cpu_ms(be.pid) - cpu0, wall = ms_now() - t0;
    printf("[ flood ] %llu empty doorbells in %lld ms: backend cpu %lld ms\n", (unsigned long long) a.result[0],
           (long long) wall, (long long) cpu);
    EXPECT_GT(a.result[0], 500u);
    EXPECT_LT(cpu, wall / 4) << "an empty doorbell must not buy the spin";
    check("after the doorbell storm", measure(1000));
    a.stop();
}

namespace {

/* What a flooding attacker shares with the test: its completions so far,
 * and when to stop (MAP_SHARED, made before the fork). */
struct FloodBoard {
    std::atomic<uint64_t> completed{0};
    std::atomic<bool> stop{false};
};

FloodBoard *new_board()
{
    void *p = mmap(nullptr, sizeof(FloodBoard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : new (p) FloodBoard;
}

/* Keeps its ring full of `make()`'s descriptors until the board says stop
 * (or 30 s), counting completions on the board; out[0] completions, out[1]
 * failed ones. */
void flood_ring(ov_fe_t *fe, FloodBoard *board, const std::function<ov_req_desc()> &make, uint64_t *out)
{
    const int64_t give_up = ms_now() + 30000;
    while (!board->stop.load(std::memory_order_relaxed) && ms_now() < give_up) {
        while (ov_fe_room(fe) > 0) {
            ov_req_desc d = make();
            if (ov_fe_submit(fe, &d) != OV_OK)
                break;
        }
        ov_completion c;
        while (ov_fe_poll(fe, &c) == OV_OK) {
            out[c.status == OV_OK ? 0 : 1]++;
            board->completed.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

/* The attacker's completions during each of the victim's round trips
 * (summarize() of counts, not of microseconds). */
struct Overtaken {
    std::vector<double> per_trip;
    double p50() const { return summarize(per_trip).p50_us; }
    double p99() const { return summarize(per_trip).p99_us; }
    double max() const { return summarize(per_trip).max_us; }
};

} // namespace

/* A guest posts NOPs as fast as its ring takes them while a victim in
 * another guest does 8-byte gets.  The backend serves each process at most
 * its budget per pass, round robin: the victim's request waits for one
 * budget of the attacker's work, never for the attacker's ring.  Asserted:
 * the victim's p99 under the flood bound (OV_FLOOD_P99_US); printed with
 * the same victim's p99 before the flood.  (A NOP was already one of the
 * OV_BATCH descriptors a pass served per process, so this guards the
 * budget rather than catching the old engine: the copy case below does.) */
TEST_F(Flood, NopFloodGetsItsShareOnly)
{
    FloodBoard *board = new_board();
    ASSERT_NE(board, nullptr);
    ASSERT_TRUE(be.start());
    ASSERT_TRUE(connect_victim());
    const Latency quiet = measure(500);
    Attacker a;
    ASSERT_TRUE(a.start([this, board](uint64_t *out) {
        ov_fe_params_t p = fe_params(be.uri(), "atk", 0x0f100d, 0);
        ov_fe_t *fe = nullptr;
        if (ov_fe_connect(&p, &fe) != OV_OK)
            return;
        uint64_t cookie = 0;
        flood_ring(fe, board, [&cookie] {
            ov_req_desc d{};
            d.op = OV_OP_NOP;
            d.cookie = ++cookie;
            return d;
        }, out);
        ov_fe_close(fe);
    }));
    for (const int64_t end = ms_now() + 2000; board->completed.load() < 10000 && !a.done() && ms_now() < end;)
        usleep(1000); /* the flood is under way */
    const int64_t cpu0 = cpu_ms(be.pid), t0 = ms_now();
    const Latency l = measure(1000);
    const int64_t cpu = cpu_ms(be.pid) - cpu0, wall = ms_now() - t0;
    board->stop.store(true);
    ASSERT_TRUE(a.report());
    printf("[ flood ] quiet: victim p50 %.1f us, p99 %.1f us (%zu round trips)\n", quiet.p50_us, quiet.p99_us,
           quiet.n);
    printf("[ flood ] NOP flood: %llu NOPs completed; backend cpu %lld ms of %lld ms\n",
           (unsigned long long) a.result[0], (long long) cpu, (long long) wall);
    EXPECT_GT(a.result[0], 10000u) << "the attacker really flooded";
    EXPECT_EQ(a.result[1], 0u);
    check("NOP flood from another guest", l);
    munmap(board, sizeof(FloodBoard));
    a.stop();
}

/* The same with 4 MiB copies (inside the attacker's own window).  Before
 * the work budget a pass served up to OV_BATCH (32) of them for one
 * process, 128 MiB, while every other guest waited: the victim's round trip
 * was overtaken by tens of copies.  Now a copy costs its bytes (65 units of
 * the 32 a pass gives), so one per pass.  Judged by the copies that
 * overtake each victim round trip, which does not depend on how fast this
 * machine copies. */
TEST_F(Flood, LargeCopyFloodGetsItsShareOnly)
{
    FloodBoard *board = new_board();
    ASSERT_NE(board, nullptr);
    be.opts.region_size = uint64_t(32) << 20;
    ASSERT_TRUE(be.start());
    ASSERT_TRUE(connect_victim());
    Attacker a;
    ASSERT_TRUE(a.start([this, board](uint64_t *out) {
        ov_fe_params_t p = fe_params(be.uri(), "atk", 0x0f200d, 0);
        ov_fe_t *fe = nullptr;
        ov_win_t w{};
        const uint64_t mib4 = uint64_t(4) << 20;
        if (ov_fe_connect(&p, &fe) != OV_OK || ov_fe_win_create(fe, 2 * mib4, &w) != OV_OK)
            return;
        flood_ring(fe, board, [&w, mib4] { return copy_req(OV_OP_PUT, w, mib4, w, 0, mib4); }, out);
        ov_fe_close(fe);
    }));
    for (const int64_t end = ms_now() + 2000; board->completed.load() < 64 && !a.done() && ms_now() < end;)
        usleep(1000);
    Overtaken o;
    std::vector<double> rtt;
    for (int i = 0; i < 40; i++) {
        ov_req_desc d = copy_req(OV_OP_GET, vwin, 0, vwin, 64, 8);
        const uint64_t before = board->completed.load();
        const int64_t s = ov_now_ns();
        ov_completion c = roundtrip(victim, d);
        rtt.push_back(double(ov_now_ns() - s) / 1000.0);
        o.per_trip.push_back(double(board->completed.load() - before));
        if (c.status != OV_OK)
            break;
    }
    board->stop.store(true);
    ASSERT_TRUE(a.report());
    const Latency l = summarize(rtt);
    printf("[ flood ] 4 MiB copy flood: %llu copies; per victim round trip: p50 %.0f copies, p99 %.0f, max %.0f; "
           "victim round trip p50 %.1f us, p99 %.1f us, max %.1f us\n", (unsigned long long) a.result[0], o.p50(),
           o.p99(), o.max(), l.p50_us, l.p99_us, l.max_us);
    EXPECT_GT(a.result[0], 64u);
    EXPECT_EQ(a.result[1], 0u);
    /* The median: a victim descheduled on a loaded machine sees the
     * attacker's copies go on meanwhile, whatever the backend does. */
    EXPECT_LE(o.p50(), 4.0) << "one process's copies must not be served back to back while another waits";
    munmap(board, sizeof(FloodBoard));
    a.stop();
}
