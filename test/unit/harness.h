/*
 * harness.h — run a backend in a child process on a temporary directory, and
 * a raw protocol client for driving the control plane by hand.
 */
#ifndef OMPI_VIRT_TEST_UNIT_HARNESS_H
#define OMPI_VIRT_TEST_UNIT_HARNESS_H

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "backend.h"
#include "log.h"
#include "ov_comm.h"
#include "ov_frontend.h"
#include "ov_job_id.h"

/* A fresh temporary directory, removed (with the backend's files) at the end. */
struct TempDir {
    std::string path;
    TempDir()
    {
        char t[] = "/tmp/ov-unit-XXXXXX";
        if (!mkdtemp(t))
            abort();
        path = t;
    }
    ~TempDir()
    {
        unlink((path + "/backend.sock").c_str());
        unlink((path + "/backend.lock").c_str());
        rmdir(path.c_str());
    }
};

/* ov_backend in a forked child (the test process has no threads, so fork is safe). */
struct BackendChild {
    pid_t pid = -1;
    std::string dir;
    ov_backend_options opts;
    std::string log_path; /* "": the backend logs to our stderr */
    rlim_t nofile = 0;    /* RLIMIT_NOFILE of the child (soft and hard); 0: ours */
    int leave_fds = -1;   /* >= 0: after start(), fill the fd table until this many are left */
    explicit BackendChild(const std::string &d) : dir(d)
    {
        opts.dir = d;
        opts.region_size = 4u << 20;
        opts.spin_us = 50;
    }
    bool start()
    {
        pid = fork();
        if (pid == 0) {
            int rc;
            if (!log_path.empty()) {
                int lf = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (lf >= 0)
                    dup2(lf, 2);
            }
            if (nofile) {
                rlimit rl{nofile, nofile};
                setrlimit(RLIMIT_NOFILE, &rl);
            }
            {
                ov_backend b(opts);
                rc = 3;
                if (b.start() == OV_OK) {
                    if (leave_fds >= 0) { /* what else might hold them: a leak, a library */
                        std::vector<int> held;
                        for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
                            held.push_back(fd);
                        for (int i = 0; i < leave_fds && !held.empty(); i++) {
                            close(held.back());
                            held.pop_back();
                        }
                    }
                    rc = b.run() == OV_OK ? 0 : 3;
                }
            }
            _exit(rc);
        }
        /* ready when the socket accepts, and the tcp one too: the backend
         * listens on unix first, so a tcp client could otherwise be early */
        ov_comm_uri u{OV_COMM_UNIX, dir + "/backend.sock", "", 0}, t{};
        const bool tcp = !opts.tcp.empty() && ov_comm_parse_uri(opts.tcp.c_str(), &t) == OV_OK && t.port != 0;
        for (int i = 0; i < 500; i++) {
            ov_fd fd, tfd;
            if (ov_comm_connect(u, &fd) == OV_OK && (!tcp || ov_comm_connect(t, &tfd) == OV_OK))
                return true;
            if (waitpid(pid, nullptr, WNOHANG) == pid) {
                pid = -1;
                return false;
            }
            usleep(10000);
        }
        return false;
    }
    /* signal and reap; returns the exit status (or 128+signal) */
    int stop(int sig = SIGTERM)
    {
        if (pid <= 0)
            return -1;
        kill(pid, sig);
        int st = 0;
        waitpid(pid, &st, 0);
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    ~BackendChild() { stop(SIGKILL); }
    std::string uri() const { return "unix:" + dir + "/backend.sock"; }
};

/* A loopback TCP port nobody listened on a moment ago. */
inline uint16_t free_port()
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(a);
    bind(s, reinterpret_cast<sockaddr *>(&a), sizeof(a));
    getsockname(s, reinterpret_cast<sockaddr *>(&a), &l);
    close(s);
    return ntohs(a.sin_port);
}

/* CLOCK_MONOTONIC in ms, for the tests' time bounds. */
inline int64_t ms_now() { return ov_now_ns() / 1000000; }

/* Frontend params for (guest, job, rank) against a backend dir. */
inline ov_fe_params_t fe_params(const std::string &uri, const char *guest, uint64_t job, uint32_t rank)
{
    ov_fe_params_t p;
    ov_fe_params_default(&p);
    static thread_local std::string keep[64];
    static thread_local int k = 0;
    keep[k % 64] = uri;
    p.uri = keep[k++ % 64].c_str();
    p.guest = guest;
    const ov_job_secret js = ov_job_secret_from_seed(job); /* tests: the job is its number */
    memcpy(p.job_secret, js.b, sizeof(p.job_secret));
    p.rank = rank;
    p.timeout_ms = 3000;
    return p;
}

/* ov_fe_open (HELLO only) as (guest, job, rank, role); a failure is a test
 * failure (with the frontend's explanation) and gives nullptr. */
inline ov_fe_t *open_fe(const std::string &uri, const char *guest, uint64_t job, uint32_t rank,
                        uint32_t role = OV_ROLE_OSC)
{
    ov_fe_params_t p = fe_params(uri, guest, job, rank);
    p.role = role;
    ov_fe_t *fe = nullptr;
    ov_status_t s = ov_fe_open(&p, &fe);
    EXPECT_EQ(s, OV_OK) << ov_fe_last_error(fe);
    if (s != OV_OK) {
        ov_fe_close(fe);
        return nullptr;
    }
    return fe;
}

/* ov_fe_connect as (guest, job, rank); a failure is a test failure (with the
 * frontend's explanation) and gives nullptr. */
inline ov_fe_t *connect_fe(const std::string &uri, const char *guest, uint64_t job, uint32_t rank)
{
    ov_fe_params_t p = fe_params(uri, guest, job, rank);
    ov_fe_t *fe = nullptr;
    ov_status_t s = ov_fe_connect(&p, &fe);
    EXPECT_EQ(s, OV_OK) << ov_fe_last_error(fe);
    if (s != OV_OK) {
        ov_fe_close(fe);
        return nullptr;
    }
    return fe;
}

/* Submits d and waits (3 s at most) for its completion, which must carry
 * d's cookie. */
inline ov_completion roundtrip(ov_fe_t *fe, const ov_req_desc &d)
{
    ov_completion c{};
    EXPECT_EQ(ov_fe_submit(fe, &d), OV_OK);
    EXPECT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK) << ov_fe_last_error(fe);
    EXPECT_EQ(c.cookie, d.cookie);
    return c;
}

/* A PUT/GET of `len` bytes between `target`+toff and `local`+loff (byte
 * elements), each with a fresh cookie. */
inline ov_req_desc copy_req(uint16_t op, const ov_win_t &target, uint64_t toff, const ov_win_t &local,
                            uint64_t loff, uint64_t len)
{
    static uint64_t cookie = 1;
    ov_req_desc d{};
    d.cookie = cookie++;
    d.op = op;
    d.dtype_size = 1;
    d.target_win = target.id;
    d.target_epoch = target.epoch;
    d.target_off = toff;
    d.local_win = local.id;
    d.local_epoch = local.epoch;
    d.local_off = loff;
    d.length = len;
    return d;
}

/* For a forked child that is to die holding state: connect as (guest, job,
 * rank), create a 4 KiB window and grant rank 0 read and write on it.
 * nullptr on any failure (the child then _exit(1)s). */
inline ov_fe_t *fe_with_granted_window(const std::string &uri, const char *guest, uint64_t job, uint32_t rank,
                                       ov_win_t *w)
{
    ov_fe_params_t p = fe_params(uri, guest, job, rank);
    ov_fe_t *fe = nullptr;
    if (ov_fe_connect(&p, &fe) != OV_OK || ov_fe_win_create(fe, 4096, w) != OV_OK ||
        ov_fe_grant(fe, w, 0, OV_PERM_READ | OV_PERM_WRITE) != OV_OK)
        return nullptr;
    return fe;
}

/* fork + execv(args[0], args), with stdin/stdout from in_fd/out_fd when
 * given; the child exits 127 if execv fails. */
inline pid_t spawn(const std::vector<std::string> &args, int in_fd = -1, int out_fd = -1)
{
    pid_t pid = fork();
    if (pid == 0) {
        if ((in_fd >= 0 && dup2(in_fd, 0) != 0) || (out_fd >= 0 && dup2(out_fd, 1) != 1))
            _exit(127);
        std::vector<char *> av;
        for (auto &a : args)
            av.push_back(const_cast<char *>(a.c_str()));
        av.push_back(nullptr);
        execv(av[0], av.data());
        _exit(127);
    }
    return pid;
}

/* Would a child of ours (a BackendChild) be refused our memory by the
 * kernel (process_vm_readv: EPERM)?  Single-copy tests skip then. */
inline bool ptrace_denied()
{
    pid_t parent = getpid();
    pid_t k = fork();
    if (k == 0) {
        ov_peer_mem m;
        _exit(m.open(parent) == OV_ERR_DENIED ? 1 : 0);
    }
    int st = 0;
    waitpid(k, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 1;
}

/* Raw control-plane client. */
struct Raw {
    ov_fd fd;
    uint32_t seq = 0;
    ov_fd fds[OV_MSG_MAX_FDS];
    int nfds = 0;
    ov_msg_hdr last{};
    bool connect(const std::string &uri)
    {
        ov_comm_uri u;
        return ov_comm_parse_uri(uri.c_str(), &u) == OV_OK && ov_comm_connect(u, &fd) == OV_OK;
    }
    /* returns the status in the reply (or a transport error) */
    ov_status_t call(uint16_t type, const void *req, uint32_t len, void *rep, uint32_t replen)
    {
        ov_status_t s = ov_msg_send(fd.get(), type, ++seq, req, len, nullptr, 0, false);
        if (s != OV_OK)
            return s;
        for (auto &f : fds)
            f.reset();
        s = ov_msg_recv(fd.get(), &last, rep, replen, fds, &nfds, 3000);
        if (s != OV_OK)
            return s;
        int32_t st;
        memcpy(&st, rep, 4);
        return ov_status_t(st);
    }
    ov_status_t hello(const char *guest, uint64_t job, uint32_t rank)
    {
        ov_hello_req h{};
        const ov_job_secret js = ov_job_secret_from_seed(job);
        memcpy(h.job_secret, js.b, sizeof(h.job_secret));
        h.rank = rank;
        strncpy(h.guest, guest, sizeof(h.guest) - 1);
        ov_hello_rep r{};
        return call(OV_MSG_HELLO, &h, sizeof(h), &r, sizeof(r));
    }
    ov_status_t attach()
    {
        ov_attach_req a{};
        ov_attach_rep r{};
        return call(OV_MSG_ATTACH, &a, sizeof(a), &r, sizeof(r));
    }
    ov_status_t rings(uint32_t rq = 8, uint32_t cq = 8)
    {
        ov_rings_req q{rq, cq};
        ov_rings_rep r{};
        return call(OV_MSG_RINGS, &q, sizeof(q), &r, sizeof(r));
    }
    /* true once the backend has closed the connection */
    bool closed_by_peer()
    {
        char c;
        for (int i = 0; i < 300; i++) {
            ssize_t n = recv(fd.get(), &c, 1, MSG_DONTWAIT);
            if (n == 0)
                return true;
            usleep(10000);
        }
        return false;
    }
};

#endif
