/*
 * op_batch.h — the checks an OV_REQ_BATCH descriptor and its block of
 * ov_batch_entry pass before anything in it runs (ov_protocol.h has the wire
 * contract; backend/op_batch.cc serves the batch with them).
 *
 * Both functions are pure: they read only their arguments (the entries are
 * the backend's private copy of the block, never the shared memory the
 * caller can rewrite) and return the first fault found, in this order:
 *
 * ov_batch_check_desc(d, features)
 *   OV_ERR_BAD_OP         d.op is not an op at all
 *   OV_ERR_BAD_FLAGS      d.op is not PUT or GET, d.flags is not exactly
 *                         OV_REQ_BATCH, or acc_op, result_off, target_off is
 *                         not 0
 *   OV_ERR_NOT_SUPPORTED  features lacks OV_FEAT_BATCH or OV_FEAT_INLINE
 *   OV_ERR_BAD_DTYPE      dtype is not OV_DT_BYTES of size 1, or length is 0
 *                         or not a whole number of entries
 *   OV_ERR_TOO_LARGE      more than OV_BATCH_ENTRIES_MAX entries
 *   OV_OK                 otherwise; the count is length / sizeof(entry)
 *
 * ov_batch_check_entries(e, n, op, target_size)
 *   n is the count ov_batch_check_desc accepted (1..OV_BATCH_ENTRIES_MAX).
 *   target_size: the target window's size in bytes, or UINT64_MAX when the
 *   caller is not known to hold the window (each entry then meets the
 *   window's own checks when it runs; no size is revealed to a stranger).
 *   OV_ERR_BAD_FLAGS      an entry's reserved field is not 0
 *   OV_ERR_BAD_DTYPE      an entry's length is 0
 *   OV_ERR_TOO_LARGE      an entry's length is above OV_INLINE_ORIGIN_MAX
 *                         (PUT) or OV_INLINE_RESULT_MAX (GET)
 *   OV_ERR_BOUNDS         an entry's [target_off, target_off + length) is not
 *                         inside [0, target_size) (overflow included)
 *   OV_OK                 otherwise.  Entries may name overlapping target
 *                         bytes: they run in order, as separate descriptors
 *                         in ring order would.
 */
#ifndef OV_BACKEND_OP_BATCH_H
#define OV_BACKEND_OP_BATCH_H

#include <cstddef>
#include <cstdint>

#include "ov_protocol.h"

ov_status_t ov_batch_check_desc(const ov_req_desc &d, uint32_t features) noexcept;
ov_status_t ov_batch_check_entries(const ov_batch_entry *e, size_t n, uint16_t op,
                                   uint64_t target_size) noexcept;

#endif /* OV_BACKEND_OP_BATCH_H */
