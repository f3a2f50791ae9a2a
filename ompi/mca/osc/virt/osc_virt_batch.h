/*
 * osc_virt_batch.h — small puts and gets gathered into one OV_REQ_BATCH
 * request (ov_protocol.h) instead of one request each.
 *
 * Why: a burst of 8-byte puts or gets before one flush (osu_put_bw and
 * osu_get_bw at small sizes, IMB-RMA's aggregate mode, bench/ov_msgrate)
 * paid per operation a descriptor's cache line crossing to the backend's
 * core, a doorbell check (a seq_cst fence and a load of the backend's
 * flag), and for a get a completion to retire; and the backend thread had
 * to run once per operation.  In a batch an operation is a 32-byte entry
 * written into the staging area; the batch is one descriptor, one doorbell
 * check and one completion for up to OV_BATCH_ENTRIES_MAX operations.
 *
 * Contract (BackendLink::batch_add / seal_batch, osc_virt_batch.cc; the
 * link lock held, as for every BackendLink call):
 *   - One batch is open per process at a time, for one (window tracker,
 *     target, target window, direction).  batch_add() appends to it, first
 *     sealing (submitting) the open batch if it is for anything else or is
 *     full.
 *   - The open batch is sealed before ANY other request of the process is
 *     published (BackendLink::push) or staging reserved (stage), by every
 *     wait of a window (drain, wait_target) and by the progress callback.
 *     So the backend sees the process's operations in program order, as
 *     one request each would have given it: MPI's ordering rules hold
 *     unchanged (accumulates are never batched; they follow a sealed batch
 *     in ring order).
 *   - A sealed batch is an ordinary counted request of its tracker and
 *     target (not quiet): a flush of that target waits for its completion.
 *     A get's result bytes reach the user's buffers only when it completes
 *     (GetScatter), that is inside the flush, unlock, fence or complete
 *     that waits for it: never earlier than MPI allows them to be read.
 *   - An entry that fails in the backend makes the batch's completion carry
 *     that error (an entry out of the window's bounds fails the whole
 *     batch before any runs; otherwise the entries before the failing one
 *     ran, the ones after it did not); the window's next synchronization
 *     reports it, as for any request.  A failed get batch copies no
 *     results.
 *   - What is batched: puts of at most OV_INLINE_ORIGIN_MAX and gets of at
 *     most OV_INLINE_RESULT_MAX contiguous bytes, not request-based, to an
 *     MPI_Win_allocate window of a rank in another guest on this backend
 *     (BackendWindow::issue_copy_piece decides), when the backend offers
 *     OV_FEAT_BATCH and osc_virt_batch is 1.
 */
#ifndef OMPI_OSC_VIRT_BATCH_H
#define OMPI_OSC_VIRT_BATCH_H

#include "ov_protocol.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace ov::osc {

struct Tracker;

/** The batch being filled (BackendLink::batch_). */
struct OpenBatch {
    Tracker *tracker = nullptr;
    int target = -1;
    uint32_t win_id = 0, win_epoch = 0;
    bool put = false;
    uint64_t staging_off = 0; /* its entries: OV_BATCH_ENTRIES_MAX x ov_batch_entry */
    uint32_t n = 0;           /* entries so far (0: none open) */
    struct GetScatter *gets = nullptr; /* a get batch: where its results go */
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_BATCH_H */
