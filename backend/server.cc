/*
 * server.cc — backend lifecycle: directory lock, listeners, VM region files,
 * peer death detection (pidfd), event loop, shutdown.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "backend.h"
#include "log.h"
#include "placement.h"
#include "thread_creds.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* same number on every architecture */
#endif

static uint64_t tag(uint64_t kind, uint32_t id) { return kind << 32 | id; }

/* How often a backend with rings to serve checks its event loop: fast enough
 * that a connection, a window creation or a dead peer waits unnoticed for no
 * more than this, rare enough that the epoll_wait (~0.3 us) costs under 1%. */
static constexpr int64_t kEventPeriodNs = 50 * 1000;
/* After EMFILE/ENFILE the listeners rest this long: a pending connection
 * waits in the backlog instead of costing a failed accept per loop pass. */
static constexpr int64_t kListenRestNs = 100 * 1000 * 1000;
/* How often stalled connections are looked for (and the longest an idle
 * backend with one sleeps). */
static constexpr int64_t kStallCheckNs = 250 * 1000 * 1000;
/* Descriptors kept free (quota.h): accepting until EMFILE left the clients
 * already served without a doorbell, and the backend itself without the
 * pipe UBSan opens to check a vtable. */
static constexpr int kFdHeadroom = ov_quota::kFdHeadroom;
static constexpr int kFdProbeMax = 16;

/* Probes with dups of the epoll descriptor, closed at once: only at accept
 * and in HELLO, ATTACH and RINGS, so the 2n system calls do not matter. */
bool ov_backend::fds_free(int n) const
{
    int got[kFdProbeMax];
    int k = 0;
    while (k < n && k < kFdProbeMax && (got[k] = fcntl(epfd_.get(), F_DUPFD_CLOEXEC, 0)) >= 0)
        k++;
    for (int i = 0; i < k; i++)
        close(got[i]);
    return k == n;
}

/* OV_ERR_QUOTA naming OV_LIMIT_BACKEND_FDS unless `taking` descriptors
 * for c leave ov_quota::kFdFloor free. */
ov_status_t ov_backend::fds_for_client(conn *c, int taking, uint32_t *limit, const char *what)
{
    if (fds_free(taking + ov_quota::kFdFloor))
        return OV_OK;
    return quota_error(OV_LIMIT_BACKEND_FDS, limit, c, what);
}

ov_backend::ov_backend(const ov_backend_options &o) : opts_(o)
{
    limits_.max_length = o.max_request;
    std::random_device rd;
    instance_ = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(ov_now_ns());
    start_ms_ = ov_now_ns() / 1000000;
    wins_.resize(1);
    btl_segments_ = std::make_unique<ov_btl_segments>(instance_, opts_.dir + "/vm-segments");
    fabric_ = std::make_unique<ov_fabric_mappings>(o.fabric, o.quota);
}

ov_status_t ov_backend::take_lock()
{
    lock_path_ = opts_.dir + "/backend.lock";
    for (int attempt = 0; attempt < 5; attempt++) {
        ov_fd fd(open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (!fd.valid()) {
            OV_LOG_ERR("cannot open %s: %s", lock_path_.c_str(), strerror(errno));
            return OV_ERR_SYS;
        }
        if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            char buf[32] = "";
            ssize_t n = pread(fd.get(), buf, sizeof(buf) - 1, 0);
            buf[n > 0 ? n : 0] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            OV_LOG_ERR("another backend (pid %s) already serves %s", n > 0 ? buf : "?",
                       opts_.dir.c_str());
            return OV_ERR_BUSY;
        }
        /* The holder may have unlinked the file between our open and flock. */
        struct stat a, b;
        if (fstat(fd.get(), &a) != 0 || stat(lock_path_.c_str(), &b) != 0 || a.st_ino != b.st_ino)
            continue;
        char old[32] = "";
        ssize_t n = pread(fd.get(), old, sizeof(old) - 1, 0);
        old[n > 0 ? n : 0] = '\0';
        char me[32];
        int len = snprintf(me, sizeof(me), "%d\n", int(getpid()));
        if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), me, size_t(len), 0) != len)
            OV_LOG_WARN("cannot record our pid in %s", lock_path_.c_str());
        if (n > 0)
            OV_LOG_INFO("recovering after a dead predecessor (pid %.*s)", int(strcspn(old, "\n")), old);
        lock_fd_ = std::move(fd);
        return OV_OK;
    }
    return OV_ERR_BUSY;
}

/* --copy-threads: -1 is "the cores left once the data-plane thread and the
 * rank it serves have one each", at most 3 (beyond that memory bandwidth,
 * not cores, limits a copy).  A helper without a core of its own slows a
 * transfer down: it time-slices with the origin rank (copying its next
 * piece) or with us, and we wait for any part it has claimed.  On this
 * project's 2-core machine put_bw/get_bw at 1-4 MiB went from medians of
 * 16-24 GB/s with one helper to 23-26 without (2026-11-21, bench/compare
 * --headline --reps 5; docs/backend.md). */
static unsigned copy_helpers(int requested)
{
    if (requested >= 0)
        return unsigned(requested);
    unsigned cores = std::thread::hardware_concurrency();
    return cores <= 2 ? 0 : cores - 2 < 3 ? cores - 2 : 3;
}

ov_status_t ov_backend::start()
{
    if (mkdir(opts_.dir.c_str(), 0755) != 0 && errno != EEXIST) {
        OV_LOG_ERR("cannot create %s: %s", opts_.dir.c_str(), strerror(errno));
        return OV_ERR_SYS;
    }
    ov_status_t s = take_lock();
    if (s != OV_OK)
        return s;
    if (!ov_place_init(opts_.bind_cpu))
        return OV_ERR_SYS;
    fit_quota_to_fds();
    s = open_vms(); /* a bad declaration fails before anything listens */
    if (s != OV_OK)
        return s;
    sock_path_ = opts_.dir + "/" + "backend.sock";
    if (unlink(sock_path_.c_str()) == 0)
        OV_LOG_INFO("removed stale socket %s", sock_path_.c_str());
    ov_comm_uri u{OV_COMM_UNIX, sock_path_, "", 0};
    if (sock_path_.size() >= 108 || ov_comm_listen(u, &unix_lfd_) != OV_OK) {
        OV_LOG_ERR("cannot listen on %s: %s", sock_path_.c_str(), strerror(errno));
        return OV_ERR_SYS;
    }
    chmod(sock_path_.c_str(), 0666);
    if (!opts_.tcp.empty()) {
        ov_comm_uri t;
        if (ov_comm_parse_uri(opts_.tcp.c_str(), &t) != OV_OK || t.kind != OV_COMM_TCP) {
            OV_LOG_ERR("bad --tcp URI '%s' (want tcp:HOST:PORT)", opts_.tcp.c_str());
            return OV_ERR_BAD_ARG;
        }
        if (ov_comm_listen(t, &tcp_lfd_) != OV_OK) {
            OV_LOG_ERR("cannot listen on %s: %s", opts_.tcp.c_str(), strerror(errno));
            return OV_ERR_SYS;
        }
        tcp_port_ = ov_comm_local_port(tcp_lfd_.get());
        OV_LOG_INFO("listening on tcp:%s:%u (control only: regions need the unix socket or --vm)",
                    t.host.c_str(), tcp_port_);
    }
    epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
    stopfd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epfd_.valid() || !stopfd_.valid())
        return OV_ERR_SYS;
    auto add = [&](int fd, uint64_t t) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = t;
        return epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
    };
    bool ok = add(unix_lfd_.get(), tag(OV_EV_UNIX, 0)) && add(stopfd_.get(), tag(OV_EV_STOP, 0));
    if (tcp_lfd_.valid())
        ok = ok && add(tcp_lfd_.get(), tag(OV_EV_TCP, 0));
    if (fabric_->start() != OV_OK)
        return OV_ERR_SYS;
    ok = ok && add(fabric_->fd(), tag(OV_EV_FABRIC, 0));
    if (opts_.handle_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, nullptr);
        sigfd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        ok = ok && sigfd_.valid() && add(sigfd_.get(), tag(OV_EV_SIG, 0));
    }
    signal(SIGPIPE, SIG_IGN);
    if (!ok) {
        OV_LOG_ERR("event loop set-up failed: %s", strerror(errno));
        return OV_ERR_SYS;
    }
    /* after the signal mask is set: helpers inherit it, so signals reach the signalfd */
    crew_ = std::make_unique<ov_copy_crew>(copy_helpers(opts_.copy_threads));
    /* Without its thread the reclaimer frees inline: slower for the other
     * guests, never wrong. */
    if (reclaimer_.start() != OV_OK) {
        OV_LOG_WARN("memory reclaimer thread: %s (pages are freed on the event loop)", strerror(errno));
    } else if (!add(reclaimer_.notify_fd(), tag(OV_EV_RECLAIM, 0))) {
        OV_LOG_ERR("event loop set-up failed: %s", strerror(errno));
        return OV_ERR_SYS;
    }
    dodger_.init(opts_.bind_cpu < 0);
    scratch_.crew = crew_.get();
    started_ = true;
    OV_LOG_INFO("serving unix:%s (instance %016llx, regions of %llu MiB, spin %u us, %u copy helpers)",
                sock_path_.c_str(), (unsigned long long) instance_,
                (unsigned long long) ((opts_.region_size ? opts_.region_size : ov_region::host_memory()) >> 20),
                opts_.spin_us, crew_->helpers());
    return OV_OK;
}

/* The open-file limit bounds connections (quota.h): raise the soft limit to
 * the hard one, then lower the connection quota to what fits, keeping a
 * spare descriptor for accept_at_fd_limit(). */
void ov_backend::fit_quota_to_fds()
{
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlimit up = rl;
        up.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (quota_.clamp_to_fds(uint64_t(rl.rlim_cur)))
        OV_LOG_INFO("open-file limit %llu: limits lowered to fit (each guest or job at most half the backend's)",
                    (unsigned long long) rl.rlim_cur);
    const ov_quota_limits &q = quota_.limits();
    OV_LOG_INFO("limits: per guest %u connections, %u processes, %u windows, %llu MiB; per job %u processes, "
                "%u windows, %llu MiB; backend %u connections, %u processes, %u windows, %llu MiB",
                q.guest_conns, q.guest_procs, q.guest_windows, (unsigned long long) (q.guest_region_bytes >> 20),
                q.job_procs, q.job_windows, (unsigned long long) (q.job_region_bytes >> 20), q.conns, q.procs,
                q.windows, (unsigned long long) (q.region_bytes >> 20));
    spare_fd_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

ov_status_t ov_backend::open_vms()
{
    if (!opts_.vms.empty() && opts_.tcp.empty()) {
        OV_LOG_ERR("--vm needs --tcp: VM guests reach the backend over TCP");
        return OV_ERR_BAD_ARG;
    }
    for (const ov_vm_decl &d : opts_.vms) {
        for (const ov_vm &v : vms_)
            if (v.decl.name == d.name) {
                OV_LOG_ERR("VM %s declared twice", d.name.c_str());
                return OV_ERR_BAD_ARG;
            }
        ov_vm v;
        v.decl = d;
        ov_status_t s = ov_vm_open_file(d, opts_.region_size ? opts_.region_size : kVmRegionDefault, &v.file);
        if (s != OV_OK)
            return s;
        OV_LOG_INFO("VM guest %s: region file %s, claimed by %s", d.name.c_str(), d.path.c_str(),
                    d.peer.empty() ? "the first tcp peer that attaches" : d.peer.c_str());
        vms_.push_back(std::move(v));
    }
    return OV_OK;
}

/* A unix peer's death is its process's exit, not its socket's close: a
 * forked child may keep the socket open for ever.  The pid is the one
 * SO_PEERCRED gave at accept (the process that connected); a pid reused in
 * the microseconds between its exit and our pidfd_open would only delay the
 * release to the socket close. */
void ov_backend::watch_peer_pid(conn *c)
{
    static bool no_pidfd = false;
    if (c->peer_pid == 0 || no_pidfd)
        return;
    int fd = int(syscall(SYS_pidfd_open, pid_t(c->peer_pid), 0));
    if (fd < 0) {
        if (errno == ENOSYS) {
            no_pidfd = true;
            OV_LOG_INFO("no pidfd_open (Linux < 5.3): peer death is seen as socket close only");
        } else if (errno == ESRCH) {
            close_conn(c, "peer process exited before accept");
        } else {
            OV_LOG_WARN("pidfd_open(%u): %s: socket close only for conn %u", c->peer_pid,
                        strerror(errno), c->id);
        }
        return;
    }
    c->pidfd.reset(fd); /* close-on-exec by definition */
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(OV_EV_PID, c->id);
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        OV_LOG_WARN("epoll add pidfd: %s", strerror(errno));
        c->pidfd.reset();
    }
}

void ov_backend::stop()
{
    uint64_t one = 1;
    if (stopfd_.valid() && write(stopfd_.get(), &one, sizeof(one)) < 0) {
        /* nothing else is async-signal-safe to do */
    }
}

void ov_backend::accept_all(int lfd, ov_comm_kind kind)
{
    for (;;) {
        int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                accept_at_fd_limit(lfd);
            else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                OV_LOG_WARN("accept: %s", strerror(errno));
            return;
        }
        if (!fds_free(kFdHeadroom + (kind == OV_COMM_UNIX))) { /* and its pidfd */
            refuse_at_fd_limit(fd);
            return;
        }
        auto c = std::make_unique<conn>();
        c->id = next_conn_++;
        if (next_conn_ == 0)
            next_conn_ = 1;
        c->fd.reset(fd);
        c->kind = kind;
        if (kind == OV_COMM_TCP) {
            c->peer_addr = ov_tcp_peer_addr(fd);
            /* no pid to watch in a VM: a VM that dies without closing its
             * connection (tap networking) is found by keepalive in ~25 s */
            int on = 1, idle = 10, intvl = 5, cnt = 3;
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        }
        if (kind == OV_COMM_UNIX) {
            ucred cr{};
            socklen_t sl = sizeof(cr);
            if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) == 0) {
                c->peer_pid = uint32_t(cr.pid);
                char path[64], buf[128], self[128];
                snprintf(path, sizeof(path), "/proc/%d/ns/net", int(cr.pid));
                ssize_t n = readlink(path, buf, sizeof(buf) - 1);
                ssize_t m = readlink("/proc/self/ns/net", self, sizeof(self) - 1);
                if (n > 0) {
                    c->ns_key.assign(buf, size_t(n));
                    c->admin = m > 0 && c->ns_key == std::string(self, size_t(m));
                }
            }
        }
        if (!admit_conn(c.get()))
            continue;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = tag(OV_EV_CONN, c->id);
        if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            OV_LOG_WARN("epoll add: %s", strerror(errno));
            quota_.release_conn(c->tenant);
            continue;
        }
        set_stalled(c.get(), true); /* until its HELLO (handle_messages) */
        OV_LOG_DEBUG("conn %u accepted (%s, peer pid %u%s%s)", c->id, kind == OV_COMM_UNIX ? "unix" : "tcp",
                     c->peer_pid, c->peer_addr.empty() ? "" : ", address ", c->peer_addr.c_str());
        conn *cp = c.get();
        conns_.emplace(c->id, std::move(c));
        watch_peer_pid(cp);
    }
}

/* The connection quota of c's guest (its kernel identity) and of the
 * backend.  Over either: one unsolicited reply naming the limit, then the
 * socket closes (ov_protocol.h "quotas"). */
bool ov_backend::admit_conn(conn *c)
{
    c->tenant = c->kind == OV_COMM_TCP ? "tcp:" + c->peer_addr
                : c->ns_key.empty()    ? std::string("unknown")
                                       : c->ns_key;
    ov_limit l = quota_.admit_conn(c->tenant);
    if (l == OV_LIMIT_NONE) {
        c->counted = true;
        return true;
    }
    OV_LOG_WARN("quota: connection from guest %s (pid %u) refused: %s", c->tenant.c_str(), c->peer_pid,
                ov_limit_name(l));
    ov_simple_rep rep{OV_ERR_QUOTA, l};
    (void) ov_msg_send(c->fd.get(), OV_MSG_HELLO | OV_MSG_REPLY, 0, &rep, sizeof(rep), nullptr, 0, true);
    return false; /* c and its socket are dropped by the caller */
}

/* Fewer than kFdHeadroom descriptors would be left with fd accepted: it is
 * told why (the refusal a quota gives at accept) and closed, and the
 * listeners rest as at EMFILE. */
void ov_backend::refuse_at_fd_limit(int fd)
{
    OV_LOG_WARN("fewer than %d open files left: refusing new connections for %lld ms", kFdHeadroom,
                (long long) (kListenRestNs / 1000000));
    ov_simple_rep rep{OV_ERR_QUOTA, OV_LIMIT_BACKEND_FDS};
    (void) ov_msg_send(fd, OV_MSG_HELLO | OV_MSG_REPLY, 0, &rep, sizeof(rep), nullptr, 0, true);
    close(fd);
    rest_listeners();
}

/* accept() fails with EMFILE/ENFILE and would go on failing (level-triggered
 * listener: a busy loop, one log line per pass).  Close the spare
 * descriptor, accept the oldest pending connection and close it (its client
 * sees the close at once instead of a timeout), take the spare back, and let
 * the listeners rest for kListenRestNs. */
void ov_backend::accept_at_fd_limit(int lfd)
{
    OV_LOG_WARN("at the open-file limit (%s): refusing new connections for %lld ms", strerror(errno),
                (long long) (kListenRestNs / 1000000));
    if (spare_fd_.valid()) {
        spare_fd_.reset();
        int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        spare_fd_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    rest_listeners();
}

void ov_backend::rest_listeners()
{
    epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, unix_lfd_.get(), nullptr);
    if (tcp_lfd_.valid())
        epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, tcp_lfd_.get(), nullptr);
    listen_resume_ns_ = ov_now_ns() + kListenRestNs;
}

void ov_backend::resume_listeners(int64_t now)
{
    if (listen_resume_ns_ == 0 || now < listen_resume_ns_)
        return;
    listen_resume_ns_ = 0;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(OV_EV_UNIX, 0);
    epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, unix_lfd_.get(), &ev);
    if (tcp_lfd_.valid()) {
        ev.data.u64 = tag(OV_EV_TCP, 0);
        epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, tcp_lfd_.get(), &ev);
    }
}

/* A connection that stopped in the middle of a message, or sent no HELLO,
 * for opts_.stall_ms holds a connection slot (and a file descriptor) for
 * nothing: close it. */
void ov_backend::check_stalls(int64_t now)
{
    if (now < next_stall_check_)
        return;
    next_stall_check_ = now + kStallCheckNs;
    const int64_t limit = int64_t(opts_.stall_ms) * 1000000;
    for (auto &e : conns_) {
        conn *c = e.second.get();
        if (!c->doomed && c->stalled_since && now - c->stalled_since > limit)
            close_conn(c, c->in.empty() ? "no HELLO within the stall timeout" : "stalled mid-message");
    }
}

void ov_backend::set_stalled(conn *c, bool waiting)
{
    if (waiting && c->stalled_since == 0) {
        c->stalled_since = ov_now_ns();
        stalled_++;
    } else if (!waiting && c->stalled_since) {
        c->stalled_since = 0;
        stalled_--;
    }
}

void ov_backend::close_conn(conn *c, const char *why)
{
    if (c->doomed)
        return;
    OV_LOG_DEBUG("conn %u closed: %s", c->id, why);
    release_process(c);
    set_stalled(c, false);
    if (c->counted)
        quota_.release_conn(c->tenant);
    epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, c->fd.get(), nullptr);
    c->fd.reset();
    if (c->pidfd.valid()) {
        epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, c->pidfd.get(), nullptr);
        c->pidfd.reset();
    }
    c->doomed = true;
    doomed_++;
}

/* Every pass calls this: walking the table each time took a tenth of a
 * busy backend's time (perf, 8-byte put latency), so only after a close. */
void ov_backend::reap_doomed()
{
    if (doomed_ == 0)
        return;
    for (auto it = conns_.begin(); it != conns_.end();)
        it = it->second->doomed ? conns_.erase(it) : std::next(it);
    doomed_ = 0;
}

ov_status_t ov_backend::run()
{
    if (!started_)
        return OV_ERR_STATE;
    int64_t last_work = ov_now_ns();
    /* While rings are ready the event loop (new connections, control
     * messages, doorbells, exited peers, signals) is checked once per
     * kEventPeriodNs, not once per so many passes: an epoll_wait costs tens of
     * empty passes, and every 64th pass made it a tenth of a busy backend's
     * time (perf, 8-byte put + flush loop), each one holding up whatever
     * descriptor arrived meanwhile. */
    int64_t events_due = last_work;
    uint32_t empty_passes = 0, busy_passes = 0;
    bool worked = false; /* since last_work was read */
    epoll_event evs[64];
    while (!stopping_) {
        int timeout = 0;
        bool idle = false, events = false;
        /* The clock is read on every 16th empty pass only, and then stands
         * for the work before it: a vDSO clock read costs several ring polls;
         * it made up a fifth of an idle spinning backend's time, and read
         * after every request a fifth of a busy one's (8-byte puts).  Busy
         * passes read it every 16th too, for the event loop only: one pass
         * may copy megabytes. */
        if (poll_rings() > 0) {
            worked = true;
            empty_passes = 0;
            if ((++busy_passes & 15) == 0)
                events = ov_now_ns() >= events_due;
        } else if (ready_.empty()) {
            idle = true;
        } else if ((++empty_passes & 15) == 0) {
            const int64_t now = ov_now_ns();
            events = now >= events_due;
            if (worked) {
                last_work = now;
                worked = false;
            } else {
                idle = now - last_work > int64_t(opts_.spin_us) * 1000;
            }
        }
        if (idle && !backlog_.empty()) {
            idle = false; /* control messages wait: no sleep, but check events */
            events = true;
        }
        if (idle) {
            ov_creds_restore(); /* never sleep as a client (thread_creds.h) */
            set_sleeping(1);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (poll_rings() > 0) {
                set_sleeping(0);
                last_work = ov_now_ns();
            } else {
                timeout = sleep_timeout_ms();
            }
        }
        reap_doomed();
        dodger_.tick(ov_now_ns);
        if (timeout == 0 && !idle && !events)
            continue;
        int n = epoll_wait(epfd_.get(), evs, 64, timeout);
        const int64_t after = ov_now_ns();
        const bool slept = timeout != 0;
        if (slept) {
            set_sleeping(0);
            last_work = after;
        }
        events_due = after + kEventPeriodNs;
        if (n < 0 && errno != EINTR) {
            OV_LOG_ERR("epoll_wait: %s", strerror(errno));
            return OV_ERR_SYS;
        }
        if (n > 0) /* control work runs as the backend, not as the last single-copy client */
            ov_creds_restore();
        bool only_bells = n > 0;
        for (int i = 0; i < n; i++) {
            uint64_t kind = evs[i].data.u64 >> 32;
            uint32_t id = uint32_t(evs[i].data.u64);
            only_bells = only_bells && kind == OV_EV_BELL;
            if (kind == OV_EV_UNIX) {
                accept_all(unix_lfd_.get(), OV_COMM_UNIX);
            } else if (kind == OV_EV_TCP) {
                accept_all(tcp_lfd_.get(), OV_COMM_TCP);
            } else if (kind == OV_EV_SIG) {
                signalfd_siginfo si;
                if (read(sigfd_.get(), &si, sizeof(si)) == sizeof(si))
                    OV_LOG_INFO("signal %u: shutting down", si.ssi_signo);
                stopping_ = true;
            } else if (kind == OV_EV_STOP) {
                stopping_ = true;
            } else if (kind == OV_EV_RECLAIM) {
                on_reclaimed();
            } else if (kind == OV_EV_FABRIC) {
                fabric_->on_ready();
            } else {
                auto it = conns_.find(id);
                if (it == conns_.end() || it->second->doomed)
                    continue;
                if (kind == OV_EV_BELL) {
                    uint64_t v;
                    if (read(it->second->doorbell.get(), &v, sizeof(v)) < 0) {
                        /* EAGAIN: already drained */
                    }
                } else if (kind == OV_EV_PID) {
                    close_conn(it->second.get(), "peer process exited (pidfd)");
                } else {
                    on_readable(it->second.get());
                }
            }
        }
        /* Woken by doorbells alone: spin on only if they brought work.  A
         * frontend rings after publishing a descriptor, so the next pass
         * finds it; a guest that rings for nothing (every 250 us, say) would
         * otherwise buy opts_.spin_us of our CPU per ring. */
        if (slept && only_bells)
            last_work = after - int64_t(opts_.spin_us) * 1000;
        drain_backlog();
        resume_listeners(after);
        check_stalls(after);
        reap_doomed();
    }
    return OV_OK;
}

/* How long an idle backend may sleep: for ever, unless a rested listener
 * is to come back or a connection's stall clock runs. */
int ov_backend::sleep_timeout_ms() const
{
    int64_t wait = stalled_ ? kStallCheckNs / 1000000 : -1;
    if (listen_resume_ns_) {
        int64_t rest = (listen_resume_ns_ - ov_now_ns()) / 1000000 + 1;
        wait = wait < 0 ? rest : std::min(wait, rest);
    }
    return wait < 0 ? -1 : int(std::max<int64_t>(wait, 1));
}

ov_backend::~ov_backend()
{
    for (auto &g : guests_)
        g.second->region->mark_shutdown();
    for (auto &c : conns_)
        close_conn(c.second.get(), "backend shutdown");
    conns_.clear();
    guests_.clear();
    if (started_) {
        unlink(sock_path_.c_str());
        OV_LOG_INFO("shut down; removed %s (yielded the cpu to a waiting frontend %llu times, "
                    "moved off its cpu %llu times)", sock_path_.c_str(), (unsigned long long) yields_to_waiter_,
                    (unsigned long long) dodger_.moves());
    }
    if (lock_fd_.valid())
        unlink(lock_path_.c_str()); /* still holding the lock: see take_lock's inode check */
    ov_place_fini();
}
