/*
 * btl_vmshm_rdma.h — btl vmshm's put/get: single copy by the backend between
 * this process and a peer of its job (common/ov_btl_rdma_proto.h), so ob1's
 * RGET/RPUT protocols apply across guests.
 *
 * Registration (btl_register_mem): memory ob1 wants a peer to reach
 * (MCA_BTL_REG_FLAG_REMOTE_*) is registered with the backend (BTL_REG,
 * queued and written before the next message this process sends through
 * the segment or the backend, never waited for: the backend orders it
 * before any peer's use, ov_btl_rdma_proto.h).  Ranges below
 * btl_vmshm_rdma_min get no handle (nullptr): ob1 then sends that message
 * as a pipeline of fragments (its rendezvous protocol), which is how the
 * single-copy threshold is applied.  The handle ob1 carries in its rkey is
 * {handle, key}: the backend checks both against its own table, so a peer
 * reaches only what this process registered, only inside it.  Memory only
 * this process touches needs no registration and none is sent.
 * btl_deregister_mem posts BTL_DEREG.
 *
 * put/get: post BTL_RDMA and return OPAL_SUCCESS; completion is reported
 * through cbfunc from mca_btl_vmshm_progress (vmshm_rdma_progress), never
 * from inside put/get, and never by blocking.  At most VMSHM_RDMA_MAX_OPS
 * are posted to the backend; later ones wait in the BTL, in order, and are
 * posted as replies come (vmshm_rdma_backlog.h says why a put/get is never
 * refused for room).  OPAL_ERR_BAD_PARAM above btl_get_limit/btl_put_limit,
 * OPAL_ERR_UNREACH after a failure, OPAL_ERR_OUT_OF_RESOURCE only when
 * memory runs out.
 * A failed copy (peer gone, range refused) completes with OPAL_ERROR; ob1
 * aborts the job with its message.
 *
 * Lifecycle: vmshm_rdma_open after the segment is mapped (false: the backend
 * does not offer single copy here, e.g. vm mode or single copy off: the
 * module then has no PUT/GET flags and ob1 pipelines through fragments);
 * vmshm_rdma_close at finalize waits (bounded) for outstanding replies.
 * vmshm_rdma_fail_all completes every outstanding or waiting op with an
 * error (the backend went away).  All under the module's lock (vmshm_guard).
 */
#ifndef OPAL_BTL_VMSHM_RDMA_H
#define OPAL_BTL_VMSHM_RDMA_H

#include "btl_vmshm.h"

/* Put/gets posted to the backend at once: each owes a reply the backend
 * must be able to write without blocking (a unix socket holds a few
 * hundred small ones). */
#define VMSHM_RDMA_MAX_OPS 64
/* Default btl_vmshm_rdma_min: register_mem refuses smaller ranges, so ob1
 * sends those messages through fragments (docs/btl-vmshm.md, figures). */
#define VMSHM_RDMA_DEFAULT_MIN (4ul << 20)
/* Default btl_get_limit / btl_put_limit: bytes per backend request. */
#define VMSHM_RDMA_DEFAULT_LIMIT (4u << 20)

struct vmshm_state;

bool vmshm_rdma_open(vmshm_state *g);
void vmshm_rdma_close(vmshm_state *g);
/* Writes queued (de)registrations: before any message that may carry a
 * handle leaves this process (send, sendi).  false: the connection failed. */
bool vmshm_rdma_flush(vmshm_state *g);
/* Flushes, reaps replies; returns the number of completions reported. */
int vmshm_rdma_progress(vmshm_state *g);
void vmshm_rdma_fail_all(vmshm_state *g);
/* put/get/register/deregister entry points, and the handle size. */
void vmshm_init_rdma_ops(mca_btl_base_module_t *module);
/* Drop PUT/GET from the module (no single copy on this connection). */
void vmshm_rdma_disable(mca_btl_base_module_t *module);

#endif
