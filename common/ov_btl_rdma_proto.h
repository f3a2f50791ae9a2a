/*
 * ov_btl_rdma_proto.h — btl vmshm's single copy between two processes of one
 * job, done by the backend (messages BTL_REG, BTL_DEREG, BTL_RDMA of
 * ov_protocol.h; offered as OV_FEAT_BTL_RDMA to role-BTL connections of unix
 * peers whose image the backend could pin, exactly as OV_FEAT_SINGLE_COPY).
 *
 * Model.  A process registers ranges of its own memory with the backend
 * (BTL_REG): that registration is the grant.  A peer of the same job on the
 * same backend names one (owner rank, handle, key) in BTL_RDMA and the
 * backend copies between the named range of the owner and the requester's
 * own memory (process_vm_readv/writev, backend/single_copy.h, with each
 * process's bound image and credentials).  Nothing else of the owner is
 * reachable: the backend checks every request against its own copy of the
 * registration, never against what a frontend says about it.
 *
 * Handles and keys are chosen by the owner: `handle` is unique among its
 * live registrations (not 0) and `key` is 64 random bits a peer learns only
 * when the owner hands it the handle (ob1's rkey).  A wrong key is treated
 * exactly as a missing handle.
 *
 * Ordering.  A frontend may send BTL_REG without waiting for its reply and
 * then give the handle to a peer through the segment: the backend reads
 * the owner's pending control messages before it refuses an unknown
 * handle (a request that names a handle the owner's socket may still be
 * registering waits for that socket, never longer than the owner's
 * already-written bytes), so a handle is usable as soon as its BTL_REG is
 * written.  Replies to BTL_RDMA may come in any order relative to other
 * requests: match them by seq.
 *
 * Replies.  BTL_RDMA: exactly one.  BTL_REG and BTL_DEREG: a reply only when
 * refused (success is silent), so a process registering at a high rate
 * never has a backlog of replies to read; its frontend reaps now and then.
 *
 * Errors (status of the reply):
 *   BTL_REG    OV_ERR_STATE (no HELLO, not role BTL, or OV_FEAT_BTL_RDMA not
 *              offered); OV_ERR_BAD_ARG (handle 0, len 0, addr+len wraps,
 *              unknown access bits, a reserved field not 0); OV_ERR_EXISTS
 *              (handle live); OV_ERR_QUOTA (more than OV_BTL_MAX_REGS live).
 *   BTL_DEREG  OV_ERR_STATE as above; OV_ERR_NO_WINDOW (no such live handle
 *              with this key).
 *   BTL_RDMA   OV_ERR_STATE as above; OV_ERR_BAD_ARG (unknown op, peer = the
 *              requester, reserved not 0, ranges that wrap); OV_ERR_NO_WINDOW
 *              (no live connection of that rank of the requester's job on
 *              this backend, or no registration (handle, key) of it);
 *              OV_ERR_PERM (the registration lacks the access the op needs);
 *              OV_ERR_BOUNDS (remote range outside the registration, or the
 *              owner's memory there is gone/unmapped, or the owner exited or
 *              exec'd); OV_ERR_LOCAL_ACCESS (the requester's own range
 *              cannot be reached); OV_ERR_TOO_LARGE (len > OV_BTL_MAX_RDMA).
 */
#ifndef OMPI_VIRT_COMMON_OV_BTL_RDMA_PROTO_H
#define OMPI_VIRT_COMMON_OV_BTL_RDMA_PROTO_H

#include <cstdint>
#include <type_traits>

#define OV_BTL_ACCESS_READ 0x1u  /* peers may GET from it */
#define OV_BTL_ACCESS_WRITE 0x2u /* peers may PUT into it */
#define OV_BTL_ACCESS_ALL (OV_BTL_ACCESS_READ | OV_BTL_ACCESS_WRITE)
#define OV_BTL_MAX_REGS 65536u             /* live registrations per connection */
#define OV_BTL_MAX_RDMA (uint64_t(1) << 30) /* bytes per BTL_RDMA (ob1 splits by btl_get_limit) */

enum ov_btl_rdma_op : uint32_t {
    OV_BTL_GET = 1, /* owner's [remote_addr, +len) -> requester's [local_addr, +len) */
    OV_BTL_PUT = 2, /* requester's [local_addr, +len) -> owner's [remote_addr, +len) */
};

struct ov_btl_reg_req {
    uint64_t addr, len; /* the owner's own range */
    uint64_t key;       /* random; any value */
    uint32_t handle;    /* not 0, unique among the sender's live registrations */
    uint32_t access;    /* OV_BTL_ACCESS_* */
};
struct ov_btl_dereg_req {
    uint32_t handle;
    uint32_t reserved; /* must be 0 */
    uint64_t key;
};
struct ov_btl_rdma_req {
    uint32_t op;       /* ov_btl_rdma_op */
    uint32_t peer;     /* the owner's rank in the requester's job */
    uint32_t handle;   /* the owner's registration */
    uint32_t reserved; /* must be 0 */
    uint64_t key;
    uint64_t remote_addr; /* in the owner's address space */
    uint64_t local_addr;  /* in the requester's address space */
    uint64_t len;
};
struct ov_btl_rdma_rep {
    int32_t status;
    uint32_t reserved;
    uint64_t moved; /* bytes copied (len on OV_OK) */
};

static_assert(sizeof(ov_btl_reg_req) == 32 && sizeof(ov_btl_dereg_req) == 16 && sizeof(ov_btl_rdma_req) == 48 &&
                  sizeof(ov_btl_rdma_rep) == 16,
              "wire sizes");
static_assert(std::is_standard_layout<ov_btl_rdma_req>::value, "wire struct");

#endif
