/*
 * btl_vmshm_component.cc — MCA plumbing of btl vmshm.  Contract: btl_vmshm.h.
 * No C++ exception leaves an extern "C" entry point: every function in the
 * component structure is installed through OV_ENTRY (ov_entry.h).
 */
#include "btl_vmshm.h"
#include "ov_entry.h"

#include "opal/mca/base/mca_base_var.h"
#include "opal/mca/btl/base/base.h"
#include "opal/util/output.h"

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
        .btl_progress = nullptr,
    },
    .verbose = 0,
    .backend_dir = nullptr,
    .output = -1,
};

} /* extern "C" */

namespace {

char g_default_dir[] = "/run/ompi-virt";

int vmshm_register(void)
{
    mca_base_component_t *v = &mca_btl_vmshm_component.super.btl_version;
    (void) mca_base_var_group_component_register(
        v, "BTL for co-located guests (shared-memory rings granted by the ompi-virt backend)");

    mca_btl_vmshm_component.verbose = 0;
    (void) mca_base_component_var_register(
        v, "verbose", "Verbosity of btl vmshm: 10 traces reachability decisions",
        MCA_BASE_VAR_TYPE_INT, nullptr, 0, mca_base_var_flag_t{}, OPAL_INFO_LVL_5, MCA_BASE_VAR_SCOPE_LOCAL,
        &mca_btl_vmshm_component.verbose);

    const char *env_dir = getenv("OMPI_VIRT_DIR");
    mca_btl_vmshm_component.backend_dir =
        (nullptr != env_dir && '\0' != env_dir[0]) ? const_cast<char *>(env_dir) : g_default_dir;
    (void) mca_base_component_var_register(
        v, "backend_dir",
        "Directory of the host backend's control socket (default: $OMPI_VIRT_DIR, else "
        "/run/ompi-virt)",
        MCA_BASE_VAR_TYPE_STRING, nullptr, 0, mca_base_var_flag_t{}, OPAL_INFO_LVL_4, MCA_BASE_VAR_SCOPE_READONLY,
        &mca_btl_vmshm_component.backend_dir);

    /* Defaults of the standard BTL parameters, read back by the base.  Above
     * tcp (exclusivity LOW), below vader: vader never reaches across guests,
     * and inside a guest vader is the right choice. */
    mca_btl_base_module_t *m = &mca_btl_vmshm_module;
    mca_btl_vmshm_module_init_ops(m);
    m->btl_exclusivity = MCA_BTL_EXCLUSIVITY_DEFAULT;
    m->btl_eager_limit = 4 * 1024;
    m->btl_rndv_eager_limit = 32 * 1024;
    m->btl_max_send_size = 32 * 1024;
    m->btl_rdma_pipeline_send_length = 0;
    m->btl_rdma_pipeline_frag_size = 0;
    m->btl_min_rdma_pipeline_size = 0;
    m->btl_latency = 1;
    m->btl_bandwidth = 10000;
    /* No data path is offered yet (see btl_vmshm.h): no SEND/RDMA flags. */
    m->btl_flags = 0;
    return mca_btl_base_param_register(v, m);
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

mca_btl_base_module_t **vmshm_init(int *num_btls, bool, bool)
{
    *num_btls = 0;
    auto **modules =
        static_cast<mca_btl_base_module_t **>(malloc(sizeof(mca_btl_base_module_t *)));
    if (nullptr == modules) {
        return nullptr;
    }
    modules[0] = &mca_btl_vmshm_module;
    *num_btls = 1;
    BTL_VMSHM_VERBOSE(10, "module ready (backend dir %s); no shared-memory channel yet",
                      mca_btl_vmshm_component.backend_dir);
    return modules;
}

} // namespace
