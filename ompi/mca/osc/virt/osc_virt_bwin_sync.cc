/*
 * osc_virt_bwin_sync.cc — the backend side of synchronization: waiting for
 * requests, backend-held locks, access epochs, and the PSCW notifications
 * (contract: osc_virt_bwin.h).
 */
#include "osc_virt.h"
#include "osc_virt_bwin.h"

#include "ompi/mca/pml/pml.h"
#include "opal/runtime/opal_progress.h"

#include <sched.h>

namespace ov::osc {

namespace {

constexpr int kTagPost = 1; /* target -> origin: exposure epoch open */
constexpr int kTagDone = 2; /* origin -> target: access epoch complete */

} // namespace

int BackendWindow::take_error()
{
    int err = tracker_.first_error;
    tracker_.first_error = OMPI_SUCCESS;
    return err;
}

int BackendWindow::drain()
{
    std::unique_lock<LinkMutex> guard = hold();
    if (nullptr == link_) {
        return take_error(); /* nothing was ever issued */
    }
    int ret = link_->seal_batch(); /* before reading the tracker: it counts the batch */
    if (OMPI_SUCCESS == ret) {
        ret = link_->settle(tracker_.quiet_last);
    }
    if (OMPI_SUCCESS == ret) {
        ret = link_->wait_until([&] { return 0 == tracker_.total; });
    }
    int err = take_error();
    return OMPI_SUCCESS != ret ? ret : err;
}

int BackendWindow::wait_target(int t)
{
    int ret = link_->seal_batch(); /* before reading the tracker: it counts the batch */
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    ret = link_->settle(tracker_.quiet_seq[t]);
    return OMPI_SUCCESS != ret ? ret : link_->wait_until([&] { return 0 == tracker_.outstanding[t]; });
}

int BackendWindow::drain_target(int t)
{
    std::unique_lock<LinkMutex> guard = hold();
    if (nullptr == link_) {
        return take_error();
    }
    int ret = wait_target(t);
    int err = take_error();
    return OMPI_SUCCESS != ret ? ret : err;
}

bool BackendWindow::in_epoch(int t) const
{
    return fence_active_ || 0 != lock_type_[t] || lock_all_ || fallback_locked_[t] ||
           fallback_lock_all_ || (started_ && access_[t]);
}

int BackendWindow::issue_check(int t, std::unique_lock<LinkMutex> &guard)
{
    if (!in_epoch(t)) {
        OSC_VIRT_VERBOSE(10, "access to target %d outside an access epoch: MPI_ERR_RMA_SYNC", t);
        return OMPI_ERR_RMA_SYNC;
    }
    if (started_ && access_[t] && MPI_REQUEST_NULL != post_reqs_[t]) {
        /* Its exposure epoch must have begun before we touch its memory. */
        guard.unlock();
        int ret = ompi_request_wait(&post_reqs_[t], MPI_STATUS_IGNORE);
        guard.lock();
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    return OMPI_SUCCESS;
}

int BackendWindow::lock(int type, int t, int assert_flags)
{
    std::unique_lock<LinkMutex> guard = hold();
    if (0 != lock_type_[t] || lock_all_) {
        return OMPI_ERR_RMA_SYNC;
    }
    if (0 == (assert_flags & MPI_MODE_NOCHECK)) {
        const Peer &p = peers_[t];
        ov_req_desc d{};
        d.op = OV_OP_LOCK;
        d.flags = MPI_LOCK_EXCLUSIVE == type ? OV_REQ_EXCLUSIVE : 0;
        d.dtype_size = 1;
        d.target_win = p.lock_win; /* t's own window, or the anchor of a 0-byte rank */
        d.target_epoch = p.lock_epoch;
        d.target_off = static_cast<uint64_t>(t);
        for (unsigned spins = 0;; ++spins) {
            int status = OV_OK;
            int ret = link_->run(d, &status);
            if (OMPI_SUCCESS != ret) {
                return ret;
            }
            if (OV_OK == status) {
                break;
            }
            if (OV_ERR_LOCK_BUSY != status) {
                return ompi_error_from_ov(status);
            }
            /* Held by somebody else: let MPI progress (they may need us to
             * unlock) and back off; the holder's death releases it too. */
            guard.unlock();
            opal_progress();
            if (spins > 64) {
                sched_yield();
            }
            guard.lock();
        }
        backend_locked_[t] = true;
    }
    lock_type_[t] = type;
    return OMPI_SUCCESS;
}

int BackendWindow::unlock(int t)
{
    std::unique_lock<LinkMutex> guard = hold();
    if (0 == lock_type_[t]) {
        return OMPI_ERR_RMA_SYNC;
    }
    int ret = wait_target(t);
    int err = take_error();
    if (backend_locked_[t]) {
        const Peer &p = peers_[t];
        ov_req_desc d{};
        d.op = OV_OP_UNLOCK;
        d.dtype_size = 1;
        d.target_win = p.lock_win; /* t's own window, or the anchor of a 0-byte rank */
        d.target_epoch = p.lock_epoch;
        d.target_off = static_cast<uint64_t>(t);
        int status = OV_OK;
        int r = link_->run(d, &status);
        if (OMPI_SUCCESS == ret) {
            ret = OMPI_SUCCESS != r ? r : ompi_error_from_ov(status);
        }
        backend_locked_[t] = false;
    }
    lock_type_[t] = 0;
    return OMPI_SUCCESS != ret ? ret : err;
}

int BackendWindow::lock_all(int assert_flags)
{
    {
        std::unique_lock<LinkMutex> guard = hold();
        if (lock_all_) {
            return OMPI_ERR_RMA_SYNC;
        }
        for (int t = 0; t < n_; ++t) {
            if (0 != lock_type_[t]) {
                return OMPI_ERR_RMA_SYNC;
            }
        }
    }
    for (int t = 0; t < n_; ++t) {
        if (locks_here(t)) {
            int ret = lock(MPI_LOCK_SHARED, t, assert_flags);
            if (OMPI_SUCCESS != ret) {
                for (int u = 0; u < t; ++u) {
                    if (locks_here(u)) {
                        (void) unlock(u);
                    }
                }
                return ret;
            }
        }
    }
    std::unique_lock<LinkMutex> guard = hold();
    lock_all_ = true;
    return OMPI_SUCCESS;
}

int BackendWindow::unlock_all()
{
    {
        std::unique_lock<LinkMutex> guard = hold();
        if (!lock_all_) {
            return OMPI_ERR_RMA_SYNC;
        }
    }
    int ret = OMPI_SUCCESS;
    for (int t = 0; t < n_; ++t) {
        if (0 != lock_type_[t]) {
            int r = unlock(t);
            if (OMPI_SUCCESS == ret) {
                ret = r;
            }
        }
    }
    int r = drain();
    std::unique_lock<LinkMutex> guard = hold();
    lock_all_ = false;
    return OMPI_SUCCESS != ret ? ret : r;
}

void BackendWindow::fence_done(int assert_flags)
{
    std::unique_lock<LinkMutex> guard = hold();
    fence_active_ = 0 == (assert_flags & MPI_MODE_NOSUCCEED);
}

int BackendWindow::rank_of(ompi_group_t *group, std::vector<int> *out) const
{
    const int n = ompi_group_size(group);
    std::vector<int> in(n);
    for (int i = 0; i < n; ++i) {
        in[i] = i;
    }
    out->assign(n, MPI_UNDEFINED);
    return ompi_group_translate_ranks(group, n, in.data(), win_->w_group, out->data());
}

int BackendWindow::post(ompi_group_t *group)
{
    if (posted_) {
        return OMPI_ERR_RMA_SYNC;
    }
    int ret = rank_of(group, &post_group_);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    done_reqs_.assign(post_group_.size(), MPI_REQUEST_NULL);
    for (size_t i = 0; i < post_group_.size(); ++i) {
        const int origin = post_group_[i];
        ret = MCA_PML_CALL(irecv(&msg_byte_, 0, MPI_BYTE, origin, kTagDone, comm_, &done_reqs_[i]));
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
        ret = MCA_PML_CALL(send(&msg_byte_, 0, MPI_BYTE, origin, kTagPost,
                                MCA_PML_BASE_SEND_STANDARD, comm_));
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    posted_ = true;
    return OMPI_SUCCESS;
}

int BackendWindow::start(ompi_group_t *group)
{
    std::unique_lock<LinkMutex> guard = hold();
    if (started_) {
        return OMPI_ERR_RMA_SYNC;
    }
    int ret = rank_of(group, &start_group_);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    for (int t : start_group_) {
        access_[t] = true;
        ret = MCA_PML_CALL(irecv(&msg_byte_, 0, MPI_BYTE, t, kTagPost, comm_, &post_reqs_[t]));
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    started_ = true;
    fence_active_ = false;
    return OMPI_SUCCESS;
}

int BackendWindow::complete()
{
    if (!started_) {
        return OMPI_ERR_RMA_SYNC;
    }
    int ret = drain();
    for (int t : start_group_) {
        if (MPI_REQUEST_NULL != post_reqs_[t]) {
            int r = ompi_request_wait(&post_reqs_[t], MPI_STATUS_IGNORE);
            if (OMPI_SUCCESS != r) {
                return r;
            }
        }
        int r = MCA_PML_CALL(send(&msg_byte_, 0, MPI_BYTE, t, kTagDone,
                                  MCA_PML_BASE_SEND_STANDARD, comm_));
        if (OMPI_SUCCESS != r) {
            return r;
        }
    }
    std::unique_lock<LinkMutex> guard = hold();
    for (int t : start_group_) {
        access_[t] = false;
    }
    start_group_.clear();
    started_ = false;
    return ret;
}

int BackendWindow::wait()
{
    if (!posted_) {
        return OMPI_ERR_RMA_SYNC;
    }
    int ret = ompi_request_wait_all(done_reqs_.size(), done_reqs_.data(), MPI_STATUSES_IGNORE);
    posted_ = false;
    return ret;
}

int BackendWindow::test(int *flag)
{
    if (!posted_) {
        return OMPI_ERR_RMA_SYNC;
    }
    int ret = ompi_request_test_all(done_reqs_.size(), done_reqs_.data(), flag,
                                    MPI_STATUSES_IGNORE);
    if (OMPI_SUCCESS == ret && *flag) {
        posted_ = false;
    }
    return ret;
}

} // namespace ov::osc
