/*
 * btl_vmshm_component.cc — MCA plumbing of btl vmshm.  Contract: btl_vmshm.h.
 * No C++ exception leaves an extern "C" entry point: every function in the
 * component structure is installed through OV_ENTRY (ov_entry.h).
 */
#include "btl_vmshm_impl.h"
#include "btl_vmshm_rdma.h"
#include "ov_entry.h"

#include "opal/mca/base/mca_base_var.h"
#include "opal/mca/btl/base/base.h"
#include "opal/util/output.h"

#include <climits>
#include <cstdint>
#include <cstdlib>

namespace {

int vmshm_register(void);
int vmshm_open(void);
int vmshm_close(void);
mca_btl_base_module_t **vmshm_init(int *num_btls, bool enable_progress_threads,
                                   bool enable_mpi_threads);

} // namespace

extern "C" {

__attribute__((visibility("default"))) mca_btl_vmshm_component_t mca_btl_vmshm_component = {
    .super = {
        .btl_version = {
            MCA_BTL_DEFAULT_VERSION("vmshm"),
            .mca_open_component = OV_ENTRY(vmshm_open),
            .mca_close_component = OV_ENTRY(vmshm_close),
            .mca_query_component = nullptr,
            .mca_register_component_params = OV_ENTRY(vmshm_register),
            .mca_component_flags = 0,
            .reserved = {0},
        },
        .btl_data = {
            .param_field = MCA_BASE_METADATA_PARAM_NONE,
            .reserved = {0},
        },
        .btl_init = OV_ENTRY(vmshm_init),
        .btl_progress = OV_ENTRY(mca_btl_vmshm_progress),
    },
    .verbose = 0,
    .backend_dir = nullptr,
    .fbox_max = 256,
    .stats = 0,
    .single_copy = 1,
    .rdma_min = VMSHM_RDMA_DEFAULT_MIN,
    .idle_us = 1000,
    .idle_nap_us = 50,
    .idle_nap_max_us = 1000,
    .output = -1,
};

} /* extern "C" */

namespace {

char g_default_dir[] = "/run/ompi-virt";

/* Registers one int parameter of btl vmshm with its default. */
void register_int(mca_base_component_t *v, const char *name, const char *help, int def, mca_base_var_info_lvl_t level,
                  mca_base_var_scope_t scope, int *var)
{
    *var = def;
    (void) mca_base_component_var_register(v, name, help, MCA_BASE_VAR_TYPE_INT, nullptr, 0, mca_base_var_flag_t{},
                                           level, scope, var);
}

int vmshm_register(void)
{
    mca_base_component_t *v = &mca_btl_vmshm_component.super.btl_version;
    (void) mca_base_var_group_component_register(
        v, "BTL for co-located guests (shared-memory rings granted by the ompi-virt backend)");

    register_int(v, "verbose",
                 "Verbosity of btl vmshm: 1 says why there is no module, 10 traces reachability decisions", 0,
                 OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_LOCAL, &mca_btl_vmshm_component.verbose);

    const char *env_dir = getenv("OMPI_VIRT_DIR");
    mca_btl_vmshm_component.backend_dir =
        (nullptr != env_dir && '\0' != env_dir[0]) ? const_cast<char *>(env_dir) : g_default_dir;
    (void) mca_base_component_var_register(
        v, "backend_dir",
        "Directory of the host backend's control socket (default: $OMPI_VIRT_DIR, else "
        "/run/ompi-virt)",
        MCA_BASE_VAR_TYPE_STRING, nullptr, 0, mca_base_var_flag_t{}, OPAL_INFO_LVL_4, MCA_BASE_VAR_SCOPE_READONLY,
        &mca_btl_vmshm_component.backend_dir);

    register_int(v, "fbox_max", "Largest message (ob1 header + payload, bytes) sendi copies into a fast box (0..512)",
                 256, OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_READONLY, &mca_btl_vmshm_component.fbox_max);
    register_int(v, "stats", "1: print each rank's channel counters at finalize (messages by fast box and FIFO)", 0,
                 OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_LOCAL, &mca_btl_vmshm_component.stats);

    /* Off by default: no size measured faster with it on the loaded test
     * machine, and each get costs a backend round trip and a copy on the
     * backend's event loop (docs/btl-vmshm.md, "Single copy on or off"). */
    register_int(v, "single_copy",
                 "1: offer put/get (ob1's RGET/RPUT) through the backend's single copy when it offers it; 0 "
                 "(default): send large messages as a pipeline of fragments through the segment",
                 0, OPAL_INFO_LVL_4, MCA_BASE_VAR_SCOPE_READONLY, &mca_btl_vmshm_component.single_copy);
    mca_btl_vmshm_component.rdma_min = VMSHM_RDMA_DEFAULT_MIN;
    (void) mca_base_component_var_register(
        v, "rdma_min",
        "Smallest message (bytes) sent by single copy (ob1's RGET/RPUT); smaller ones above the eager limit "
        "go as a pipeline of fragments through the segment (each single copy costs a backend round trip)",
        MCA_BASE_VAR_TYPE_UNSIGNED_LONG, nullptr, 0, mca_base_var_flag_t{}, OPAL_INFO_LVL_4,
        MCA_BASE_VAR_SCOPE_READONLY, &mca_btl_vmshm_component.rdma_min);

    /* The idle nap (vmshm_idle.h; measurements in docs/btl-vmshm.md). */
    register_int(v, "idle_us",
                 "Microseconds a spinning rank finds no vmshm traffic before its progress starts to nap (0: never nap)",
                 1000, OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_READONLY, &mca_btl_vmshm_component.idle_us);
    register_int(v, "idle_nap_us",
                 "First idle nap (microseconds); each nap nothing interrupted doubles it (0: never nap)", 50,
                 OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_READONLY, &mca_btl_vmshm_component.idle_nap_us);
    register_int(v, "idle_nap_max_us",
                 "Longest idle nap (microseconds): the most a message to a napping rank waits (vmshm raises no "
                 "event to wake it)",
                 1000, OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_READONLY, &mca_btl_vmshm_component.idle_nap_max_us);

    /* Defaults of the standard BTL parameters, read back by the base.  Above
     * tcp (exclusivity LOW), below vader: vader never reaches across guests,
     * and inside a guest vader is the right choice. */
    mca_btl_base_module_t *m = &mca_btl_vmshm_module;
    mca_btl_vmshm_module_init_ops(m);
    m->btl_exclusivity = MCA_BTL_EXCLUSIVITY_DEFAULT;
    m->btl_eager_limit = 4 * 1024;
    m->btl_rndv_eager_limit = OV_BSEG_FRAG_PAYLOAD;
    m->btl_max_send_size = OV_BSEG_FRAG_PAYLOAD; /* one fragment */
    /* Above the eager limit ob1 takes RGET (get by the receiver, in pieces of
     * btl_get_limit, each one backend request; docs/btl-vmshm.md has the
     * measurements behind these).  Without single copy (vm mode, or
     * btl_vmshm_single_copy 0) init drops PUT/GET and these do not apply. */
    m->btl_rdma_pipeline_send_length = m->btl_eager_limit;
    m->btl_rdma_pipeline_frag_size = VMSHM_RDMA_DEFAULT_LIMIT;
    m->btl_min_rdma_pipeline_size = INT_MAX; /* no send/put pipeline: whole-message RGET */
    m->btl_get_limit = VMSHM_RDMA_DEFAULT_LIMIT;
    m->btl_put_limit = VMSHM_RDMA_DEFAULT_LIMIT;
    m->btl_get_alignment = 0;
    m->btl_put_alignment = 0;
    m->btl_get_local_registration_threshold = SIZE_MAX; /* the backend reaches our own memory unregistered */
    m->btl_put_local_registration_threshold = SIZE_MAX;
    m->btl_latency = 1;
    m->btl_bandwidth = 10000;
    m->btl_flags = MCA_BTL_FLAGS_SEND | MCA_BTL_FLAGS_PUT | MCA_BTL_FLAGS_GET;
    int rc = mca_btl_base_param_register(v, m);
    if (mca_btl_vmshm_component.fbox_max < 0 || mca_btl_vmshm_component.fbox_max > int(OV_BSEG_FBOX_MAX)) {
        mca_btl_vmshm_component.fbox_max = int(OV_BSEG_FBOX_MAX);
    }
    /* The base lets users raise these; one fragment is all we can carry. */
    if (m->btl_max_send_size > OV_BSEG_FRAG_PAYLOAD) {
        m->btl_max_send_size = OV_BSEG_FRAG_PAYLOAD;
    }
    if (m->btl_eager_limit > OV_BSEG_FRAG_PAYLOAD) {
        m->btl_eager_limit = OV_BSEG_FRAG_PAYLOAD;
    }
    if (m->btl_rndv_eager_limit > OV_BSEG_FRAG_PAYLOAD) {
        m->btl_rndv_eager_limit = OV_BSEG_FRAG_PAYLOAD;
    }
    return rc;
}

int vmshm_open(void)
{
    mca_btl_vmshm_component.output = opal_output_open(nullptr);
    opal_output_set_verbosity(mca_btl_vmshm_component.output, mca_btl_vmshm_component.verbose);
    return OPAL_SUCCESS;
}

int vmshm_close(void)
{
    if (mca_btl_vmshm_component.output >= 0) {
        opal_output_close(mca_btl_vmshm_component.output);
        mca_btl_vmshm_component.output = -1;
    }
    return OPAL_SUCCESS;
}

mca_btl_base_module_t **vmshm_init(int *num_btls, bool, bool enable_mpi_threads)
{
    *num_btls = 0;
    if (OPAL_SUCCESS != mca_btl_vmshm_link_open(enable_mpi_threads)) {
        return nullptr; /* said why at verbose >= 1 */
    }
    auto **modules =
        static_cast<mca_btl_base_module_t **>(malloc(sizeof(mca_btl_base_module_t *)));
    if (nullptr == modules) {
        return nullptr;
    }
    modules[0] = &mca_btl_vmshm_module;
    *num_btls = 1;
    BTL_VMSHM_VERBOSE(10, "module ready (backend dir %s)", mca_btl_vmshm_component.backend_dir);
    return modules;
}

} // namespace
