/*
 * btl_vmshm_module.cc — the vmshm module.  Contract: btl_vmshm.h.
 */
#include "btl_vmshm.h"
#include "ov_entry.h"

#include "opal/class/opal_bitmap.h"
#include "opal/util/output.h"
#include "opal/util/proc.h"

mca_btl_base_module_t mca_btl_vmshm_module;

namespace {

/* Whether a channel to `proc` exists.  None does until the backend grants
 * shared-memory rings (btl_vmshm.h).  When one does: osc virt's idle nap
 * sleeps in poll() on event descriptors (osc_virt_wake.cc counts vmshm as
 * carrying nothing), so the rings must then wake a sleeper or vmshm must
 * leave that list. */
bool vmshm_reachable(const opal_proc_t *)
{
    return false;
}

int vmshm_add_procs(mca_btl_base_module_t *, size_t nprocs, opal_proc_t **procs,
                    mca_btl_base_endpoint_t **endpoints, opal_bitmap_t *reachable)
{
    size_t reached = 0;
    for (size_t i = 0; i < nprocs; ++i) {
        endpoints[i] = nullptr;
        if (vmshm_reachable(procs[i])) {
            opal_bitmap_set_bit(reachable, static_cast<int>(i));
            ++reached;
        }
    }
    BTL_VMSHM_VERBOSE(10, "add_procs: %zu of %zu peers reachable", reached, nprocs);
    return OPAL_SUCCESS;
}

int vmshm_del_procs(mca_btl_base_module_t *, size_t, opal_proc_t **, mca_btl_base_endpoint_t **)
{
    return OPAL_SUCCESS;
}

int vmshm_finalize(mca_btl_base_module_t *)
{
    return OPAL_SUCCESS;
}

int vmshm_register_error(mca_btl_base_module_t *, mca_btl_base_module_error_cb_fn_t)
{
    return OPAL_SUCCESS;
}

} // namespace

/* Through OV_ENTRY (ov_entry.h): no exception reaches the BML/PML. */
static_assert(OPAL_ERR_OUT_OF_RESOURCE == -2 && OPAL_ERROR == -1, "ov_entry.h's int errors");

void mca_btl_vmshm_module_init_ops(mca_btl_base_module_t *module)
{
    module->btl_component = &mca_btl_vmshm_component.super;
    module->btl_add_procs = OV_ENTRY(vmshm_add_procs);
    module->btl_del_procs = OV_ENTRY(vmshm_del_procs);
    module->btl_finalize = OV_ENTRY(vmshm_finalize);
    module->btl_register_error = OV_ENTRY(vmshm_register_error);
}
