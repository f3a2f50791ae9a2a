/*
 * osc_virt_component.cc — MCA plumbing of osc virt: parameters, open/close,
 * init/finalize, query and select.  Contract: osc_virt.h.
 *
 * Every function in the component structure is installed through OV_ENTRY
 * (ov_entry.h), which catches everything: no C++ exception may unwind into
 * Open MPI.
 */
#include "osc_virt.h"
#include "osc_virt_bwin.h"
#include "osc_virt_fallback.h"
#include "osc_virt_link.h"
#include "ov_entry.h"
#include "ov_stream_copy.h"

#include "ompi/communicator/communicator.h"
#include "ompi/win/win.h"
#include "opal/mca/base/mca_base_var.h"
#include "opal/util/output.h"
#include "opal/util/show_help.h"

#include <cstdlib>
#include <new>
#include <string>

#ifndef OMPI_VIRT_HELPDIR
#define OMPI_VIRT_HELPDIR "/usr/share/ompi-virt"
#endif

namespace {

int component_register(void);
int component_open(void);
int component_close(void);
int component_init(bool enable_progress_threads, bool enable_mpi_threads);
int component_finalize(void);
int component_query(ompi_win_t *win, void **base, size_t size, int disp_unit,
                    ompi_communicator_t *comm, opal_info_t *info, int flavor);
int component_select(ompi_win_t *win, void **base, size_t size, int disp_unit,
                     ompi_communicator_t *comm, opal_info_t *info, int flavor, int *model);
int select_shared_fallback(ompi_win_t *win, void **base, size_t size, int disp_unit,
                           ompi_communicator_t *comm, opal_info_t *info, int *model,
                           ompi_osc_virt_module_t *module);
int finish_select(ompi_win_t *win, ompi_communicator_t *comm, size_t size, int disp_unit,
                  int flavor, int *model, ompi_osc_virt_module_t *module);

const char *flavor_name(int flavor)
{
    switch (flavor) {
    case MPI_WIN_FLAVOR_CREATE: return "create";
    case MPI_WIN_FLAVOR_ALLOCATE: return "allocate";
    case MPI_WIN_FLAVOR_SHARED: return "allocate_shared";
    case MPI_WIN_FLAVOR_DYNAMIC: return "dynamic";
    default: return "unknown";
    }
}

} // namespace

extern "C" {

__attribute__((visibility("default"))) ompi_osc_virt_component_t mca_osc_virt_component = {
    .super = {
        .osc_version = {
            OMPI_OSC_BASE_VERSION_3_0_0,
            .mca_component_name = "virt",
            MCA_BASE_MAKE_VERSION(component, 0, 1, 0),
            .mca_open_component = OV_ENTRY(component_open),
            .mca_close_component = OV_ENTRY(component_close),
            .mca_query_component = nullptr,
            .mca_register_component_params = OV_ENTRY(component_register),
            .mca_component_flags = 0,
            .reserved = {0},
        },
        .osc_data = {
            /* not checkpoint ready */
            .param_field = MCA_BASE_METADATA_PARAM_NONE,
            .reserved = {0},
        },
        .osc_init = OV_ENTRY(component_init),
        .osc_query = OV_ENTRY(component_query),
        .osc_select = OV_ENTRY(component_select),
        .osc_finalize = OV_ENTRY(component_finalize),
    },
    .priority = 5,
    .verbose = 0,
    .fallback_name = nullptr,
    .shared_fallback_name = nullptr,
    .backend_uri = nullptr,
    .guest_mode = nullptr,
    .single_copy_min = 16 << 20,
    .stream_min = static_cast<int>(kOvStreamMinDefault),
    .staging_kb = 8192,
    .timeout_ms = 10000,
    .yield = -1,
    .idle_nap_us = -1,
    .quiet = 1,
    .batch = 1,
    .batch_entries = 64,
    .output = -1,
    .enable_progress_threads = false,
    .enable_mpi_threads = false,
};

} /* extern "C" */

namespace {

char g_default_fallback[] = "pt2pt";
char g_default_shared_fallback[] = "sm";
char g_default_uri[] = "";
char g_default_mode[] = "auto";

/* One osc_virt_NAME parameter stored in *storage, which gets its default
 * first (the registration reads it as the default). */
template <class T>
void register_param(const char *name, mca_base_var_type_t type, T *storage, T def, mca_base_var_info_lvl_t level,
                    mca_base_var_scope_t scope, const char *help)
{
    *storage = def;
    (void) mca_base_component_var_register(&mca_osc_virt_component.super.osc_version, name, help, type, nullptr, 0,
                                           mca_base_var_flag_t{}, level, scope, storage);
}

void register_int(const char *name, int *storage, int def, mca_base_var_info_lvl_t level, const char *help,
                  mca_base_var_scope_t scope = MCA_BASE_VAR_SCOPE_READONLY)
{
    register_param(name, MCA_BASE_VAR_TYPE_INT, storage, def, level, scope, help);
}

void register_string(const char *name, char **storage, char *def, mca_base_var_info_lvl_t level, const char *help)
{
    register_param(name, MCA_BASE_VAR_TYPE_STRING, storage, def, level, MCA_BASE_VAR_SCOPE_READONLY, help);
}

int component_register(void)
{
    ompi_osc_virt_component_t &c = mca_osc_virt_component;
    register_int("priority", &c.priority, 5, OPAL_INFO_LVL_3,
                 "Selection priority of osc virt. Kept below osc rdma and osc sm so that installing "
                 "the component changes nothing until it is requested (--mca osc virt, or raise this)");
    register_int("verbose", &c.verbose, 0, OPAL_INFO_LVL_5,
                 "Verbosity of osc virt: 10 = window creation, path decisions and per-window path "
                 "counts at MPI_Win_free; 20 = one line per operation naming the path it took",
                 MCA_BASE_VAR_SCOPE_LOCAL);
    register_string("fallback", &c.fallback_name, g_default_fallback, OPAL_INFO_LVL_4,
                    "osc component that serves the targets the host backend does not serve (ranks on "
                    "other hosts). Loaded by osc virt itself, so it works even when the osc selection "
                    "excludes it (Debian's default \"osc = ^ucx,pt2pt\"). Supported: pt2pt");
    register_string("shared_fallback", &c.shared_fallback_name, g_default_shared_fallback, OPAL_INFO_LVL_4,
                    "osc component that serves an MPI_Win_allocate_shared window no host backend can "
                    "(a rank without a backend, or ranks mapping different regions), when Open MPI sees "
                    "every rank of the window on this node. Loaded by osc virt itself, like "
                    "osc_virt_fallback. Empty: such windows fail with MPI_ERR_RMA_SHARED");
    register_string("backend_uri", &c.backend_uri, g_default_uri, OPAL_INFO_LVL_4,
                    "Host backend to use (unix:PATH or tcp:HOST:PORT). Empty: $OMPI_VIRT_URI, else "
                    "unix:$OMPI_VIRT_DIR/backend.sock with OMPI_VIRT_DIR defaulting to /run/ompi-virt");
    register_string("guest_mode", &c.guest_mode, g_default_mode, OPAL_INFO_LVL_4,
                    "How origin buffers reach the backend: \"container\" = the backend copies them by "
                    "address (single copy, container guests only); \"vm\" = staged through the guest "
                    "region (all a VM can offer); \"auto\" = container when the backend offers it");
    register_int("single_copy_min", &c.single_copy_min, 16 << 20, OPAL_INFO_LVL_5,
                 "In container mode, put/get operations of at least this many bytes are copied by the "
                 "backend straight from/to the origin buffer (one copy, origin CPU free); smaller ones "
                 "are staged through the region (two pipelined memcpys, faster in cache)");
    register_int("stream_min", &c.stream_min, static_cast<int>(kOvStreamMinDefault), OPAL_INFO_LVL_5,
                 "Staged put and get pieces of at least this many bytes are delivered to their "
                 "destination (the target window, or a get's origin buffer) with non-temporal "
                 "stores, which leave the destination out of the cache but save reading it from "
                 "memory first; 0 = never");
    register_int("staging_kb", &c.staging_kb, 8192, OPAL_INFO_LVL_5,
                 "Staging area per process in the guest region, KiB (pieces of a quarter of it "
                 "pipeline large transfers)");
    register_int("timeout_ms", &c.timeout_ms, 10000, OPAL_INFO_LVL_5,
                 "How long a silent (but connected) backend is waited for before the operation "
                 "fails with an MPI error");
    register_int("quiet", &c.quiet, 1, OPAL_INFO_LVL_5,
                 "1 = small puts and accumulates that nothing waits for one by one ask the backend "
                 "for no completion unless they fail (OV_REQ_QUIET), and a flush waits for the "
                 "completion of a later request; 0 = a completion for every request");
    register_int("batch", &c.batch, 1, OPAL_INFO_LVL_5,
                 "1 = small puts and gets to MPI_Win_allocate windows in other guests that nothing "
                 "waits for one by one travel together in one request (OV_REQ_BATCH), sent when "
                 "full (osc_virt_batch_entries) or at the next other request, synchronization or "
                 "progress pass; 0 = one request each");
    register_int("batch_entries", &c.batch_entries, 64, OPAL_INFO_LVL_5,
                 "Operations in one batch to an MPI_Win_allocate window (1-128): a full batch is "
                 "sent at once, so in a long burst the backend runs it while the next ones are "
                 "issued; each batch costs the origin two fences and a ring slot, so smaller is "
                 "slower (docs/osc-virt.md).  Batches to MPI_Win_create windows hold 128");
    register_int("yield", &c.yield, -1, OPAL_INFO_LVL_5,
                 "Yield the CPU while waiting (in osc virt's waits and in opal_progress): -1 = when "
                 "the ranks sharing this backend plus its thread outnumber the cores; 0 = never; "
                 "1 = always");
    register_int("idle_nap_us", &c.idle_nap_us, -1, OPAL_INFO_LVL_5,
                 "When waits yield (osc_virt_yield): a rank that has spun in MPI for 1 ms with no "
                 "osc virt request sleeps up to this many microseconds on every idle progress "
                 "pass instead of polling, leaving its core to the backend; the sleep ends as "
                 "soon as one of the process's event descriptors (tcp, the runtime) is ready. "
                 "-1 = 50 us, doubling after every full nap up to 10 ms, and only when every "
                 "transport this rank uses raises such events (pml ob1 with btl self/tcp and no "
                 "same-node peer); 0 = never");
    return OMPI_SUCCESS;
}

int component_open(void)
{
    mca_osc_virt_component.output = opal_output_open(nullptr);
    opal_output_set_verbosity(mca_osc_virt_component.output, mca_osc_virt_component.verbose);
    /* Help texts live outside Open MPI's own data directory. */
    const char *helpdir = getenv("OMPI_VIRT_HELPDIR");
    (void) opal_show_help_add_dir(helpdir ? helpdir : OMPI_VIRT_HELPDIR);
    return OMPI_SUCCESS;
}

int component_close(void)
{
    if (mca_osc_virt_component.output >= 0) {
        opal_output_close(mca_osc_virt_component.output);
        mca_osc_virt_component.output = -1;
    }
    return OMPI_SUCCESS;
}

int component_init(bool enable_progress_threads, bool enable_mpi_threads)
{
    /* Nothing is loaded until the first window: a job that never creates one
     * pays nothing. */
    mca_osc_virt_component.enable_progress_threads = enable_progress_threads;
    mca_osc_virt_component.enable_mpi_threads = enable_mpi_threads;
    return OMPI_SUCCESS;
}

int component_finalize(void)
{
    ov::osc::BackendLink::release();
    ov::osc::FallbackComponent::release_all();
    return OMPI_SUCCESS;
}

int component_query(ompi_win_t *win, void **base, size_t size, int disp_unit,
                     ompi_communicator_t *comm, opal_info_t *info, int flavor)
{
    if (MPI_WIN_FLAVOR_SHARED == flavor) {
        /* Shared windows need memory every rank can load/store: the
         * guest region.  Whether all ranks share one (and reach a
         * backend at all) is collective knowledge: select finds out and
         * then serves it through osc_virt_shared_fallback or fails on
         * every rank alike with MPI_ERR_RMA_SHARED, where a local "no"
         * here could let ranks pick different components. */
        flavor = MPI_WIN_FLAVOR_CREATE; /* what the fallback will be asked for */
    }
    ov::osc::FallbackComponent *fallback = nullptr;
    if (OMPI_SUCCESS !=
        ov::osc::FallbackComponent::acquire(mca_osc_virt_component.fallback_name, &fallback)) {
        return -1;
    }
    int fallback_priority =
        fallback->component()->osc_query(win, base, size, disp_unit, comm, info, flavor);
    if (fallback_priority < 0) {
        OSC_VIRT_VERBOSE(10, "declining a %s window: fallback %s declines it (%d)",
                         flavor_name(flavor), fallback->name(), fallback_priority);
        return fallback_priority;
    }
    return mca_osc_virt_component.priority;
}

int component_select(ompi_win_t *win, void **base, size_t size, int disp_unit,
                     ompi_communicator_t *comm, opal_info_t *info, int flavor, int *model)
{
    ov::osc::FallbackComponent *fallback_component = nullptr;
    int ret = ov::osc::FallbackComponent::acquire(mca_osc_virt_component.fallback_name,
                                                  &fallback_component);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }

    auto *module = new (std::nothrow) ompi_osc_virt_module_t();
    if (nullptr == module) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    ompi_osc_virt_module_init_ops(module);

    /* Collective: window memory from the guest region where a backend
     * serves it (create windows: the user's memory, registered with the
     * backend in container mode), and the locality table. */
    int fallback_flavor = flavor;
    if (MPI_WIN_FLAVOR_DYNAMIC != flavor) {
        ret = ov::osc::BackendWindow::create(win, base, size, disp_unit, comm, info, flavor,
                                             &module->backend);
        if (OMPI_ERR_RMA_SHARED == ret) {
            /* the same verdict on every rank: the shared fallback, if all on one node */
            ret = select_shared_fallback(win, base, size, disp_unit, comm, info, model,
                                         module);
            if (OMPI_SUCCESS == ret) {
                return finish_select(win, comm, size, disp_unit, flavor, model, module);
            }
        }
        if (OMPI_SUCCESS != ret) {
            delete module;
            return ret;
        }
        if (nullptr != module->backend && module->backend->owns_memory()) {
            /* the fallback serves the same memory */
            fallback_flavor = MPI_WIN_FLAVOR_CREATE;
        }
    }

    /* pt2pt refuses MPI_THREAD_MULTIPLE.  A window the backend serves
     * entirely does without it (all_local is the same on every rank). */
    const bool skip_fallback = mca_osc_virt_component.enable_mpi_threads &&
                               nullptr != module->backend && module->backend->all_local();
    /* Collective: every rank reaches this call, and the fallback agrees
     * on failure itself (its select is collective over comm). */
    ret = skip_fallback ? OMPI_SUCCESS
                        : ov::osc::FallbackWindow::create(fallback_component, win, base, size,
                                                          disp_unit, comm, info,
                                                          fallback_flavor, model,
                                                          &module->fallback);
    if (skip_fallback) {
        *model = MPI_WIN_UNIFIED;
        OSC_VIRT_VERBOSE(10, "MPI_THREAD_MULTIPLE: window served by the backend alone, "
                         "no fallback");
    }
    if (OMPI_SUCCESS != ret) {
        if (nullptr != module->backend) {
            module->backend->destroy();
        }
        delete module;
        return ret;
    }

    return finish_select(win, comm, size, disp_unit, flavor, model, module);
}

/* The shared fallback (osc_virt_shared_fallback) for a shared window no
 * backend serves: collective; OMPI_SUCCESS with module->fallback set, or
 * OMPI_ERR_RMA_SHARED on every rank (turned off, ranks on several nodes as
 * Open MPI sees them, or the component declines). */
int select_shared_fallback(ompi_win_t *win, void **base, size_t size, int disp_unit,
                           ompi_communicator_t *comm, opal_info_t *info, int *model,
                           ompi_osc_virt_module_t *module)
{
    const char *name = mca_osc_virt_component.shared_fallback_name;
    /* locality flags are per peer: agree on them, so nobody enters a
     * collective select the others skip */
    int usable = nullptr != name && '\0' != name[0] &&
                 !ompi_group_have_remote_peers(comm->c_local_group);
    int ret = comm->c_coll->coll_allreduce(MPI_IN_PLACE, &usable, 1, MPI_INT, MPI_MIN, comm,
                                           comm->c_coll->coll_allreduce_module);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    ov::osc::FallbackComponent *shared = nullptr;
    if (!usable ||
        OMPI_SUCCESS != ov::osc::FallbackComponent::acquire(name, &shared) ||
        shared->component()->osc_query(win, base, size, disp_unit, comm, info,
                                       MPI_WIN_FLAVOR_SHARED) < 0) {
        /* acquire and query give the same answer on every rank */
        OSC_VIRT_VERBOSE(10, "shared window no backend serves and no shared fallback: "
                         "MPI_ERR_RMA_SHARED");
        return OMPI_ERR_RMA_SHARED;
    }
    OSC_VIRT_VERBOSE(10, "shared window no backend serves: every target through %s", name);
    return ov::osc::FallbackWindow::create(shared, win, base, size, disp_unit, comm, info,
                                           MPI_WIN_FLAVOR_SHARED, model, &module->fallback);
}

/* The steps of select after both paths exist: extents, per-target state,
 * the window's name.  Frees the module on failure. */
int finish_select(ompi_win_t *win, ompi_communicator_t *comm, size_t size, int disp_unit,
                  int flavor, int *model, ompi_osc_virt_module_t *module)
{
    int ret = OMPI_SUCCESS;
    if (MPI_WIN_FLAVOR_DYNAMIC != flavor) {
        ret = ompi_osc_virt_module_exchange_extents(module, comm, size, disp_unit);
        if (OMPI_SUCCESS != ret) {
            if (nullptr != module->fallback) {
                module->fallback->destroy();
            }
            if (nullptr != module->backend) {
                module->backend->destroy();
            }
            delete module;
            return ret;
        }
    }
    const int n = ompi_comm_size(comm);
    module->fallback_dirty.assign(n, false);
    module->fallback_confirmed.assign(n, false);
    if (MPI_WIN_FLAVOR_SHARED == flavor) {
        *model = MPI_WIN_UNIFIED;
    }
    win->w_osc_module = &module->super;
    ompi_osc_virt_module_keep_info(win);
    /* ompi_win_set_name truncates to MPI_MAX_OBJECT_NAME */
    std::string name = nullptr != module->fallback
                           ? std::string("virt (") + module->fallback->shadow()->w_name + ")"
                           : std::string("virt (backend)");
    ompi_win_set_name(win, name.c_str());

    int nserved = 0;
    for (int t = 0; nullptr != module->backend && t < n; ++t) {
        nserved += module->backend->served(t);
    }
    OSC_VIRT_VERBOSE(10, "rank %d: %s window of %zu bytes over %d ranks: %d of %d targets "
                     "via the backend; the others go through %s", ompi_comm_rank(comm),
                     flavor_name(flavor), size, n, nserved, n,
                     nullptr != module->fallback ? module->fallback->component_name() : "nothing");
    return OMPI_SUCCESS;
}

} // namespace
