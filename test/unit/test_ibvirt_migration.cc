/*
 * test_ibvirt_migration.cc — the migration handshake state machine, driven
 * by a simulated network of Migration objects (no libfabric): every
 * interleaving of the suspend with in-flight sends, RMA and atomics on both
 * sides; peer death and missed deadlines at each step of the handshake.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "ibvirt_migration.h"

using namespace ibvirt;

namespace {

constexpr uint64_t kBound = 1000; /* step bound in the simulated clock */

enum class Kind { send, write, atomic };

struct SimOp {
    uint32_t id, src, dst;
    Kind kind;
};

struct Mail {
    uint32_t from, to;
    Action::Kind what;
    uint64_t count;
};

/* N nodes, node i has vid i; every node knows every other. Ops complete only
 * when the test says so; a completed send is received by its target at once
 * (FI_DELIVERY_COMPLETE). Mail waits in `mail` until delivered. */
struct Sim {
    std::vector<Migration> nodes;
    std::vector<SimOp> ops;                 /* by id */
    std::set<uint32_t> inflight;            /* op ids posted, not completed */
    std::vector<uint32_t> post_log;         /* op ids in the order they reached the "fabric" */
    std::map<uint32_t, int> posted_times, failed_times;
    std::vector<Mail> mail;
    std::vector<bool> dead;
    std::vector<uint32_t> peer_failed;      /* by node 0 */
    bool ready = false, done = false;
    uint64_t now = 0;

    explicit Sim(uint32_t n) : dead(n, false)
    {
        for (uint32_t i = 0; i < n; ++i)
            nodes.emplace_back(n, kBound);
        for (uint32_t i = 0; i < n; ++i)
            for (uint32_t j = 0; j < n; ++j)
                if (i != j)
                    nodes[i].add_peer(j);
    }

    void to_fabric(uint32_t id)
    {
        const SimOp &o = ops[id];
        /* node 0 is unreachable from its ready until a peer installed its new mapping */
        EXPECT_FALSE(o.dst == 0 && relocating && !published_to.count(o.src))
            << "op " << id << " posted to a moving peer";
        ++posted_times[id];
        post_log.push_back(id);
        inflight.insert(id);
        nodes[o.src].op_posted(o.dst);
    }
    bool relocating = false;         /* node 0 between relocate_ready and migration_done */
    std::set<uint32_t> published_to; /* peers that installed node 0's new mapping */

    uint32_t post(uint32_t src, uint32_t dst, Kind k)
    {
        uint32_t id = uint32_t(ops.size());
        ops.push_back(SimOp{id, src, dst, k});
        if (nodes[src].admit(id, dst))
            to_fabric(id);
        pump(src);
        return id;
    }

    void complete(uint32_t id)
    {
        const SimOp &o = ops[id];
        inflight.erase(id);
        if (o.kind == Kind::send && !dead[o.dst]) {
            nodes[o.src].tagged_sent(o.dst);
            nodes[o.dst].tagged_received(o.src, now);
        }
        nodes[o.src].op_completed(o.dst, now);
        pump(o.src);
        pump(o.dst);
    }

    void pump(uint32_t i)
    {
        for (const Action &a : nodes[i].take_actions()) {
            switch (a.kind) {
            case Action::send_suspend:
            case Action::send_suspend_ack:
            case Action::send_publish:
            case Action::send_publish_ack:
                mail.push_back(Mail{i, a.peer, a.kind, a.count});
                break;
            case Action::replay:
                to_fabric(a.op);
                break;
            case Action::fail_op:
                ++failed_times[a.op];
                break;
            case Action::relocate_ready:
                EXPECT_EQ(i, 0u);
                check_quiet();
                ready = relocating = true;
                published_to.clear();
                break;
            case Action::migration_done:
                done = true;
                relocating = false;
                break;
            case Action::peer_failed:
                if (i == 0)
                    peer_failed.push_back(a.peer);
                break;
            }
        }
    }

    /* At relocate_ready nothing may be in flight to or from node 0 (except
     * with dead peers): the old endpoint can close without losing anything. */
    void check_quiet()
    {
        for (uint32_t id : inflight) {
            const SimOp &o = ops[id];
            if ((o.src == 0 && !dead[o.dst]) || (o.dst == 0 && !dead[o.src]))
                ADD_FAILURE() << "op " << id << " in flight at relocate_ready";
        }
    }

    void deliver(size_t k)
    {
        Mail m = mail[k];
        mail.erase(mail.begin() + long(k));
        if (dead[m.to] || dead[m.from])
            return;
        Migration &t = nodes[m.to];
        switch (m.what) {
        case Action::send_suspend: t.on_suspend(m.from, now); break;
        case Action::send_suspend_ack: t.on_suspend_ack(m.from, m.count, now); break;
        case Action::send_publish:
            published_to.insert(m.to);
            t.on_publish(m.from, now);
            break;
        case Action::send_publish_ack: t.on_publish_ack(m.from, now); break;
        default: break;
        }
        pump(m.to);
    }

    /* Deliver all mail, complete everything in flight, relocate when ready,
     * until node 0 is running again. Bounded. */
    void settle()
    {
        for (int round = 0; round < 100; ++round) {
            if (!mail.empty()) {
                deliver(0);
                continue;
            }
            if (!inflight.empty()) {
                complete(*inflight.begin());
                continue;
            }
            if (nodes[0].phase() == Phase::ready) {
                ASSERT_TRUE(nodes[0].relocated(now));
                pump(0);
                continue;
            }
            return;
        }
        ADD_FAILURE() << "did not settle";
    }

    void kill(uint32_t v)
    {
        dead[v] = true;
        for (uint32_t i = 0; i < nodes.size(); ++i)
            if (i != v) {
                nodes[i].on_peer_death(v, now);
                pump(i);
            }
    }

    static int count(const std::map<uint32_t, int> &m, uint32_t id)
    {
        auto it = m.find(id);
        return it == m.end() ? 0 : it->second;
    }
    int failures() const
    {
        int n = 0;
        for (const auto &kv : failed_times)
            n += kv.second;
        return n;
    }

    /* Each op reached the fabric exactly once or failed exactly once; per
     * (src, dst) the fabric saw them in post order. */
    void check_exactly_once_in_order()
    {
        for (const SimOp &o : ops) {
            int p = count(posted_times, o.id), f = count(failed_times, o.id);
            EXPECT_EQ(p + f, 1) << "op " << o.id << " posted " << p << " failed " << f;
        }
        std::map<std::pair<uint32_t, uint32_t>, uint32_t> last;
        for (uint32_t id : post_log) {
            auto key = std::make_pair(ops[id].src, ops[id].dst);
            auto it = last.find(key);
            if (it != last.end()) {
                EXPECT_LT(it->second, id) << "op " << id << " overtook op " << it->second;
            }
            last[key] = id;
        }
    }
};

} // namespace

TEST(IbvirtMigration, AloneGoesStraightThrough)
{
    Migration m(1, kBound);
    ASSERT_TRUE(m.begin(0));
    auto a = m.take_actions();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].kind, Action::relocate_ready);
    EXPECT_FALSE(m.begin(0)); /* not twice */
    ASSERT_TRUE(m.relocated(1));
    a = m.take_actions();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].kind, Action::migration_done);
    EXPECT_EQ(m.phase(), Phase::running);
    EXPECT_FALSE(m.relocated(2)); /* only from READY */
}

TEST(IbvirtMigration, HandshakeMessagesInOrder)
{
    Sim s(2);
    ASSERT_TRUE(s.nodes[0].begin(0));
    s.pump(0);
    ASSERT_EQ(s.mail.size(), 1u);
    EXPECT_EQ(s.mail[0].what, Action::send_suspend);
    s.deliver(0);
    ASSERT_EQ(s.mail.size(), 1u);
    EXPECT_EQ(s.mail[0].what, Action::send_suspend_ack);
    EXPECT_EQ(s.nodes[1].peer_state(0), PeerState::quiesced);
    s.deliver(0);
    EXPECT_TRUE(s.ready);
    EXPECT_EQ(s.nodes[0].phase(), Phase::ready);
    ASSERT_TRUE(s.nodes[0].relocated(0));
    s.pump(0);
    ASSERT_EQ(s.mail.size(), 1u);
    EXPECT_EQ(s.mail[0].what, Action::send_publish);
    s.deliver(0);
    EXPECT_EQ(s.nodes[1].peer_state(0), PeerState::up);
    ASSERT_EQ(s.mail.size(), 1u);
    EXPECT_EQ(s.mail[0].what, Action::send_publish_ack);
    s.deliver(0);
    EXPECT_TRUE(s.done);
    EXPECT_EQ(s.nodes[0].phase(), Phase::running);
}

TEST(IbvirtMigration, AckWaitsForThePeersInFlightOps)
{
    Sim s(2);
    uint32_t w = s.post(1, 0, Kind::write);
    s.nodes[0].begin(0);
    s.pump(0);
    s.deliver(0); /* suspend reaches node 1, its write is still in flight */
    EXPECT_TRUE(s.mail.empty());
    EXPECT_EQ(s.nodes[1].peer_state(0), PeerState::quiescing);
    s.complete(w);
    ASSERT_EQ(s.mail.size(), 1u);
    EXPECT_EQ(s.mail[0].what, Action::send_suspend_ack);
}

TEST(IbvirtMigration, ReadyWaitsForTheMoversOwnInFlightOps)
{
    Sim s(2);
    uint32_t a = s.post(0, 1, Kind::atomic);
    s.nodes[0].begin(0);
    s.pump(0);
    s.deliver(0);
    s.deliver(0); /* the ack: node 1 is quiet, node 0's atomic is not */
    EXPECT_FALSE(s.ready);
    s.complete(a);
    EXPECT_TRUE(s.ready);
}

TEST(IbvirtMigration, ReceivesAreNeverHeldBack)
{
    /* the drain waits for messages already sent to be matched: holding the
     * receives that would match them back would deadlock it */
    Migration m(2, kBound);
    m.add_peer(1);
    m.begin(0);
    EXPECT_TRUE(m.admit(7, Migration::kAnyPeer));
    EXPECT_FALSE(m.admit(8, 1));
    EXPECT_EQ(m.queued(), 1u);
}

TEST(IbvirtMigration, ReadyWaitsForEveryMessageThePeerSent)
{
    Sim s(2);
    s.nodes[0].begin(0);
    s.pump(0);
    s.deliver(0);
    /* node 1 says it sent 3 tagged messages that node 0 has not matched yet
     * (e.g. sitting unexpected in the provider) */
    ASSERT_EQ(s.mail.size(), 1u);
    s.mail[0].count = 3;
    s.deliver(0);
    EXPECT_FALSE(s.ready);
    s.nodes[0].tagged_received(1, 0);
    s.nodes[0].tagged_received(1, 0);
    s.pump(0);
    EXPECT_FALSE(s.ready);
    s.nodes[0].tagged_received(1, 0);
    s.pump(0);
    EXPECT_TRUE(s.ready);
}

TEST(IbvirtMigration, PostsWhileSuspendedReplayInOrderAfterPublish)
{
    Sim s(3);
    s.nodes[0].begin(0);
    s.pump(0);
    uint32_t a = s.post(0, 1, Kind::send), b = s.post(0, 2, Kind::write), c = s.post(0, 1, Kind::atomic);
    EXPECT_EQ(s.nodes[0].queued(), 3u);
    EXPECT_TRUE(s.post_log.empty());
    s.settle();
    EXPECT_TRUE(s.done);
    ASSERT_GE(s.post_log.size(), 3u);
    EXPECT_EQ(s.post_log[0], a);
    EXPECT_EQ(s.post_log[1], b);
    EXPECT_EQ(s.post_log[2], c);
    s.check_exactly_once_in_order();
}

TEST(IbvirtMigration, PeerPostsToTheMoverAreQueuedUntilPublish)
{
    Sim s(2);
    s.nodes[0].begin(0);
    s.pump(0);
    s.deliver(0); /* node 1 now holds node 0 as quiesced */
    uint32_t x = s.post(1, 0, Kind::send);
    uint32_t y = s.post(1, 0, Kind::write);
    EXPECT_EQ(s.posted_times[x] + s.posted_times[y], 0);
    s.settle();
    EXPECT_EQ(s.posted_times[x], 1);
    EXPECT_EQ(s.posted_times[y], 1);
    s.check_exactly_once_in_order();
    /* after the move, posts go straight out again */
    uint32_t z = s.post(1, 0, Kind::send);
    EXPECT_EQ(s.posted_times[z], 1);
}

/* Every order of: node 0's three in-flight ops (send, write, atomic)
 * completing, node 1's two (send, write) completing, the suspend reaching
 * node 1, node 0 posting during the suspension, and node 1 posting to node 0
 * (before or after it heard of the suspension). 8! = 40320 runs. */
TEST(IbvirtMigration, EveryInterleavingOfSuspendWithInFlightOps)
{
    std::vector<int> ev = {0, 1, 2, 3, 4, 5, 6, 7};
    size_t runs = 0;
    do {
        Sim s(2);
        uint32_t m[3] = {s.post(0, 1, Kind::send), s.post(0, 1, Kind::write), s.post(0, 1, Kind::atomic)};
        uint32_t q[2] = {s.post(1, 0, Kind::send), s.post(1, 0, Kind::write)};
        ASSERT_TRUE(s.nodes[0].begin(0));
        s.pump(0);
        for (int e : ev) {
            switch (e) {
            case 0: case 1: case 2: s.complete(m[e]); break;
            case 3: case 4: s.complete(q[e - 3]); break;
            case 5:
                if (!s.mail.empty())
                    s.deliver(0);
                break;
            case 6: s.post(0, 1, Kind::send); break;
            case 7: s.post(1, 0, Kind::atomic); break;
            }
            if (::testing::Test::HasFailure())
                FAIL() << "interleaving " << runs;
        }
        s.settle();
        ASSERT_TRUE(s.done) << "interleaving " << runs;
        ASSERT_TRUE(s.inflight.empty());
        s.check_exactly_once_in_order();
        ASSERT_EQ(s.failures(), 0);
        if (::testing::Test::HasFailure())
            FAIL() << "interleaving " << runs;
        ++runs;
    } while (std::next_permutation(ev.begin(), ev.end()));
    EXPECT_EQ(runs, 40320u);
}

/* A handshake with 3 nodes (0 moves), run one step at a time; a peer dies
 * (reported by the control path) before step k, for every k. Node 0 must
 * come back to RUNNING, the ops queued for the dead peer fail exactly once,
 * and everything else arrives exactly once in order. */
TEST(IbvirtMigration, PeerDeathAtEachStep)
{
    for (uint32_t victim : {1u, 2u}) {
        for (int k = 0; k < 20; ++k) {
            Sim s(3);
            s.post(0, 1, Kind::send);
            s.post(0, 2, Kind::write);
            s.post(1, 0, Kind::atomic);
            s.nodes[0].begin(0);
            s.pump(0);
            s.post(0, victim, Kind::send); /* queued: fails when the victim dies */
            s.post(0, 3 - victim, Kind::send);
            int step = 0;
            bool killed = false;
            for (int guard = 0; guard < 100 && !(s.done && killed); ++guard) {
                if (step++ == k && !killed) {
                    s.kill(victim);
                    killed = true;
                }
                if (!s.mail.empty())
                    s.deliver(0);
                else if (!s.inflight.empty())
                    s.complete(*s.inflight.begin());
                else if (s.nodes[0].phase() == Phase::ready) {
                                    s.nodes[0].relocated(0);
                    s.pump(0);
                } else if (!killed) {
                    s.kill(victim);
                    killed = true;
                }
            }
            ASSERT_TRUE(s.done) << "victim " << victim << " before step " << k;
            EXPECT_EQ(s.peer_failed, std::vector<uint32_t>{victim});
            for (const SimOp &o : s.ops)
                if (o.dst == victim && s.posted_times[o.id] == 0) {
                    EXPECT_EQ(s.failed_times[o.id], 1) << "op " << o.id;
                }
            s.check_exactly_once_in_order();
            /* a post to a dead peer fails at once */
            uint32_t late = s.post(0, victim, Kind::write);
            EXPECT_EQ(s.failed_times[late], 1);
        }
    }
}

/* Nobody reports the death: the victim just stops answering. Each step is
 * bounded, so tick() past the bound declares it dead and the move finishes. */
TEST(IbvirtMigration, SilentPeerIsDeclaredDeadAfterTheStepBound)
{
    for (int stop_at : {0, 1, 2}) { /* silent from: suspend, suspend ack, publish ack */
        Sim s(3);
        s.nodes[0].begin(0);
        s.pump(0);
        int seen = 0;
        for (int guard = 0; guard < 50 && !s.done; ++guard) {
            /* mail from or to node 2 disappears once it has gone silent */
            bool dropped = false;
            for (size_t i = 0; i < s.mail.size(); ++i) {
                Mail &m = s.mail[i];
                if (m.from == 2 || m.to == 2) {
                    if (seen++ >= stop_at) {
                        s.mail.erase(s.mail.begin() + long(i));
                        dropped = true;
                        break;
                    }
                }
            }
            if (dropped)
                continue;
            if (!s.mail.empty())
                s.deliver(0);
            else if (s.nodes[0].phase() == Phase::ready) {
                            s.nodes[0].relocated(s.now);
                s.pump(0);
            } else {
                s.now += kBound / 2; /* nothing to do: time passes */
                s.nodes[0].tick(s.now);
                s.pump(0);
            }
        }
        ASSERT_TRUE(s.done) << "silent from step " << stop_at;
        EXPECT_EQ(s.peer_failed, std::vector<uint32_t>{2});
        EXPECT_LE(s.now, 2 * kBound) << "declared dead within the bound";
    }
}

/* The mover dies while a peer holds it suspended: the peer's queued ops
 * fail after 3 step bounds, never wait forever. */
TEST(IbvirtMigration, MoverDeathFailsThePeersQueuedOpsWithinTheBound)
{
    Sim s(2);
    s.nodes[0].begin(0);
    s.pump(0);
    s.deliver(0);                             /* node 1 quiesced, ack in the mail */
    uint32_t a = s.post(1, 0, Kind::send);
    uint32_t b = s.post(1, 0, Kind::atomic);
    s.dead[0] = true;                         /* node 0 vanishes */
    s.nodes[1].tick(3 * kBound);
    s.pump(1);
    EXPECT_EQ(s.failed_times[a] + s.failed_times[b], 0) << "not before the bound";
    s.nodes[1].tick(3 * kBound + 1);
    s.pump(1);
    EXPECT_EQ(s.failed_times[a], 1);
    EXPECT_EQ(s.failed_times[b], 1);
    EXPECT_EQ(s.nodes[1].peer_state(0), PeerState::dead);
}

TEST(IbvirtMigration, ControlFromUnknownOrDeadPeersIsIgnored)
{
    Migration m(4, kBound);
    m.add_peer(1);
    EXPECT_FALSE(m.on_suspend(2, 0));      /* never added */
    EXPECT_FALSE(m.on_suspend(9, 0));      /* out of range */
    EXPECT_FALSE(m.on_suspend_ack(1, 0, 0)); /* not moving */
    EXPECT_FALSE(m.on_publish_ack(1, 0));
    EXPECT_FALSE(m.on_publish(1, 0));      /* a mapping update, nothing to ack */
    m.on_peer_death(1, 0);
    EXPECT_FALSE(m.on_suspend(1, 0));
    auto a = m.take_actions();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].kind, Action::peer_failed);
}
