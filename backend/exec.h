/*
 * exec.h — carries out one validated copy plan (validate.h).  Backend only;
 * kept apart from ov_backend so the fuzz target runs the same code on its
 * own memory.
 *
 * Memory is reached through ov_exec_env: region bytes as pointers in the
 * backend's mappings, caller bytes (OV_AT_CALLER) and a registered window's
 * owner's bytes (OV_AT_PROC) by copy (single_copy.h).
 *
 * Per op (moved = the completion's `bytes`):
 *   PUT      origin -> target                                    length
 *   GET      target -> result                                    length
 *   ACC      target[i] = acc_op(target[i], origin[i])            length (NO_OP: 0)
 *   GET_ACC  result = old target; then as ACC                    length
 *   CAS      result = old target; target = origin if old == compare  dtype_size
 *   LOCK / UNLOCK  the lock table (locks.h)                      0
 *
 * Failure atomicity: every operand is read from the caller before the
 * target changes, and the old target bytes are written to the caller
 * before the target changes, so a refused caller address
 * (OV_ERR_LOCAL_ACCESS) leaves ACC, GET_ACC and CAS targets untouched.  A
 * PUT from the caller copies straight into the target (single copy): a
 * refusal part-way leaves part of the target range written (with a copy
 * crew, any parts of it: they are copied concurrently).
 *
 * A registered target window (OV_AT_PROC): the op runs on a copy of the
 * target bytes read from the owner (all but PUT), written back only if the
 * op changed them (NO_OP and a failed CAS write nothing).  Owner memory the
 * kernel refuses is OV_ERR_BOUNDS (the owner unmapped what it registered);
 * an owner that has exited or exec'd (its registered image is gone, single_copy.h)
 * gives OV_ERR_STALE_WINDOW.
 *
 * Overlap (a window used as both target and local buffer): as if origin
 * and old target were read before anything is written; where the result
 * range overlaps a region target's range, the result bytes win.  PUT/GET are
 * memmove.  MPI calls such overlaps erroneous; the point is only that the
 * backend stays within the plan's ranges whatever the caller does.
 *
 * OV_REQ_INLINE (OV_AT_INLINE operands): the origin bytes are read from
 * the descriptor copy the plan points into; the result bytes land in
 * scratch.inline_result (plan.result.off 0; a nonzero off is taken as the
 * backend address to write them to).
 *
 * OV_REQ_STREAM (plan.stream) on a PUT from region bytes into a region
 * target that it does not overlap: the target is written with non-temporal
 * stores (ov_stream_copy.h), fenced before the completion is published.
 * Elsewhere (caller or registered-window memory, overlap) it is ignored.
 */
#ifndef OMPI_VIRT_BACKEND_EXEC_H
#define OMPI_VIRT_BACKEND_EXEC_H

#include <cstdint>
#include <vector>

#include "locks.h"
#include "validate.h"

class ov_exec_env {
public:
    virtual ~ov_exec_env() = default;
    /* [off, +len) of region `region` in the backend's mapping; NULL if there
     * is no such region or the range is not inside it (defence in depth:
     * validated plans always are). */
    virtual char *region_span(uint32_t region, uint64_t off, uint64_t len) = 0;
    /* The requesting process's memory.  OV_OK or OV_ERR_LOCAL_ACCESS. */
    virtual ov_status_t caller_read(uint64_t addr, void *dst, uint64_t len) = 0;
    virtual ov_status_t caller_write(uint64_t addr, const void *src, uint64_t len) = 0;
    /* Memory of process `proc`, the owner of a registered window.  OV_OK,
     * OV_ERR_LOCAL_ACCESS (refused), or OV_ERR_STALE_WINDOW (the owner has
     * exited or exec'd: its windows are being freed or unreachable). */
    virtual ov_status_t proc_read(uint32_t proc, uint64_t addr, void *dst, uint64_t len) = 0;
    virtual ov_status_t proc_write(uint32_t proc, uint64_t addr, const void *src, uint64_t len) = 0;
};

class ov_copy_crew;

/* Resources kept between requests: staging buffers, so steady state
 * allocates nothing, and optionally helper threads that split the copy of a
 * large PUT or GET (copy_crew.h; NULL: the calling thread copies alone). */
struct ov_exec_scratch {
    std::vector<char> origin, old, target;
    /* An OV_AT_INLINE result (validate.h): its bytes after ov_execute, for
     * the completion's inline_result. */
    unsigned char inline_result[OV_INLINE_RESULT_MAX] = {};
    ov_copy_crew *crew = nullptr;
};

/* `proc` is the requester (lock holder identity).  Returns the completion
 * status; OV_ERR_NOMEM if a staging buffer cannot be allocated. */
ov_status_t ov_execute(const ov_copy_plan &p, uint32_t proc, ov_exec_env &env, ov_lock_table &locks,
                       ov_exec_scratch &s, uint64_t *moved) noexcept;

#endif
