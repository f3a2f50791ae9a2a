/*
 * reclaimer.h — gives guest memory back to the system off the event-loop
 * thread (backend only).
 *
 * Why: freeing pages costs the pages a guest touched, not the call.
 * Punching 1000 MiB of touched window out of a region's memfd, or dropping
 * the last mapping of a touched 1 GiB region, takes about a second of
 * kernel time (`fallocate(PUNCH_HOLE)` of a touched 1000 MiB memfd: 1.16 s
 * on the 2-core test machine, 2026-12-07).  Done on the one thread that
 * also serves every guest's rings, one guest's WIN_FREE (or its job's end)
 * would stall all the others for that long.
 *
 * Contract:
 *  - start() makes the worker thread and notify_fd() (an eventfd, readable
 *    whenever finished work waits in take_done()); OV_ERR_SYS if either
 *    cannot be made.  Before start() (or after its failure) punch() and
 *    dispose() do their work at once, on the caller's thread.
 *  - punch(file, lo, hi, token): [lo, hi) of `file` (page aligned, owned by
 *    the reclaimer from now on: pass a dup) is punched out (it then reads as
 *    zeros), then `token` is reported by take_done().  Until then the range
 *    must not be handed out again: the caller keeps it allocated.
 *  - dispose(region): the region is destroyed on the worker thread (its
 *    mapping and file dropped, which frees its pages).  Nothing may refer
 *    to it any more.
 *  - Work is done in the order it was queued, one item at a time.
 *  - take_done() returns the tokens finished since the last call, in order,
 *    and clears notify_fd().  Event-loop thread only.
 *  - The destructor finishes the queued work, then joins.
 */
#ifndef OMPI_VIRT_BACKEND_RECLAIMER_H
#define OMPI_VIRT_BACKEND_RECLAIMER_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ov_fd.h"
#include "region.h"

class ov_reclaimer {
public:
    ov_reclaimer() = default;
    ov_reclaimer(const ov_reclaimer &) = delete;
    ov_reclaimer &operator=(const ov_reclaimer &) = delete;
    ~ov_reclaimer();

    ov_status_t start();
    int notify_fd() const { return notify_.get(); }
    void punch(ov_fd file, uint64_t lo, uint64_t hi, uint64_t token);
    void dispose(std::unique_ptr<ov_region> region);
    std::vector<uint64_t> take_done();
    /* items queued or in progress (for tests and status) */
    size_t pending() const;

private:
    struct item {
        bool punch = false; /* else a disposal */
        ov_fd file;         /* punch: the file */
        uint64_t lo = 0, hi = 0, token = 0;
        std::unique_ptr<ov_region> region; /* dispose */
    };
    void run();
    void work(item &it);         /* any thread, without mu_ */
    void report(const item &it); /* a punch done: its token to take_done(); under mu_ */
    void enqueue(item it);

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<item> queue_;
    size_t busy_ = 0;
    std::vector<uint64_t> done_;
    bool stopping_ = false;
    ov_fd notify_;
    std::thread worker_;
};

#endif
