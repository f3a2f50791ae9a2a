/*
 * osc_virt_link.h — this process's connection to the host backend, shared by
 * every osc virt window: the frontend handle, the staging area, the FIFO of
 * requests in flight and the progress loop that retires them.
 *
 * Contract:
 *   - BackendLink::get() connects on first use (the first window) and returns
 *     nullptr when no backend can be reached; why is shown once through
 *     opal_show_help and kept in BackendLink::unavailable_reason().  Windows
 *     then serve every target through the fallback.  release() (component
 *     finalize) closes it.
 *   - Every member function other than get()/release() must be called with
 *     mutex() held (std::unique_lock<LinkMutex>): one lock per process
 *     serialises the ring, the staging area and the per-window counters, which
 *     is what makes MPI_THREAD_MULTIPLE safe on this path.  Below
 *     MPI_THREAD_MULTIPLE it is only a flag (see LinkMutex).
 *   - Requests complete in ring order (ov_protocol.h), so the in-flight table is
 *     a FIFO and the staging area a ring allocator freed in the same order.
 *   - submit() never fails for lack of space: it retires completions (waiting
 *     for them) until the request ring and the staging area have room.  It
 *     fails only when the backend is gone or silent past its timeout; the
 *     caller turns that into an MPI error.
 *   - A completion with an error status is charged to its Tracker (first error
 *     wins) and reported by the next synchronization that waits for it.
 */
#ifndef OMPI_OSC_VIRT_LINK_H
#define OMPI_OSC_VIRT_LINK_H

#include "osc_virt_batch.h"
#include "osc_virt_fifo.h"
#include "osc_virt_idle.h"
#include "osc_virt_wake.h"
#include "ov_frontend.h"
#include "ov_stream_copy.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace ov::osc {

/** The link's lock.  At MPI_THREAD_MULTIPLE a std::mutex.  Otherwise one
 *  thread calls MPI and our progress callback runs in that thread, so a flag
 *  is enough: it still makes the callback's try_lock() fail while a call of
 *  ours holds the lock (opal_progress reached from inside it), and it saves
 *  an atomic lock and unlock on every operation (about 110 of the 1250
 *  instructions of an 8-byte put + flush).  set_threaded() is called once,
 *  before anybody locks. */
class LinkMutex {
public:
    void set_threaded(bool on) { threaded_ = on; }
    void lock()
    {
        if (threaded_) {
            mu_.lock();
        }
        held_ = true;
    }
    void unlock()
    {
        held_ = false;
        if (threaded_) {
            mu_.unlock();
        }
    }
    bool try_lock()
    {
        if (threaded_ ? !mu_.try_lock() : held_) {
            return false;
        }
        held_ = true;
        return true;
    }

private:
    std::mutex mu_;
    bool threaded_ = true;
    bool held_ = false; /* written only by the holder */
};

/** Counts one window's requests in flight per target; the sync calls wait on it.
 *  Quiet requests (OV_REQ_QUIET: no completion unless they fail) are not
 *  counted: the tracker keeps the link sequence number of the last one per
 *  target, and BackendLink::settle() waits until the link knows it done. */
struct Tracker {
    std::vector<uint32_t> outstanding; /* per target rank */
    uint64_t total = 0;
    int first_error = 0; /* OMPI_ERR_* of the first failed request since the last sync */
    std::vector<uint64_t> quiet_seq;   /* per target: its last quiet request (0: none) */
    uint64_t quiet_last = 0;           /* the last quiet request to any target */
    uint32_t quiet_id = 0;             /* BackendLink's name for it in quiet cookies; 0: none yet */
};

/** What to do when one request completes. */
struct Completion {
    Tracker *tracker = nullptr; /* null: internal request (lock, unlock) */
    int target = -1;
    void *copy_to = nullptr;    /* a get: copy the result bytes here */
    uint64_t copy_from = 0;     /* staging offset of those bytes */
    uint64_t copy_len = 0;
    bool copy_inline = false;   /* they are in the completion (OV_REQ_INLINE), not staged */
    uint64_t staging_end = 0;   /* staging ring position freed by this completion */
    int *status_out = nullptr;  /* internal requests: the raw ov_status_t lands here */
    uint64_t seq = 0;           /* the link's sequence number of its request (set by submit) */
    struct Finisher *finisher = nullptr; /* multi-request op: run when its last part completes */

    /** The result comes back in the completion (OV_REQ_INLINE): n bytes to `to`. */
    void result_inline(void *to, uint64_t n)
    {
        copy_to = to;
        copy_len = n;
        copy_inline = true;
    }
    /** The result comes back at staging offset `off`: n bytes to `to`. */
    void result_staged(void *to, uint64_t off, uint64_t n)
    {
        copy_to = to;
        copy_from = off;
        copy_len = n;
    }
};

/** Work to do once every part of a multi-request operation has completed
 *  (unpack a staged result into a derived datatype, complete an MPI request). */
struct Finisher {
    virtual ~Finisher() = default;
    uint32_t parts = 1; /* requests still in flight + 1 while the op is being issued */
    int status = 0;     /* first OMPI_ERR_* among the parts */
    /** Called once, with the link lock held; deletes itself afterwards. */
    virtual void finish(int status) = 0;
};

class BackendLink {
public:
    static BackendLink *get();
    static void release();
    static const std::string &unavailable_reason();

    LinkMutex &mutex() { return mu_; }

    ov_fe_t *fe() const { return fe_; }
    uint64_t instance() const { return instance_; }
    uint64_t guest_hash() const { return guest_hash_; }
    uint64_t job_key() const { return job_key_; }
    uint32_t rank() const { return rank_; }
    char *region_base() const { return static_cast<char *>(ov_fe_region_base(fe_)); }
    /** True when the backend can serve windows over this process's own
     *  memory (MPI_Win_create): it offers OV_FEAT_USER_WINDOWS and we are in
     *  container mode (in vm mode nothing of ours is reachable by address). */
    bool user_windows() const { return user_windows_; }
    /** Whether an operation of `bytes` hands its origin buffer to the
     *  backend by address (container mode, osc_virt_single_copy_min);
     *  decided per operation, not per piece. */
    bool single_copy_for(uint64_t bytes) const { return single_copy_ && bytes >= single_copy_min_; }
    /** OV_REQ_STREAM for a staged put piece of n bytes, when the backend
     *  takes the hint (osc_virt_stream_min). */
    uint16_t put_flags(uint64_t n) const { return stream_put_ && ov_stream_worth(n, stream_min_) ? OV_REQ_STREAM : 0; }
    /** Whether an operation with `origin` bytes in and `result` bytes out
     *  can carry them in the rings (OV_REQ_INLINE) instead of staging. */
    bool inline_fits(uint64_t origin, uint64_t result) const
    {
        return inline_ && origin <= OV_INLINE_ORIGIN_MAX && result <= OV_INLINE_RESULT_MAX;
    }
    uint64_t chunk() const { return chunk_; }

    /** Reserves `len` bytes of staging (64-byte aligned), retiring completions
     *  while it is full.  len <= staging capacity / 2 (callers chunk).  Returns
     *  the staging offset, or a negative OMPI_ERR_*. */
    int64_t stage(uint64_t len);
    /** stage(len), naming the staging area as d's local window (the caller
     *  sets local_off or result_off to the offset returned). */
    int64_t stage_for(ov_req_desc &d, uint64_t len)
    {
        const int64_t off = stage(len);
        d.local_win = staging_.id;
        d.local_epoch = staging_.epoch;
        return off;
    }
    char *staging_ptr(uint64_t off) const { return static_cast<char *>(staging_.base) + off; }

    /** Publishes one descriptor with its completion action; counts it on
     *  c.tracker.  Sets d.cookie (d by reference: a small request's
     *  descriptor is copied once, into the ring).  OMPI_SUCCESS or
     *  OMPI_ERR_*. */
    int submit(ov_req_desc &d, const Completion &c);

    /** Whether a put or accumulate to target t of `tr` that stages nothing
     *  and finishes nothing may go quiet (the backend offers OV_FEAT_QUIET). */
    bool can_quiet(const Tracker &tr, int t) const
    {
        return quiet_ && t >= 0 && t < kQuietTargets && (0 != tr.quiet_id || quiet_free_ids());
    }
    /** Publishes d as a quiet request to target t of `tr` (can_quiet() held):
     *  no completion record, no completion to retire unless it fails, whose
     *  error then goes to tr.first_error; one in kQuietEvery goes as a
     *  plain submit() instead.  Waits for room in the request ring
     *  (bounded).  OMPI_SUCCESS or OMPI_ERR_*. */
    int submit_quiet(ov_req_desc &d, Tracker &tr, int t);
    /** Whether small puts and gets may be batched (OV_FEAT_BATCH offered,
     *  osc_virt_batch 1; osc_virt_batch.h). */
    bool can_batch() const { return batch_on_; }
    /** Adds a put of n bytes from `from` (put) or a get of n bytes into
     *  `into` (!put) at byte toff of target window (win_id, win_epoch), rank
     *  t of `tr`, to the open batch (osc_virt_batch.h); n within the inline
     *  limits; user_window: the target window is registered user memory
     *  (MPI_Win_create).  OMPI_SUCCESS or OMPI_ERR_*. */
    int batch_add(Tracker &tr, int t, uint32_t win_id, uint32_t win_epoch, bool put, char *mine,
                  uint64_t toff, uint32_t n, bool user_window)
    {
        OpenBatch &b = batch_;
        if (0 == b.n || b.tracker != &tr || b.target != t || b.win_id != win_id ||
            b.win_epoch != win_epoch || b.put != put) {
            if (const int ret = open_batch(tr, t, win_id, win_epoch, put, user_window); 0 != ret) {
                return ret; /* not OMPI_SUCCESS (0: this header is MPI-free for the unit tests) */
            }
        }
        auto *e = reinterpret_cast<ov_batch_entry *>(staging_ptr(b.staging_off)) + b.n;
        write_batch_entry(e, toff, n, put ? mine : nullptr);
        if (!put) {
            b.get_to[b.n] = GetDest{mine, n};
        }
        /* A full batch goes now, not at the next operation: the backend
         * runs it while we issue the next ones (osc_virt_batch_entries). */
        return ++b.n == b.cap ? seal_open_batch() : 0;
    }
    /** Seals the open batch, if any, and opens an empty one for (tr, t,
     *  win_id, win_epoch, put) in fresh staging, sent when it holds
     *  osc_virt_batch_entries, or OV_BATCH_ENTRIES_MAX for a user_window
     *  (MPI_Win_create: each batch costs the backend two system calls, so
     *  larger batches pay).  OMPI_SUCCESS or OMPI_ERR_*. */
    int open_batch(Tracker &tr, int t, uint32_t win_id, uint32_t win_epoch, bool put, bool user_window);
    /** Publishes the open batch, if any.  OMPI_SUCCESS or OMPI_ERR_*. */
    int seal_batch() { return 0 == batch_.n ? 0 : seal_open_batch(); }
    /** Waits until every request up to link sequence number `seq` has
     *  completed (0: none), submitting a NOP when no later request would say
     *  so.  OMPI_SUCCESS or the error that made the backend unusable. */
    int settle(uint64_t seq);
    /** A tracker is going away: forget its quiet name (its requests were settled). */
    void forget(Tracker &tr);

    /** Retires whatever has completed; never blocks.  OMPI_SUCCESS or the
     *  error that made the backend unusable. */
    int progress();
    /** Retires completions until pred() holds (spinning, then blocking in the
     *  frontend's bounded wait). */
    template <class Pred> int wait_until(Pred pred)
    {
        while (!pred()) {
            int ret = wait_one();
            if (ret != 0) {
                return ret;
            }
        }
        return 0;
    }
    /** Runs one internal request (lock, unlock) to completion; returns its
     *  ov_status_t through *status. */
    int run(const ov_req_desc &d, int *status);

    /** A window found `ranks` processes of this job on our backend: decide
     *  whether waiting must yield the CPU (osc_virt_yield). */
    void note_colocated(int ranks);

    /** Requests completed so far (the progress callback's event count). */
    uint64_t requests_retired() const { return retired_; }

    /** What the progress callback does after its pass (having dropped our
     *  lock) when waits yield and the idle nap is on (osc_virt_idle.h). */
    struct IdlePass {
        int64_t nap_ns = 0; /* > 0: the rank is idle: waker().sleep(nap_ns) */
        bool yield = false; /* nothing of ours progressed: sched_yield() */
        bool timed = false; /* call pass_ended() afterwards */
        bool idle = false;  /* nothing of ours in flight: pass_ended() reads
                               the thread's CPU time (osc_virt_idle.h) */
    };
    /** `events`: requests this pass retired. */
    IdlePass idle_pass(int events);
    /** The pass (with its nap or yield) is over; `woken`: a descriptor
     *  ended the nap (traffic: the rank polls through the burst).  Takes
     *  our lock if free. */
    void pass_ended(const IdlePass &pass, bool woken);
    const EventWaker &waker() const { return waker_; }

private:
    BackendLink() = default;
    int connect();
    int wait_one();
    /** The request ring is full and nothing in flight will complete to
     *  free it (only quiet requests): retire what comes, wait for room. */
    int wait_room();
    /** Pushes d (retiring completions, or waiting for room, while the ring
     *  is full); counts it in sent_.  OMPI_SUCCESS or OMPI_ERR_*. */
    int push(ov_req_desc &d);
    bool quiet_free_ids() const { return !quiet_ids_.empty() || quiet_trackers_.size() < kQuietIds; }
    /* Quiet cookies: bit 31, the tracker's quiet_id (11 bits), the target (20 bits). */
    static constexpr uint32_t kQuietBit = 0x80000000u;
    static constexpr int kQuietTargets = 1 << 20;
    static constexpr size_t kQuietIds = 2048; /* ids 1..2047 */
    static constexpr uint32_t kQuietEvery = 64; /* 1 in 64 quiet requests gets a completion */
    int retire(const ov_completion &c);
    int seal_open_batch();
    /** Marks the backend unusable (every later call fails) and says why, once. */
    int lost(const char *why);

    LinkMutex mu_;
    ov_fe_t *fe_ = nullptr;
    uint64_t instance_ = 0, guest_hash_ = 0, job_key_ = 0;
    uint32_t rank_ = 0;
    bool single_copy_ = false, user_windows_ = false;
    uint64_t single_copy_min_ = 0, chunk_ = 0, stream_min_ = 0;
    bool stream_put_ = false; /* the backend offers OV_FEAT_STREAM */
    bool inline_ = false;     /* the backend offers OV_FEAT_INLINE */
    bool quiet_ = false;      /* the backend offers OV_FEAT_QUIET */
    uint64_t sent_ = 0;       /* sequence number of the last request published */
    uint64_t completed_ = 0;  /* every request up to this one has completed */
    uint32_t quiet_run_ = 0;  /* quiet requests asked for (submit_quiet) */
    bool batch_on_ = false;   /* the backend offers OV_FEAT_BATCH and osc_virt_batch is 1 */
    OpenBatch batch_;         /* osc_virt_batch.cc */
    uint32_t batch_entries_ = OV_BATCH_ENTRIES_MAX; /* a batch is sealed this full (osc_virt_batch_entries) */
    std::vector<Tracker *> quiet_trackers_{nullptr}; /* index: quiet_id ([0] unused) */
    std::vector<uint32_t> quiet_ids_;                /* freed ids */
    ov_win_t staging_{};
    /* staging ring: [tail_, head_) in use (wrapping); head_ is where the next
     * reservation starts */
    uint64_t head_ = 0, tail_ = 0, used_ = 0;
    Fifo<Completion> inflight_;
    uint32_t next_cookie_ = 1; /* wraps: completions are matched in order, not by cookie */
    uint64_t retired_ = 0;
    bool dead_ = false;
    bool yield_ = false;
    /** osc_virt_idle_nap_us applied to this rank: the nap in us, 0 = off. */
    int choose_idle_nap_us();
    IdleNap nap_{IdleNap::kDefaultIdleNs, 0};
    EventWaker waker_;
    int64_t waker_scanned_ns_ = 0; /* when waker_ last read /proc/self/fd */
    uint64_t naps_ = 0, naps_woken_ = 0; /* for the verbose log at the end */
    uint64_t nap_seen_retired_ = 0; /* retired_ at the last idle_pass() */
};

/** ov_status_t -> OMPI_ERR_* (MPI error class the user sees). */
int ompi_error_from_ov(int ov_status);

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_LINK_H */
