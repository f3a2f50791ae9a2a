/*
 * control.cc — control-plane message handling (one connection = one process).
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "backend.h"
#include "log.h"
#include "ov_job_id.h"
#include "ov_sha256.h"
#include "thread_creds.h"

#define OV_CTL_MAX_REQ 256 /* no request payload is larger, but a FABRIC_* blob */

static uint32_t max_request(uint16_t type)
{
    return type == OV_MSG_FABRIC_PUBLISH || type == OV_MSG_FABRIC_SEND ? OV_CTL_MAX_REQ + OV_FABRIC_BLOB_MAX
                                                                       : OV_CTL_MAX_REQ;
}

void ov_backend::on_readable(conn *c)
{
    uint8_t buf[4096];
    for (;;) {
        int nfds = 0; /* frontends never send fds: any that come are closed */
        ssize_t n = ov_recv_keep_fds(c->fd.get(), buf, sizeof(buf), nullptr, &nfds, 0);
        if (n == 0) {
            close_conn(c, "peer closed the connection");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            close_conn(c, "read error");
            return;
        }
        c->in.insert(c->in.end(), buf, buf + n);
        if (c->in.size() > 64 * 1024) {
            close_conn(c, "flooding the control socket");
            return;
        }
    }
    handle_messages(c);
}

/* Handles at most opts_.ctl_per_pass complete messages of c.  If more wait,
 * c goes on backlog_ with its socket out of the read set (nothing more is
 * read from it until drain_backlog() has handled them), so one connection's
 * burst is served between ring passes, not ahead of every other guest's
 * data path.  A message that must wait for memory the reclaimer is still
 * freeing (conn::parked) stays unanswered in `in`, with the socket out of
 * the read set likewise, until on_reclaimed() puts c back on backlog_.
 * Also keeps c's stall clock: running while a message is incomplete or no
 * HELLO came (check_stalls). */
void ov_backend::handle_messages(conn *c)
{
    size_t off = 0;
    uint32_t handled = 0;
    bool more = false;
    while (!c->doomed && c->in.size() - off >= sizeof(ov_msg_hdr)) {
        ov_msg_hdr h;
        std::memcpy(&h, c->in.data() + off, sizeof(h));
        ov_status_t s = ov_msg_check_hdr(h, false);
        if (s == OV_OK && h.len > max_request(h.type))
            s = OV_ERR_PROTO;
        if (s != OV_OK) {
            OV_LOG_WARN("conn %u (pid %u): bad message header (type %u len %u): %s", c->id,
                        c->peer_pid, h.type, h.len, ov_strerror(s));
            /* The contract's error reply, whatever the header held (bad
             * magic, unknown type): its type and seq echoed as a reply. */
            ov_simple_rep rep{s, 0};
            if (reply(c, h, &rep, sizeof(rep)))
                close_conn(c, "protocol error");
            return;
        }
        if (c->in.size() - off - sizeof(h) < h.len)
            break;
        if (handled == opts_.ctl_per_pass) {
            more = true;
            break;
        }
        c->parked = false;
        dispatch(c, h, c->in.data() + off + sizeof(h));
        if (c->parked)
            break; /* unanswered: handled again once the reclaimer is done */
        off += sizeof(h) + h.len;
        handled++;
    }
    if (c->doomed)
        return;
    c->in.erase(c->in.begin(), c->in.begin() + long(off));
    const bool hold = more || c->parked; /* read nothing more until then */
    if (hold != c->backlogged) {
        epoll_event ev{};
        ev.events = (hold ? 0u : uint32_t(EPOLLIN)) | EPOLLRDHUP;
        ev.data.u64 = uint64_t(OV_EV_CONN) << 32 | c->id;
        epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, c->fd.get(), &ev);
        c->backlogged = hold;
        if (more)
            backlog_.push_back(c->id);
        else if (hold)
            parked_.push_back(c->id);
    }
    set_stalled(c, !hold && (!c->in.empty() || c->state == 0));
    if (!btl_deferred_.empty()) /* c's messages may hold the registrations they wait for */
        retry_btl_deferred();
}

void ov_backend::drain_backlog()
{
    std::vector<uint32_t> ids;
    ids.swap(backlog_);
    ov_creds_restore(); /* control work runs as the backend, not as the last single-copy client */
    for (uint32_t id : ids) {
        auto it = conns_.find(id);
        if (it == conns_.end() || it->second->doomed)
            continue;
        conn *c = it->second.get();
        c->backlogged = false; /* handle_messages re-queues it if a burst remains */
        handle_messages(c);
        if (!c->doomed && !c->backlogged) { /* drained: read its socket again */
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = uint64_t(OV_EV_CONN) << 32 | c->id;
            epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, c->fd.get(), &ev);
        }
    }
}

bool ov_backend::reply(conn *c, const ov_msg_hdr &h, const void *p, uint32_t len, int fd)
{
    ov_status_t s = ov_msg_send(c->fd.get(), uint16_t(h.type | OV_MSG_REPLY), h.seq, p, len,
                                fd >= 0 ? &fd : nullptr, fd >= 0 ? 1 : 0, true);
    if (s != OV_OK) {
        close_conn(c, "cannot send a reply (peer not reading)");
        return false;
    }
    return true;
}

void ov_backend::dispatch(conn *c, const ov_msg_hdr &h, const uint8_t *p)
{
    ov_simple_rep simple{OV_OK, 0};
    bool proto_error = false;
    switch (h.type) {
    case OV_MSG_HELLO: {
        ov_hello_rep rep{};
        rep.status = c->state != 0 ? OV_ERR_STATE : do_hello(c, p, h.len, &rep);
        proto_error = rep.status == OV_ERR_PROTO;
        reply(c, h, &rep, sizeof(rep));
        break;
    }
    case OV_MSG_ATTACH: {
        ov_attach_rep rep{};
        rep.status = c->state != 1 || c->role != OV_ROLE_OSC ? OV_ERR_STATE : do_attach(c, p, h.len, &rep);
        proto_error = rep.status == OV_ERR_PROTO;
        bool pass = rep.status == OV_OK && rep.map_mode == OV_MAP_MEMFD; /* IVSHMEM: nothing to pass */
        reply(c, h, &rep, sizeof(rep), pass ? c->g->region->fd() : -1);
        break;
    }
    case OV_MSG_RINGS: {
        ov_rings_rep rep{};
        ov_fd db;
        rep.status = c->state != 2 ? OV_ERR_STATE : do_rings(c, p, h.len, &rep, &db);
        proto_error = rep.status == OV_ERR_PROTO;
        bool pass = rep.status == OV_OK && ov_comm_can_pass_fds(c->kind); /* tcp: KICK instead */
        reply(c, h, &rep, sizeof(rep), pass ? db.get() : -1);
        break;
    }
    case OV_MSG_WIN_CREATE: {
        ov_win_create_rep rep{};
        rep.status = c->state != 3 ? OV_ERR_STATE : do_win_create(c, p, h.len, &rep);
        if (c->parked)
            break; /* answered when the memory it waits for is back (on_reclaimed) */
        proto_error = rep.status == OV_ERR_PROTO;
        reply(c, h, &rep, sizeof(rep));
        break;
    }
    case OV_MSG_WIN_REGISTER: {
        ov_win_create_rep rep{};
        rep.status = c->state != 3 ? OV_ERR_STATE : do_win_register(c, p, h.len, &rep);
        proto_error = rep.status == OV_ERR_PROTO;
        reply(c, h, &rep, sizeof(rep));
        break;
    }
    case OV_MSG_WIN_FREE:
        simple.status = c->state != 3 ? OV_ERR_STATE : do_win_free(c, p, h.len);
        proto_error = simple.status == OV_ERR_PROTO;
        reply(c, h, &simple, sizeof(simple));
        break;
    case OV_MSG_GRANT:
    case OV_MSG_REVOKE:
        simple.status = c->state != 3 ? OV_ERR_STATE : do_grant(c, p, h.len, h.type == OV_MSG_GRANT);
        proto_error = simple.status == OV_ERR_PROTO;
        reply(c, h, &simple, sizeof(simple));
        break;
    case OV_MSG_STATUS: {
        ov_status_req q;
        if (ov_decode_status(p, h.len, &q) != OV_OK || !c->admin) {
            simple.status = c->admin ? OV_ERR_PROTO : OV_ERR_DENIED;
            proto_error = simple.status == OV_ERR_PROTO;
            reply(c, h, &simple, sizeof(simple));
            break;
        }
        ov_status_snapshot snap;
        snapshot(&snap);
        std::vector<uint8_t> out; /* one page: fits the socket buffer, so the send does not block */
        ov_status_encode(snap, &out, q.first, OV_STATUS_PAGE);
        reply(c, h, out.data(), uint32_t(out.size()));
        break;
    }
    case OV_MSG_BTL_SEGMENT: {
        ov_btl_segment_rep rep{};
        int fd = -1;
        rep.status = c->state != 1 || c->role != OV_ROLE_BTL ? OV_ERR_STATE : do_btl_segment(c, p, h.len, &rep, &fd);
        proto_error = rep.status == OV_ERR_PROTO;
        reply(c, h, &rep, sizeof(rep), rep.status == OV_OK ? fd : -1);
        break;
    }
    case OV_MSG_FABRIC_PUBLISH:
    case OV_MSG_FABRIC_SEND:
    case OV_MSG_FABRIC_TAKE:
    case OV_MSG_FABRIC_LOOKUP:
        do_fabric(c, h, p); /* replies, and closes c on a malformed request */
        return;
    case OV_MSG_BTL_REG:
    case OV_MSG_BTL_DEREG:
    case OV_MSG_BTL_RDMA: /* btl_rdma.cc replies (maybe later: BTL_RDMA may wait for its owner's BTL_REG) */
        dispatch_btl_rdma(c, h, p);
        return;
    case OV_MSG_KICK: /* no reply: waking us (a readable socket) was its whole job */
        if (h.len == 0)
            return;
        simple.status = OV_ERR_PROTO;
        proto_error = true;
        reply(c, h, &simple, sizeof(simple));
        break;
    case OV_MSG_DETACH:
        simple.status = ov_decode_empty(p, h.len);
        if (reply(c, h, &simple, sizeof(simple)))
            close_conn(c, "detached");
        return;
    default:
        simple.status = OV_ERR_PROTO;
        proto_error = true;
        reply(c, h, &simple, sizeof(simple));
    }
    if (proto_error && !c->doomed) {
        OV_LOG_WARN("conn %u (pid %u): malformed message type %u", c->id, c->peer_pid, h.type);
        close_conn(c, "protocol error");
    }
}

/* Single copy needs a kernel-visible process: a unix peer whose pid we
 * know, whose image single_copy.h may bind (uniform ids, dumpable, an
 * identity this backend can act as). */
bool ov_backend::offer_single_copy(conn *c)
{
    if (!opts_.single_copy || c->kind != OV_COMM_UNIX || c->peer_pid == 0)
        return false;
    ov_status_t s = c->peer_mem.open(pid_t(c->peer_pid));
    if (s == OV_OK)
        return true;
    static bool told = false; /* a configuration matter: say it once, loudly */
    if (s == OV_ERR_DENIED && !told) {
        told = true;
        OV_LOG_WARN("single copy off for pid %u: its image cannot be bound (a setuid/setgid or undumpable "
                    "process, or one this backend cannot act as: run the backend as root); it falls back to "
                    "staging through the region", c->peer_pid);
    } else {
        OV_LOG_DEBUG("conn %u (pid %u): no single copy: %s", c->id, c->peer_pid, ov_strerror(s));
    }
    return false;
}

/* May c claim rank r.rank of the job with this public key and secret
 * digest, from guest r.guest?  (ov_protocol.h, identity.)  The secret is
 * never logged: only the public key. */
ov_status_t ov_backend::check_job_claim(const conn *c, const ov_hello_req &r, uint64_t key,
                                        const unsigned char *digest)
{
    auto j = jobs_.find(key);
    if (j == jobs_.end())
        return OV_OK; /* a new job: the first claim binds */
    if (std::memcmp(j->second.digest, digest, sizeof(j->second.digest)) != 0) {
        OV_LOG_WARN("conn %u (pid %u): job %016llx is held by another secret: denied", c->id, c->peer_pid,
                    (unsigned long long) key);
        return OV_ERR_DENIED;
    }
    for (auto &o : conns_)
        if (o.second.get() != c && !o.second->doomed && o.second->state >= 1 && o.second->job_key == key &&
            o.second->rank == r.rank && o.second->role == r.role) {
            OV_LOG_WARN("conn %u (pid %u): rank %u of job %016llx is held by conn %u (guest %s): refused", c->id,
                        c->peer_pid, r.rank, (unsigned long long) key, o.second->id, o.second->guest_name.c_str());
            return OV_ERR_EXISTS;
        }
    auto b = j->second.rank_guest.find(r.rank);
    if (b != j->second.rank_guest.end() && b->second != r.guest) {
        OV_LOG_WARN("conn %u (pid %u): rank %u of job %016llx belongs to guest %s, claimed from %s: denied", c->id,
                    c->peer_pid, r.rank, (unsigned long long) key, b->second.c_str(), r.guest);
        return OV_ERR_DENIED;
    }
    /* Bindings last as long as the job: a job that claims rank after rank
     * must not grow them without bound (no host holds more ranks than it
     * has process slots). */
    if (b == j->second.rank_guest.end() && j->second.rank_guest.size() >= opts_.quota.job_procs) {
        OV_LOG_WARN("conn %u (pid %u): job %016llx has bound %zu ranks here, the most a job may (--max-job-procs): "
                    "refused", c->id, c->peer_pid, (unsigned long long) key, j->second.rank_guest.size());
        return OV_ERR_NOMEM;
    }
    return OV_OK;
}

ov_status_t ov_backend::do_hello(conn *c, const uint8_t *p, uint32_t len, ov_hello_rep *rep)
{
    ov_hello_req r;
    if (ov_decode_hello(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    ov_job_secret secret;
    std::memcpy(secret.b, r.job_secret, sizeof(secret.b));
    const uint64_t key = ov_job_public_key(secret);
    unsigned char digest[OV_SHA256_BYTES];
    const void *parts[] = {secret.b};
    const size_t lens[] = {sizeof(secret.b)};
    ov_sha256(parts, lens, 1, digest);
    std::memset(&secret, 0, sizeof(secret));
    std::memset(r.job_secret, 0, sizeof(r.job_secret));
    if (ov_status_t s = check_job_claim(c, r, key, digest); s != OV_OK)
        return s;
    /* single copy holds /proc/PID/mem */
    if (ov_status_t s = fds_for_client(c, 1, &rep->proc_id, "process (open files)"); s != OV_OK)
        return s;
    std::string name(r.guest);
    if (c->kind == OV_COMM_UNIX) {
        if (c->ns_key.empty()) {
            OV_LOG_WARN("conn %u: cannot read the peer's namespace: denied", c->id);
            return OV_ERR_DENIED;
        }
        auto it = ns_bind_.find(name);
        if (it != ns_bind_.end() && it->second.first != c->ns_key) {
            OV_LOG_WARN("conn %u (pid %u) claims guest '%s' from another namespace (%s, bound to %s): denied",
                        c->id, c->peer_pid, name.c_str(), c->ns_key.c_str(), it->second.first.c_str());
            return OV_ERR_DENIED;
        }
    }
    /* A process counts once, however many connections it holds (osc's and
     * btl vmshm's): the first one of its identity is charged. */
    auto held = proc_conns_.find(proc_identity{c->tenant, key, r.rank, c->peer_pid});
    if (held == proc_conns_.end()) {
        ov_status_t q = quota_error(quota_.admit_proc(c->tenant, key), &rep->proc_id, c, "process");
        if (q != OV_OK)
            return q;
        proc_conns_.emplace(proc_identity{c->tenant, key, r.rank, c->peer_pid}, 1u);
    } else {
        held->second++;
    }
    if (c->kind == OV_COMM_UNIX) {
        auto it = ns_bind_.find(name);
        if (it == ns_bind_.end())
            ns_bind_.emplace(name, std::make_pair(c->ns_key, 1u));
        else
            it->second.second++;
    }
    job &j = jobs_[key];
    if (j.nprocs++ == 0)
        std::memcpy(j.digest, digest, sizeof(j.digest));
    j.rank_guest.emplace(r.rank, name);
    c->job_key = key;
    c->rank = r.rank;
    c->guest_pid = r.pid;
    c->role = r.role;
    /* Either role may reach its process's memory (osc: descriptors naming
     * local addresses; btl: BTL_RDMA), so both get the same pinned image,
     * identity checks and per-thread credentials (single_copy.h). */
    const bool single_copy = offer_single_copy(c);
    const uint32_t copy_feats = c->role == OV_ROLE_OSC ? OV_FEAT_SINGLE_COPY | OV_FEAT_USER_WINDOWS : OV_FEAT_BTL_RDMA;
    c->features = OV_FEAT_STREAM | OV_FEAT_INLINE | OV_FEAT_QUIET | OV_FEAT_BATCH | OV_FEAT_FABRIC | (single_copy ? copy_feats : 0);
    c->state = 1;
    c->guest_name = name;
    rep->proc_id = c->id;
    rep->backend_instance = instance_;
    rep->layout_version = OV_LAYOUT_VERSION;
    rep->features = c->features;
    OV_LOG_DEBUG("conn %u: hello job %016llx rank %u guest %s pid %u features %#x", c->id,
                 (unsigned long long) key, r.rank, name.c_str(), c->peer_pid, c->features);
    return OV_OK;
}

/* A refused admission: one rate-limited log line naming who and what, and
 * the status + limit for the reply (ov_protocol.h "quotas"). */
ov_status_t ov_backend::quota_error(ov_limit l, uint32_t *limit, const conn *c, const char *what)
{
    if (l == OV_LIMIT_NONE)
        return OV_OK;
    OV_LOG_WARN("quota: %s refused to conn %u (guest %s, job %016llx): %s", what, c->id, c->tenant.c_str(),
                (unsigned long long) c->job_key, ov_limit_name(l));
    *limit = l;
    return OV_ERR_QUOTA;
}

/* The segment service decides; this only maps the connection to its
 * identity: a container process (unix, the fd), or a declared VM (tcp, a
 * device plugged into that VM; the VM identity rule of vm.h). */
ov_status_t ov_backend::do_btl_segment(conn *c, const uint8_t *p, uint32_t len, ov_btl_segment_rep *rep, int *fd)
{
    ov_btl_segment_req r;
    if (ov_decode_btl_segment(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    const ov_vm *vm = nullptr;
    for (const ov_vm &v : vms_)
        if (v.decl.name == c->guest_name)
            vm = &v;
    if (!ov_comm_can_pass_fds(c->kind) && !vm)
        return OV_ERR_NO_FD_TRANSPORT;
    if (vm) {
        const std::string &want = !vm->decl.peer.empty() ? vm->decl.peer : vm->bound_addr;
        if (!ov_comm_can_pass_fds(c->kind) && !c->peer_addr.empty() && (want.empty() || c->peer_addr == want))
            return btl_segments_->grant(btl_member(*c), r, rep, fd, &vm->decl);
        OV_LOG_WARN("conn %u from %s claims VM guest '%s' (peer %s) for a btl segment: denied", c->id,
                    c->peer_addr.empty() ? "a unix socket" : c->peer_addr.c_str(), vm->decl.name.c_str(),
                    want.empty() ? "any" : want.c_str());
        return OV_ERR_DENIED;
    }
    ov_status_t s = btl_segments_->grant(btl_member(*c), r, rep, fd);
    if (s != OV_OK)
        OV_LOG_DEBUG("conn %u (pid %u): btl segment refused: %s", c->id, c->peer_pid, ov_strerror(s));
    return s;
}
