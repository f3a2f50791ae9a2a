/*
 * locks.h — passive-target lock state of the backend (OV_OP_LOCK/UNLOCK).
 *
 * A lock is (window id, slot); the window's owner decides what a slot
 * means (osc virt: the target rank whose part of the window it guards).
 * Each lock has either one exclusive holder or any number of shared
 * holders, by process (the backend's proc id).  Nothing ever waits:
 *
 *   lock(w, s, p, excl)   OV_OK              held now
 *                         OV_ERR_LOCK_STATE  p already holds (w, s), in any mode
 *                                            (no re-entry, no upgrade)
 *                         OV_ERR_LOCK_BUSY   another process holds it in a
 *                                            conflicting mode: retry later
 *                         OV_ERR_NOMEM       p holds max_per_proc locks, or the
 *                                            table holds max_total: a hostile
 *                                            process cannot grow the backend
 *                                            without bound
 *   unlock(w, s, p)       OV_OK, or OV_ERR_LOCK_STATE if p does not hold it
 *
 * The table checks nothing about windows or grants (ov_validate did); it
 * forgets a window's locks when the window is freed (release_window) and a
 * process's locks when it dies or detaches (release_process).  Single
 * threaded, like the rest of the backend.
 */
#ifndef OMPI_VIRT_BACKEND_LOCKS_H
#define OMPI_VIRT_BACKEND_LOCKS_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>

#include "ov_protocol.h"

class ov_lock_table {
public:
    explicit ov_lock_table(size_t max_per_proc = OV_LOCK_SLOTS, size_t max_total = size_t(1) << 21)
        : max_per_proc_(max_per_proc), max_total_(max_total)
    {
    }
    ov_status_t lock(uint32_t win, uint32_t slot, uint32_t proc, bool exclusive);
    ov_status_t unlock(uint32_t win, uint32_t slot, uint32_t proc);
    void release_process(uint32_t proc);
    void release_window(uint32_t win);

    enum mode { NONE = 0, SHARED = 1, EXCLUSIVE = 2 };
    mode held_by(uint32_t win, uint32_t slot, uint32_t proc) const;
    size_t held(uint32_t proc) const;          /* locks proc holds */
    size_t holdings() const { return total_; } /* (lock, holder) pairs in the table */

private:
    struct state {
        uint32_t exclusive = 0;      /* holder's proc id, 0 if none (proc ids are never 0) */
        std::set<uint32_t> shared;   /* holders in shared mode */
    };
    static uint64_t key(uint32_t win, uint32_t slot) { return uint64_t(win) << 32 | slot; }
    void drop(uint64_t k, uint32_t proc); /* proc's holding of k, from both indexes */

    size_t max_per_proc_, max_total_;
    size_t total_ = 0;
    std::map<uint64_t, state> locks_;                           /* ordered: a window is a key range */
    std::unordered_map<uint32_t, std::set<uint64_t>> by_proc_;  /* proc -> keys it holds */
};

#endif
