/*
 * osc_virt_wake.cc — sleeping until an event descriptor is ready
 * (contract: osc_virt_wake.h).
 */
#include "osc_virt_wake.h"

#include <dirent.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ov::osc {

bool EventWaker::open()
{
    DIR *d = opendir("/proc/self/fd");
    if (nullptr == d) {
        fds_.clear();
        return false;
    }
    const int self = dirfd(d);
    std::vector<int> open_fds;
    while (const dirent *e = readdir(d)) {
        char *end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end != e->d_name && '\0' == *end && fd != self) {
            open_fds.push_back(static_cast<int>(fd));
        }
    }
    closedir(d);
    /* The same descriptors as last time: what each one is was read then.
     * A rank asleep in MPI rescans every 10 ms, and a readlink per
     * descriptor was most of each wake-up's cost (perf: ~20 readlinks, a
     * sixth of an idle rank's CPU), time taken from the rank or the backend
     * thread it woke beside.  A number closed and reused in between is read
     * again by the full look every kFullLookEvery calls. */
    if (open_fds == open_fds_ && ++looks_since_full_ < kFullLookEvery) {
        return usable();
    }
    looks_since_full_ = 0;
    open_fds_ = open_fds;
    fds_.clear();
    for (const int fd : open_fds) {
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        const ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0) {
            continue;
        }
        target[n] = '\0';
        const bool wakes = 0 == std::strncmp(target, "socket:", 7) ||
                           0 == std::strcmp(target, "anon_inode:[eventpoll]");
        if (wakes && fds_.size() < kMaxFds) {
            fds_.push_back(fd);
        }
    }
    return usable();
}

bool EventWaker::sleep(int64_t ns) const
{
    pollfd pfds[kMaxFds]; /* 2 KiB of stack: no allocation per nap */
    const size_t n = fds_.size() < kMaxFds ? fds_.size() : kMaxFds;
    for (size_t i = 0; i < n; ++i) {
        pfds[i] = pollfd{fds_[i], POLLIN, 0};
    }
    const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    /* EINTR (a signal) ends the nap early, which is harmless. */
    return ppoll(pfds, n, &ts, nullptr) > 0;
}

std::string idle_wake_obstacle(const TransportFacts &f)
{
    if (f.same_node_peers > 0) {
        return "ranks of this job share this node: their shared-memory messages raise no event";
    }
    if (f.pml != "ob1") {
        return "pml " + f.pml + " polls its network's completions";
    }
    for (const std::string &b : f.btls) {
        if (b == "tcp") {
            if (f.tcp_progress_thread) {
                return "btl tcp has its own progress thread (btl_tcp_progress_thread)";
            }
        } else if (b != "self" && b != "vader" && b != "sm") {
            /* vader/sm carry nothing without a same-node peer (checked
             * above).  btl vmshm's fast boxes and FIFOs between guests are
             * polled and raise no event: it keeps the rank awake like any
             * polled network. */
            return "btl " + b + " polls its completions";
        }
    }
    return "";
}

} // namespace ov::osc
