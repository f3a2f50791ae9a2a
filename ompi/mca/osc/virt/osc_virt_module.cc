/*
 * osc_virt_module.cc — the per-window function table.  Each communication
 * entry picks the path that serves its target (osc_virt.h, "Paths"), counts
 * it, traces it at osc_virt_verbose >= 20, and returns the path's result
 * unchanged so MPI error classes reach the user's error handler as the path
 * raised them.
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
 */
#include "osc_virt.h"
#include "osc_virt_bwin.h"
#include "osc_virt_dtype.h"
#include "osc_virt_fallback.h"

#include "osc_virt_range.h"

#include "ompi/communicator/communicator.h"
#include "ompi/datatype/ompi_datatype.h"
#include "ompi/win/win.h"
#include "opal/util/output.h"

#include <new>

namespace {

using ov::osc::FallbackWindow;

ompi_osc_virt_module_t *virt_module(ompi_win_t *win)
{
    return reinterpret_cast<ompi_osc_virt_module_t *>(win->w_osc_module);
}

/* Chooses the path for `target` (-1: the call names no target), counts and
 * traces it, and returns the fallback window serving it. */
FallbackWindow *route(ompi_win_t *win, const char *op, int target)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    constexpr ov_osc_path path = ov_osc_path::fallback;
    if (nullptr == m->fallback) {
        OSC_VIRT_VERBOSE(10, "%s target %d needs the fallback, which this window does not have "
                         "(MPI_THREAD_MULTIPLE): MPI_ERR_UNSUPPORTED_OPERATION", op, target);
        return nullptr;
    }
    m->ops_by_path[static_cast<int>(path)].fetch_add(1, std::memory_order_relaxed);
    if (target >= 0) {
        OSC_VIRT_VERBOSE(20, "%s target %d -> %s(%s)", op, target, ompi_osc_virt_path_name(path),
                         m->fallback->component_name());
    } else {
        OSC_VIRT_VERBOSE(20, "%s -> %s(%s)", op, ompi_osc_virt_path_name(path),
                         m->fallback->component_name());
    }
    return m->fallback;
}

/* OMPI_SUCCESS when `count` elements of `dt` at `disp` fit in the target's
 * window, OMPI_ERR_RMA_RANGE (MPI_ERR_RMA_RANGE) otherwise. */
int check_access(ompi_win_t *win, const char *op, int target, ptrdiff_t disp, int count,
                 ompi_datatype_t *dt)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr == m->targets || target < 0 || target >= m->ntargets) {
        return OMPI_SUCCESS;
    }
    ptrdiff_t lb = 0, extent = 0, true_lb = 0, true_extent = 0;
    ompi_datatype_get_extent(dt, &lb, &extent);
    ompi_datatype_get_true_extent(dt, &true_lb, &true_extent);
    const ompi_osc_virt_target_t &t = m->targets[target];
    if (ov::osc::access_in_window(t.size, t.disp_unit, disp, count, extent, true_lb,
                                  true_extent)) {
        return OMPI_SUCCESS;
    }
    OSC_VIRT_VERBOSE(10, "%s target %d: disp %td x %d elements (extent %td) outside its "
                     "%llu-byte window: MPI_ERR_RMA_RANGE", op, target, disp, count, extent,
                     static_cast<unsigned long long>(t.size));
    return OMPI_ERR_RMA_RANGE;
}

/* Returns from the calling function with `call`'s result unless it is
 * OMPI_SUCCESS. */
#define RETURN_IF_FAILED(call)                                                        \
    do {                                                                              \
        int failed_ret_ = (call);                                                     \
        if (OMPI_SUCCESS != failed_ret_) {                                            \
            return failed_ret_;                                                       \
        }                                                                             \
    } while (0)

/* Counts and traces one call on `path`. */
void note(ompi_win_t *win, const char *op, int target, ov_osc_path path)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    m->ops_by_path[static_cast<int>(path)].fetch_add(1, std::memory_order_relaxed);
    OSC_VIRT_VERBOSE(20, "%s target %d -> %s", op, target, ompi_osc_virt_path_name(path));
}

ov::osc::BackendWindow *served_by_backend(ompi_win_t *win, int target)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && target >= 0 && target < m->ntargets &&
        m->backend->served(target)) {
        return m->backend;
    }
    return nullptr;
}

/* A fallback operation is about to go to `target`.  When the backend holds
 * the target's lock, the fallback has no epoch there yet: open one. */
int ensure_fallback_epoch(ompi_win_t *win, int target)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    if (nullptr == m->fallback) {
        OSC_VIRT_VERBOSE(10, "target %d: operation needs the fallback, which this window does "
                         "not have (MPI_THREAD_MULTIPLE): MPI_ERR_UNSUPPORTED_OPERATION", target);
        return MPI_ERR_UNSUPPORTED_OPERATION;
    }
    if (nullptr != bw && target >= 0 && target < m->ntargets && bw->locks_here(target)) {
        const int held = bw->lock_type_held(target);
        const bool all = bw->lock_all_held();
        if ((0 != held || all) && !bw->fallback_inside_backend_lock(target)) {
            FallbackWindow *fw = m->fallback;
            int type = (0 != held) ? held : MPI_LOCK_SHARED;
            int ret = fw->ops()->osc_lock(type, target, 0, fw->shadow());
            if (OMPI_SUCCESS != ret) {
                return ret;
            }
            bw->set_fallback_inside_backend_lock(target, true);
        }
    }
    if (nullptr != bw && target >= 0 && target < m->ntargets) {
        m->fallback_dirty[target] = true;
    }
    return OMPI_SUCCESS;
}

/* A backend request is about to go to `target` inside a passive epoch the
 * fallback opened: make sure the fallback really holds the lock. */
int confirm_fallback_lock(ompi_win_t *win, int target)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    ov::osc::BackendWindow *bw = m->backend;
    if (bw->locks_here(target) || m->fallback_confirmed[target] ||
        !bw->fallback_passive_epoch(target)) {
        return OMPI_SUCCESS;
    }
    FallbackWindow *fw = m->fallback;
    int ret = fw->ops()->osc_flush(target, fw->shadow());
    if (OMPI_SUCCESS == ret) {
        m->fallback_confirmed[target] = true;
    }
    return ret;
}

/* What a call that needs the fallback returns when the window has none. */
#define NO_FALLBACK_RESULT(op) MPI_ERR_UNSUPPORTED_OPERATION /* an MPI class passes through */

ov_osc_path data_path(ov::osc::BackendWindow *bw, int target)
{
    return bw->same_guest(target) ? ov_osc_path::direct : ov_osc_path::backend;
}

/* ---------------------------------------------------------------- window */

int virt_shared_query(ompi_win_t *win, int rank, size_t *size, int *disp_unit, void *baseptr)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && m->backend->is_shared()) {
        return m->backend->shared_query(rank, size, disp_unit, baseptr);
    }
    /* Only MPI_Win_allocate_shared windows (MPI-3.1 11.2.3), and those are
     * always the backend's: what Open MPI answers for an osc without the
     * call (pt2pt's NULL entry became MPI_ERR_INTERN through us before). */
    OSC_VIRT_VERBOSE(10, "shared_query on a window not made by MPI_Win_allocate_shared: "
                     "MPI_ERR_RMA_FLAVOR");
    return MPI_ERR_RMA_FLAVOR;
}

int virt_attach(ompi_win_t *win, void *base, size_t len)
{
    FallbackWindow *fw = route(win, "attach", -1);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("attach");
    }
    return fw->ops()->osc_win_attach(fw->shadow(), base, len);
}

int virt_detach(ompi_win_t *win, const void *base)
{
    FallbackWindow *fw = route(win, "detach", -1);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("detach");
    }
    return fw->ops()->osc_win_detach(fw->shadow(), base);
}

int virt_free(ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    for (int p = 0; p < static_cast<int>(ov_osc_path::count); ++p) {
        OSC_VIRT_VERBOSE(10, "window %s: %llu calls via %s", win->w_name,
                         static_cast<unsigned long long>(m->ops_by_path[p].load()),
                         ompi_osc_virt_path_name(static_cast<ov_osc_path>(p)));
    }
    /* The fallback first: its free is collective and ends every access to
     * our memory through it; the backend side then waits, barriers and
     * returns the region memory. */
    int ret = nullptr != m->fallback ? m->fallback->destroy() : OMPI_SUCCESS;
    m->fallback = nullptr;
    if (nullptr != m->backend) {
        int r = m->backend->destroy();
        m->backend = nullptr;
        if (OMPI_SUCCESS == ret) {
            ret = r;
        }
    }
    delete[] m->targets;
    m->targets = nullptr;
    win->w_osc_module = nullptr;
    delete m;
    return ret;
}

/* ---------------------------------------------------------------- communication */

int virt_put(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
             ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "put", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = served_by_backend(win, target)) {
        RETURN_IF_FAILED(confirm_fallback_lock(win, target));
        note(win, "put", target, data_path(bw, target));
        return bw->put(origin, origin_count, origin_dt, target, target_disp, target_count,
                       target_dt, nullptr);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "put", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("put");
    }
    return fw->ops()->osc_put(origin, origin_count, origin_dt, target, target_disp, target_count,
                              target_dt, fw->shadow());
}

int virt_get(void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
             ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "get", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = served_by_backend(win, target)) {
        RETURN_IF_FAILED(confirm_fallback_lock(win, target));
        note(win, "get", target, data_path(bw, target));
        return bw->get(origin, origin_count, origin_dt, target, target_disp, target_count,
                       target_dt, nullptr);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "get", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("get");
    }
    return fw->ops()->osc_get(origin, origin_count, origin_dt, target, target_disp, target_count,
                              target_dt, fw->shadow());
}

/* The backend computes this accumulate (type it knows, window all local). */
ov::osc::BackendWindow *accumulates_in_backend(ompi_win_t *win, int target, ompi_datatype_t *dt,
                                               ompi_op_t *op)
{
    ov::osc::BackendWindow *bw = served_by_backend(win, target);
    uint8_t acc_op;
    if (nullptr != bw && bw->accumulates_here(target, dt) && ov::osc::accumulate_op(op, &acc_op)) {
        return bw;
    }
    return nullptr;
}

int virt_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
                    ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                    ompi_op_t *op, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "accumulate", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = accumulates_in_backend(win, target, target_dt, op)) {
        note(win, "accumulate", target, ov_osc_path::backend);
        return bw->accumulate(origin, origin_count, origin_dt, nullptr, 0, nullptr, target,
                              target_disp, target_count, target_dt, op, false, nullptr);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "accumulate", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("accumulate");
    }
    return fw->ops()->osc_accumulate(origin, origin_count, origin_dt, target, target_disp,
                                     target_count, target_dt, op, fw->shadow());
}

int virt_compare_and_swap(const void *origin, const void *compare, void *result,
                          ompi_datatype_t *dt, int target, ptrdiff_t target_disp, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "compare_and_swap", target, target_disp, 1, dt));
    if (ov::osc::BackendWindow *bw =
            accumulates_in_backend(win, target, dt, &ompi_mpi_op_replace.op)) {
        note(win, "compare_and_swap", target, ov_osc_path::backend);
        return bw->compare_and_swap(origin, compare, result, dt, target, target_disp);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "compare_and_swap", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("compare_and_swap");
    }
    return fw->ops()->osc_compare_and_swap(origin, compare, result, dt, target, target_disp,
                                           fw->shadow());
}

int virt_fetch_and_op(const void *origin, void *result, ompi_datatype_t *dt, int target,
                      ptrdiff_t target_disp, ompi_op_t *op, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "fetch_and_op", target, target_disp, 1, dt));
    if (ov::osc::BackendWindow *bw = accumulates_in_backend(win, target, dt, op)) {
        note(win, "fetch_and_op", target, ov_osc_path::backend);
        return bw->accumulate(origin, 1, dt, result, 1, dt, target, target_disp, 1, dt, op, true,
                              nullptr);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "fetch_and_op", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("fetch_and_op");
    }
    return fw->ops()->osc_fetch_and_op(origin, result, dt, target, target_disp, op, fw->shadow());
}

int virt_get_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                        void *result, int result_count, ompi_datatype_t *result_dt, int target,
                        ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                        ompi_op_t *op, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "get_accumulate", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = accumulates_in_backend(win, target, target_dt, op)) {
        note(win, "get_accumulate", target, ov_osc_path::backend);
        return bw->accumulate(origin, origin_count, origin_dt, result, result_count, result_dt,
                              target, target_disp, target_count, target_dt, op, true, nullptr);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "get_accumulate", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("get_accumulate");
    }
    return fw->ops()->osc_get_accumulate(origin, origin_count, origin_dt, result, result_count,
                                         result_dt, target, target_disp, target_count, target_dt,
                                         op, fw->shadow());
}

int virt_rput(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
              ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
              ompi_win_t *win, ompi_request_t **request)
{
    RETURN_IF_FAILED(check_access(win, "rput", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = served_by_backend(win, target)) {
        RETURN_IF_FAILED(confirm_fallback_lock(win, target));
        note(win, "rput", target, data_path(bw, target));
        return bw->put(origin, origin_count, origin_dt, target, target_disp, target_count,
                       target_dt, request);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "rput", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("rput");
    }
    return fw->ops()->osc_rput(origin, origin_count, origin_dt, target, target_disp,
                               target_count, target_dt, fw->shadow(), request);
}

int virt_rget(void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
              ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
              ompi_win_t *win, ompi_request_t **request)
{
    RETURN_IF_FAILED(check_access(win, "rget", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = served_by_backend(win, target)) {
        RETURN_IF_FAILED(confirm_fallback_lock(win, target));
        note(win, "rget", target, data_path(bw, target));
        return bw->get(origin, origin_count, origin_dt, target, target_disp, target_count,
                       target_dt, request);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "rget", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("rget");
    }
    return fw->ops()->osc_rget(origin, origin_count, origin_dt, target, target_disp,
                               target_count, target_dt, fw->shadow(), request);
}

int virt_raccumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                     int target, ptrdiff_t target_disp, int target_count,
                     ompi_datatype_t *target_dt, ompi_op_t *op, ompi_win_t *win,
                     ompi_request_t **request)
{
    RETURN_IF_FAILED(check_access(win, "raccumulate", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = accumulates_in_backend(win, target, target_dt, op)) {
        note(win, "raccumulate", target, ov_osc_path::backend);
        return bw->accumulate(origin, origin_count, origin_dt, nullptr, 0, nullptr, target,
                              target_disp, target_count, target_dt, op, false, request);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "raccumulate", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("raccumulate");
    }
    return fw->ops()->osc_raccumulate(origin, origin_count, origin_dt, target, target_disp,
                                      target_count, target_dt, op, fw->shadow(), request);
}

int virt_rget_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                         void *result, int result_count, ompi_datatype_t *result_dt, int target,
                         ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                         ompi_op_t *op, ompi_win_t *win, ompi_request_t **request)
{
    RETURN_IF_FAILED(check_access(win, "rget_accumulate", target, target_disp, target_count, target_dt));
    if (ov::osc::BackendWindow *bw = accumulates_in_backend(win, target, target_dt, op)) {
        note(win, "rget_accumulate", target, ov_osc_path::backend);
        return bw->accumulate(origin, origin_count, origin_dt, result, result_count, result_dt,
                              target, target_disp, target_count, target_dt, op, true, request);
    }
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, "rget_accumulate", target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT("rget_accumulate");
    }
    return fw->ops()->osc_rget_accumulate(origin, origin_count, origin_dt, result, result_count,
                                          result_dt, target, target_disp, target_count,
                                          target_dt, op, fw->shadow(), request);
}

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

int virt_start(ompi_group_t *group, int assert_flags, ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && m->backend->any_served()) {
        int ret = m->backend->start(group);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    FallbackWindow *fw = route(win, "start", -1);
    if (nullptr == fw) {
        return OMPI_SUCCESS;
    }
    return fw->ops()->osc_start(group, assert_flags, fw->shadow());
}

int virt_complete(ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    int ret = OMPI_SUCCESS;
    if (nullptr != m->backend && m->backend->any_served()) {
        ret = m->backend->complete();
    }
    FallbackWindow *fw = route(win, "complete", -1);
    if (nullptr == fw) {
        return ret;
    }
    int r = fw->ops()->osc_complete(fw->shadow());
    return OMPI_SUCCESS != ret ? ret : r;
}

int virt_post(ompi_group_t *group, int assert_flags, ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && m->backend->any_served()) {
        int ret = m->backend->post(group);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    FallbackWindow *fw = route(win, "post", -1);
    if (nullptr == fw) {
        return OMPI_SUCCESS;
    }
    return fw->ops()->osc_post(group, assert_flags, fw->shadow());
}

int virt_wait(ompi_win_t *win)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    int ret = OMPI_SUCCESS;
    if (nullptr != m->backend && m->backend->any_served() && m->backend->exposure_open()) {
        ret = m->backend->wait();
    }
    FallbackWindow *fw = route(win, "wait", -1);
    if (nullptr == fw) {
        return ret;
    }
    int r = fw->ops()->osc_wait(fw->shadow());
    return OMPI_SUCCESS != ret ? ret : r;
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
    int r = local ? fw->ops()->osc_flush_local_all(fw->shadow())
                  : fw->ops()->osc_flush_all(fw->shadow());
    return OMPI_SUCCESS != ret ? ret : r;
}

int virt_flush(int target, ompi_win_t *win) { return flush_target(win, target, false); }
int virt_flush_all(ompi_win_t *win) { return flush_every_target(win, false); }
int virt_flush_local(int target, ompi_win_t *win) { return flush_target(win, target, true); }
int virt_flush_local_all(ompi_win_t *win) { return flush_every_target(win, true); }

} // namespace

const char *ompi_osc_virt_path_name(ov_osc_path path)
{
    switch (path) {
    case ov_osc_path::fallback: return "fallback";
    case ov_osc_path::backend: return "backend";
    case ov_osc_path::direct: return "direct";
    default: return "unknown";
    }
}

int ompi_osc_virt_module_exchange_extents(ompi_osc_virt_module_t *module,
                                          ompi_communicator_t *comm, size_t size, int disp_unit)
{
    const int n = ompi_comm_size(comm);
    auto *targets = new (std::nothrow) ompi_osc_virt_target_t[n];
    if (nullptr == targets) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    const ompi_osc_virt_target_t mine = {static_cast<uint64_t>(size),
                                         static_cast<int64_t>(disp_unit)};
    static_assert(sizeof(ompi_osc_virt_target_t) == 2 * sizeof(uint64_t));
    int ret = comm->c_coll->coll_allgather(&mine, 2, MPI_UINT64_T, targets, 2, MPI_UINT64_T, comm,
                                           comm->c_coll->coll_allgather_module);
    if (OMPI_SUCCESS != ret) {
        delete[] targets;
        return ret;
    }
    module->targets = targets;
    module->ntargets = n;
    return OMPI_SUCCESS;
}

void ompi_osc_virt_module_init_ops(ompi_osc_virt_module_t *module)
{
    ompi_osc_base_module_t &t = module->super;
    t.osc_win_shared_query = virt_shared_query;
    t.osc_win_attach = virt_attach;
    t.osc_win_detach = virt_detach;
    t.osc_free = virt_free;

    t.osc_put = virt_put;
    t.osc_get = virt_get;
    t.osc_accumulate = virt_accumulate;
    t.osc_compare_and_swap = virt_compare_and_swap;
    t.osc_fetch_and_op = virt_fetch_and_op;
    t.osc_get_accumulate = virt_get_accumulate;

    t.osc_rput = virt_rput;
    t.osc_rget = virt_rget;
    t.osc_raccumulate = virt_raccumulate;
    t.osc_rget_accumulate = virt_rget_accumulate;

    t.osc_fence = virt_fence;
    t.osc_start = virt_start;
    t.osc_complete = virt_complete;
    t.osc_post = virt_post;
    t.osc_wait = virt_wait;
    t.osc_test = virt_test;

    t.osc_lock = virt_lock;
    t.osc_unlock = virt_unlock;
    t.osc_lock_all = virt_lock_all;
    t.osc_unlock_all = virt_unlock_all;

    t.osc_sync = virt_sync;
    t.osc_flush = virt_flush;
    t.osc_flush_all = virt_flush_all;
    t.osc_flush_local = virt_flush_local;
    t.osc_flush_local_all = virt_flush_local_all;
}
