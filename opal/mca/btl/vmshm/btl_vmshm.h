/*
 * btl_vmshm.h — contract of the btl "vmshm" component: two-sided MPI between
 * co-located guests through the shared segment the host backend grants to
 * each job (DESIGN.md, "btl vmshm"; layout common/ov_btl_segment.h; channel
 * vmshm_channel.h; design and figures docs/btl-vmshm.md).
 *
 * Lifecycle (Open MPI's btl framework, see opal/mca/btl/btl.h):
 *   register   parameters below plus the standard btl_vmshm_* set that
 *              mca_btl_base_param_register adds (exclusivity, eager_limit, ...).
 *   open/close the verbose output stream.
 *   init       connects to the backend as role BTL (its own connection,
 *              beside osc virt's), asks for the job's segment (BTL_SEGMENT,
 *              the job's size from PMIx) and maps it: the memfd it is sent
 *              (container), or in vm mode ($OMPI_VIRT_URI tcp:..., a guest
 *              declared as a VM) the ivshmem device the backend plugged
 *              (ov_frontend_btl.h).  Never fails the job: a rank that cannot
 *              (no backend, tcp from an undeclared guest, job larger than
 *              OV_BSEG_MAX_RANKS, a single-rank job) returns no module and
 *              says why at verbose >= 1.
 *   add_procs  reachable = a rank of this job (same jobid), not this process,
 *              whose slot in this backend's segment is marked present by the
 *              backend: it runs on the same backend, in any guest.  The
 *              backend marks a slot before the rank's MPI_Init reaches the
 *              modex fence, and add_procs runs after it, so every co-located
 *              rank is seen.  Ranks of other hosts (other backends) are not
 *              in this segment: tcp keeps them.  Exclusivity is
 *              MCA_BTL_EXCLUSIVITY_DEFAULT: above tcp, below vader, so vader
 *              keeps peers inside one guest when it is selected.  This is
 *              the one place that chooses a peer's channel (vmshm_reach() in
 *              btl_vmshm_module.cc).  Verbose >= 10 says why, per peer.
 *   del_procs  forgets the endpoints.
 *   finalize   closes the connection (the backend marks the slot absent and
 *              frees the segment with its last holder) and unmaps.
 *
 * Data path (btl_vmshm_send.cc), all without a system call:
 *   sendi        header + payload <= btl_vmshm_fbox_max (<= OV_BSEG_FBOX_MAX):
 *                one copy into the fast box to the peer; else into a
 *                fragment; OPAL_ERR_OUT_OF_RESOURCE (no descriptor) when
 *                neither has room, and ob1 takes its ordinary path.
 *   alloc / prepare_src  a fragment of this rank (<= btl_max_send_size =
 *                OV_BSEG_FRAG_PAYLOAD bytes; the data is packed into it).
 *   send         posts the fragment's offset into the peer's FIFO.  Returns
 *                1 (data gone; no callback) when the descriptor has
 *                BTL_OWNERSHIP and no SEND_ALWAYS_CALLBACK, else OPAL_SUCCESS
 *                and the callback runs when the receiver hands the fragment
 *                back.  OPAL_ERROR if the peer's FIFO refuses it (only a
 *                corrupted segment can).
 *   free         a fragment still in flight is reclaimed when it comes back.
 *   progress     polls the fast boxes of this rank's peers, then its FIFO.
 *                After btl_vmshm_idle_us of finding nothing while spinning,
 *                each idle pass sleeps (nanosleep, outside the lock; the
 *                only system call, and never while traffic flows) a nap
 *                that grows from btl_vmshm_idle_nap_us to
 *                btl_vmshm_idle_nap_max_us; traffic ends it at once.
 *   put/get      single copy by the backend (btl_vmshm_rdma.h): ob1's RGET
 *                for messages of at least btl_vmshm_rdma_min bytes.
 *
 * Threads: with MPI_THREAD_MULTIPLE every entry point takes one recursive
 * lock (a callback may send); without, no lock.
 *
 * Faults: a backend that shuts down marks the segment SHUTDOWN (or its
 * control socket closes); progress checks that every 2^16 passes (the one
 * system call it makes), then calls the registered error callback with
 * MCA_BTL_ERROR_FLAGS_FATAL for every reached peer, and alloc/send/sendi
 * fail (OPAL_ERR_UNREACH / no descriptor) from then on.  A peer that dies
 * while this rank waits for its message is not detected by vmshm (the
 * runtime sees the process or its guest's daemon die); docs/btl-vmshm.md.
 *
 * MCA parameters (ompi_info --param btl vmshm --level 9):
 *   btl_vmshm_verbose      (int, default 0)  1: why no module; 10: reachability per peer
 *   btl_vmshm_backend_dir  (string, default $OMPI_VIRT_DIR or /run/ompi-virt)
 *   btl_vmshm_fbox_max     (int, default 256, 0..OV_BSEG_FBOX_MAX) largest
 *                          sendi message (header + payload) sent by fast box
 *   btl_vmshm_single_copy  (int, default 1) 1: put/get (ob1's RGET) through the
 *                          backend's single copy when offered (btl_vmshm_rdma.h)
 *   btl_vmshm_rdma_min     (unsigned long, default 4 MiB) smallest message sent
 *                          by single copy; smaller ones go through fragments
 *   btl_vmshm_stats        (int, default 0) 1: each rank prints its channel
 *                          counters at finalize (how tests prove vmshm carried
 *                          the messages) and its idle naps
 *   btl_vmshm_idle_us      (int, default 1000) a rank whose progress found
 *                          nothing of vmshm's for this long while spinning
 *                          starts to nap (vmshm_idle.h); 0: never nap
 *   btl_vmshm_idle_nap_us  (int, default 50) first nap; each nap doubles it
 *   btl_vmshm_idle_nap_max_us (int, default 1000) longest nap: the most a
 *                          message to an idle rank waits for it
 */
#ifndef OPAL_BTL_VMSHM_H
#define OPAL_BTL_VMSHM_H

#include "ompi_cxx_compat.h"

/* opal/util/proc.h has no C linkage guards: read it once with C linkage
 * (opal_proc_local_get is what OPAL_PROC_MY_NAME calls). */
extern "C" {
#include "opal/util/proc.h"
}
#include "opal/mca/btl/btl.h"

extern "C" {

struct mca_btl_vmshm_component_t {
    mca_btl_base_component_3_0_0_t super;
    int verbose;
    char *backend_dir;
    int fbox_max;
    int stats;
    int single_copy;
    unsigned long rdma_min;
    int idle_us;
    int idle_nap_us;
    int idle_nap_max_us;
    int output;
};

extern mca_btl_vmshm_component_t mca_btl_vmshm_component;

} /* extern "C" */

/** The single module (btl_vmshm_module.cc). */
extern mca_btl_base_module_t mca_btl_vmshm_module;

/** Resets the module's function table (called from register, before the
 *  base parameters are read into it). */
void mca_btl_vmshm_module_init_ops(mca_btl_base_module_t *module);

/** Connect to the backend and map the job's segment (component init).
 *  OPAL_SUCCESS, or an error after saying why at verbose >= 1. */
int mca_btl_vmshm_link_open(bool enable_mpi_threads);

/** The component's progress function. */
int mca_btl_vmshm_progress(void);

#define BTL_VMSHM_VERBOSE(level, ...)                                                 \
    do {                                                                              \
        if (mca_btl_vmshm_component.verbose >= (level)) {                             \
            opal_output(mca_btl_vmshm_component.output, "btl vmshm: " __VA_ARGS__);   \
        }                                                                             \
    } while (0)

#endif /* OPAL_BTL_VMSHM_H */
