/*
 * osc_virt_module.cc — the per-window function table
 * (ompi_osc_virt_module_init_ops), the window-level calls (shared_query,
 * attach, detach, free), the extents exchange made at window creation, path
 * names for traces, and route(), through which every call reaches the
 * fallback.  Communication: osc_virt_module_comm.cc; synchronization:
 * osc_virt_module_sync.cc; what the three files share and the helpers'
 * contract: osc_virt_module_impl.h.
 */
#include "osc_virt_module_impl.h"

#include "osc_virt_fallback.h"
#include "ov_entry.h"

#include "ompi/communicator/communicator.h"
#include "opal/util/info_subscriber.h"
#include "opal/util/output.h"

#include <new>

namespace ov::osc::module {

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
    count_op(m, path);
    if (target >= 0) {
        OSC_VIRT_VERBOSE(20, "%s target %d -> %s(%s)", op, target, ompi_osc_virt_path_name(path),
                         m->fallback->component_name());
    } else {
        OSC_VIRT_VERBOSE(20, "%s -> %s(%s)", op, ompi_osc_virt_path_name(path),
                         m->fallback->component_name());
    }
    return m->fallback;
}

/* ---------------------------------------------------------------- window */

int virt_shared_query(ompi_win_t *win, int rank, size_t *size, int *disp_unit, void *baseptr)
{
    ompi_osc_virt_module_t *m = virt_module(win);
    if (nullptr != m->backend && m->backend->is_shared()) {
        return m->backend->shared_query(rank, size, disp_unit, baseptr);
    }
    if (nullptr == m->backend && nullptr != m->fallback && MPI_WIN_FLAVOR_SHARED == win->w_flavor &&
        nullptr != m->fallback->ops()->osc_win_shared_query) {
        /* a shared window the shared fallback (osc sm) serves */
        return m->fallback->ops()->osc_win_shared_query(m->fallback->shadow(), rank, size,
                                                        disp_unit, baseptr);
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

} // namespace ov::osc::module

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

/* Every entry goes through OV_ENTRY: an exception escaping a virt_* call
 * becomes OMPI_ERR_OUT_OF_RESOURCE (std::bad_alloc) or OMPI_ERROR instead of
 * unwinding into the MPI layer (test/check-entry-points.sh). */
static_assert(OMPI_ERR_OUT_OF_RESOURCE == -2 && OMPI_ERROR == -1, "ov_entry.h's int errors");

namespace {

/* A window hint's new value, kept as given (MPI_Win_set_info). */
char *keep_hint(opal_infosubscriber_t *, char *, char *value) { return value; }

} // namespace

void ompi_osc_virt_module_keep_info(ompi_win_t *win)
{
    /* The window hints of MPI-3.1 11.2.1 and 11.2.3 with their defaults;
     * other keys stay unrecognized (and are dropped, as MPI allows). */
    static const char *const hints[][2] = {
        {"no_locks", "false"},           {"accumulate_ordering", "rar,raw,war,waw"},
        {"accumulate_ops", "same_op_no_op"}, {"same_size", "false"},
        {"same_disp_unit", "false"},     {"alloc_shared_noncontig", "false"},
    };
    for (const auto &h : hints) {
        char *key = const_cast<char *>(h[0]), *def = const_cast<char *>(h[1]);
        (void) opal_infosubscribe_subscribe(&win->super, key, def, OV_ENTRY(keep_hint));
    }
}

void ompi_osc_virt_module_init_ops(ompi_osc_virt_module_t *module)
{
    using namespace ov::osc::module;
    ompi_osc_base_module_t &t = module->super;
    t.osc_win_shared_query = OV_ENTRY(virt_shared_query);
    t.osc_win_attach = OV_ENTRY(virt_attach);
    t.osc_win_detach = OV_ENTRY(virt_detach);
    t.osc_free = OV_ENTRY(virt_free);

    t.osc_put = OV_ENTRY(virt_put);
    t.osc_get = OV_ENTRY(virt_get);
    t.osc_accumulate = OV_ENTRY(virt_accumulate);
    t.osc_compare_and_swap = OV_ENTRY(virt_compare_and_swap);
    t.osc_fetch_and_op = OV_ENTRY(virt_fetch_and_op);
    t.osc_get_accumulate = OV_ENTRY(virt_get_accumulate);

    t.osc_rput = OV_ENTRY(virt_rput);
    t.osc_rget = OV_ENTRY(virt_rget);
    t.osc_raccumulate = OV_ENTRY(virt_raccumulate);
    t.osc_rget_accumulate = OV_ENTRY(virt_rget_accumulate);

    t.osc_fence = OV_ENTRY(virt_fence);
    t.osc_start = OV_ENTRY(virt_start);
    t.osc_complete = OV_ENTRY(virt_complete);
    t.osc_post = OV_ENTRY(virt_post);
    t.osc_wait = OV_ENTRY(virt_wait);
    t.osc_test = OV_ENTRY(virt_test);

    t.osc_lock = OV_ENTRY(virt_lock);
    t.osc_unlock = OV_ENTRY(virt_unlock);
    t.osc_lock_all = OV_ENTRY(virt_lock_all);
    t.osc_unlock_all = OV_ENTRY(virt_unlock_all);

    t.osc_sync = OV_ENTRY(virt_sync);
    t.osc_flush = OV_ENTRY(virt_flush);
    t.osc_flush_all = OV_ENTRY(virt_flush_all);
    t.osc_flush_local = OV_ENTRY(virt_flush_local);
    t.osc_flush_local_all = OV_ENTRY(virt_flush_local_all);
}
