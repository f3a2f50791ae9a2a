// Sleeping until an event descriptor is ready, and which transports allow
// it (ompi/mca/osc/virt/osc_virt_wake.h).
#include "osc_virt_wake.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace {

using ov::osc::EventWaker;
using ov::osc::idle_wake_obstacle;
using ov::osc::TransportFacts;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMs = 1000 * 1000;

/* An epoll set watching a pipe's read end, as libevent's base watches a
 * socket. */
struct EpollPipe {
    int ep = -1, rd = -1, wr = -1;
    EpollPipe()
    {
        int p[2];
        EXPECT_EQ(0, pipe(p));
        rd = p[0];
        wr = p[1];
        ep = epoll_create1(EPOLL_CLOEXEC);
        EXPECT_GE(ep, 0);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = rd;
        EXPECT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, rd, &ev));
    }
    ~EpollPipe()
    {
        close(ep);
        close(rd);
        close(wr);
    }
};

double ms_since(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

TEST(EventWaker, FindsTheProcessEpollDescriptorsAndNothingElse)
{
    EpollPipe a;
    EventWaker w;
    ASSERT_TRUE(w.open());
    const auto &fds = w.fds();
    EXPECT_NE(std::find(fds.begin(), fds.end(), a.ep), fds.end());
    EXPECT_EQ(std::find(fds.begin(), fds.end(), a.rd), fds.end());
    EXPECT_EQ(std::find(fds.begin(), fds.end(), a.wr), fds.end());
}

bool watches(const EventWaker &w, int fd)
{
    return std::find(w.fds().begin(), w.fds().end(), fd) != w.fds().end();
}

TEST(EventWaker, ARescanSeesSocketsOpenedAndClosedSinceTheLastOne)
{
    EpollPipe keep; /* at least one descriptor to watch */
    EventWaker w;
    ASSERT_TRUE(w.open());
    int sv[2];
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ASSERT_TRUE(w.open());
    EXPECT_TRUE(watches(w, sv[0]) && watches(w, sv[1]));
    /* As many descriptors as before, other numbers. */
    const int moved = fcntl(sv[1], F_DUPFD, 500);
    ASSERT_GE(moved, 500);
    close(sv[1]);
    ASSERT_TRUE(w.open());
    EXPECT_TRUE(watches(w, moved));
    EXPECT_FALSE(watches(w, sv[1]));
    sv[1] = moved;
    close(sv[1]);
    ASSERT_TRUE(w.open());
    EXPECT_TRUE(watches(w, sv[0]));
    EXPECT_FALSE(watches(w, sv[1]));
    close(sv[0]);
    ASSERT_TRUE(w.open());
    EXPECT_FALSE(watches(w, sv[0]));
}

/* The same numbers as last time are not looked at again, except every
 * kFullLookEvery-th rescan: a pipe's number reused by a socket in between
 * is watched within that many rescans. */
TEST(EventWaker, ANumberReusedByASocketIsWatchedWithinTheFullLookPeriod)
{
    EpollPipe keep;
    int p[2], sv[2];
    ASSERT_EQ(0, pipe(p));
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EventWaker w;
    ASSERT_TRUE(w.open());
    ASSERT_FALSE(watches(w, p[0]));
    ASSERT_EQ(p[0], dup2(sv[0], p[0])); /* the same numbers, p[0] now a socket */
    int calls = 0;
    while (!watches(w, p[0]) && calls < EventWaker::kFullLookEvery) {
        ASSERT_TRUE(w.open());
        ++calls;
    }
    EXPECT_TRUE(watches(w, p[0])) << "not watched after " << calls << " rescans";
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

TEST(EventWaker, SleepsTheWholeNapWhenNothingIsReady)
{
    EpollPipe a;
    EventWaker w;
    w.watch({a.ep});
    const auto t0 = Clock::now();
    EXPECT_FALSE(w.sleep(3 * kMs));
    EXPECT_GE(ms_since(t0), 3.0);
}

TEST(EventWaker, AMessageEndsTheNapAtOnce)
{
    EpollPipe a;
    EventWaker w;
    w.watch({a.ep});
    std::thread sender([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        EXPECT_EQ(1, write(a.wr, "x", 1));
    });
    const auto t0 = Clock::now();
    EXPECT_TRUE(w.sleep(10 * 1000 * kMs)); /* a 10 s nap */
    const double waited = ms_since(t0);
    sender.join();
    EXPECT_GE(waited, 15.0);
    EXPECT_LT(waited, 5000.0);
    /* Still unread: the next nap does not sleep at all (level-triggered, as
     * libevent has not consumed it yet). */
    const auto t1 = Clock::now();
    EXPECT_TRUE(w.sleep(10 * 1000 * kMs));
    EXPECT_LT(ms_since(t1), 5000.0);
}

TEST(EventWaker, WithoutDescriptorsItIsAPlainSleep)
{
    EventWaker w;
    EXPECT_FALSE(w.usable());
    const auto t0 = Clock::now();
    EXPECT_FALSE(w.sleep(2 * kMs));
    EXPECT_GE(ms_since(t0), 2.0);
}

TransportFacts facts(const char *pml, std::vector<std::string> btls, int peers = 0,
                     bool tcp_thread = false)
{
    TransportFacts f;
    f.pml = pml;
    f.btls = std::move(btls);
    f.same_node_peers = peers;
    f.tcp_progress_thread = tcp_thread;
    return f;
}

TEST(IdleWakeObstacle, Ob1OverTcpAloneOnTheNodeWakes)
{
    EXPECT_EQ("", idle_wake_obstacle(facts("ob1", {"self", "tcp"})));
    /* vader and sm are loaded everywhere but carry nothing without a peer */
    EXPECT_EQ("", idle_wake_obstacle(facts("ob1", {"self", "vader", "tcp"})));
    EXPECT_EQ("", idle_wake_obstacle(facts("ob1", {"self", "sm", "tcp"})));
}

TEST(IdleWakeObstacle, PolledTrafficKeepsTheRankAwake)
{
    EXPECT_NE("", idle_wake_obstacle(facts("ob1", {"self", "vader", "tcp"}, 1)));
    EXPECT_NE("", idle_wake_obstacle(facts("ucx", {"self", "tcp"})));
    EXPECT_NE("", idle_wake_obstacle(facts("cm", {})));
    EXPECT_NE("", idle_wake_obstacle(facts("ob1", {"self", "openib", "tcp"})));
    EXPECT_NE("", idle_wake_obstacle(facts("ob1", {"self", "uct"})));
    /* btl vmshm's shared-memory messages between guests raise no event */
    EXPECT_NE("", idle_wake_obstacle(facts("ob1", {"vmshm", "self", "vader", "tcp"})));
    EXPECT_NE("", idle_wake_obstacle(facts("ob1", {"self", "tcp"}, 0, true)));
}

} // namespace
