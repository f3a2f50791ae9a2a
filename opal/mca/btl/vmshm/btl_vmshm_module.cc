/*
 * btl_vmshm_module.cc — btl vmshm's connection to the backend, reachability
 * and lifecycle.  Contract: btl_vmshm.h.  No C++ exception leaves an entry
 * point: each catches everything and returns an OPAL error.
 */
#include "btl_vmshm_impl.h"
#include "btl_vmshm_rdma.h"
#include "ov_entry.h"
#include "ov_job_id.h"

#include <cstring>

#include "opal/class/opal_bitmap.h"
#include "opal/mca/pmix/pmix.h"
#include "opal/util/output.h"
#include "opal/util/proc.h"

#include <new>
#include <string>

mca_btl_base_module_t mca_btl_vmshm_module;
vmshm_state *vmshm_g = nullptr;

namespace {

/* The job's size, from PMIx (an OPAL component has no communicator). */
int job_size(uint32_t *out)
{
    opal_process_name_t wild = OPAL_PROC_MY_NAME;
    wild.vpid = OPAL_VPID_WILDCARD;
    uint32_t size = 0;
    uint32_t *p = &size;
    int rc;
    OPAL_MODEX_RECV_VALUE_OPTIONAL(rc, OPAL_PMIX_JOB_SIZE, &wild, &p, OPAL_UINT32);
    if (OPAL_SUCCESS != rc || 0 == size) {
        return OPAL_ERR_NOT_FOUND;
    }
    *out = size;
    return OPAL_SUCCESS;
}

void close_state()
{
    if (nullptr != vmshm_g) {
        vmshm_rdma_close(vmshm_g);
        ov_fe_close(vmshm_g->fe); /* unmaps the segment; the backend marks us absent */
        for (mca_btl_base_endpoint_t *ep : vmshm_g->eps) {
            delete ep;
        }
        delete vmshm_g;
        vmshm_g = nullptr;
    }
}

/* Why `proc` is or is not reached through the segment: the one place that
 * chooses vmshm as a peer's channel.  "" = reachable. */
std::string vmshm_reach(const opal_proc_t *proc)
{
    const opal_process_name_t &n = proc->proc_name;
    if (n.jobid != vmshm_g->jobid) {
        return "another job (segments are per job)";
    }
    if (n.vpid == vmshm_g->me) {
        return "this process (btl self)";
    }
    if (n.vpid >= vmshm_g->ch.nranks()) {
        return "rank outside the job's segment";
    }
    if (!vmshm_g->ch.present(n.vpid)) {
        return "does not hold this job's segment on this backend (another host, or no vmshm there)";
    }
    return "";
}

int vmshm_add_procs(mca_btl_base_module_t *, size_t nprocs, opal_proc_t **procs,
                    mca_btl_base_endpoint_t **endpoints, opal_bitmap_t *reachable)
{
    if (nullptr == vmshm_g) {
        return OPAL_SUCCESS;
    }
    try {
        vmshm_guard l;
        size_t reached = 0;
        for (size_t i = 0; i < nprocs; ++i) {
            endpoints[i] = nullptr;
            const std::string why = vmshm_reach(procs[i]);
            const uint32_t rank = procs[i]->proc_name.vpid;
            if (!why.empty()) {
                BTL_VMSHM_VERBOSE(10, "rank %u not reachable: %s", rank, why.c_str());
                continue;
            }
            mca_btl_base_endpoint_t *&ep = vmshm_g->eps[rank];
            if (nullptr == ep) {
                ep = new mca_btl_base_endpoint_t{rank, procs[i]};
            }
            vmshm_g->ch.watch(rank);
            endpoints[i] = ep;
            opal_bitmap_set_bit(reachable, static_cast<int>(i));
            ++reached;
            BTL_VMSHM_VERBOSE(10, "rank %u reachable: holds segment %llu of this backend", rank,
                              static_cast<unsigned long long>(vmshm_g->seg.segment_id));
        }
        /* Open MPI adds most peers lazily, at their first message: a peer
         * may already have written into its fast box to us before ob1 adds
         * it here, so every rank present now is polled from the start. */
        for (uint32_t r = 0; r < vmshm_g->ch.nranks(); ++r) {
            if (vmshm_g->ch.present(r)) {
                vmshm_g->ch.watch(r);
            }
        }
        BTL_VMSHM_VERBOSE(10, "add_procs: %zu of %zu peers reachable", reached, nprocs);
        return OPAL_SUCCESS;
    } catch (...) { /* the guard has unlocked */
        return OPAL_ERR_OUT_OF_RESOURCE;
    }
}

int vmshm_del_procs(mca_btl_base_module_t *, size_t nprocs, opal_proc_t **procs, mca_btl_base_endpoint_t **)
{
    /* Endpoints stay until finalize: a fragment in flight may still name one. */
    return OPAL_SUCCESS;
}

int vmshm_finalize(mca_btl_base_module_t *)
{
    if (nullptr != vmshm_g && 0 != mca_btl_vmshm_component.stats) {
        const vmshm_channel::counters &c = vmshm_g->ch.stats();
        opal_output(0, "btl vmshm: rank %u stats: fbox_sent %llu fifo_sent %llu fbox_recv %llu fifo_recv %llu "
                       "returned %llu naps %llu rejected %llu",
                    vmshm_g->me, (unsigned long long) c.fbox_sent, (unsigned long long) c.fifo_sent,
                    (unsigned long long) c.fbox_recv, (unsigned long long) c.fifo_recv,
                    (unsigned long long) c.returned, (unsigned long long) vmshm_g->naps,
                    (unsigned long long) c.rejected);
    }
    close_state();
    return OPAL_SUCCESS;
}

int vmshm_register_error(mca_btl_base_module_t *, mca_btl_base_module_error_cb_fn_t cb)
{
    if (nullptr != vmshm_g) {
        vmshm_g->error_cb = cb;
    }
    return OPAL_SUCCESS;
}

int open_link(bool enable_mpi_threads)
{
    uint32_t nranks = 0;
    if (OPAL_SUCCESS != job_size(&nranks)) {
        BTL_VMSHM_VERBOSE(1, "no module: the job's size is not known (PMIx job.size)");
        return OPAL_ERR_NOT_AVAILABLE;
    }
    if (nranks < 2) {
        BTL_VMSHM_VERBOSE(1, "no module: a job of one rank has no peer");
        return OPAL_ERR_NOT_AVAILABLE;
    }
    auto *g = new (std::nothrow) vmshm_state;
    if (nullptr == g) {
        return OPAL_ERR_OUT_OF_RESOURCE;
    }
    vmshm_g = g;
    if (enable_mpi_threads) {
        g->lock.enable();
    }
    g->jobid = OPAL_PROC_MY_NAME.jobid;
    g->me = OPAL_PROC_MY_NAME.vpid;
    ov_fe_params_t p;
    ov_fe_params_default(&p);
    /* The job identity osc virt uses (osc_virt_link.cc, common/ov_job_id.h):
     * a secret only the job's own processes hold, so no other tenant can
     * claim a rank of this job's segment. */
    ov_job_secret secret;
    if (OV_OK != ov_job_secret_from_env(&secret)) {
        BTL_VMSHM_VERBOSE(1, "no module: no job secret (OMPI_MCA_orte_precondition_transports missing)");
        close_state();
        return OPAL_ERR_NOT_AVAILABLE;
    }
    static_assert(sizeof(p.job_secret) == sizeof(secret.b), "one secret");
    memcpy(p.job_secret, secret.b, sizeof(p.job_secret));
    memset(&secret, 0, sizeof(secret));
    p.rank = g->me;
    p.role = OV_ROLE_BTL;
    std::string uri = std::string("unix:") + mca_btl_vmshm_component.backend_dir + "/" + OV_SOCKET_NAME;
    p.uri = getenv("OMPI_VIRT_URI") != nullptr ? nullptr : uri.c_str();
    ov_status_t s = ov_fe_open(&p, &g->fe);
    if (OV_OK == s) {
        s = ov_fe_btl_segment(g->fe, nranks, &g->seg);
    }
    if (OV_OK != s) {
        BTL_VMSHM_VERBOSE(1, "no module: %s (%s)", nullptr != g->fe ? ov_fe_last_error(g->fe) : "",
                          ov_strerror(s));
        close_state();
        return OPAL_ERR_NOT_AVAILABLE;
    }
    if (OV_OK != g->ch.init(g->seg.base, g->seg.geom, g->me, vmshm_deliver, vmshm_returned, g)) {
        close_state();
        return OPAL_ERR_BAD_PARAM;
    }
    g->idle = vmshm_idle(int64_t{mca_btl_vmshm_component.idle_us} * 1000,
                         int64_t{mca_btl_vmshm_component.idle_nap_us} * 1000,
                         int64_t{mca_btl_vmshm_component.idle_nap_max_us} * 1000);
    g->eps.assign(nranks, nullptr);
    g->frags.resize(g->seg.geom.frags_per_rank);
    for (uint32_t i = 0; i < g->seg.geom.frags_per_rank; ++i) {
        vmshm_frag &f = g->frags[i];
        f = vmshm_frag{};
        f.index = i;
        f.state = vmshm_frag::FREE;
        f.seg.seg_addr.pval = g->ch.payload(i);
        f.base.des_segments = &f.seg;
        f.base.des_segment_count = 1;
    }
    if (0 == mca_btl_vmshm_component.single_copy || !vmshm_rdma_open(g)) {
        BTL_VMSHM_VERBOSE(1, "no put/get: %s", 0 == mca_btl_vmshm_component.single_copy
                          ? "btl_vmshm_single_copy is 0" : "the backend offers no single copy on this connection");
        vmshm_rdma_disable(&mca_btl_vmshm_module);
    }
    BTL_VMSHM_VERBOSE(10, "rank %u holds segment %llu (%u ranks, %llu bytes)", g->me,
                      (unsigned long long) g->seg.segment_id, nranks, (unsigned long long) g->seg.geom.size);
    return OPAL_SUCCESS;
}

} // namespace

/* Through OV_ENTRY (ov_entry.h): no exception reaches the BML/PML. */
static_assert(OPAL_ERR_OUT_OF_RESOURCE == -2 && OPAL_ERROR == -1, "ov_entry.h's int errors");

int mca_btl_vmshm_link_open(bool enable_mpi_threads)
{
    try {
        return open_link(enable_mpi_threads);
    } catch (...) {
        close_state();
        return OPAL_ERR_OUT_OF_RESOURCE;
    }
}

void mca_btl_vmshm_module_init_ops(mca_btl_base_module_t *module)
{
    module->btl_component = &mca_btl_vmshm_component.super;
    module->btl_add_procs = OV_ENTRY(vmshm_add_procs);
    module->btl_del_procs = OV_ENTRY(vmshm_del_procs);
    module->btl_finalize = OV_ENTRY(vmshm_finalize);
    module->btl_register_error = OV_ENTRY(vmshm_register_error);
    vmshm_init_data_ops(module);
    vmshm_init_rdma_ops(module);
}
