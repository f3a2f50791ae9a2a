/*
 * ibvirt_data.cc — the data path: posts translate (vid, vkey) by array index
 * and go straight to libfabric; ibvirt_poll turns provider completions into
 * completions that name virtual peers (see ib_virt.h).
 */
#include "ibvirt_nic.h"

#include <rdma/fi_atomic.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

#include <cstdio>

using namespace ibvirt;

namespace ibvirt {

void release_op(ibvirt_nic *nic, OpRecord *op)
{
    op->state = OpState::free;
    nic->free_ops.push_back(uint32_t(op - nic->ops.data()));
}

void complete_failed(ibvirt_nic *nic, OpRecord *op, int status)
{
    if (op->internal) { /* a hello: nobody waits for it */
        release_op(nic, op);
        return;
    }
    ibvirt_completion c{};
    c.context = op->context;
    c.peer = op->peer;
    c.kind = op->kind;
    c.status = status;
    nic->done.push_back(c);
    release_op(nic, op);
}

static int map_rc(ssize_t rc, const char *what)
{
    if (rc == -FI_EAGAIN)
        return IBVIRT_ERR_AGAIN;
    std::fprintf(stderr, "ib-virt: %s: %s\n", what, fi_strerror(int(-rc)));
    return IBVIRT_ERR_FABRIC;
}

/* The provider's address for the remote side of op: base + offset. */
static const RemoteKey *remote(const ibvirt_nic *nic, const OpRecord *op, size_t len)
{
    return nic->peers.rkey(op->peer, op->rkey, op->offset, len);
}

int post_record(ibvirt_nic *nic, OpRecord *op)
{
    if (op->internal && op->kind == IBVIRT_OP_SEND && nic->fail_hello_posts > 0) {
        --nic->fail_hello_posts;
        return map_rc(-FI_EADDRNOTAVAIL, "fi_tsend (hello)");
    }
    fid_ep *ep = nic->fab.ep;
    const LocalRegion *lr = nic->keys.slot(op->lkey);
    void *desc = lr ? lr->desc : nullptr;
    fi_addr_t dest = op->peer == IBVIRT_ANY_PEER ? FI_ADDR_UNSPEC : nic->peers.addr(op->peer);
    ssize_t rc = 0;
    const char *what = "";
    switch (op->kind) {
    case IBVIRT_OP_SEND:
        what = "fi_tsend";
        rc = fi_tsend(ep, op->buf, op->len, desc, dest,
                      (uint64_t(nic->attr.self) << IBVIRT_TAG_BITS) | op->tag, &op->ctx);
        break;
    case IBVIRT_OP_RECV: {
        /* The sender's vid is in the tag: match it, or ignore it for ANY_PEER. */
        uint64_t ignore = op->ignore & kUserTagMask;
        uint64_t tag = op->tag;
        if (op->peer == IBVIRT_ANY_PEER)
            ignore |= kVidMask; /* bit 63 (hello) is never ignored: user receives never match it */
        else
            tag |= uint64_t(op->peer) << IBVIRT_TAG_BITS;
        what = "fi_trecv";
        rc = fi_trecv(ep, op->buf, op->len, desc, FI_ADDR_UNSPEC, tag, ignore, &op->ctx);
        break;
    }
    case IBVIRT_OP_WRITE:
    case IBVIRT_OP_READ: {
        const RemoteKey *rk = remote(nic, op, op->len);
        if (rk == nullptr)
            return IBVIRT_ERR_NOKEY; /* the mapping changed under a queued op */
        if (op->kind == IBVIRT_OP_WRITE) {
            what = "fi_write";
            rc = fi_write(ep, op->buf, op->len, desc, dest, rk->base + op->offset, rk->key, &op->ctx);
        } else {
            what = "fi_read";
            rc = fi_read(ep, op->buf, op->len, desc, dest, rk->base + op->offset, rk->key, &op->ctx);
        }
        break;
    }
    case IBVIRT_OP_ATOMIC: {
        const RemoteKey *rk = remote(nic, op, 8);
        if (rk == nullptr)
            return IBVIRT_ERR_NOKEY;
        what = "fi_atomic";
        if (op->aop == IBVIRT_ATOMIC_FETCH_ADD)
            rc = fi_fetch_atomic(ep, &op->operand, 1, nullptr, op->buf, desc, dest,
                                 rk->base + op->offset, rk->key, FI_UINT64, FI_SUM, &op->ctx);
        else
            rc = fi_compare_atomic(ep, &op->operand, 1, nullptr, &op->compare, nullptr, op->buf,
                                   desc, dest, rk->base + op->offset, rk->key, FI_UINT64,
                                   FI_CSWAP, &op->ctx);
        break;
    }
    default:
        return IBVIRT_ERR_INVAL;
    }
    if (rc)
        return map_rc(rc, what);
    op->state = OpState::posted;
    if (op->kind != IBVIRT_OP_RECV)
        nic->mig.op_posted(op->peer);
    return IBVIRT_OK;
}

static OpRecord *internal_op(ibvirt_nic *nic, uint8_t kind, uint32_t peer)
{
    if (nic->free_ops.empty())
        return nullptr;
    OpRecord *op = &nic->ops[nic->free_ops.back()];
    nic->free_ops.pop_back();
    *op = OpRecord{};
    op->kind = kind;
    op->internal = true;
    op->peer = peer;
    op->lkey = kNoKey;
    op->buf = nic->hello_buf;
    op->len = sizeof nic->hello_buf;
    op->tag = kHelloTag;
    op->ignore = kUserTagMask;
    op->seq = nic->seq++;
    return op;
}

int post_hello_recv(ibvirt_nic *nic)
{
    OpRecord *op = internal_op(nic, IBVIRT_OP_RECV, IBVIRT_ANY_PEER);
    if (op == nullptr)
        return IBVIRT_ERR_NOMEM;
    int rc = post_record(nic, op);
    if (rc == IBVIRT_ERR_AGAIN) {
        op->state = OpState::queued;
        nic->to_post.push_back(uint32_t(op - nic->ops.data()));
        return IBVIRT_OK;
    }
    if (rc)
        release_op(nic, op);
    return rc;
}

int post_hello(ibvirt_nic *nic, uint32_t peer)
{
    OpRecord *op = internal_op(nic, IBVIRT_OP_SEND, peer);
    if (op == nullptr)
        return IBVIRT_ERR_NOMEM;
    op->len = 1;
    op->state = OpState::queued;
    nic->to_post.push_back(uint32_t(op - nic->ops.data())); /* rxm connects lazily: EAGAIN first */
    flush_replays(nic);
    return IBVIRT_OK;
}

void flush_replays(ibvirt_nic *nic)
{
    while (!nic->to_post.empty()) {
        OpRecord *op = &nic->ops[nic->to_post.front()];
        int rc = post_record(nic, op);
        if (rc == IBVIRT_ERR_AGAIN)
            return;
        /* A hello the provider refused (a socket that could not bind the
         * new address while the kernel was still promoting it) is tried
         * again at the next poll: dropping it would hold its peer's PUBLISH
         * forever and the move would end with the peer declared dead. The
         * step deadline bounds the retries: a dead peer's hello is dropped. */
        if (rc == IBVIRT_ERR_FABRIC && op->internal && op->kind == IBVIRT_OP_SEND &&
            nic->mig.peer_state(op->peer) != PeerState::dead)
            return;
        nic->to_post.pop_front();
        if (rc)
            complete_failed(nic, op, rc);
    }
}

} // namespace ibvirt

/* Validate the common part of a post and take an op record. */
static int take_op(ibvirt_nic *nic, uint32_t peer, bool any_ok, OpRecord **out)
{
    if (nic == nullptr)
        return IBVIRT_ERR_INVAL;
    if (peer == IBVIRT_ANY_PEER) {
        if (!any_ok)
            return IBVIRT_ERR_INVAL;
    } else if (peer >= nic->attr.max_peers || peer == nic->attr.self) {
        return IBVIRT_ERR_INVAL;
    } else if (nic->mig.peer_state(peer) == PeerState::dead) {
        return IBVIRT_ERR_PEER_DEAD;
    } else if (nic->peers.addr(peer) == PeerTable::kNoAddr) {
        return IBVIRT_ERR_NOPEER;
    }
    if (nic->free_ops.empty())
        return IBVIRT_ERR_AGAIN;
    OpRecord *op = &nic->ops[nic->free_ops.back()];
    nic->free_ops.pop_back();
    *op = OpRecord{};
    op->peer = peer;
    op->seq = nic->seq++;
    *out = op;
    return IBVIRT_OK;
}

/* Fill what every post records. */
static void fill(OpRecord *op, uint8_t kind, void *buf, size_t len, uint32_t lkey, void *context)
{
    op->kind = kind;
    op->buf = static_cast<char *>(buf);
    op->len = len;
    op->lkey = lkey;
    op->context = context;
}

/* take_op for an RMA or atomic: also checks [offset, offset+len) against the
 * peer's key (NOKEY) before anything is queued. */
static int take_remote_op(ibvirt_nic *nic, uint32_t peer, uint32_t rkey, uint64_t offset, size_t len,
                          OpRecord **out)
{
    int rc = take_op(nic, peer, false, out);
    if (rc)
        return rc;
    if (nic->peers.rkey(peer, rkey, offset, len) == nullptr) {
        release_op(nic, *out);
        return IBVIRT_ERR_NOKEY;
    }
    (*out)->rkey = rkey;
    (*out)->offset = offset;
    return IBVIRT_OK;
}

/* Post now, or queue behind replays / a migration (ibvirt_migration.h). */
static int submit(ibvirt_nic *nic, OpRecord *op)
{
    uint32_t index = uint32_t(op - nic->ops.data());
    uint32_t who = op->kind == IBVIRT_OP_RECV ? Migration::kAnyPeer : op->peer;
    if (!nic->mig.admit(index, who)) {
        op->state = OpState::queued;
        run_actions(nic); /* admit may have failed it (dead peer) */
        return IBVIRT_OK;
    }
    if (!nic->to_post.empty()) { /* older replays first: order */
        op->state = OpState::queued;
        nic->to_post.push_back(index);
        return IBVIRT_OK;
    }
    int rc = post_record(nic, op);
    if (rc)
        release_op(nic, op);
    return rc;
}

static int check_local(ibvirt_nic *nic, uint32_t lkey, const void *buf, size_t len)
{
    if (buf == nullptr || len == 0)
        return IBVIRT_ERR_INVAL;
    return nic->keys.at(lkey, buf, len) ? IBVIRT_OK : IBVIRT_ERR_NOKEY;
}

/* A tagged send or receive: validate, take a record, fill it, submit. */
static int tagged(ibvirt_nic *nic, uint8_t kind, uint32_t peer, void *buf, size_t len, uint32_t lkey,
                  uint64_t tag, uint64_t ignore, void *context)
{
    OpRecord *op;
    int rc;
    if (nic == nullptr || tag > kUserTagMask)
        return IBVIRT_ERR_INVAL;
    if ((rc = check_local(nic, lkey, buf, len)) ||
        (rc = take_op(nic, peer, kind == IBVIRT_OP_RECV, &op)))
        return rc;
    fill(op, kind, buf, len, lkey, context);
    op->tag = tag;
    op->ignore = ignore;
    return submit(nic, op);
}

extern "C" int ibvirt_tsend(ibvirt_nic *nic, uint32_t peer, const void *buf, size_t len,
                            uint32_t lkey, uint64_t tag, void *context)
try {
    return tagged(nic, IBVIRT_OP_SEND, peer, const_cast<void *>(buf), len, lkey, tag, 0, context);
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_trecv(ibvirt_nic *nic, uint32_t peer, void *buf, size_t len, uint32_t lkey,
                            uint64_t tag, uint64_t ignore, void *context)
try {
    return tagged(nic, IBVIRT_OP_RECV, peer, buf, len, lkey, tag, ignore, context);
} catch (...) {
    return out_of_memory();
}

static int rma(ibvirt_nic *nic, uint8_t kind, uint32_t peer, void *buf, size_t len, uint32_t lkey,
               uint32_t rkey, uint64_t offset, void *context)
{
    OpRecord *op;
    int rc;
    if (nic == nullptr)
        return IBVIRT_ERR_INVAL;
    if ((rc = check_local(nic, lkey, buf, len)))
        return rc;
    if (!(nic->caps & IBVIRT_CAP_RMA))
        return IBVIRT_ERR_UNSUPPORTED;
    if ((rc = take_remote_op(nic, peer, rkey, offset, len, &op)))
        return rc;
    fill(op, kind, buf, len, lkey, context);
    return submit(nic, op);
}

extern "C" int ibvirt_write(ibvirt_nic *nic, uint32_t peer, const void *buf, size_t len,
                            uint32_t lkey, uint32_t rkey, uint64_t offset, void *context)
try {
    return rma(nic, IBVIRT_OP_WRITE, peer, const_cast<void *>(buf), len, lkey, rkey, offset, context);
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_read(ibvirt_nic *nic, uint32_t peer, void *buf, size_t len, uint32_t lkey,
                           uint32_t rkey, uint64_t offset, void *context)
try {
    return rma(nic, IBVIRT_OP_READ, peer, buf, len, lkey, rkey, offset, context);
} catch (...) {
    return out_of_memory();
}

extern "C" int ibvirt_atomic(ibvirt_nic *nic, uint32_t peer, ibvirt_atomic_op aop,
                             uint64_t operand, uint64_t compare, uint64_t *result, uint32_t lkey,
                             uint32_t rkey, uint64_t offset, void *context)
try {
    OpRecord *op;
    int rc;
    if (nic == nullptr || offset % 8 != 0)
        return IBVIRT_ERR_INVAL;
    uint32_t need = aop == IBVIRT_ATOMIC_FETCH_ADD ? IBVIRT_CAP_ATOMIC_SUM
                    : aop == IBVIRT_ATOMIC_CSWAP   ? IBVIRT_CAP_ATOMIC_CAS
                                                   : 0;
    if (need == 0)
        return IBVIRT_ERR_INVAL;
    if ((rc = check_local(nic, lkey, result, 8)))
        return rc;
    if (!(nic->caps & need))
        return IBVIRT_ERR_UNSUPPORTED;
    if ((rc = take_remote_op(nic, peer, rkey, offset, 8, &op)))
        return rc;
    fill(op, IBVIRT_OP_ATOMIC, result, 8, lkey, context);
    op->aop = uint8_t(aop);
    op->operand = operand;
    op->compare = compare;
    return submit(nic, op);
} catch (...) {
    return out_of_memory();
}

/* A hello completed: re-post the receive; after a sent one, the PUBLISH
 * held for that peer may go. */
static void finish_internal(ibvirt_nic *nic, OpRecord *op, uint64_t now)
{
    uint8_t kind = op->kind;
    uint32_t peer = op->peer;
    if (kind == IBVIRT_OP_SEND)
        nic->mig.op_completed(peer, now);
    release_op(nic, op);
    if (kind == IBVIRT_OP_RECV) {
        post_hello_recv(nic);
    } else if (!nic->held_publish[peer].empty()) {
        nic->ctrl_out.emplace_back(peer, std::move(nic->held_publish[peer]));
        nic->held_publish[peer].clear();
    }
}

/* One provider completion (or error) of op -> a virtual completion; false
 * when op was internal (nothing to report). */
static bool finish(ibvirt_nic *nic, OpRecord *op, int status, uint64_t len, uint64_t tag,
                   ibvirt_completion *c, uint64_t now)
{
    if (op->internal) {
        finish_internal(nic, op, now);
        return false;
    }
    c->context = op->context;
    c->kind = op->kind;
    c->status = status;
    c->len = len;
    c->peer = op->peer;
    c->tag = 0;
    if (op->kind == IBVIRT_OP_RECV) {
        if (status == 0) {
            c->peer = uint32_t((tag & kVidMask) >> IBVIRT_TAG_BITS);
            c->tag = tag & kUserTagMask;
            if (c->peer < nic->attr.max_peers)
                nic->mig.tagged_received(c->peer, now);
        }
    } else {
        if (status == 0 && op->kind == IBVIRT_OP_SEND)
            nic->mig.tagged_sent(op->peer);
        nic->mig.op_completed(op->peer, now);
    }
    release_op(nic, op);
    return true;
}

extern "C" int ibvirt_poll(ibvirt_nic *nic, ibvirt_completion *out, int max)
try {
    if (nic == nullptr || out == nullptr || max < 0)
        return IBVIRT_ERR_INVAL;
    int n = 0;
    /* The clock only matters while a move is under way (deadlines, phase
     * changes); the common poll does not read it. */
    uint64_t now = 0;
    if (nic->mig.deadlines_armed()) {
        now = now_ns();
        nic->mig.tick(now);
    }
    run_actions(nic);
    flush_replays(nic);
    while (n < max && !nic->done.empty()) {
        out[n++] = nic->done.front();
        nic->done.pop_front();
    }
    if (nic->fab.cq == nullptr)
        return n;
    fi_cq_tagged_entry e[16];
    while (n < max) {
        ssize_t got = fi_cq_read(nic->fab.cq, e, size_t(max - n) < 16 ? size_t(max - n) : 16);
        if (got == -FI_EAGAIN)
            break;
        if (got == -FI_EAVAIL) {
            fi_cq_err_entry err{};
            if (fi_cq_readerr(nic->fab.cq, &err, 0) != 1)
                break;
            OpRecord *op = static_cast<OpRecord *>(err.op_context);
            int status = err.err == FI_ETRUNC ? IBVIRT_ERR_TRUNC
                         : nic->mig.peer_state(op->peer) == PeerState::dead ? IBVIRT_ERR_PEER_DEAD
                                                                            : IBVIRT_ERR_FABRIC;
            if (status == IBVIRT_ERR_FABRIC)
                std::fprintf(stderr, "ib-virt: completion error: %s\n", fi_strerror(err.err));
            if (finish(nic, op, status, err.len, err.tag, &out[n], now))
                ++n;
            continue;
        }
        if (got < 0)
            return map_rc(got, "fi_cq_read");
        for (ssize_t i = 0; i < got; ++i)
            if (finish(nic, static_cast<OpRecord *>(e[i].op_context), 0, e[i].len, e[i].tag, &out[n], now))
                ++n;
        if (got < 16)
            break; /* the queue is empty: another read would only cost a progress pass */
    }
    run_actions(nic);
    flush_replays(nic);
    return n;
} catch (...) {
    return out_of_memory();
}
