/*
 * osc_virt_module_comm.cc — the communication calls of a window: put, get,
 * accumulate, compare_and_swap, fetch_and_op, get_accumulate and the
 * request-based rput, rget, raccumulate, rget_accumulate; and the helpers
 * they use before issuing (check_access, note, ensure_fallback_epoch,
 * confirm_fallback_lock: contract in osc_virt_module_impl.h).
 *
 * Each communication entry picks the path that serves its target (osc_virt.h,
 * "Paths"), counts it, traces it at osc_virt_verbose >= 20, and returns the
 * path's result unchanged so MPI error classes reach the user's error handler
 * as the path raised them.
 */
#include "osc_virt_module_impl.h"

#include "osc_virt_dtype.h"
#include "osc_virt_fallback.h"

#include "osc_virt_bwin_quick.h"
#include "osc_virt_range.h"

#include "ompi/datatype/ompi_datatype.h"
#include "opal/util/output.h"

namespace ov::osc::module {

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

namespace {

using ov::osc::BackendWindow;
using FallbackOps = const ompi_osc_base_module_t *;

/* The backend computes this accumulate (type it knows, window all local). */
BackendWindow *accumulates_in_backend(ompi_win_t *win, int target, ompi_datatype_t *dt,
                                      ompi_op_t *op)
{
    BackendWindow *bw = served_by_backend(win, target);
    uint8_t acc_op;
    if (nullptr != bw && bw->accumulates_here(target, dt) && ov::osc::accumulate_op(op, &acc_op)) {
        return bw;
    }
    return nullptr;
}

/* The fallback's half of every call: an epoch of its own on `target`, then
 * fallback(ops, shadow window). */
template <class Fallback>
int via_fallback(ompi_win_t *win, const char *op, int target, Fallback fallback)
{
    RETURN_IF_FAILED(ensure_fallback_epoch(win, target));
    FallbackWindow *fw = route(win, op, target);
    if (nullptr == fw) {
        return NO_FALLBACK_RESULT(op);
    }
    return fallback(fw->ops(), fw->shadow());
}

/* A put or get the backend window's quick path takes (BackendWindow::
 * quick_copy: small, contiguous, same type and count on both sides, in a
 * passive epoch the backend locks), counted and traced as the general path
 * would; BackendWindow::kNotQuick when it declines. */
int quick(ompi_win_t *win, const char *op, bool to_target, void *origin, int origin_count,
          ompi_datatype_t *origin_dt, int target, ptrdiff_t disp, int target_count,
          ompi_datatype_t *target_dt)
{
    BackendWindow *bw = virt_module(win)->backend;
    if (nullptr == bw || origin_dt != target_dt || origin_count != target_count) {
        return BackendWindow::kNotQuick;
    }
    const int ret = bw->quick_copy(to_target, origin, origin_count, origin_dt, target, disp);
    if (BackendWindow::kNotQuick != ret) {
        note(win, op, target, ov_osc_path::backend);
    }
    return ret;
}

/* put, get, rput, rget: the backend when it serves `target` (after making
 * sure a lock the fallback opened there is really held), else the fallback. */
template <class Backend, class Fallback>
int route_copy(ompi_win_t *win, const char *op, int target, Backend backend, Fallback fallback)
{
    if (BackendWindow *bw = served_by_backend(win, target)) {
        RETURN_IF_FAILED(confirm_fallback_lock(win, target));
        note(win, op, target, data_path(bw, target));
        return backend(bw);
    }
    return via_fallback(win, op, target, fallback);
}

/* The accumulate family: the backend when it computes accumulates of `dt`
 * with `mpi_op` on `target` (osc_virt_dtype.h: by type, never by op), else
 * the fallback. */
template <class Backend, class Fallback>
int route_accumulate(ompi_win_t *win, const char *op, int target, ompi_datatype_t *dt,
                     ompi_op_t *mpi_op, Backend backend, Fallback fallback)
{
    if (BackendWindow *bw = accumulates_in_backend(win, target, dt, mpi_op)) {
        note(win, op, target, ov_osc_path::backend);
        return backend(bw);
    }
    return via_fallback(win, op, target, fallback);
}

} // namespace

int virt_put(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
             ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt, ompi_win_t *win)
{
    if (const int ret = quick(win, "put", true, const_cast<void *>(origin), origin_count,
                              origin_dt, target, target_disp, target_count, target_dt);
        BackendWindow::kNotQuick != ret) {
        return ret;
    }
    RETURN_IF_FAILED(check_access(win, "put", target, target_disp, target_count, target_dt));
    return route_copy(
        win, "put", target,
        [&](BackendWindow *bw) {
            return bw->put(origin, origin_count, origin_dt, target, target_disp, target_count,
                           target_dt, nullptr);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_put(origin, origin_count, origin_dt, target, target_disp,
                                target_count, target_dt, shadow);
        });
}

int virt_get(void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
             ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt, ompi_win_t *win)
{
    if (const int ret = quick(win, "get", false, origin, origin_count, origin_dt, target,
                              target_disp, target_count, target_dt);
        BackendWindow::kNotQuick != ret) {
        return ret;
    }
    RETURN_IF_FAILED(check_access(win, "get", target, target_disp, target_count, target_dt));
    return route_copy(
        win, "get", target,
        [&](BackendWindow *bw) {
            return bw->get(origin, origin_count, origin_dt, target, target_disp, target_count,
                           target_dt, nullptr);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_get(origin, origin_count, origin_dt, target, target_disp,
                                target_count, target_dt, shadow);
        });
}

int virt_rput(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
              ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
              ompi_win_t *win, ompi_request_t **request)
{
    RETURN_IF_FAILED(check_access(win, "rput", target, target_disp, target_count, target_dt));
    return route_copy(
        win, "rput", target,
        [&](BackendWindow *bw) {
            return bw->put(origin, origin_count, origin_dt, target, target_disp, target_count,
                           target_dt, request);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_rput(origin, origin_count, origin_dt, target, target_disp,
                                 target_count, target_dt, shadow, request);
        });
}

int virt_rget(void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
              ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
              ompi_win_t *win, ompi_request_t **request)
{
    RETURN_IF_FAILED(check_access(win, "rget", target, target_disp, target_count, target_dt));
    return route_copy(
        win, "rget", target,
        [&](BackendWindow *bw) {
            return bw->get(origin, origin_count, origin_dt, target, target_disp, target_count,
                           target_dt, request);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_rget(origin, origin_count, origin_dt, target, target_disp,
                                 target_count, target_dt, shadow, request);
        });
}

int virt_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
                    ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                    ompi_op_t *op, ompi_win_t *win)
{
    RETURN_IF_FAILED(
        check_access(win, "accumulate", target, target_disp, target_count, target_dt));
    return route_accumulate(
        win, "accumulate", target, target_dt, op,
        [&](BackendWindow *bw) {
            return bw->accumulate(origin, origin_count, origin_dt, nullptr, 0, nullptr, target,
                                  target_disp, target_count, target_dt, op, false, nullptr);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_accumulate(origin, origin_count, origin_dt, target, target_disp,
                                       target_count, target_dt, op, shadow);
        });
}

int virt_raccumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                     int target, ptrdiff_t target_disp, int target_count,
                     ompi_datatype_t *target_dt, ompi_op_t *op, ompi_win_t *win,
                     ompi_request_t **request)
{
    RETURN_IF_FAILED(
        check_access(win, "raccumulate", target, target_disp, target_count, target_dt));
    return route_accumulate(
        win, "raccumulate", target, target_dt, op,
        [&](BackendWindow *bw) {
            return bw->accumulate(origin, origin_count, origin_dt, nullptr, 0, nullptr, target,
                                  target_disp, target_count, target_dt, op, false, request);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_raccumulate(origin, origin_count, origin_dt, target, target_disp,
                                        target_count, target_dt, op, shadow, request);
        });
}

int virt_get_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                        void *result, int result_count, ompi_datatype_t *result_dt, int target,
                        ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                        ompi_op_t *op, ompi_win_t *win)
{
    RETURN_IF_FAILED(
        check_access(win, "get_accumulate", target, target_disp, target_count, target_dt));
    return route_accumulate(
        win, "get_accumulate", target, target_dt, op,
        [&](BackendWindow *bw) {
            return bw->accumulate(origin, origin_count, origin_dt, result, result_count,
                                  result_dt, target, target_disp, target_count, target_dt, op,
                                  true, nullptr);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_get_accumulate(origin, origin_count, origin_dt, result, result_count,
                                           result_dt, target, target_disp, target_count,
                                           target_dt, op, shadow);
        });
}

int virt_rget_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                         void *result, int result_count, ompi_datatype_t *result_dt, int target,
                         ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                         ompi_op_t *op, ompi_win_t *win, ompi_request_t **request)
{
    RETURN_IF_FAILED(
        check_access(win, "rget_accumulate", target, target_disp, target_count, target_dt));
    return route_accumulate(
        win, "rget_accumulate", target, target_dt, op,
        [&](BackendWindow *bw) {
            return bw->accumulate(origin, origin_count, origin_dt, result, result_count,
                                  result_dt, target, target_disp, target_count, target_dt, op,
                                  true, request);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_rget_accumulate(origin, origin_count, origin_dt, result,
                                            result_count, result_dt, target, target_disp,
                                            target_count, target_dt, op, shadow, request);
        });
}

int virt_fetch_and_op(const void *origin, void *result, ompi_datatype_t *dt, int target,
                      ptrdiff_t target_disp, ompi_op_t *op, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "fetch_and_op", target, target_disp, 1, dt));
    return route_accumulate(
        win, "fetch_and_op", target, dt, op,
        [&](BackendWindow *bw) {
            return bw->accumulate(origin, 1, dt, result, 1, dt, target, target_disp, 1, dt, op,
                                  true, nullptr);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_fetch_and_op(origin, result, dt, target, target_disp, op, shadow);
        });
}

int virt_compare_and_swap(const void *origin, const void *compare, void *result,
                          ompi_datatype_t *dt, int target, ptrdiff_t target_disp, ompi_win_t *win)
{
    RETURN_IF_FAILED(check_access(win, "compare_and_swap", target, target_disp, 1, dt));
    /* routed like an accumulate with MPI_REPLACE: one agent per location */
    return route_accumulate(
        win, "compare_and_swap", target, dt, &ompi_mpi_op_replace.op,
        [&](BackendWindow *bw) {
            return bw->compare_and_swap(origin, compare, result, dt, target, target_disp);
        },
        [&](FallbackOps ops, ompi_win_t *shadow) {
            return ops->osc_compare_and_swap(origin, compare, result, dt, target, target_disp,
                                             shadow);
        });
}

} // namespace ov::osc::module
