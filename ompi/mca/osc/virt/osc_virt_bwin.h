/*
 * osc_virt_bwin.h — the backend path of one window: which targets the host
 * backend serves, their memory, and the operations and synchronization
 * on them.
 *
 * Who serves a target (decided once, collectively, at window creation from
 * one allgather every rank sees identically):
 *   served(t)      t's window memory is a window of the same backend as
 *                  ours (same backend instance, same job): for
 *                  MPI_Win_allocate / MPI_Win_allocate_shared memory in t's
 *                  guest region; for MPI_Win_create t's own memory, registered
 *                  with the backend (WIN_REGISTER: container guests only; the
 *                  backend reaches it with process_vm_readv/writev).  A
 *                  create-window rank that exposes 0 bytes registers nothing;
 *                  it is served (every access with data is a range error,
 *                  checked before) and its lock slot lives in the window of
 *                  the lowest rank that registered memory.  Put and get go to
 *                  the backend, or straight to memory when same_guest(t).
 *   same_guest(t)  t's window memory is mapped here: the region we map
 *                  (allocate, shared), or our own memory (create, t == us):
 *                  load/store, no backend hop.  Another process's create
 *                  memory is never same_guest, even in our guest.
 *   all_local()    every rank of the window is served by every other: then
 *                  the backend also holds the window's locks (passive target
 *                  needs no progress from the target) and executes every
 *                  accumulate whose basic type it knows (osc_virt_dtype.h).
 *                  In a window that also has off-host ranks, locks and
 *                  accumulates stay with the fallback for everybody, so that
 *                  one agent sees every accumulate of a location and one lock
 *                  table sees every lock.
 *
 * Synchronization with the fallback (osc_virt_module_sync.cc calls both sides):
 *   every synchronization call first waits for this window's backend requests
 *   (drain / drain_target), then lets the fallback do its part.  Fence and
 *   PSCW keep their own notification on a private communicator, because the
 *   fallback's start may return before the target posted, and a backend
 *   request must not reach memory whose exposure epoch has not begun.
 *
 * Errors: a request the backend fails is reported by the next call that
 * waits for it (flush, unlock, fence, complete) as its MPI error class.
 * All member functions take the process's BackendLink lock themselves.
 *
 * A rank that reaches no backend (no BackendLink) still gets a BackendWindow
 * when other ranks of the window are served: it takes part in the window's
 * barriers and PSCW notifications, serves no target and issues no request;
 * its synchronization calls find nothing to wait for and lock a mutex of the
 * window's own instead of the link's.  Data operations, lock/unlock and
 * shared_query are only called where served(t), locks_here(t) or is_shared()
 * hold, which each imply a link.
 */
#ifndef OMPI_OSC_VIRT_BWIN_H
#define OMPI_OSC_VIRT_BWIN_H

#include "ompi_cxx_compat.h"

#include "osc_virt_link.h"

#include "ompi/communicator/communicator.h"
#include "ompi/group/group.h"
#include "ompi/request/request.h"
#include "ompi/win/win.h"

#include <cstdint>
#include <mutex>
#include <vector>

namespace ov::osc {

struct Peer {
    bool served = false;
    bool same_guest = false;
    uint32_t win_id = 0, win_epoch = 0;     /* 0: t exposes no memory (create, size 0) */
    uint32_t lock_win = 0, lock_epoch = 0;  /* the backend window holding t's lock slot */
    uint64_t region_off = 0; /* of the backend window */
    uint64_t part_off = 0;   /* of this rank's part inside it (shared windows) */
    uint64_t size = 0;
    int64_t disp_unit = 1;
    char *direct = nullptr;  /* same_guest: t's window memory in our address space */
};

class BackendWindow {
public:
    /** Collective over comm.  For ALLOCATE and SHARED with a backend, the
     *  memory comes from the region and *base is set.  SHARED needs every rank
     *  in one guest: OMPI_ERR_RMA_SHARED otherwise (on every rank).  CREATE
     *  registers [*base, +size) where the backend offers user windows (not in
     *  vm guest mode).  On success *out is null only for CREATE when no rank
     *  registered anything (the window is the fallback's alone); otherwise it
     *  may still serve no target at all. */
    static int create(ompi_win_t *win, void **base, size_t size, int disp_unit,
                      ompi_communicator_t *comm, opal_info_t *info, int flavor,
                      BackendWindow **out);
    /** Collective (window free): waits for our requests, a barrier, then
     *  frees the backend window(s) and deletes this. */
    int destroy();

    bool served(int t) const { return peers_[t].served; }
    bool same_guest(int t) const { return peers_[t].same_guest; }
    bool all_local() const { return all_local_; }
    /** The backend holds target t's lock. */
    bool locks_here(int t) const { return all_local_ && peers_[t].served; }
    /** The backend executes accumulates of `dt` on target t. */
    bool accumulates_here(int t, ompi_datatype_t *dt) const;
    bool any_served() const { return any_served_; }
    bool is_shared() const { return shared_; }
    /** Our window memory came from the region (so *base was set by create). */
    bool owns_memory() const { return shared_ || (0 != mine_.id && !user_memory_); }

    /* ---- data ops (range already checked; access epoch checked here).
     * `req` non-null: request-based variant, completed when done. */
    int put(const void *o, int oc, ompi_datatype_t *odt, int t, ptrdiff_t disp, int tc,
            ompi_datatype_t *tdt, ompi_request_t **req);
    int get(void *o, int oc, ompi_datatype_t *odt, int t, ptrdiff_t disp, int tc,
            ompi_datatype_t *tdt, ompi_request_t **req);
    int accumulate(const void *o, int oc, ompi_datatype_t *odt, void *r, int rc,
                   ompi_datatype_t *rdt, int t, ptrdiff_t disp, int tc, ompi_datatype_t *tdt,
                   ompi_op_t *op, bool fetch, ompi_request_t **req);
    int compare_and_swap(const void *o, const void *cmp, void *r, ompi_datatype_t *dt, int t,
                         ptrdiff_t disp);
    int shared_query(int rank, size_t *size, int *disp_unit, void *baseptr);

    /** quick_copy() declines: the caller takes the general path (put/get). */
    static constexpr int kNotQuick = 1;
    /** put (to_target) or get of `count` elements of `dt` on both sides, at
     *  `disp` of target t, when all of this holds: the backend holds t's lock
     *  (lock or lock_all; so all_local() and served(t)) and t is not in our
     *  guest; dt's data is one contiguous run from its true lower bound 0;
     *  those bytes ride inline (OV_REQ_INLINE) and lie inside t's window.
     *  Then it issues that one request and returns what the general path
     *  would (OMPI_SUCCESS, or OMPI_ERR_* when the backend is lost); else
     *  kNotQuick with nothing done and nothing counted, and the general path
     *  raises any error.  (inline, osc_virt_bwin_quick.h) */
    inline int quick_copy(bool to_target, void *o, int count, ompi_datatype_t *dt, int t, ptrdiff_t disp);

    /* ---- synchronization (the backend side only) */
    /** Barrier over the window's ranks (fence of a window without fallback). */
    int barrier() { return comm_->c_coll->coll_barrier(comm_, comm_->c_coll->coll_barrier_module); }
    int drain();             /* every request of this window */
    int drain_target(int t); /* requests to t */
    int lock(int type, int t, int assert_flags);
    int unlock(int t);
    int lock_all(int assert_flags);
    int unlock_all();
    void fence_done(int assert_flags);
    int post(ompi_group_t *group);
    int start(ompi_group_t *group);
    int complete();
    int wait();
    int test(int *flag);
    /** A passive epoch the fallback opened on t (lock via fallback). */
    void note_fallback_lock(int t, bool on) { fallback_locked_[t] = on; }
    void note_fallback_lock_all(bool on) { fallback_lock_all_ = on; }
    /** True when target t may be accessed now through the backend. */
    bool in_epoch(int t) const;
    /** Backend-locked epoch on t that also needs the fallback lazily locked
     *  (a fallback op inside it): returns whether it is already. */
    bool fallback_inside_backend_lock(int t) const { return lazy_fallback_[t]; }
    void set_fallback_inside_backend_lock(int t, bool on) { lazy_fallback_[t] = on; }
    int lock_type_held(int t) const { return lock_type_[t]; }
    bool lock_all_held() const { return lock_all_; }
    /** A passive epoch on t, opened by either path. */
    bool passive_epoch(int t) const
    {
        return 0 != lock_type_[t] || lock_all_ || fallback_locked_[t] || fallback_lock_all_;
    }
    bool fallback_passive_epoch(int t) const { return fallback_locked_[t] || fallback_lock_all_; }
    bool any_passive_epoch() const
    {
        for (int t = 0; t < n_; ++t) {
            if (passive_epoch(t)) {
                return true;
            }
        }
        return false;
    }
    /** A PSCW exposure epoch (post) not yet waited for. */
    bool exposure_open() const { return posted_; }

private:
    BackendWindow() = default;
    /** put (to_target) or get: same guest by memcpy, else through the backend. */
    int copy(bool to_target, void *o, int oc, ompi_datatype_t *odt, int t, ptrdiff_t disp,
             int tc, ompi_datatype_t *tdt, ompi_request_t **req);
    /** Access epoch check and, in a PSCW epoch, waiting for t's post (the
     *  link lock is dropped while waiting on MPI requests). */
    int issue_check(int t, std::unique_lock<LinkMutex> &guard);
    /* One put/get request of n bytes between `mine` and byte `toff` of t's
     * part, staged or (single) straight from/to `mine`.  Link lock held. */
    int issue_copy_piece(bool to_target, int t, char *mine, uint64_t toff, size_t n, bool single,
                         Finisher *fin);
    /** Small inline puts and gets of ours go into OV_REQ_BATCH requests
     *  (osc_virt_batch.h) when not request-based, to allocate windows and
     *  to registered ones (MPI_Win_create in container mode: the backend
     *  moves a batch of those with one process_vm_writev/readv). */
    bool batches() const { return link_->can_batch(); }
    /** A request of `op` on n bytes at byte `toff` of t's part; the
     *  caller sets flags, operands and the element type if not bytes. */
    ov_req_desc request_to(int t, uint16_t op, uint64_t toff, size_t n) const;
    /** The completion of a request to t, finishing `fin`'s part. */
    Completion completion_of(int t, Finisher *fin);
    /** What one accumulate request carries besides its bytes. */
    struct AccPiece {
        int t;
        uint8_t acc_op, kind;
        uint16_t esize;
        bool fetch, no_origin;
        Finisher *fin;
    };
    /* One accumulate request of n bytes at byte `toff` of t's part: origin
     * operand at `origin` (unless no_origin), old target bytes to `result`
     * (when fetch), inline or staged.  Link lock held. */
    int issue_acc_piece(const AccPiece &a, uint64_t toff, const char *origin, char *result,
                        size_t n);
    int take_error();
    /** Waits for this window's requests to t, quiet ones included.  Link lock held. */
    int wait_target(int t);
    /** The lock over this window's state: the link's, or solo_mu_ on a rank
     *  without a backend. */
    std::unique_lock<LinkMutex> hold()
    {
        return std::unique_lock<LinkMutex>(nullptr != link_ ? link_->mutex() : solo_mu_);
    }
    int rank_of(ompi_group_t *group, std::vector<int> *out) const;

    BackendLink *link_ = nullptr; /* null: this rank reaches no backend */
    LinkMutex solo_mu_;           /* hold() without a link */
    ompi_win_t *win_ = nullptr;
    ompi_communicator_t *comm_ = nullptr; /* private dup: barrier, PSCW messages */
    std::vector<Peer> peers_;
    int me_ = 0, n_ = 0;
    bool all_local_ = false, any_served_ = false, shared_ = false;
    bool user_memory_ = false; /* MPI_Win_create: mine_ is registered user memory */
    ov_win_t mine_{};          /* backend window this rank owns (id 0: none) */
    Tracker tracker_;
    /* epochs */
    bool fence_active_ = false;
    std::vector<int> lock_type_;        /* 0 none, else MPI_LOCK_SHARED/EXCLUSIVE (+NOCHECK bit) */
    std::vector<bool> backend_locked_;  /* the backend holds our lock on t */
    std::vector<bool> fallback_locked_, lazy_fallback_;
    bool lock_all_ = false, fallback_lock_all_ = false;
    std::vector<int> start_group_;      /* PSCW access epoch targets */
    std::vector<bool> access_;          /* t is in start_group_ */
    std::vector<ompi_request_t *> post_reqs_; /* per target: its post, not yet seen */
    bool started_ = false;
    std::vector<int> post_group_;       /* PSCW exposure epoch origins */
    std::vector<ompi_request_t *> done_reqs_;
    bool posted_ = false;
    char msg_byte_ = 0;
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_BWIN_H */
