/*
 * btl_rdma.cc — BTL_REG / BTL_DEREG / BTL_RDMA: btl vmshm's single copy
 * between two processes of one job (contract: common/ov_btl_rdma_proto.h;
 * the grants: btl_registrations.h; the memory access: single_copy.h).
 */
#include <sys/ioctl.h>

#include <cstring>

#include "backend.h"
#include "log.h"
#include "thread_creds.h"

namespace {

/* Staged copy: a chunk that stays in the cache between the read from one
 * process and the write into the other, so memory traffic is one copy's. */
constexpr uint64_t kBounceBytes = uint64_t(256) << 10;

template <typename T> bool decode_exact(const uint8_t *p, uint32_t len, T *out)
{
    if (len != sizeof(T))
        return false;
    std::memcpy(out, p, sizeof(T));
    return true;
}

} // namespace

bool ov_backend::has_unread(conn *c)
{
    if (!c->in.empty())
        return true;
    int n = 0;
    return c->fd.valid() && ioctl(c->fd.get(), FIONREAD, &n) == 0 && n > 0;
}

ov_backend::conn *ov_backend::btl_conn_of(uint64_t job_key, uint32_t rank)
{
    for (auto &o : conns_) {
        conn *x = o.second.get();
        if (!x->doomed && x->state >= 1 && x->role == OV_ROLE_BTL && x->job_key == job_key && x->rank == rank)
            return x;
    }
    return nullptr;
}

void ov_backend::dispatch_btl_rdma(conn *c, const ov_msg_hdr &h, const uint8_t *p)
{
    ov_simple_rep simple{OV_OK, 0};
    const bool allowed = c->state >= 1 && c->role == OV_ROLE_BTL && (c->features & OV_FEAT_BTL_RDMA) != 0;
    bool malformed = false;
    switch (h.type) {
    case OV_MSG_BTL_REG: {
        ov_btl_reg_req r;
        malformed = !decode_exact(p, h.len, &r);
        simple.status = malformed ? OV_ERR_PROTO : !allowed ? OV_ERR_STATE : btl_regs_.add(btl_member(*c), r);
        break;
    }
    case OV_MSG_BTL_DEREG: {
        ov_btl_dereg_req r;
        malformed = !decode_exact(p, h.len, &r);
        simple.status = malformed ? OV_ERR_PROTO : !allowed ? OV_ERR_STATE : btl_regs_.remove(c->id, r);
        break;
    }
    default: { /* OV_MSG_BTL_RDMA */
        ov_btl_rdma_req r;
        malformed = !decode_exact(p, h.len, &r);
        if (malformed || !allowed) {
            ov_btl_rdma_rep rep{malformed ? OV_ERR_PROTO : OV_ERR_STATE, 0, 0};
            reply(c, h, &rep, sizeof(rep));
            break;
        }
        if (!btl_rdma_run(c, h, r, false)) {
            OV_LOG_DEBUG("conn %u: btl rdma seq %u waits for rank %u's registration %u", c->id, h.seq, r.peer,
                         r.handle);
            btl_deferred_.push_back({c->id, h, r});
        }
        return;
    }
    }
    if (h.type != OV_MSG_BTL_RDMA && simple.status != OV_OK) { /* success is silent (ov_btl_rdma_proto.h) */
        OV_LOG_DEBUG("conn %u (pid %u): message %u refused: %s", c->id, c->peer_pid, h.type,
                     ov_strerror(ov_status_t(simple.status)));
        reply(c, h, &simple, sizeof(simple));
    }
    if (malformed && !c->doomed) {
        OV_LOG_WARN("conn %u (pid %u): malformed message type %u", c->id, c->peer_pid, h.type);
        close_conn(c, "protocol error");
    }
}

/* Checks r against the owner's registration and copies.  false: not now
 * (an unknown handle whose owner still has unread control bytes, which may
 * register it; only when !last_try); true: replied. */
bool ov_backend::btl_rdma_run(conn *c, const ov_msg_hdr &h, const ov_btl_rdma_req &r, bool last_try)
{
    uint32_t owner_id = 0;
    ov_status_t s = btl_regs_.check(btl_member(*c), r, &owner_id);
    if (s == OV_ERR_NO_WINDOW && !last_try) {
        conn *o = btl_conn_of(c->job_key, r.peer);
        if (o && has_unread(o))
            return false;
    }
    uint64_t moved = 0;
    if (s == OV_OK && r.len != 0) {
        auto it = conns_.find(owner_id);
        conn *o = it == conns_.end() || it->second->doomed ? nullptr : it->second.get();
        if (!o || !o->peer_mem.usable()) {
            s = OV_ERR_NO_WINDOW;
        } else {
            const bool get = r.op == OV_BTL_GET;
            const ov_peer_mem &from = get ? o->peer_mem : c->peer_mem;
            const ov_peer_mem &to = get ? c->peer_mem : o->peer_mem;
            const uint64_t from_addr = get ? r.remote_addr : r.local_addr;
            const uint64_t to_addr = get ? r.local_addr : r.remote_addr;
            if (btl_bounce_.size() < kBounceBytes)
                btl_bounce_.resize(kBounceBytes);
            while (s == OV_OK && moved < r.len) {
                const uint64_t n = r.len - moved < kBounceBytes ? r.len - moved : kBounceBytes;
                if (from.read(from_addr + moved, btl_bounce_.data(), n) != OV_OK)
                    s = get ? OV_ERR_BOUNDS : OV_ERR_LOCAL_ACCESS;
                else if (to.write(to_addr + moved, btl_bounce_.data(), n) != OV_OK)
                    s = get ? OV_ERR_LOCAL_ACCESS : OV_ERR_BOUNDS;
                else
                    moved += n;
            }
        }
    }
    ov_creds_restore(); /* the event loop's next work is the backend's own (thread_creds.h) */
    c->requests++;
    c->bytes += moved;
    if (s != OV_OK) {
        c->errors++;
        OV_LOG_DEBUG("conn %u (pid %u): btl %s of %llu bytes from rank %u: %s", c->id, c->peer_pid,
                     r.op == OV_BTL_GET ? "get" : "put", (unsigned long long) r.len, r.peer, ov_strerror(s));
    }
    OV_LOG_DEBUG("conn %u: btl rdma seq %u op %u len %llu: %s", c->id, h.seq, r.op, (unsigned long long) r.len,
                 ov_strerror(s));
    ov_btl_rdma_rep rep{s, 0, s == OV_OK ? r.len : moved};
    reply(c, h, &rep, sizeof(rep));
    return true;
}

/* After any connection's control messages were handled: run the requests
 * that waited for a registration, or refuse them once their owner has no
 * unread bytes left (ov_btl_rdma_proto.h, ordering). */
void ov_backend::retry_btl_deferred()
{
    std::vector<btl_deferred> waiting;
    waiting.swap(btl_deferred_);
    for (const btl_deferred &d : waiting) {
        auto it = conns_.find(d.requester);
        if (it == conns_.end() || it->second->doomed)
            continue;
        conn *c = it->second.get();
        conn *o = btl_conn_of(c->job_key, d.req.peer);
        const bool owner_may_still_register = o && has_unread(o);
        if (!btl_rdma_run(c, d.h, d.req, !owner_may_still_register))
            btl_deferred_.push_back(d);
    }
}
