/*
 * ibvirt_migration.cc — the handshake state machine (see ibvirt_migration.h).
 */
#include "ibvirt_migration.h"

namespace ibvirt {

Migration::Migration(uint32_t max_peers, uint64_t step_bound_ns)
    : peers_(max_peers), step_bound_(step_bound_ns)
{
}

void Migration::add_peer(uint32_t p)
{
    if (p >= peers_.size() || peers_[p].state != PeerState::unknown)
        return;
    peers_[p].state = PeerState::up;
    members_.push_back(p);
}

bool Migration::admit(uint32_t op, uint32_t peer)
{
    /* Receives are never held back: one posted on the old endpoint is
     * recorded and re-posted on the new one, and the drain needs them to
     * match what peers already sent. */
    if (peer == kAnyPeer)
        return true;
    Peer &p = peers_[peer];
    if (p.state == PeerState::dead) {
        emit(Action::fail_op, peer, op);
        return false;
    }
    if (phase_ == Phase::running && p.state == PeerState::up && p.queued == 0)
        return true;
    ++p.queued;
    queue_.push_back(Queued{op, peer});
    return false;
}

void Migration::op_completed(uint32_t peer, uint64_t now)
{
    Peer &p = peers_[peer];
    if (p.state == PeerState::dead || p.inflight == 0)
        return; /* its count was dropped when it died */
    --p.inflight;
    --inflight_;
    maybe_ack(peer);
    check_progress(now);
}

void Migration::tagged_received(uint32_t peer, uint64_t now)
{
    ++peers_[peer].received;
    check_progress(now);
}

void Migration::enter(Phase ph, uint64_t now)
{
    phase_ = ph;
    phase_deadline_ = now + step_bound_;
}

bool Migration::begin(uint64_t now)
{
    if (phase_ != Phase::running)
        return false;
    enter(Phase::draining, now);
    for (uint32_t p : members_) {
        peers_[p].acked = false;
        peers_[p].owed = 0;
        if (live(p))
            emit(Action::send_suspend, p);
    }
    check_progress(now);
    return true;
}

bool Migration::relocated(uint64_t now)
{
    if (phase_ != Phase::ready)
        return false;
    enter(Phase::publishing, now);
    for (uint32_t p : members_) {
        peers_[p].acked = false;
        if (live(p))
            emit(Action::send_publish, p);
    }
    check_progress(now);
    return true;
}

void Migration::check_progress(uint64_t now)
{
    if (phase_ == Phase::draining) {
        if (inflight_ != 0)
            return;
        for (uint32_t p : members_)
            if (live(p) && (!peers_[p].acked || peers_[p].received < peers_[p].owed))
                return;
        enter(Phase::ready, now);
        emit(Action::relocate_ready, 0);
    } else if (phase_ == Phase::publishing) {
        for (uint32_t p : members_)
            if (live(p) && !peers_[p].acked)
                return;
        phase_ = Phase::running;
        replay_for(kAnyPeer, true);
        emit(Action::migration_done, 0);
    }
}

void Migration::maybe_ack(uint32_t p)
{
    Peer &q = peers_[p];
    if (q.state == PeerState::quiescing && q.inflight == 0) {
        q.state = PeerState::quiesced;
        emit(Action::send_suspend_ack, p, 0, q.sent);
    }
}

/* Replay, in post order, the queued ops to p (all = every op whose peer is
 * up); ops to peers still moving stay queued. */
void Migration::replay_for(uint32_t p, bool all)
{
    if (phase_ != Phase::running)
        return;
    for (auto it = queue_.begin(); it != queue_.end();) {
        bool go = all ? peers_[it->peer].state == PeerState::up : it->peer == p;
        if (!go) {
            ++it;
            continue;
        }
        --peers_[it->peer].queued;
        emit(Action::replay, it->peer, it->op);
        it = queue_.erase(it);
    }
}

bool Migration::on_suspend(uint32_t p, uint64_t now)
{
    if (p >= peers_.size() || !live(p))
        return false;
    if (peers_[p].state == PeerState::up)
        ++suspended_peers_;
    peers_[p].state = PeerState::quiescing;
    peers_[p].deadline = now + 3 * step_bound_;
    maybe_ack(p);
    return true;
}

bool Migration::on_suspend_ack(uint32_t p, uint64_t sent_to_me, uint64_t now)
{
    if (phase_ != Phase::draining || p >= peers_.size() || !live(p))
        return false;
    peers_[p].acked = true;
    peers_[p].owed = sent_to_me;
    check_progress(now);
    return true;
}

bool Migration::on_publish(uint32_t p, uint64_t now)
{
    if (p >= peers_.size() || !live(p))
        return false;
    Peer &q = peers_[p];
    if (q.state == PeerState::up)
        return false; /* a mapping update outside a move: nothing to acknowledge */
    q.state = PeerState::up;
    --suspended_peers_;
    emit(Action::send_publish_ack, p);
    replay_for(p, false);
    return true;
}

bool Migration::on_publish_ack(uint32_t p, uint64_t now)
{
    if (phase_ != Phase::publishing || p >= peers_.size() || !live(p))
        return false;
    peers_[p].acked = true;
    check_progress(now);
    return true;
}

void Migration::on_peer_death(uint32_t p, uint64_t now)
{
    if (p >= peers_.size() || !live(p))
        return;
    Peer &q = peers_[p];
    if (q.state == PeerState::quiescing || q.state == PeerState::quiesced)
        --suspended_peers_;
    q.state = PeerState::dead;
    inflight_ -= q.inflight;
    q.inflight = 0;
    emit(Action::peer_failed, p);
    for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->peer != p) {
            ++it;
            continue;
        }
        emit(Action::fail_op, p, it->op);
        it = queue_.erase(it);
    }
    q.queued = 0;
    check_progress(now);
}

void Migration::tick(uint64_t now)
{
    if (!deadlines_armed())
        return;
    for (uint32_t p : members_) {
        Peer &q = peers_[p];
        bool late = false;
        if ((q.state == PeerState::quiescing || q.state == PeerState::quiesced) && now > q.deadline)
            late = true; /* p suspended itself and did not publish in time */
        if (phase_ == Phase::draining && now > phase_deadline_ && live(p) &&
            (!q.acked || q.received < q.owed || q.inflight != 0))
            late = true;
        if (phase_ == Phase::publishing && now > phase_deadline_ && live(p) && !q.acked)
            late = true;
        if (late)
            on_peer_death(p, now);
    }
}

std::vector<Action> Migration::take_actions()
{
    std::vector<Action> out;
    out.swap(actions_);
    return out;
}

} // namespace ibvirt
