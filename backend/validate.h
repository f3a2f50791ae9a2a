/*
 * validate.h — the backend's check of one request descriptor (backend only;
 * also driven by the unit tests and the fuzz target).
 *
 * Contract: the caller has copied the descriptor out of shared memory ONCE
 * (ov_ring_consumer::pop) and passes only that copy.  ov_validate reads
 * nothing from shared memory.  On OV_OK *plan says exactly which region bytes
 * the copy may touch; every offset in it lies inside a window the caller
 * owns or holds a grant for.  On error *plan is untouched.
 *
 * Order of checks (the first failing one gives the status):
 *   1 reserved == 0 and flags == 0             OV_ERR_BAD_FLAGS
 *   2 op < OV_OP_MAX                           OV_ERR_BAD_OP
 *     NOP: done (all other fields ignored)
 *   3 dtype_size in {1,2,4,8,16}, length % it  OV_ERR_BAD_DTYPE
 *   4 length <= limits.max_length              OV_ERR_TOO_LARGE
 *   5 target window exists                     OV_ERR_NO_WINDOW
 *   6 target epoch matches                     OV_ERR_STALE_WINDOW
 *   7 owner, or same job and a grant           OV_ERR_NO_GRANT
 *   8 grant has READ (get) / WRITE (put)       OV_ERR_PERM
 *   9 target_off + length <= window size       OV_ERR_BOUNDS  (no overflow)
 *  10 local window exists, epoch, owned        OV_ERR_LOCAL_ACCESS
 *  11 local_off + length <= local size         OV_ERR_BOUNDS
 */
#ifndef OMPI_VIRT_BACKEND_VALIDATE_H
#define OMPI_VIRT_BACKEND_VALIDATE_H

#include <cstdint>

#include "ov_protocol.h"

struct ov_requester {
    uint32_t proc_id;
    uint64_t job_key;
    uint32_t rank;
};

struct ov_win_info {
    uint32_t id, epoch;
    uint32_t owner_proc;
    uint64_t job_key;
    uint32_t region;     /* backend region handle */
    uint64_t region_off; /* window start inside the region */
    uint64_t size;
};

class ov_win_lookup {
public:
    virtual ~ov_win_lookup() = default;
    /* NULL if no live window has this id. */
    virtual const ov_win_info *find(uint32_t id) const = 0;
    /* OV_PERM_* the grantee (job, rank) holds on w (0 if none). */
    virtual uint32_t grant(const ov_win_info &w, const ov_requester &who) const = 0;
};

struct ov_limits {
    uint64_t max_length = uint64_t(16) << 20;
};

struct ov_copy_plan {
    uint16_t op;
    uint32_t src_region, dst_region;
    uint64_t src_off, dst_off, len; /* region offsets */
};

ov_status_t ov_validate(const ov_req_desc &d, const ov_requester &who, const ov_win_lookup &wins,
                        const ov_limits &lim, ov_copy_plan *plan) noexcept;

/* Overflow-safe "[off, off+len) inside [0, size)". */
constexpr bool ov_in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

#endif
