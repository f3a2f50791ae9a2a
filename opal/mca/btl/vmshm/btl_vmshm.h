/*
 * btl_vmshm.h — contract of the btl "vmshm" component: two-sided MPI between
 * co-located guests through shared-memory rings granted by the host backend
 * (DESIGN.md, "btl vmshm").
 *
 * Lifecycle (Open MPI's btl framework, see opal/mca/btl/btl.h):
 *   register   parameters below plus the standard btl_vmshm_* set that
 *              mca_btl_base_param_register adds (exclusivity, eager_limit, ...).
 *   open/close the verbose output stream.
 *   init       returns one module.  Never fails the job: a component that
 *              cannot work returns no module and says why at verbose >= 1.
 *   add_procs  sets the reachability bit only for peers whose channel exists.
 *              THIS VERSION HAS NO CHANNEL: every peer is reported
 *              unreachable, so ob1 uses the other BTLs (vader inside a guest,
 *              tcp across guests) and results are unchanged.  The shared-memory
 *              rings arrive with the backend (a later issue); they will
 *              replace vmshm_reachable() in btl_vmshm_module.cc only.
 *   del_procs  releases what add_procs made (nothing yet).
 *   finalize   releases the module.
 *   Data-path entry points (alloc/send/put/get/...) are not offered while no
 *   peer is reachable: ob1 never calls a BTL for an unreachable peer.
 *
 * MCA parameters (ompi_info --param btl vmshm --level 9):
 *   btl_vmshm_verbose      (int, default 0)  >= 10 traces reachability decisions.
 *   btl_vmshm_backend_dir  (string, default $OMPI_VIRT_DIR or /run/ompi-virt)
 *                          directory where the host backend's socket lives.
 */
#ifndef OPAL_BTL_VMSHM_H
#define OPAL_BTL_VMSHM_H

#include "ompi_cxx_compat.h"

#include "opal/mca/btl/btl.h"

extern "C" {

struct mca_btl_vmshm_component_t {
    mca_btl_base_component_3_0_0_t super;
    int verbose;
    char *backend_dir;
    int output;
};

extern mca_btl_vmshm_component_t mca_btl_vmshm_component;

} /* extern "C" */

/** The single module (btl_vmshm_module.cc). */
extern mca_btl_base_module_t mca_btl_vmshm_module;

/** Resets the module's function table (called from register, before the
 *  base parameters are read into it). */
void mca_btl_vmshm_module_init_ops(mca_btl_base_module_t *module);

#define BTL_VMSHM_VERBOSE(level, ...)                                                 \
    do {                                                                              \
        if (mca_btl_vmshm_component.verbose >= (level)) {                             \
            opal_output(mca_btl_vmshm_component.output, "btl vmshm: " __VA_ARGS__);   \
        }                                                                             \
    } while (0)

#endif /* OPAL_BTL_VMSHM_H */
