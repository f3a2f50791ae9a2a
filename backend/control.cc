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

#define OV_CTL_MAX_REQ 256 /* no request payload is larger */

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
    size_t off = 0;
    while (!c->doomed && c->in.size() - off >= sizeof(ov_msg_hdr)) {
        ov_msg_hdr h;
        std::memcpy(&h, c->in.data() + off, sizeof(h));
        ov_status_t s = ov_msg_check_hdr(h, false);
        if (s == OV_OK && h.len > OV_CTL_MAX_REQ)
            s = OV_ERR_PROTO;
        if (s != OV_OK) {
            OV_LOG_WARN("conn %u (pid %u): bad message header (type %u len %u): %s", c->id,
                        c->peer_pid, h.type, h.len, ov_strerror(s));
            ov_simple_rep rep{s, 0};
            if (h.magic == OV_MSG_MAGIC && (h.type & ~OV_MSG_REPLY) > 0 &&
                (h.type & ~OV_MSG_REPLY) < OV_MSG_TYPE_MAX) {
                h.type &= uint16_t(~OV_MSG_REPLY);
                reply(c, h, &rep, sizeof(rep));
            }
            close_conn(c, "protocol error");
            return;
        }
        if (c->in.size() - off - sizeof(h) < h.len)
            break;
        dispatch(c, h, c->in.data() + off + sizeof(h));
        off += sizeof(h) + h.len;
    }
    if (!c->doomed)
        c->in.erase(c->in.begin(), c->in.begin() + long(off));
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
        if (ov_decode_empty(p, h.len) != OV_OK || !c->admin) {
            simple.status = c->admin ? OV_ERR_PROTO : OV_ERR_DENIED;
            proto_error = simple.status == OV_ERR_PROTO;
            reply(c, h, &simple, sizeof(simple));
            break;
        }
        ov_status_snapshot snap;
        snapshot(&snap);
        std::vector<uint8_t> out;
        ov_status_encode(snap, &out);
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
 * know, that we may ptrace-access (probed once, here). */
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
        OV_LOG_WARN("single copy off for pid %u: no ptrace permission (run the backend as root or with "
                    "CAP_SYS_PTRACE); guests fall back to staging through the region", c->peer_pid);
    } else {
        OV_LOG_DEBUG("conn %u (pid %u): no single copy: %s", c->id, c->peer_pid, ov_strerror(s));
    }
    return false;
}

ov_status_t ov_backend::do_hello(conn *c, const uint8_t *p, uint32_t len, ov_hello_rep *rep)
{
    ov_hello_req r;
    if (ov_decode_hello(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    if (nprocs_ >= opts_.max_procs)
        return OV_ERR_NOMEM;
    for (auto &o : conns_)
        if (o.second.get() != c && !o.second->doomed && o.second->state >= 1 &&
            o.second->job_key == r.job_key && o.second->rank == r.rank && o.second->role == r.role)
            return OV_ERR_EXISTS;
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
        if (it == ns_bind_.end())
            ns_bind_.emplace(name, std::make_pair(c->ns_key, 1u));
        else
            it->second.second++;
    }
    c->job_key = r.job_key;
    c->rank = r.rank;
    c->guest_pid = r.pid;
    c->role = r.role;
    c->features = OV_FEAT_STREAM | OV_FEAT_INLINE | (offer_single_copy(c) ? OV_FEAT_SINGLE_COPY | OV_FEAT_USER_WINDOWS : 0);
    c->state = 1;
    c->guest_name = name;
    nprocs_++;
    rep->proc_id = c->id;
    rep->backend_instance = instance_;
    rep->layout_version = OV_LAYOUT_VERSION;
    rep->features = c->features;
    OV_LOG_DEBUG("conn %u: hello job %016llx rank %u guest %s pid %u features %#x", c->id,
                 (unsigned long long) r.job_key, r.rank, name.c_str(), c->peer_pid, c->features);
    return OV_OK;
}

/* The segment service decides; this only maps the connection to its
 * identity and refuses transports that cannot carry the fd. */
ov_status_t ov_backend::do_btl_segment(conn *c, const uint8_t *p, uint32_t len, ov_btl_segment_rep *rep, int *fd)
{
    ov_btl_segment_req r;
    if (ov_decode_btl_segment(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    if (!ov_comm_can_pass_fds(c->kind))
        return OV_ERR_NO_FD_TRANSPORT;
    ov_status_t s = btl_segments_->grant(btl_member(*c), r, rep, fd);
    if (s != OV_OK)
        OV_LOG_DEBUG("conn %u (pid %u): btl segment refused: %s", c->id, c->peer_pid, ov_strerror(s));
    return s;
}
