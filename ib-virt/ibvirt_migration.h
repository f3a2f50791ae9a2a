/*
 * ibvirt_migration.h — the migration handshake as a pure state machine
 * (internal; no libfabric, no clock of its own: time comes in as `now`).
 *
 * One Migration object per NIC plays both roles:
 *   mover  this process moves:   RUNNING -> DRAINING -> READY -> PUBLISHING -> RUNNING
 *   peer   another process p moves: per-peer state  up -> quiescing -> quiesced -> up
 *
 * Mover, step by step:
 *   begin(now)            RUNNING -> DRAINING; emits send_suspend to every live peer.
 *                         From now on admit() queues every post but receives:
 *                         those go to the old endpoint (the drain may need them
 *                         to match what peers already sent) and are recorded
 *                         and re-posted on the new one.
 *   DRAINING -> READY     when (a) no op of mine is in flight (receives do not
 *                         count: they are recorded and re-posted), (b) every live
 *                         peer acked, and (c) I matched as many tagged messages
 *                         from each peer as it said it had sent me (the ack's
 *                         count), so nothing sits unreceived in the old endpoint.
 *                         Emits relocate_ready.
 *   relocated(now)        READY -> PUBLISHING; emits send_publish to every live peer.
 *   PUBLISHING -> RUNNING when every live peer acked the publish; emits replay
 *                         for every queued op in post order, then migration_done.
 * Peer q, when p moves:
 *   on_suspend(p)         p: up -> quiescing; q's new posts to p are queued.
 *   quiescing -> quiesced when q has nothing in flight to p; emits
 *                         send_suspend_ack(p, count of tagged sends q completed to p).
 *   on_publish(p)         (after the caller installed p's new mapping) p -> up;
 *                         emits send_publish_ack(p) and replay of q's queued ops
 *                         to p in order.
 * Death and bounds (nothing waits forever):
 *   on_peer_death(p) or a missed deadline -> p is dead: emits peer_failed(p) and
 *   fail_op for each queued op to p; a mover stops waiting for p. Each mover
 *   step has step_bound; a peer waits at most 3 * step_bound (drain, relocate,
 *   publish) from p's suspend to p's publish. tick(now) checks the deadlines.
 *
 * Order: admit() queues a post when this side moves, when its peer is not up,
 * or when older posts to that peer are still queued, so replay keeps order.
 */
#ifndef IBVIRT_MIGRATION_H
#define IBVIRT_MIGRATION_H

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace ibvirt {

enum class Phase : uint8_t { running, draining, ready, publishing };
enum class PeerState : uint8_t { unknown, up, quiescing, quiesced, dead };

struct Action {
    enum Kind : uint8_t {
        send_suspend,      /* tell `peer` to stop posting to me */
        send_suspend_ack,  /* tell `peer` I stopped; `count` = tagged sends I completed to it */
        relocate_ready,    /* drained and acknowledged: the caller may relocate */
        send_publish,      /* send my new mapping to `peer` */
        send_publish_ack,  /* tell `peer` I installed its new mapping */
        replay,            /* post queued op `op` (to `peer`) now */
        fail_op,           /* complete queued op `op` with PEER_DEAD */
        peer_failed,       /* `peer` is dead (reported death or missed deadline) */
        migration_done     /* mover back to RUNNING */
    } kind;
    uint32_t peer;
    uint32_t op;
    uint64_t count;
    bool operator==(const Action &o) const
    {
        return kind == o.kind && peer == o.peer && op == o.op && count == o.count;
    }
};

class Migration {
public:
    static constexpr uint32_t kAnyPeer = UINT32_MAX; /* admit(): a receive (never held back) */

    Migration(uint32_t max_peers, uint64_t step_bound_ns);

    /* The peers that take part (a peer must be added before ops name it). */
    void add_peer(uint32_t p);
    PeerState peer_state(uint32_t p) const { return p < peers_.size() ? peers_[p].state : PeerState::unknown; }
    Phase phase() const { return phase_; }

    /* Data path bookkeeping (cheap: array index). admit: true = post now,
     * false = queued (the op record must stay alive until replay/fail_op). */
    bool admit(uint32_t op, uint32_t peer); /* peer: vid, or kAnyPeer for a receive */
    void op_posted(uint32_t peer) { ++peers_[peer].inflight; ++inflight_; }
    void op_completed(uint32_t peer, uint64_t now);
    void tagged_sent(uint32_t peer) { ++peers_[peer].sent; }
    void tagged_received(uint32_t peer, uint64_t now);

    /* Mover. begin: false when not RUNNING. relocated: false when not READY. */
    bool begin(uint64_t now);
    bool relocated(uint64_t now);

    /* Control messages received. Unknown or dead peers are ignored (false). */
    bool on_suspend(uint32_t p, uint64_t now);
    bool on_suspend_ack(uint32_t p, uint64_t sent_to_me, uint64_t now);
    bool on_publish(uint32_t p, uint64_t now);
    bool on_publish_ack(uint32_t p, uint64_t now);
    void on_peer_death(uint32_t p, uint64_t now);
    void tick(uint64_t now);

    /* Actions emitted since the last call, in order. */
    std::vector<Action> take_actions();
    bool has_actions() const { return !actions_.empty(); }
    /* True while this side moves or holds a peer suspended: only then do
     * tick() and the `now` arguments matter. */
    bool deadlines_armed() const { return phase_ != Phase::running || suspended_peers_ != 0; }
    size_t queued() const { return queue_.size(); }

private:
    struct Peer {
        PeerState state = PeerState::unknown;
        bool acked = false;        /* mover: suspend or publish ack received */
        uint64_t inflight = 0;     /* my non-receive ops to it in flight */
        uint64_t sent = 0;         /* tagged sends I completed to it */
        uint64_t received = 0;     /* tagged messages I matched from it */
        uint64_t owed = 0;         /* mover: what it says it sent me */
        uint64_t queued = 0;       /* my ops to it waiting in queue_ */
        uint64_t deadline = 0;     /* peer role: when its publish is due */
    };
    struct Queued { uint32_t op, peer; };

    void emit(Action::Kind k, uint32_t peer, uint32_t op = 0, uint64_t count = 0)
    {
        actions_.push_back(Action{k, peer, op, count});
    }
    bool live(uint32_t p) const { return peers_[p].state != PeerState::unknown && peers_[p].state != PeerState::dead; }
    void check_progress(uint64_t now);
    void maybe_ack(uint32_t p);
    void replay_for(uint32_t p, bool all);
    void enter(Phase ph, uint64_t now);

    std::vector<Peer> peers_;
    std::vector<uint32_t> members_; /* added peers, in order */
    std::deque<Queued> queue_;
    std::vector<Action> actions_;
    Phase phase_ = Phase::running;
    uint64_t inflight_ = 0;
    uint64_t step_bound_;
    uint64_t phase_deadline_ = 0;
    uint32_t suspended_peers_ = 0; /* peers in quiescing/quiesced: tick() has deadlines to check */
};

} // namespace ibvirt
#endif
