/*
 * btl_vmshm_impl.h — btl vmshm's private state (one per process), shared by
 * btl_vmshm_module.cc (connection, reachability) and btl_vmshm_send.cc (data
 * path).  Contract of the component: btl_vmshm.h.
 */
#ifndef OPAL_BTL_VMSHM_IMPL_H
#define OPAL_BTL_VMSHM_IMPL_H

#include "btl_vmshm.h"

#include <mutex>
#include <vector>

#include "ov_frontend_btl.h"
#include "vmshm_channel.h"
#include "vmshm_idle.h"

/* ob1 hands this back on every call for a peer (opaque in btl.h). */
struct mca_btl_base_endpoint_t {
    uint32_t rank;     /* the peer's rank (vpid) = its slot in the segment */
    opal_proc_t *proc;
};

/* One of this rank's fragments as ob1 sees it. */
struct vmshm_frag {
    mca_btl_base_descriptor_t base; /* first: ob1's pointer is ours */
    mca_btl_base_segment_t seg;
    uint32_t index;
    enum { FREE, HELD, FLYING } state;
    bool owner_freed;   /* ob1 called free while it was flying */
    mca_btl_base_endpoint_t *ep;
};

/* Locks only when MPI_THREAD_MULTIPLE asked for it; recursive because a
 * receive callback may send. */
class vmshm_lock {
public:
    void enable() { on_ = true; }
    void lock() { if (on_) m_.lock(); }
    void unlock() { if (on_) m_.unlock(); }

private:
    bool on_ = false;
    std::recursive_mutex m_;
};

struct vmshm_rdma; /* put/get state (btl_vmshm_rdma.cc) */

struct vmshm_state {
    ov_fe_t *fe = nullptr;
    ov_fe_btl_seg_t seg{};
    uint32_t jobid = 0, me = 0;
    vmshm_channel ch;
    std::vector<vmshm_frag> frags;                  /* by fragment index */
    std::vector<mca_btl_base_endpoint_t *> eps;     /* by rank; nullptr: not reached */
    mca_btl_base_module_error_cb_fn_t error_cb = nullptr;
    vmshm_lock lock;
    uint32_t passes = 0;
    vmshm_idle idle;            /* when progress naps (vmshm_idle.h) */
    uint64_t naps = 0;          /* naps taken (btl_vmshm_stats) */
    bool failed = false; /* the backend shut the segment down: everything fails */
    vmshm_rdma *rdma = nullptr; /* nullptr: no single copy (btl_vmshm_rdma.h) */
};

/* nullptr until mca_btl_vmshm_link_open succeeds. */
extern vmshm_state *vmshm_g;

/* Holds vmshm_g's lock for a scope (every entry point). */
class vmshm_guard {
public:
    vmshm_guard() { vmshm_g->lock.lock(); }
    ~vmshm_guard() { vmshm_g->lock.unlock(); }
    vmshm_guard(const vmshm_guard &) = delete;
    vmshm_guard &operator=(const vmshm_guard &) = delete;
};

/* Channel callbacks (btl_vmshm_send.cc). */
void vmshm_deliver(void *ctx, uint32_t src, uint8_t tag, const char *data, uint32_t len);
void vmshm_returned(void *ctx, uint32_t index);
/* Fill the module's data-path entry points (btl_vmshm_send.cc). */
void vmshm_init_data_ops(mca_btl_base_module_t *module);

#endif
