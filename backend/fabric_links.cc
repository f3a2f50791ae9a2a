/*
 * fabric_links.cc — the fabric mapping service's links to the backends of
 * other hosts: connect, authenticate per job, carry MAP / UNMAP / CTRL
 * frames, retry.  Protocol: fabric_link.h.  Contract: fabric_mappings.h.
 */
#include "fabric_mappings.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "log.h"
#include "ov_clock.h"
#include "ov_comm.h"
#include "ov_hmac.h"

namespace {
constexpr uint64_t kTagListen = 0, kTagTimer = 1;
constexpr int64_t kRetryMinNs = 100 * 1000000ll, kRetryMaxNs = 1000 * 1000000ll;
constexpr int64_t kTimerNs = 50 * 1000000ll;

bool split_addr(const std::string &a, sockaddr_in *out)
{
    const size_t colon = a.rfind(':');
    if (colon == std::string::npos)
        return false;
    std::string host = a.substr(0, colon), port = a.substr(colon + 1);
    char *end = nullptr;
    unsigned long p = strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end || p == 0 || p > 65535)
        return false;
    *out = sockaddr_in{};
    out->sin_family = AF_INET;
    out->sin_port = htons(uint16_t(p));
    return inet_pton(AF_INET, host.c_str(), &out->sin_addr) == 1;
}

bool random_bytes(unsigned char *b, size_t n)
{
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        b += r;
        n -= size_t(r);
    }
    return true;
}
} // namespace

struct ov_fabric_mappings::link {
    enum state_t { down, connecting, await_challenge, await_hello, await_auth, up } state = down;
    uint32_t id = 0;
    ov_fd fd;
    bool initiator = false;
    bool closing = false; /* close once `out` is flushed (its job is gone) */
    uint64_t job_key = 0;
    int peer = -1;
    std::vector<uint8_t> in, out;
    size_t out_off = 0;
    std::deque<std::pair<link_type, std::vector<uint8_t>>> pending; /* before up: payloads to MAC later */
    size_t pending_bytes = 0;
    ov_link_hello hello{};
    unsigned char session[kLinkMac] = {};
    unsigned char hello_mac_i[kLinkMac] = {}; /* responder: the AUTH it expects */
    uint64_t seq = 0;         /* next frame's sequence number (out on initiators, in on responders) */
    int64_t deadline = 0;     /* handshake must finish by then (0: none) */
    int64_t retry_at = 0;     /* down initiator: reconnect then */
    int64_t backoff = kRetryMinNs;
};

ov_fabric_mappings::ov_fabric_mappings(const ov_fabric_options &o, const ov_quota_limits &q) : opts_(o), quota_(q) {}

ov_fabric_mappings::~ov_fabric_mappings() = default;

int ov_fabric_mappings::peer_index(const char *addr) const
{
    for (size_t i = 0; i < opts_.peers.size(); i++)
        if (opts_.peers[i] == addr)
            return int(i);
    return -1;
}

ov_status_t ov_fabric_mappings::start()
{
    ep_.reset(epoll_create1(EPOLL_CLOEXEC));
    timer_fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!ep_.valid() || !timer_fd_.valid())
        return OV_ERR_SYS;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagTimer;
    if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, timer_fd_.get(), &ev) != 0)
        return OV_ERR_SYS;
    for (const std::string &p : opts_.peers) {
        sockaddr_in sa;
        if (!split_addr(p, &sa) || p.size() >= kLinkAddr) {
            OV_LOG_ERR("fabric: bad peer address '%s' (IPv4:PORT)", p.c_str());
            return OV_ERR_BAD_ARG;
        }
    }
    if (opts_.listen.empty()) {
        if (opts_.peers.empty())
            return OV_OK;
        OV_LOG_ERR("fabric: --fabric-peer needs --fabric-listen (the peers authenticate this backend by it)");
        return OV_ERR_BAD_ARG;
    }
    sockaddr_in sa;
    ov_comm_uri u;
    if (!split_addr(opts_.listen, &sa) || opts_.listen.size() >= kLinkAddr ||
        ov_comm_parse_uri(("tcp:" + opts_.listen).c_str(), &u) != OV_OK) {
        OV_LOG_ERR("fabric: bad listen address '%s' (IPv4:PORT, as the peers name it)", opts_.listen.c_str());
        return OV_ERR_BAD_ARG;
    }
    if (ov_comm_listen(u, &listen_fd_) != OV_OK) {
        OV_LOG_ERR("fabric: cannot listen on %s: %s", opts_.listen.c_str(), strerror(errno));
        return OV_ERR_SYS;
    }
    listen_port_ = ov_comm_local_port(listen_fd_.get());
    ev.data.u64 = kTagListen;
    if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev) != 0)
        return OV_ERR_SYS;
    OV_LOG_INFO("fabric: links on %s, %zu peer backend(s)", opts_.listen.c_str(), opts_.peers.size());
    return OV_OK;
}

void ov_fabric_mappings::on_ready()
{
    epoll_event evs[32];
    int n = epoll_wait(ep_.get(), evs, 32, 0);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == kTagListen)
            accept_links();
        else if (evs[i].data.u64 == kTagTimer)
            on_timer();
        else
            on_link(uint32_t(evs[i].data.u64), evs[i].events);
    }
    arm_timer();
}

/* A 50 ms tick while a handshake runs or a link waits to reconnect. */
void ov_fabric_mappings::arm_timer()
{
    bool need = false;
    for (auto &j : jobs_)
        need = need || j.second.linger_until != 0;
    for (auto &e : links_)
        need = need || e.second->deadline != 0 || e.second->state == link::down;
    itimerspec its{};
    if (need) {
        its.it_value.tv_nsec = kTimerNs;
        its.it_interval.tv_nsec = kTimerNs;
    }
    timerfd_settime(timer_fd_.get(), 0, &its, nullptr);
}

void ov_fabric_mappings::on_timer()
{
    uint64_t ticks;
    if (read(timer_fd_.get(), &ticks, sizeof(ticks)) < 0) {
        /* EAGAIN: nothing expired yet */
    }
    const int64_t now = ov_now_ns();
    std::vector<uint64_t> gone;
    for (auto &j : jobs_)
        if (j.second.linger_until && now >= j.second.linger_until)
            gone.push_back(j.first);
    for (uint64_t key : gone)
        job_gone(key);
    std::vector<uint32_t> ids;
    for (auto &e : links_)
        ids.push_back(e.first);
    for (uint32_t id : ids) {
        auto it = links_.find(id);
        if (it == links_.end())
            continue;
        link &l = *it->second;
        if (l.deadline && now > l.deadline)
            link_close(l, "handshake not finished in time");
        else if (l.state == link::down && now >= l.retry_at)
            connect_out(l);
    }
}

void ov_fabric_mappings::open_out(uint64_t job_key, int peer)
{
    std::unique_ptr<link> l(new link);
    l->id = next_link_++;
    l->initiator = true;
    l->job_key = job_key;
    l->peer = peer;
    jobs_[job_key].out[size_t(peer)] = l->id;
    link &ref = *l;
    links_.emplace(l->id, std::move(l));
    connect_out(ref);
}

void ov_fabric_mappings::connect_out(link &l)
{
    sockaddr_in sa;
    split_addr(opts_.peers[size_t(l.peer)], &sa); /* checked at start */
    l.fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    if (l.fd.valid())
        setsockopt(l.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!l.fd.valid() ||
        (connect(l.fd.get(), reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0 && errno != EINPROGRESS)) {
        link_close(l, "cannot connect");
        return;
    }
    l.state = link::connecting;
    l.in.clear();
    l.out.clear();
    l.out_off = 0;
    l.seq = 0;
    l.deadline = ov_now_ns() + int64_t(kHandshakeMs) * 1000000;
    l.hello = ov_link_hello{};
    l.hello.job_key = l.job_key;
    std::memcpy(l.hello.addr, opts_.listen.data(), std::min(opts_.listen.size(), kLinkAddr - 1));
    if (!random_bytes(l.hello.nonce, kLinkNonce)) {
        link_close(l, "no random bytes");
        return;
    }
    const void *parts[] = {&l.hello};
    const size_t lens[] = {sizeof(l.hello)};
    ov_link_encode(link_type::hello, parts, lens, 1, nullptr, 0, &l.out);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = l.id;
    epoll_ctl(ep_.get(), EPOLL_CTL_ADD, l.fd.get(), &ev);
    arm_timer(); /* its handshake deadline */
}

void ov_fabric_mappings::accept_links()
{
    for (;;) {
        int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (in_links_ >= kMaxInLinks) {
            close(fd);
            OV_LOG_WARN("fabric: %zu links accepted already: refused one", in_links_);
            continue;
        }
        std::unique_ptr<link> l(new (std::nothrow) link);
        if (!l) {
            close(fd);
            continue;
        }
        l->fd.reset(fd);
        l->id = next_link_++;
        l->state = link::await_hello;
        l->deadline = ov_now_ns() + int64_t(kHandshakeMs) * 1000000;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = l->id;
        epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev);
        in_links_++;
        links_.emplace(l->id, std::move(l));
    }
}

void ov_fabric_mappings::on_link(uint32_t id, uint32_t events)
{
    auto it = links_.find(id);
    if (it == links_.end())
        return;
    link &l = *it->second;
    if (l.state == link::connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t sl = sizeof(err);
        getsockopt(l.fd.get(), SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err) {
            link_close(l, strerror(err));
            return;
        }
        l.state = link::await_challenge;
    }
    if (events & EPOLLOUT)
        link_flush(l);
    if (links_.count(id) && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        link_read(*links_[id]);
}

void ov_fabric_mappings::link_read(link &l)
{
    const uint32_t id = l.id;
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(l.fd.get(), buf, sizeof(buf), 0);
        if (n == 0) {
            link_close(l, "closed by the peer");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                link_close(l, strerror(errno));
                return;
            }
            break;
        }
        l.in.insert(l.in.end(), buf, buf + n);
        /* frames are parsed as they complete, so `in` never holds more
         * than one frame plus one read */
        size_t off = 0;
        for (;;) {
            ov_link_hdr h;
            const uint8_t *p;
            size_t used;
            const bool macced = l.state == link::up;
            int r = ov_link_parse(l.in.data() + off, l.in.size() - off, macced ? l.session : nullptr, l.seq, &h,
                                  &p, &used);
            if (r < 0) {
                link_close(l, "malformed frame or bad MAC");
                return;
            }
            if (r == 0)
                break;
            if (macced)
                l.seq++;
            off += used;
            if (!link_frame(l, h, p))
                return; /* closed */
            if (links_.count(id) == 0)
                return;
        }
        l.in.erase(l.in.begin(), l.in.begin() + long(off));
    }
}

void ov_fabric_mappings::on_map(link &l, job &j, const uint8_t *p, size_t len)
{
    ov_link_map m;
    const uint8_t *blob;
    if (ov_link_decode_map(p, len, &m, &blob) != OV_OK) {
        link_close(l, "malformed MAP");
        return;
    }
    auto r = j.records.find(m.vid);
    if (r == j.records.end() && j.records.size() >= quota_.job_fabric_mappings) {
        OV_LOG_WARN("fabric: job %016llx: MAP of rank %u from %s dropped: %s", (unsigned long long) l.job_key, m.vid,
                    opts_.peers[size_t(l.peer)].c_str(), ov_limit_name(OV_LIMIT_JOB_FABRIC_MAPPINGS));
        return;
    }
    if (r != j.records.end() && r->second.conn && r->second.epoch > m.epoch)
        return; /* ours is newer: the peer's is an old location */
    record &rec = j.records[m.vid];
    rec.epoch = m.epoch;
    rec.blob.assign(blob, blob + m.len);
    rec.conn = 0;
    rec.peer = l.peer;
}

/* One frame from a link (hostile: decoded, checked).  false: the link was closed. */
bool ov_fabric_mappings::link_frame(link &l, const ov_link_hdr &h, const uint8_t *p)
{
    const link_type t = link_type(h.type);
    if (l.state == link::await_challenge && t == link_type::challenge) {
        ov_link_challenge c;
        job *j = find_job(l.job_key);
        unsigned char mac[kLinkMac];
        if (j == nullptr || ov_link_decode_challenge(p, h.len, &c) != OV_OK) {
            link_close(l, "malformed CHALLENGE");
            return false;
        }
        ov_link_handshake_mac(j->key, 'R', l.hello, c.nonce, mac);
        if (!ov_mac_equal(mac, c.mac, kLinkMac)) {
            OV_LOG_WARN("fabric: link to %s for job %016llx: the peer does not hold the job's key",
                        opts_.peers[size_t(l.peer)].c_str(), (unsigned long long) l.job_key);
            link_close(l, "the peer does not hold the job's key");
            return false;
        }
        ov_link_auth a;
        ov_link_handshake_mac(j->key, 'I', l.hello, c.nonce, a.mac);
        ov_link_session_key(j->key, l.hello.nonce, c.nonce, l.session);
        const void *parts[] = {&a};
        const size_t lens[] = {sizeof(a)};
        ov_link_encode(link_type::auth, parts, lens, 1, nullptr, 0, &l.out);
        link_up(l);
        return true;
    }
    if (l.state == link::await_hello && t == link_type::hello) {
        if (ov_link_decode_hello(p, h.len, &l.hello) != OV_OK || (l.peer = peer_index(l.hello.addr)) < 0) {
            OV_LOG_WARN("fabric: a link's HELLO is malformed or from no configured peer: refused");
            link_close(l, "refused");
            return false;
        }
        job *j = find_job(l.hello.job_key);
        if (j == nullptr) { /* usual while a job starts or leaves: the peer retries */
            OV_LOG_DEBUG("fabric: link from %s for job %016llx, not served here: refused", l.hello.addr,
                         (unsigned long long) l.hello.job_key);
            l.hello.addr[0] = 0;
            link_close(l, "job not served here");
            return false;
        }
        l.job_key = l.hello.job_key;
        ov_link_challenge c;
        if (!random_bytes(c.nonce, kLinkNonce)) {
            link_close(l, "no random bytes");
            return false;
        }
        ov_link_handshake_mac(j->key, 'R', l.hello, c.nonce, c.mac);
        ov_link_session_key(j->key, l.hello.nonce, c.nonce, l.session);
        ov_link_handshake_mac(j->key, 'I', l.hello, c.nonce, l.hello_mac_i);
        const void *parts[] = {&c};
        const size_t lens[] = {sizeof(c)};
        ov_link_encode(link_type::challenge, parts, lens, 1, nullptr, 0, &l.out);
        l.state = link::await_auth;
        link_flush(l);
        return links_.count(l.id) != 0;
    }
    if (l.state == link::await_auth && t == link_type::auth) {
        ov_link_auth a;
        if (ov_link_decode_auth(p, h.len, &a) != OV_OK || !ov_mac_equal(a.mac, l.hello_mac_i, kLinkMac)) {
            link_close(l, "AUTH wrong: the peer does not hold the job's key");
            return false;
        }
        l.state = link::up;
        l.deadline = 0;
        l.seq = 0;
        OV_LOG_INFO("fabric: link from %s for job %016llx authenticated", l.hello.addr,
                    (unsigned long long) l.job_key);
        /* the peer serves the job: our own link to it should be up too */
        job *j = find_job(l.job_key);
        auto o = j ? links_.find(j->out[size_t(l.peer)]) : links_.end();
        if (o != links_.end() && o->second->state == link::down)
            connect_out(*o->second);
        return true;
    }
    if (l.state == link::up && !l.initiator) {
        job *j = find_job(l.job_key);
        if (j == nullptr) {
            link_close(l, "its job is no longer served here");
            return false;
        }
        if (t == link_type::map) {
            on_map(l, *j, p, h.len);
        } else if (t == link_type::unmap) {
            ov_link_unmap u;
            if (ov_link_decode_unmap(p, h.len, &u) != OV_OK) {
                link_close(l, "malformed UNMAP");
                return false;
            }
            auto r = j->records.find(u.vid);
            if (r != j->records.end() && r->second.conn == 0 && r->second.peer == l.peer && r->second.epoch == u.epoch)
                j->records.erase(r);
        } else if (t == link_type::ctrl) {
            ov_link_ctrl c;
            const uint8_t *blob;
            if (ov_link_decode_ctrl(p, h.len, &c, &blob) != OV_OK) {
                link_close(l, "malformed CTRL");
                return false;
            }
            auto r = j->records.find(c.dest);
            uint32_t limit = 0;
            if (r == j->records.end() || r->second.conn == 0)
                OV_LOG_WARN("fabric: job %016llx: CTRL %u -> %u from %s: rank %u not here, dropped",
                            (unsigned long long) l.job_key, c.from, c.dest, l.hello.addr, c.dest);
            else if (charge(*j, c.len, &limit) != OV_OK)
                OV_LOG_WARN("fabric: job %016llx: CTRL %u -> %u dropped: %s", (unsigned long long) l.job_key, c.from,
                            c.dest, ov_limit_name(limit));
            else
                deliver_local(r->second, c.from, blob, c.len);
        } else {
            link_close(l, "unexpected frame type");
            return false;
        }
        return links_.count(l.id) != 0;
    }
    link_close(l, "frame not allowed in this state");
    return false;
}

/* Authenticated, as initiator: every local record of the job first (the
 * peer may have missed them), then what waited. */
void ov_fabric_mappings::link_up(link &l)
{
    l.state = link::up;
    l.deadline = 0;
    l.backoff = kRetryMinNs;
    l.seq = 0;
    OV_LOG_INFO("fabric: link to %s for job %016llx authenticated", opts_.peers[size_t(l.peer)].c_str(),
                (unsigned long long) l.job_key);
    if (job *j = find_job(l.job_key))
        for (auto &r : j->records)
            if (r.second.conn) {
                ov_link_map m{r.first, r.second.epoch, uint32_t(r.second.blob.size()), 0};
                const void *parts[] = {&m, r.second.blob.data()};
                const size_t lens[] = {sizeof(m), r.second.blob.size()};
                ov_link_encode(link_type::map, parts, lens, 2, l.session, l.seq++, &l.out);
            }
    while (!l.pending.empty()) {
        auto &f = l.pending.front();
        const void *parts[] = {f.second.data()};
        const size_t lens[] = {f.second.size()};
        ov_link_encode(f.first, parts, lens, 1, l.session, l.seq++, &l.out);
        l.pending.pop_front();
    }
    l.pending_bytes = 0;
    link_flush(l);
}

void ov_fabric_mappings::link_send(link &l, link_type t, const void *hdr, size_t hlen, const uint8_t *blob,
                                   size_t blen)
{
    if (l.state != link::up) {
        if (l.pending_bytes + hlen + blen > kMaxLinkBacklog) {
            OV_LOG_WARN("fabric: link to %s for job %016llx: %zu bytes wait already, frame dropped",
                        opts_.peers[size_t(l.peer)].c_str(), (unsigned long long) l.job_key, l.pending_bytes);
            return;
        }
        std::vector<uint8_t> f(static_cast<const uint8_t *>(hdr), static_cast<const uint8_t *>(hdr) + hlen);
        if (blen)
            f.insert(f.end(), blob, blob + blen);
        l.pending_bytes += f.size();
        l.pending.emplace_back(t, std::move(f));
        return;
    }
    const void *parts[] = {hdr, blob};
    const size_t lens[] = {hlen, blen};
    ov_link_encode(t, parts, lens, blen ? 2 : 1, l.session, l.seq++, &l.out);
    if (l.out.size() - l.out_off > kMaxLinkBacklog) {
        link_close(l, "peer not reading");
        return;
    }
    link_flush(l);
}

void ov_fabric_mappings::to_peer(uint64_t job_key, int peer, link_type t, const void *hdr, size_t hlen,
                                 const uint8_t *blob, size_t blen)
{
    job *j = find_job(job_key);
    if (j == nullptr || peer < 0 || size_t(peer) >= j->out.size())
        return;
    auto it = links_.find(j->out[size_t(peer)]);
    if (it != links_.end())
        link_send(*it->second, t, hdr, hlen, blob, blen);
}

void ov_fabric_mappings::to_peers(uint64_t job_key, link_type t, const void *hdr, size_t hlen, const uint8_t *blob,
                                  size_t blen)
{
    for (size_t p = 0; p < opts_.peers.size(); p++)
        to_peer(job_key, int(p), t, hdr, hlen, blob, blen);
}

void ov_fabric_mappings::link_flush(link &l)
{
    while (l.out_off < l.out.size() && l.state != link::connecting && l.fd.valid()) {
        ssize_t n = ::send(l.fd.get(), l.out.data() + l.out_off, l.out.size() - l.out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            link_close(l, strerror(errno));
            return;
        }
        l.out_off += size_t(n);
    }
    if (l.out_off == l.out.size()) {
        l.out.clear();
        l.out_off = 0;
        if (l.closing) {
            link_close(l, "job no longer served here");
            return;
        }
    }
    link_watch(l);
}

/* EPOLLOUT only while bytes wait (or the connect is pending). */
void ov_fabric_mappings::link_watch(link &l)
{
    if (!l.fd.valid())
        return;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (l.out.empty() && l.state != link::connecting ? 0u : uint32_t(EPOLLOUT));
    ev.data.u64 = l.id;
    epoll_ctl(ep_.get(), EPOLL_CTL_MOD, l.fd.get(), &ev);
}

/* An initiator whose job is still served here goes down and retries (its
 * waiting frames kept); anything else is removed. */
void ov_fabric_mappings::link_close(link &l, const char *why)
{
    const bool retry = l.initiator && !l.closing && find_job(l.job_key) != nullptr;
    const char *who = l.initiator ? opts_.peers[size_t(l.peer)].c_str() : (l.hello.addr[0] ? l.hello.addr : "?");
    if (l.state == link::up)
        OV_LOG_INFO("fabric: link %s %s (job %016llx): %s", l.initiator ? "to" : "from", who,
                    (unsigned long long) l.job_key, why);
    else if (!l.initiator && l.state == link::await_auth)
        OV_LOG_WARN("fabric: link %s %s failed its handshake: %s", l.initiator ? "to" : "from", who, why);
    if (l.fd.valid())
        epoll_ctl(ep_.get(), EPOLL_CTL_DEL, l.fd.get(), nullptr);
    l.fd.reset();
    if (retry) {
        l.state = link::down;
        l.deadline = 0;
        l.in.clear();
        l.out.clear();
        l.out_off = 0;
        l.retry_at = ov_now_ns() + l.backoff;
        l.backoff = std::min(l.backoff * 2, kRetryMaxNs);
        arm_timer(); /* closed outside on_ready too (a guest's send) */
        return;
    }
    if (!l.initiator)
        in_links_--;
    links_.erase(l.id);
}

/* The job has no local endpoint left: forget its key and records; its
 * outgoing links deliver what they hold (the UNMAPs), then close. */
void ov_fabric_mappings::job_gone(uint64_t job_key)
{
    std::vector<uint32_t> out = jobs_[job_key].out;
    jobs_.erase(job_key);
    for (auto &e : links_)
        if (!e.second->initiator && e.second->job_key == job_key)
            out.push_back(e.first);
    for (uint32_t id : out) {
        auto it = links_.find(id);
        if (it == links_.end())
            continue;
        link &l = *it->second;
        l.closing = true;
        if (!l.initiator || l.state != link::up || l.out.empty())
            link_close(l, "job no longer served here");
    }
}

size_t ov_fabric_mappings::links_up() const
{
    size_t n = 0;
    for (auto &e : links_)
        n += e.second->state == link::up;
    return n;
}
