/*
 * btl_registrations.h — the backend's table of memory btl vmshm processes
 * registered for single copy (messages BTL_REG / BTL_DEREG / BTL_RDMA,
 * common/ov_btl_rdma_proto.h).  A registration is the owner's grant: a peer
 * of the same job reaches the owner's memory only through one, only inside
 * it, only with the access it names.
 *
 * Lifecycle:
 *   add(owner, req)     records req for owner.conn (copied: the service never
 *                       looks at guest memory) and indexes owner.conn as
 *                       rank owner.rank of job owner.job_key.
 *   remove(conn, req)   forgets one registration.
 *   drop(conn)          the connection is gone: all its registrations and its
 *                       index entry go (a later request naming it gets
 *                       OV_ERR_NO_WINDOW).
 *   check(who, req, &o) may `who` run req?  OV_OK and the owner's conn in *o.
 *
 * Errors: add: OV_ERR_BAD_ARG (handle 0, len 0, addr+len wraps, access 0 or
 * unknown bits), OV_ERR_EXISTS (handle live for this conn), OV_ERR_QUOTA
 * (OV_BTL_MAX_REGS live).  remove: OV_ERR_NO_WINDOW (no live (handle, key)).
 * check: OV_ERR_BAD_ARG (unknown op, reserved != 0, peer = who.rank, a
 * range that wraps, len > OV_BTL_MAX_RDMA gives OV_ERR_TOO_LARGE),
 * OV_ERR_NO_WINDOW (no owner conn for (job, peer), no such handle, wrong
 * key: indistinguishable), OV_ERR_PERM (access), OV_ERR_BOUNDS (remote range
 * not inside the registration).  The table is unchanged by any error.
 *
 * Identity: `who`/`owner` come from ov_backend::btl_member (the one place
 * that decides which job a BTL connection belongs to).  A rank's index entry
 * is its latest registering conn: (job, rank, role BTL) is unique among live
 * connections, so there is at most one.
 *
 * Threading: the backend's event-loop thread only.
 */
#ifndef OMPI_VIRT_BACKEND_BTL_REGISTRATIONS_H
#define OMPI_VIRT_BACKEND_BTL_REGISTRATIONS_H

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>

#include "btl_segments.h" /* ov_btl_member */
#include "ov_btl_rdma_proto.h"
#include "ov_protocol.h"

class ov_btl_registrations {
public:
    ov_status_t add(const ov_btl_member &owner, const ov_btl_reg_req &req);
    ov_status_t remove(uint32_t conn, const ov_btl_dereg_req &req);
    void drop(uint32_t conn);
    ov_status_t check(const ov_btl_member &who, const ov_btl_rdma_req &req, uint32_t *owner_conn) const;

    /* The conn registered as (job, rank), or 0. */
    uint32_t owner_of(uint64_t job_key, uint32_t rank) const;
    size_t live(uint32_t conn) const;
    size_t owners() const { return by_conn_.size(); }

private:
    struct reg {
        uint64_t addr, len, key;
        uint32_t access;
    };
    struct owner {
        uint64_t job_key;
        uint32_t rank;
        std::unordered_map<uint32_t, reg> regs; /* handle -> registration */
    };
    std::unordered_map<uint32_t, owner> by_conn_;
    std::map<std::pair<uint64_t, uint32_t>, uint32_t> by_rank_; /* (job, rank) -> conn */
};

#endif
