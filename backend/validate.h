/*
 * validate.h — the backend's check of one request descriptor (backend only;
 * also driven by the unit tests and the fuzz target).
 *
 * Contract: the caller has copied the descriptor out of shared memory ONCE
 * (ov_ring_consumer::pop) and passes only that copy, and keeps it until the
 * plan has been executed (an OV_REQ_INLINE plan points into it).  ov_validate reads
 * nothing from shared memory.  On OV_OK *plan says exactly which bytes the
 * executor may touch: every region range in it lies inside a window the
 * caller owns or holds a grant for; caller addresses (OV_REQ_LOCAL_VA) are
 * only ever accessed in the caller's own process.  On error *plan is
 * untouched.
 *
 * Order of checks (the first failing one gives the status):
 *   1 op < OV_OP_MAX                                   OV_ERR_BAD_OP
 *   2 flags allowed for the op: LOCAL_VA, INLINE on   OV_ERR_BAD_FLAGS
 *     PUT, GET, ACC, GET_ACC, CAS (not both); STREAM
 *     on PUT; EXCLUSIVE on LOCK; none on NOP and
 *     UNLOCK.  acc_op == 0 unless ACC/GET_ACC;
 *     result_off == 0 unless GET_ACC/CAS without
 *     INLINE; with LOCAL_VA local_win == local_epoch == 0
 *   3 LOCAL_VA needs who.features & SINGLE_COPY,     OV_ERR_NOT_SUPPORTED
 *     INLINE who.features & INLINE
 *     NOP: done (all other fields ignored)
 *     LOCK/UNLOCK: skip to 7 (dtype, length, local fields ignored)
 *   4 ACC/GET_ACC: acc_op in SUM..NO_OP                OV_ERR_BAD_OP
 *   5 dtype_kind known, dtype_size valid for it,       OV_ERR_BAD_DTYPE
 *     length % dtype_size == 0; CAS: length == size
 *   6 ACC/GET_ACC: ov_acc_valid(acc_op, kind, size)    OV_ERR_BAD_OP
 *     length <= limits.max_length                      OV_ERR_TOO_LARGE
 *   7 target window exists and the caller owns it,    OV_ERR_NO_WINDOW
 *     or is of its job and holds a grant on it (one
 *     answer for "no such window" and "not yours",
 *     whatever the epoch: no window-id oracle)
 *   8 target epoch matches                             OV_ERR_STALE_WINDOW
 *     (only a holder of the window now under that id
 *     learns that)
 *   9 (folded into 7; OV_ERR_NO_GRANT is no longer
 *     returned)
 *  10 grant has what the op needs: GET READ; PUT, ACC  OV_ERR_PERM
 *     WRITE; GET_ACC, CAS READ|WRITE; LOCK, UNLOCK
 *     any grant
 *  11 LOCK/UNLOCK: target_off < OV_LOCK_SLOTS (done)   OV_ERR_BOUNDS
 *     target_off + length <= window size               OV_ERR_BOUNDS  (no overflow)
 *  12 INLINE: origin at most OV_INLINE_ORIGIN_MAX,    OV_ERR_TOO_LARGE
 *     result at most OV_INLINE_RESULT_MAX bytes (no
 *     local window; 13 does not apply)
 *     without LOCAL_VA: local window exists, epoch     OV_ERR_LOCAL_ACCESS
 *     matches, caller owns it
 *     with LOCAL_VA: no caller range wraps around      OV_ERR_LOCAL_ACCESS
 *     a registered local window needs SINGLE_COPY     OV_ERR_LOCAL_ACCESS
 *  13 caller ranges inside the local window:           OV_ERR_BOUNDS
 *     origin [local_off, +length) (PUT, ACC, GET_ACC;
 *     CAS: +2*dtype_size, origin then compare),
 *     result [local_off, +length) for GET,
 *     [result_off, +length) for GET_ACC and CAS.
 *     acc_op NO_OP has no origin (ACC and GET_ACC):
 *     local_off is ignored.
 *
 * Registered windows (OV_MEM_OWNER): as target they become an OV_AT_PROC
 * operand on the owner; as local window (always the caller's own) their
 * ranges become OV_AT_CALLER addresses.  Registration guaranteed that the
 * window's address range does not wrap.
 *
 * Overlap: the plan's ranges may overlap each other (the same window as
 * target and origin, say); the executor copes (exec.h).
 */
#ifndef OMPI_VIRT_BACKEND_VALIDATE_H
#define OMPI_VIRT_BACKEND_VALIDATE_H

#include <cstdint>

#include "ov_protocol.h"

struct ov_requester {
    uint32_t proc_id;
    uint64_t job_key;
    uint32_t rank;
    uint32_t features; /* OV_FEAT_* offered to this connection (HELLO reply) */
};

/* Where a window's memory is. */
enum ov_win_mem : uint8_t {
    OV_MEM_REGION = 0, /* [region_off, +size) of region `region` (WIN_CREATE) */
    OV_MEM_OWNER = 1,  /* [region_off, +size) are addresses in the owner's process (WIN_REGISTER) */
};

struct ov_win_info {
    uint32_t id, epoch;
    uint32_t owner_proc;
    uint64_t job_key;
    uint32_t region;     /* backend region handle (OV_MEM_REGION) */
    uint64_t region_off; /* window start: region offset, or owner address (OV_MEM_OWNER) */
    uint64_t size;
    uint8_t mem;         /* ov_win_mem */
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

/* Where one operand of a request lives. */
enum ov_where : uint8_t {
    OV_AT_NONE = 0,   /* the op has no such operand */
    OV_AT_REGION = 1, /* bytes [off, +len) of region `region` (backend handle) */
    OV_AT_CALLER = 2, /* address `off` in the requesting process (OV_REQ_LOCAL_VA, or its own
                       * registered window as local buffer) */
    OV_AT_PROC = 3,   /* address `off` in process `region` (a proc id): the owner of a
                       * registered target window */
    OV_AT_INLINE = 4, /* OV_REQ_INLINE: an origin is at backend address `off`, inside the
                       * descriptor passed to ov_validate (which must outlive the
                       * execution); a result goes to the completion (ov_execute's
                       * inline_result; off is 0) */
};
struct ov_operand {
    uint8_t where;
    uint32_t region; /* region handle (OV_AT_REGION) or proc id (OV_AT_PROC) */
    uint64_t off, len;
};

struct ov_copy_plan {
    uint16_t op;
    uint8_t acc_op, dtype_kind;
    uint16_t dtype_size;
    uint64_t len;      /* descriptor length */
    ov_operand target; /* window bytes the op acts on: REGION or PROC (NONE for NOP, LOCK, UNLOCK) */
    ov_operand origin; /* read from the caller: PUT, ACC, GET_ACC (not NO_OP); CAS: origin then compare */
    ov_operand result; /* written to the caller: GET, GET_ACC, CAS (old target bytes) */
    uint32_t lock_win, lock_slot; /* LOCK, UNLOCK */
    bool exclusive;               /* LOCK */
    bool stream;                  /* PUT: OV_REQ_STREAM (exec.h says when it is honoured) */
};

ov_status_t ov_validate(const ov_req_desc &d, const ov_requester &who, const ov_win_lookup &wins,
                        const ov_limits &lim, ov_copy_plan *plan) noexcept;

/* OV_PERM_* `who` holds on window t: both as its owner, none from another
 * job, else its grant (0: OV_ERR_NO_WINDOW). */
uint32_t ov_perms_held(const ov_win_info &t, const ov_requester &who, const ov_win_lookup &wins) noexcept;
/* OV_PERM_* op needs on its target (0 for LOCK, UNLOCK: any grant will do). */
uint32_t ov_perms_needed(uint16_t op) noexcept;

/* Overflow-safe "[off, off+len) inside [0, size)". */
constexpr bool ov_in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

#endif
