/*
 * ibvirt_control.cc — lifecycle, memory registration, control blobs and the
 * migration steps of ib_virt.h; the state machine decides, this file acts.
 */
#include "ibvirt_nic.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

using namespace ibvirt;

namespace ibvirt {

static void queue_ctrl(ibvirt_nic *nic, uint32_t dest, CtrlType type, uint64_t count)
{
    Ctrl c{};
    c.h.type = uint16_t(type);
    c.h.from = nic->attr.self;
    c.h.epoch = nic->epoch;
    c.h.count = count;
    std::vector<char> bytes;
    encode_ctrl(c, &bytes);
    nic->ctrl_out.emplace_back(dest, std::move(bytes));
}

static Ctrl mapping(const ibvirt_nic *nic)
{
    Ctrl c{};
    c.h.type = uint16_t(CtrlType::publish);
    c.h.from = nic->attr.self;
    c.h.epoch = nic->epoch;
    c.h.addrlen = uint32_t(nic->fab.addrlen);
    std::memcpy(c.h.addr, nic->fab.addr.data(), nic->fab.addrlen);
    for (uint32_t k = 0; k < nic->keys.max_keys(); ++k) {
        const LocalRegion *r = nic->keys.slot(k);
        if (r->buf && (r->access & IBVIRT_ACCESS_REMOTE))
            c.keys.push_back(WireKey{k, 0, r->phys_key,
                                     nic->virt_addr ? uint64_t(uintptr_t(r->buf)) : 0, r->len});
    }
    return c;
}

void run_actions(ibvirt_nic *nic)
{
    if (!nic->mig.has_actions())
        return;
    for (const Action &a : nic->mig.take_actions()) {
        switch (a.kind) {
        case Action::send_suspend:
            queue_ctrl(nic, a.peer, CtrlType::suspend, 0);
            break;
        case Action::send_suspend_ack:
            queue_ctrl(nic, a.peer, CtrlType::suspend_ack, a.count);
            break;
        case Action::send_publish: {
            std::vector<char> bytes;
            encode_ctrl(mapping(nic), &bytes);
            nic->held_publish[a.peer] = std::move(bytes); /* sent when the hello completes */
            if (post_hello(nic, a.peer) != IBVIRT_OK) {
                nic->ctrl_out.emplace_back(a.peer, std::move(nic->held_publish[a.peer]));
                nic->held_publish[a.peer].clear();
            }
            break;
        }
        case Action::send_publish_ack:
            queue_ctrl(nic, a.peer, CtrlType::publish_ack, 0);
            break;
        case Action::replay:
            nic->to_post.push_back(a.op);
            break;
        case Action::fail_op:
            complete_failed(nic, &nic->ops[a.op], IBVIRT_ERR_PEER_DEAD);
            break;
        case Action::peer_failed:
            std::fprintf(stderr, "ib-virt: vid %u: peer %u is dead (reported or missed a deadline; "
                         "migration state %d)\n", nic->attr.self, a.peer, int(nic->mig.phase()));
            break;
        case Action::relocate_ready:
        case Action::migration_done:
            break; /* visible through ibvirt_migrate_state_of / the failed ops */
        }
    }
}

} // namespace ibvirt

extern "C" const char *ibvirt_strerror(int status)
{
    switch (status) {
    case IBVIRT_OK: return "success";
    case IBVIRT_ERR_INVAL: return "invalid argument";
    case IBVIRT_ERR_NODEV: return "provider not available (no device)";
    case IBVIRT_ERR_NOMEM: return "out of memory or table full";
    case IBVIRT_ERR_AGAIN: return "resources busy, poll and retry";
    case IBVIRT_ERR_FABRIC: return "libfabric error";
    case IBVIRT_ERR_UNSUPPORTED: return "not offered by the provider";
    case IBVIRT_ERR_NOPEER: return "peer has no mapping";
    case IBVIRT_ERR_NOKEY: return "unknown memory key or out of its region";
    case IBVIRT_ERR_STATE: return "not allowed in this migration state";
    case IBVIRT_ERR_PEER_DEAD: return "peer dead or missed a migration deadline";
    case IBVIRT_ERR_TRUNC: return "message truncated";
    default: return "unknown ib-virt status";
    }
}

extern "C" int ibvirt_open(const ibvirt_open_attr *attr, ibvirt_nic **out)
try {
    if (attr == nullptr || out == nullptr || attr->provider == nullptr || attr->max_peers == 0 ||
        attr->max_peers > IBVIRT_MAX_PEERS || attr->self >= attr->max_peers ||
        attr->max_keys == 0 || attr->max_keys > (1u << 20))
        return IBVIRT_ERR_INVAL;
    ibvirt_open_attr a = *attr;
    if (a.max_ops == 0)
        a.max_ops = 1024;
    if (a.step_bound_ns == 0)
        a.step_bound_ns = 2000000000ull;
    ibvirt_nic *nic = nullptr;
    try {
        nic = new ibvirt_nic(a);
        nic->provider = attr->provider;
        nic->node = attr->node ? attr->node : "";
        nic->service = attr->service ? attr->service : "";
        for (uint32_t i = a.max_ops; i-- > 0;)
            nic->free_ops.push_back(i);
    } catch (const std::bad_alloc &) {
        delete nic;
        return IBVIRT_ERR_NOMEM;
    }
    nic->attr.provider = nic->provider.c_str();
    nic->attr.node = attr->node ? nic->node.c_str() : nullptr;
    nic->attr.service = attr->service ? nic->service.c_str() : nullptr;
    int rc = fabric_open(nic, nic->attr.node, nic->attr.service, &nic->fab);
    if (rc == IBVIRT_OK && (rc = post_hello_recv(nic)) != IBVIRT_OK)
        fabric_close(nic);
    if (rc) {
        delete nic;
        return rc;
    }
    *out = nic;
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" void ibvirt_close(ibvirt_nic *nic)
{
    if (nic == nullptr)
        return;
    staged_close(nic);
    fabric_close(nic);
    delete nic;
}

extern "C" uint32_t ibvirt_caps(const ibvirt_nic *nic) { return nic ? nic->caps : 0; }
extern "C" uint32_t ibvirt_epoch(const ibvirt_nic *nic) { return nic ? nic->epoch : 0; }

extern "C" const char *ibvirt_provider(const ibvirt_nic *nic)
{
    return nic && nic->fab.info ? nic->fab.info->fabric_attr->prov_name : "";
}

extern "C" int ibvirt_local_addr(const ibvirt_nic *nic, void *buf, size_t *len)
try {
    if (nic == nullptr || buf == nullptr || len == nullptr || *len < nic->fab.addrlen)
        return IBVIRT_ERR_INVAL;
    std::memcpy(buf, nic->fab.addr.data(), nic->fab.addrlen);
    *len = nic->fab.addrlen;
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_mr_reg(ibvirt_nic *nic, void *buf, size_t len, uint32_t access, uint32_t *vkey)
try {
    if (nic == nullptr || buf == nullptr || len == 0 || access == 0 || vkey == nullptr ||
        (access & ~uint32_t(IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE)))
        return IBVIRT_ERR_INVAL;
    if (nic->fab.domain == nullptr)
        return IBVIRT_ERR_STATE;
    int64_t k = nic->keys.lowest_free();
    if (k < 0)
        return IBVIRT_ERR_NOMEM;
    LocalRegion *r = nic->keys.slot(uint32_t(k));
    r->buf = static_cast<char *>(buf);
    r->len = len;
    r->access = access;
    int rc = region_register(nic, nic->fab.domain, uint32_t(k), r);
    if (rc == IBVIRT_OK && nic->staged.open) { /* a prepared relocation needs it too */
        LocalRegion *s = &nic->staged.regions[size_t(k)];
        *s = LocalRegion{r->buf, r->len, r->access};
        if ((rc = region_register(nic, nic->staged.fab.domain, uint32_t(k), s)) != IBVIRT_OK) {
            *s = LocalRegion{};
            region_release(r);
        }
    }
    if (rc) {
        *r = LocalRegion{};
        return rc;
    }
    *vkey = uint32_t(k);
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_mr_dereg(ibvirt_nic *nic, uint32_t vkey)
try {
    LocalRegion *r = nic ? nic->keys.slot(vkey) : nullptr;
    if (r == nullptr || r->buf == nullptr)
        return IBVIRT_ERR_NOKEY;
    region_release(r);
    *r = LocalRegion{};
    if (nic->staged.open) {
        region_release(&nic->staged.regions[vkey]);
        nic->staged.regions[vkey] = LocalRegion{};
    }
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" size_t ibvirt_ctrl_max_size(const ibvirt_nic *nic)
{
    return sizeof(CtrlHeader) + (nic ? nic->keys.max_keys() : 0) * sizeof(WireKey);
}

extern "C" int ibvirt_mapping_export(const ibvirt_nic *nic, void *buf, size_t *len)
try {
    if (nic == nullptr || buf == nullptr || len == nullptr)
        return IBVIRT_ERR_INVAL;
    std::vector<char> bytes;
    encode_ctrl(mapping(nic), &bytes);
    if (*len < bytes.size())
        return IBVIRT_ERR_INVAL;
    std::memcpy(buf, bytes.data(), bytes.size());
    *len = bytes.size();
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_ctrl_take(ibvirt_nic *nic, uint32_t *dest, void *buf, size_t *len)
try {
    if (nic == nullptr || dest == nullptr || buf == nullptr || len == nullptr)
        return IBVIRT_ERR_INVAL;
    if (nic->ctrl_out.empty())
        return 0;
    const auto &m = nic->ctrl_out.front();
    if (*len < m.second.size())
        return IBVIRT_ERR_INVAL;
    *dest = m.first;
    std::memcpy(buf, m.second.data(), m.second.size());
    *len = m.second.size();
    nic->ctrl_out.pop_front();
    return 1;
} catch (...) {
    return out_of_memory();
}

/* Install a peer's published mapping: address (re-inserted only when it
 * changed, so the vid keeps naming the peer) and every key. */
static int install_mapping(ibvirt_nic *nic, const Ctrl &c)
{
    uint32_t p = c.h.from;
    bool same = nic->peers.addr(p) != PeerTable::kNoAddr && nic->peer_addrlen[p] == c.h.addrlen &&
                std::memcmp(nic->peer_addr[p].data(), c.h.addr, c.h.addrlen) == 0;
    if (!same) {
        int rc = peer_insert(nic, p, c.h.addr, c.h.addrlen);
        if (rc)
            return rc;
        std::memcpy(nic->peer_addr[p].data(), c.h.addr, c.h.addrlen);
        nic->peer_addrlen[p] = c.h.addrlen;
    }
    nic->peers.clear_rkeys(p);
    for (const WireKey &k : c.keys)
        nic->peers.set_rkey(p, k.vkey, RemoteKey{k.key, k.base, k.len});
    nic->mig.add_peer(p);
    return IBVIRT_OK;
}

static int deliver(ibvirt_nic *nic, uint32_t from, const void *buf, size_t len)
{
    if (nic == nullptr)
        return IBVIRT_ERR_INVAL;
    Ctrl c;
    int rc = decode_ctrl(buf, len, nic->attr.self, nic->attr.max_peers, nic->keys.max_keys(), &c);
    if (rc)
        return rc;
    if (from != IBVIRT_ANY_PEER && c.h.from != from)
        return IBVIRT_ERR_INVAL;
    uint64_t now = now_ns();
    try {
        switch (CtrlType(c.h.type)) {
        case CtrlType::suspend:
            nic->mig.on_suspend(c.h.from, now);
            break;
        case CtrlType::suspend_ack:
            nic->mig.on_suspend_ack(c.h.from, c.h.count, now);
            break;
        case CtrlType::publish:
            if (nic->mig.peer_state(c.h.from) == PeerState::dead)
                return IBVIRT_ERR_PEER_DEAD;
            if ((rc = install_mapping(nic, c)))
                return rc;
            nic->mig.on_publish(c.h.from, now);
            break;
        case CtrlType::publish_ack:
            nic->mig.on_publish_ack(c.h.from, now);
            break;
        }
        run_actions(nic);
    } catch (const std::bad_alloc &) {
        return IBVIRT_ERR_NOMEM;
    }
    return IBVIRT_OK;
}

extern "C" int ibvirt_ctrl_deliver(ibvirt_nic *nic, const void *buf, size_t len)
try {
    return deliver(nic, IBVIRT_ANY_PEER, buf, len);
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_ctrl_deliver_from(ibvirt_nic *nic, uint32_t from, const void *buf, size_t len)
try {
    return deliver(nic, from, buf, len);
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_peer_dead(ibvirt_nic *nic, uint32_t vid)
try {
    if (nic == nullptr || vid >= nic->attr.max_peers || vid == nic->attr.self)
        return IBVIRT_ERR_INVAL;
    nic->mig.on_peer_death(vid, now_ns());
    run_actions(nic);
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_migrate_begin(ibvirt_nic *nic)
try {
    if (nic == nullptr)
        return IBVIRT_ERR_INVAL;
    if (!nic->mig.begin(now_ns()))
        return IBVIRT_ERR_STATE;
    run_actions(nic);
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" ibvirt_migrate_state ibvirt_migrate_state_of(const ibvirt_nic *nic)
{
    switch (nic ? nic->mig.phase() : Phase::running) {
    case Phase::draining: return IBVIRT_MIG_DRAINING;
    case Phase::ready: return IBVIRT_MIG_READY;
    case Phase::publishing: return IBVIRT_MIG_PUBLISHING;
    default: return IBVIRT_MIG_RUNNING;
    }
}

extern "C" int ibvirt_relocate(ibvirt_nic *nic, const char *node, const char *service)
try {
    if (nic == nullptr)
        return IBVIRT_ERR_INVAL;
    if (nic->mig.phase() != Phase::ready)
        return IBVIRT_ERR_STATE;
    /* Receives still posted were never matched (every peer's sends were
     * counted in): re-post them, in post order, on the new endpoint. Anything
     * else still posted targets a dead peer. */
    std::vector<OpRecord *> recorded;
    for (OpRecord &op : nic->ops) {
        if (op.state != OpState::posted)
            continue;
        if (op.kind == IBVIRT_OP_RECV)
            recorded.push_back(&op);
        else
            complete_failed(nic, &op, IBVIRT_ERR_PEER_DEAD);
    }
    std::sort(recorded.begin(), recorded.end(),
              [](const OpRecord *a, const OpRecord *b) { return a->seq < b->seq; });
    const bool use_staged = nic->staged.open && nic->staged.has_node == (node != nullptr) &&
                            (!node || nic->staged.node == node) &&
                            nic->staged.has_service == (service != nullptr) &&
                            (!service || nic->staged.service == service);
    if (!use_staged)
        staged_close(nic);
    fabric_close(nic);
    if (node) {
        nic->node = node;
        nic->attr.node = nic->node.c_str();
    }
    nic->service = service ? service : "";
    nic->attr.service = service ? nic->service.c_str() : nullptr;
    int rc = IBVIRT_OK;
    if (use_staged) { /* opened and registered before the stop: swap it in */
        nic->fab = nic->staged.fab;
        nic->staged.fab = Fabric{};
        for (uint32_t k = 0; k < nic->keys.max_keys(); ++k) {
            LocalRegion *r = nic->keys.slot(k);
            LocalRegion &s = nic->staged.regions[k];
            r->mr = s.mr;
            r->desc = s.desc;
            r->phys_key = s.phys_key;
            s = LocalRegion{};
        }
        nic->staged.open = false;
    } else {
        if ((rc = fabric_open(nic, nic->attr.node, nic->attr.service, &nic->fab)))
            return rc;
        for (uint32_t k = 0; k < nic->keys.max_keys(); ++k)
            if (nic->keys.slot(k)->buf && (rc = region_register(nic, nic->fab.domain, k, nic->keys.slot(k))))
                return rc;
    }
    for (uint32_t p = 0; p < nic->attr.max_peers; ++p) {
        nic->peers.set_addr(p, PeerTable::kNoAddr); /* the old AV is gone */
        if (nic->peer_addrlen[p] && nic->mig.peer_state(p) != PeerState::dead &&
            (rc = peer_insert(nic, p, nic->peer_addr[p].data(), nic->peer_addrlen[p])))
            return rc;
    }
    ++nic->epoch;
    for (OpRecord *op : recorded)
        nic->to_post.push_back(uint32_t(op - nic->ops.data()));
    flush_replays(nic);
    nic->mig.relocated(now_ns());
    run_actions(nic);
    return IBVIRT_OK;
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_relocate_prepare(ibvirt_nic *nic, const char *node, const char *service)
try {
    if (nic == nullptr)
        return IBVIRT_ERR_INVAL;
    staged_close(nic);
    Staged &st = nic->staged;
    st.regions.assign(nic->keys.max_keys(), LocalRegion{});
    int rc = fabric_open(nic, node, service, &st.fab);
    if (rc)
        return rc;
    st.open = true;
    for (uint32_t k = 0; k < nic->keys.max_keys(); ++k) {
        const LocalRegion *r = nic->keys.slot(k);
        if (r->buf == nullptr)
            continue;
        st.regions[k] = LocalRegion{r->buf, r->len, r->access};
        if ((rc = region_register(nic, st.fab.domain, k, &st.regions[k]))) {
            st.regions[k] = LocalRegion{};
            staged_close(nic);
            return rc;
        }
    }
    st.has_node = node != nullptr;
    st.node = node ? node : "";
    st.has_service = service != nullptr;
    st.service = service ? service : "";
    return IBVIRT_OK;
} catch (...) {
    if (nic)
        staged_close(nic);
    return out_of_memory();
}

extern "C" void ibvirt_relocate_cancel(ibvirt_nic *nic)
{
    if (nic)
        staged_close(nic);
}
