/*
 * osc_virt_wake.h — sleeping in opal_progress without missing a message.
 *
 * Why: an idle, oversubscribed rank should sleep so the backend's thread
 * and the rank streaming through it get the cores (osc_virt_idle.h).  A
 * plain nanosleep makes every message of another component that reaches
 * the sleeper wait for the end of the nap.  Open MPI's tcp btl is driven by
 * libevent (with the poll() method by default, opal_event_include), whose
 * descriptors are the sockets themselves.  Sleeping in poll() on the
 * process's sockets (and epoll sets, for an event base that uses epoll)
 * ends the moment a message or a new connection arrives; libevent then
 * finds it on the next opal_progress pass, as it would have without the
 * nap.  A socket with data nobody reads makes every nap end at once: the
 * rank polls as it did without the nap, nothing worse.
 *
 * What raises no event: shared-memory traffic (vader, sm, a same-node
 * peer), networks whose completions are polled (openib, ucx, ofi, psm2),
 * timers inside libevent.  idle_wake_obstacle() names the first such
 * transport this rank uses; the default turns the nap on only when there
 * is none.
 *
 * Contract (no MPI):
 *   EventWaker::open()   — (re)reads the process's sockets and epoll sets
 *                          from /proc/self/fd; false when there is none.
 *                          Not concurrently with sleep().  The tcp btl
 *                          opens connections lazily, so the caller rereads
 *                          now and then (a new connection first shows on
 *                          the listening socket, which wakes a sleeper).
 *                          When the set of open descriptor numbers is the
 *                          one of the last call, what they are is not read
 *                          again, except on every kFullLookEvery-th call
 *                          (a number closed and reopened as a socket in
 *                          between is watched from that call on).
 *   EventWaker::sleep(ns)— sleeps up to ns; returns early, true, when one
 *                          of them is ready to read.  Safe from several
 *                          threads at once.
 *   idle_wake_obstacle(f)— "" when all of the traffic f describes wakes
 *                          a sleeping rank, else why not (for the verbose
 *                          log).
 */
#ifndef OMPI_OSC_VIRT_WAKE_H
#define OMPI_OSC_VIRT_WAKE_H

#include <cstdint>
#include <string>
#include <vector>

namespace ov::osc {

class EventWaker {
public:
    /** At most this many descriptors are watched (a tcp connection per
     *  peer rank and interface, the listening sockets, the runtime's). */
    static constexpr size_t kMaxFds = 256;
    /** open() reads what every descriptor is at least this often. */
    static constexpr int kFullLookEvery = 64;

    bool open();
    /** Watches exactly these descriptors instead (tests). */
    void watch(std::vector<int> fds)
    {
        fds_ = std::move(fds);
        open_fds_.clear(); /* the next open() looks at everything */
    }
    bool usable() const { return !fds_.empty(); }
    const std::vector<int> &fds() const { return fds_; }

    bool sleep(int64_t ns) const;

private:
    std::vector<int> fds_;
    std::vector<int> open_fds_; /* every descriptor number the last open() saw */
    int looks_since_full_ = 0;
};

/** What a rank's pt2pt traffic travels on, as far as waking it goes. */
struct TransportFacts {
    std::string pml;                /* the selected PML ("ob1", "cm", "ucx") */
    std::vector<std::string> btls;  /* initialized BTL modules */
    int same_node_peers = 0;        /* ranks of this job on this node (OS) */
    bool tcp_progress_thread = false; /* btl_tcp_progress_thread: its own event base */
};

std::string idle_wake_obstacle(const TransportFacts &f);

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_WAKE_H */
