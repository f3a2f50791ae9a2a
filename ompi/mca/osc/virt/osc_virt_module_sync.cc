/*
 * osc_virt_module_sync.cc — synchronization of a window: active target
 * (fence, start, complete, post, wait, test) and passive target (lock,
 * unlock, lock_all, unlock_all, sync, flush, flush_all, flush_local,
 * flush_local_all).  Shared helpers: osc_virt_module_impl.h.
 *
 * Synchronization is issued to both paths: the backend side first waits for
 * its own requests (and holds or releases the locks it keeps), then the
 * fallback does its part.  Rules that keep one epoch consistent across both:
 *   - a target whose lock the backend holds gets the fallback's lock too,
 *     lazily, the first time a fallback operation goes to it inside the
 *     epoch (ensure_fallback_epoch);
 *   - a target locked through the fallback but served by the backend is
 *     flushed through the fallback once before the first backend request
 *     (the fallback may grant locks lazily: confirm_fallback_lock).
 * (Both helpers are called before each operation, in
 * osc_virt_module_comm.cc; the epochs they open are closed and flushed here.)
 */
#include "osc_virt_module_impl.h"

#include "osc_virt_fallback.h"

#include "opal/util/output.h"

#include <atomic>

namespace ov::osc::module {

/* ---------------------------------------------------------------- active target */

int virt_fence(int assert_flags, ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    int ret = OMPI_SUCCESS;
    if (nullptr != m->backend) {
        ret = m->backend->drain();
    }
    /* The fallback's fence is collective on every rank and synchronizing:
     * nobody leaves it before everybody drained. */
    FallbackWindow *fw = route(win, "fence", -1);
    int r = nullptr != fw ? fw->ops()->osc_fence(assert_flags, fw->shadow())
                          : m->backend->barrier();
    if (nullptr != m->backend) {
        m->backend->fence_done(assert_flags);
    }
    return OMPI_SUCCESS != ret ? ret : r;
}

namespace {

/* Opens an access (start) or exposure (post) epoch on both paths: the
 * backend's first, if it serves any target; the fallback's only if that
 * worked, so a failure leaves no half-open epoch behind on the fallback. */
template <class BackendOpen, class FallbackOpen>
int open_on_both(ompi_win_t *win, const char *what, BackendOpen backend_open, FallbackOpen fallback_open)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && m->backend->any_served()) {
        int ret = backend_open(m->backend);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    FallbackWindow *fw = route(win, what, -1);
    return nullptr == fw ? OMPI_SUCCESS : fallback_open(fw);
}

/* Closes one (complete, wait) on both paths, each whatever the other
 * returned, so neither stays open; the first error wins. */
template <class BackendClose, class FallbackClose>
int close_on_both(ompi_win_t *win, const char *what, BackendClose backend_close, FallbackClose fallback_close)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    int ret = OMPI_SUCCESS;
    if (nullptr != m->backend && m->backend->any_served()) {
        ret = backend_close(m->backend);
    }
    FallbackWindow *fw = route(win, what, -1);
    if (nullptr == fw) {
        return ret;
    }
    int r = fallback_close(fw);
    return OMPI_SUCCESS != ret ? ret : r;
}

} // namespace

int virt_start(ompi_group_t *group, int assert_flags, ompi_win_t *win)
{
    return open_on_both(
        win, "start", [&](BackendWindow *bw) { return bw->start(group); },
        [&](FallbackWindow *fw) { return fw->ops()->osc_start(group, assert_flags, fw->shadow()); });
}

int virt_complete(ompi_win_t *win)
{
    return close_on_both(
        win, "complete", [](BackendWindow *bw) { return bw->complete(); },
        [](FallbackWindow *fw) { return fw->ops()->osc_complete(fw->shadow()); });
}

int virt_post(ompi_group_t *group, int assert_flags, ompi_win_t *win)
{
    return open_on_both(
        win, "post", [&](BackendWindow *bw) { return bw->post(group); },
        [&](FallbackWindow *fw) { return fw->ops()->osc_post(group, assert_flags, fw->shadow()); });
}

int virt_wait(ompi_win_t *win)
{
    return close_on_both(
        win, "wait", [](BackendWindow *bw) { return bw->exposure_open() ? bw->wait() : OMPI_SUCCESS; },
        [](FallbackWindow *fw) { return fw->ops()->osc_wait(fw->shadow()); });
}

int virt_test(ompi_win_t *win, int *flag)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && m->backend->any_served() && m->backend->exposure_open()) {
        int ret = m->backend->test(flag);
        if (OMPI_SUCCESS != ret || !*flag) {
            return ret;
        }
    }
    FallbackWindow *fw = route(win, "test", -1);
    if (nullptr == fw) {
        *flag = 1;
        return OMPI_SUCCESS;
    }
    return fw->ops()->osc_test(fw->shadow(), flag);
}

/* ---------------------------------------------------------------- passive target */

int virt_lock(int lock_type, int target, int assert_flags, ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    if (nullptr != bw && target >= 0 && target < m->ntargets && bw->locks_here(target)) {
        note(win, "lock", target, ov_osc_path::backend);
        return bw->lock(lock_type, target, assert_flags);
    }
    FallbackWindow *fw = route(win, "lock", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("lock");
    }
    int ret = fw->ops()->osc_lock(lock_type, target, assert_flags, fw->shadow());
    if (OMPI_SUCCESS == ret && nullptr != bw) {
        bw->note_fallback_lock(target, true);
        m->fallback_confirmed[target] = 0 != (assert_flags & MPI_MODE_NOCHECK);
    }
    return ret;
}

int virt_unlock(int target, ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    FallbackWindow *fw = m->fallback;
    if (nullptr != bw && target >= 0 && target < m->ntargets && bw->locks_here(target)) {
        note(win, "unlock", target, ov_osc_path::backend);
        int ret = OMPI_SUCCESS;
        if (bw->fallback_inside_backend_lock(target)) {
            ret = fw->ops()->osc_unlock(target, fw->shadow());
            bw->set_fallback_inside_backend_lock(target, false);
        }
        m->fallback_dirty[target] = false;
        /* the backend lock goes last: everything in the epoch is done */
        int r = bw->unlock(target);
        return OMPI_SUCCESS != ret ? ret : r;
    }
    int ret = OMPI_SUCCESS;
    if (nullptr != bw && target >= 0 && target < m->ntargets && bw->served(target)) {
        ret = bw->drain_target(target);
    }
    fw = route(win, "unlock", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("unlock");
    }
    int r = fw->ops()->osc_unlock(target, fw->shadow());
    if (nullptr != bw && OMPI_SUCCESS == r) {
        bw->note_fallback_lock(target, false);
        m->fallback_confirmed[target] = false;
        m->fallback_dirty[target] = false;
    }
    return OMPI_SUCCESS != ret ? ret : r;
}

int virt_lock_all(int assert_flags, ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    if (nullptr != bw && bw->all_local()) {
        note(win, "lock_all", -1, ov_osc_path::backend);
        return bw->lock_all(assert_flags);
    }
    FallbackWindow *fw = route(win, "lock_all", -1);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("lock_all");
    }
    int ret = fw->ops()->osc_lock_all(assert_flags, fw->shadow());
    if (OMPI_SUCCESS == ret && nullptr != bw) {
        bw->note_fallback_lock_all(true);
        m->fallback_confirmed.assign(m->ntargets, 0 != (assert_flags & MPI_MODE_NOCHECK));
    }
    return ret;
}

int virt_unlock_all(ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    FallbackWindow *fw = m->fallback;
    if (nullptr != bw && bw->all_local()) {
        note(win, "unlock_all", -1, ov_osc_path::backend);
        int ret = OMPI_SUCCESS;
        for (int t = 0; t < m->ntargets; ++t) {
            if (bw->fallback_inside_backend_lock(t)) {
                int r = fw->ops()->osc_unlock(t, fw->shadow());
                bw->set_fallback_inside_backend_lock(t, false);
                if (OMPI_SUCCESS == ret) {
                    ret = r;
                }
            }
        }
        m->fallback_dirty.assign(m->ntargets, false);
        int r = bw->unlock_all();
        return OMPI_SUCCESS != ret ? ret : r;
    }
    int ret = OMPI_SUCCESS;
    if (nullptr != bw) {
        ret = bw->drain();
    }
    fw = route(win, "unlock_all", -1);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("unlock_all");
    }
    int r = fw->ops()->osc_unlock_all(fw->shadow());
    if (nullptr != bw && OMPI_SUCCESS == r) {
        bw->note_fallback_lock_all(false);
        m->fallback_confirmed.assign(m->ntargets, false);
        m->fallback_dirty.assign(m->ntargets, false);
    }
    return OMPI_SUCCESS != ret ? ret : r;
}

int virt_sync(ompi_win_t *win)
{
    /* load/store on shared windows: order them against everybody's */
    std::atomic_thread_fence(std::memory_order_seq_cst);
    FallbackWindow *fw = route(win, "sync", -1);
    if (nullptr == fw) {
        return OMPI_SUCCESS;
    }
    return fw->ops()->osc_sync(fw->shadow());
}

namespace {

/* flush / flush_local of one target; `local` picks the fallback's variant.
 * Backend requests are flushed to completion either way (a staged put is
 * locally complete at once, a single-copy one only when it completed). */
int flush_target(ompi_win_t *win, int target, bool local)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    FallbackWindow *fw = m->fallback;
    const char *name = local ? "flush_local" : "flush";
    if (nullptr != bw && target >= 0 && target < m->ntargets && bw->served(target)) {
        if (!bw->passive_epoch(target)) {
            return OMPI_ERR_RMA_SYNC;
        }
        note(win, name, target, ov_osc_path::backend);
        int ret = bw->drain_target(target);
        if (m->fallback_dirty[target]) {
            int r = local ? fw->ops()->osc_flush_local(target, fw->shadow())
                          : fw->ops()->osc_flush(target, fw->shadow());
            m->fallback_dirty[target] = false;
            if (OMPI_SUCCESS == ret) {
                ret = r;
            }
        }
        return ret;
    }
    fw = route(win, name, target);
    if (nullptr == fw) { /* unreachable while every target is served; no crash if not */
        return NO_FALLBACK_RESULT(name);
    }
    return local ? fw->ops()->osc_flush_local(target, fw->shadow())
                 : fw->ops()->osc_flush(target, fw->shadow());
}

int flush_every_target(ompi_win_t *win, bool local)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    FallbackWindow *fw = m->fallback;
    const char *name = local ? "flush_local_all" : "flush_all";
    if (nullptr != bw && bw->all_local()) {
        /* every lock is the backend's; the fallback has an epoch only where
         * a fallback op opened one */
        if (!bw->any_passive_epoch()) {
            return OMPI_ERR_RMA_SYNC;
        }
        note(win, name, -1, ov_osc_path::backend);
        int ret = bw->drain();
        for (int t = 0; t < m->ntargets; ++t) {
            if (m->fallback_dirty[t] && bw->fallback_inside_backend_lock(t)) {
                int r = local ? fw->ops()->osc_flush_local(t, fw->shadow())
                              : fw->ops()->osc_flush(t, fw->shadow());
                if (OMPI_SUCCESS == ret) {
                    ret = r;
                }
            }
            m->fallback_dirty[t] = false;
        }
        return ret;
    }
    int ret = OMPI_SUCCESS;
    if (nullptr != bw) {
        ret = bw->drain();
        m->fallback_dirty.assign(m->ntargets, false);
    }
    fw = route(win, name, -1);
    if (nullptr == fw) {
        return OMPI_SUCCESS != ret ? ret : NO_FALLBACK_RESULT(name);
    }
    int r = local ? fw->ops()->osc_flush_local_all(fw->shadow())
                  : fw->ops()->osc_flush_all(fw->shadow());
    return OMPI_SUCCESS != ret ? ret : r;
}
} // namespace

int virt_flush(int target, ompi_win_t *win) { return flush_target(win, target, false); }
int virt_flush_all(ompi_win_t *win) { return flush_every_target(win, false); }
int virt_flush_local(int target, ompi_win_t *win) { return flush_target(win, target, true); }
int virt_flush_local_all(ompi_win_t *win) { return flush_every_target(win, true); }

} // namespace ov::osc::module
