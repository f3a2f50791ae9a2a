/*
 * osc_virt_module_impl.h — internal to the per-window module of osc virt:
 * what its three source files share.  MPI-internal, not installed; included
 * only by
 *   osc_virt_module.cc       window calls (shared_query, attach, detach,
 *                            free), the extents exchange, path names and the
 *                            function table (ompi_osc_virt_module_init_ops);
 *   osc_virt_module_comm.cc  communication (put, get, the accumulates, and
 *                            their request-based variants);
 *   osc_virt_module_sync.cc  active and passive target synchronization.
 * The rest of the component sees the module through osc_virt.h only.
 *
 * Everything here is in namespace ov::osc::module and stays inside the DSO
 * (built with -fvisibility=hidden; exports.map exports mca_osc_virt_component
 * alone).  Each helper takes the user's window (win->w_osc_module is ours),
 * takes no lock and issues nothing unless said so:
 *   virt_module(win)           our module (inline).
 *   route(win, op, target)     the fallback window serving `target` (-1: the
 *                              call names no target), after counting and
 *                              tracing the call on the fallback path; null
 *                              (nothing counted) when the window has none.
 *                              (osc_virt_module.cc)
 *   check_access(...)          OMPI_SUCCESS or OMPI_ERR_RMA_RANGE: the range
 *                              check against the target's exchanged extents;
 *                              always OMPI_SUCCESS for dynamic windows and
 *                              targets outside [0, ntargets).
 *                              (osc_virt_module_comm.cc)
 *   note(win, op, target, p)   counts and traces one call on path p.
 *                              (osc_virt_module_comm.cc)
 *   served_by_backend(win, t)  the backend window when it serves t, else null
 *                              (inline).
 *   ensure_fallback_epoch(win, t)  before a fallback operation to t: when the
 *                              backend holds t's lock (or lock_all), takes the
 *                              fallback's lock on t once, and marks t dirty so
 *                              the next flush reaches the fallback too;
 *                              MPI_ERR_UNSUPPORTED_OPERATION without a
 *                              fallback, else OMPI_SUCCESS or the error of the
 *                              fallback's lock.
 *                              (osc_virt_module_comm.cc)
 *   confirm_fallback_lock(win, t)  before a backend request to a served t
 *                              (needs m->backend): flushes the fallback once
 *                              per passive epoch the fallback opened on t (it
 *                              may grant locks lazily; MPI_MODE_NOCHECK counts
 *                              as confirmed); OMPI_SUCCESS or the flush's
 *                              error.
 *                              (osc_virt_module_comm.cc)
 *   data_path(bw, t)           direct or backend, for a served t (inline).
 *   RETURN_IF_FAILED(call), NO_FALLBACK_RESULT(op): the two macros below.
 * The epoch rules the last two helpers keep: osc_virt_module_sync.cc.
 *
 * The virt_* entry points are what ompi_osc_virt_module_init_ops installs in
 * the module's function table; each file's header says what they do.
 */
#ifndef OMPI_OSC_VIRT_MODULE_IMPL_H
#define OMPI_OSC_VIRT_MODULE_IMPL_H

#include "osc_virt.h"
#include "osc_virt_bwin.h"

#include "ompi/win/win.h"
#include "opal/threads/mutex.h"

#include <cstddef>

/* Returns from the calling function with `call`'s result unless it is
 * OMPI_SUCCESS. */
#define RETURN_IF_FAILED(call)                                                        \
    do {                                                                              \
        int failed_ret_ = (call);                                                     \
        if (OMPI_SUCCESS != failed_ret_) {                                            \
            return failed_ret_;                                                       \
        }                                                                             \
    } while (0)

/* What a call that needs the fallback returns when the window has none. */
#define NO_FALLBACK_RESULT(op) MPI_ERR_UNSUPPORTED_OPERATION /* an MPI class passes through */

namespace ov::osc::module {

/* ---------------------------------------------------------------- helpers */

inline ompi_osc_virt_module_t *virt_module(ompi_win_t *win)
{
    return reinterpret_cast<ompi_osc_virt_module_t *>(win->w_osc_module);
}

/* Counts one call on `path` for the summary at free: an atomic add only
 * when threads may race, since a locked add costs ~20 cycles on every put
 * and every flush. */
inline void count_op(ompi_osc_virt_module_t *m, ov_osc_path path)
{
    std::atomic<uint64_t> &n = m->ops_by_path[static_cast<int>(path)];
    if (opal_using_threads()) {
        n.fetch_add(1, std::memory_order_relaxed);
    } else {
        n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
}

FallbackWindow *route(ompi_win_t *win, const char *op, int target);

int check_access(ompi_win_t *win, const char *op, int target, ptrdiff_t disp, int count,
                 ompi_datatype_t *dt);

/* Counts and traces one call on `path` (inline: every small put and get
 * passes here). */
inline void note(ompi_win_t *win, const char *op, int target, ov_osc_path path)
{
    count_op(virt_module(win), path);
    OSC_VIRT_VERBOSE(20, "%s target %d -> %s", op, target, ompi_osc_virt_path_name(path));
}

inline ov::osc::BackendWindow *served_by_backend(ompi_win_t *win, int target)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && target >= 0 && target < m->ntargets &&
        m->backend->served(target)) {
        return m->backend;
    }
    return nullptr;
}

int ensure_fallback_epoch(ompi_win_t *win, int target);

int confirm_fallback_lock(ompi_win_t *win, int target);

inline ov_osc_path data_path(ov::osc::BackendWindow *bw, int target)
{
    return bw->same_guest(target) ? ov_osc_path::direct : ov_osc_path::backend;
}

/* ---------------------------------------------------------------- window: osc_virt_module.cc */

int virt_shared_query(ompi_win_t *win, int rank, size_t *size, int *disp_unit, void *baseptr);
int virt_attach(ompi_win_t *win, void *base, size_t len);
int virt_detach(ompi_win_t *win, const void *base);
int virt_free(ompi_win_t *win);

/* -------------------------------------------------- communication: osc_virt_module_comm.cc */

int virt_put(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
             ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt, ompi_win_t *win);
int virt_get(void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
             ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt, ompi_win_t *win);
int virt_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
                    ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                    ompi_op_t *op, ompi_win_t *win);
int virt_compare_and_swap(const void *origin, const void *compare, void *result,
                          ompi_datatype_t *dt, int target, ptrdiff_t target_disp, ompi_win_t *win);
int virt_fetch_and_op(const void *origin, void *result, ompi_datatype_t *dt, int target,
                      ptrdiff_t target_disp, ompi_op_t *op, ompi_win_t *win);
int virt_get_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                        void *result, int result_count, ompi_datatype_t *result_dt, int target,
                        ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                        ompi_op_t *op, ompi_win_t *win);
int virt_rput(const void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
              ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
              ompi_win_t *win, ompi_request_t **request);
int virt_rget(void *origin, int origin_count, ompi_datatype_t *origin_dt, int target,
              ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
              ompi_win_t *win, ompi_request_t **request);
int virt_raccumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                     int target, ptrdiff_t target_disp, int target_count,
                     ompi_datatype_t *target_dt, ompi_op_t *op, ompi_win_t *win,
                     ompi_request_t **request);
int virt_rget_accumulate(const void *origin, int origin_count, ompi_datatype_t *origin_dt,
                         void *result, int result_count, ompi_datatype_t *result_dt, int target,
                         ptrdiff_t target_disp, int target_count, ompi_datatype_t *target_dt,
                         ompi_op_t *op, ompi_win_t *win, ompi_request_t **request);

/* -------------------------------------------------- active target: osc_virt_module_sync.cc */

int virt_fence(int assert_flags, ompi_win_t *win);
int virt_start(ompi_group_t *group, int assert_flags, ompi_win_t *win);
int virt_complete(ompi_win_t *win);
int virt_post(ompi_group_t *group, int assert_flags, ompi_win_t *win);
int virt_wait(ompi_win_t *win);
int virt_test(ompi_win_t *win, int *flag);

/* ------------------------------------------------- passive target: osc_virt_module_sync.cc */

int virt_lock(int lock_type, int target, int assert_flags, ompi_win_t *win);
int virt_unlock(int target, ompi_win_t *win);
int virt_lock_all(int assert_flags, ompi_win_t *win);
int virt_unlock_all(ompi_win_t *win);
int virt_sync(ompi_win_t *win);
int virt_flush(int target, ompi_win_t *win);
int virt_flush_all(ompi_win_t *win);
int virt_flush_local(int target, ompi_win_t *win);
int virt_flush_local_all(ompi_win_t *win);

} // namespace ov::osc::module

#endif /* OMPI_OSC_VIRT_MODULE_IMPL_H */
