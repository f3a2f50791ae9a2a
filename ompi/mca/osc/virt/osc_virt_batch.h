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
 *     sealing (submitting) the open batch if it is for anything else, and
 *     seals it as soon as it holds osc_virt_batch_entries (default 64):
 *     in a longer burst the backend runs a full batch while the origin
 *     issues the next operations.
 *   - Entries are written with streaming stores (write_batch_entry) and
 *     fenced (order_batch_entries) before the descriptor that publishes
 *     them.
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
 *     most OV_INLINE_RESULT_MAX contiguous bytes, not request-based, to a
 *     window of a rank in another guest on this backend: MPI_Win_allocate,
 *     or MPI_Win_create where the backend reaches user memory (container
 *     mode; it then moves the whole batch with one process_vm_writev or
 *     process_vm_readv), when the backend offers OV_FEAT_BATCH and
 *     osc_virt_batch is 1 (BackendWindow::quick_copy decides).
 */
#ifndef OMPI_OSC_VIRT_BATCH_H
#define OMPI_OSC_VIRT_BATCH_H

#include "ov_protocol.h"

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ov::osc {

struct Tracker;

static_assert(sizeof(ov_batch_entry) == 4 * sizeof(uint64_t) && OV_INLINE_ORIGIN_MAX <= 2 * sizeof(uint64_t),
              "write_batch_entry writes an entry as four words");

/* Writes one entry: its target offset, length, a zero reserved word and
 * (origin non-null: a put) n <= 16 origin bytes, the rest of data[] zero.
 *
 * Why non-temporal stores on x86-64: the staging block is the same one
 * every window (the staging allocator restarts at 0 when nothing is in
 * flight), and the backend's core read it last time.  An ordinary store
 * must first take each line back from that core (a read for ownership):
 * with the backend polling on the other core that cost 60-70 ns per
 * 32-byte entry, the larger part of an 8-byte MPI_Put (docs/osc-virt.md,
 * "OSU's window of 64 on an idle machine").  Streaming stores need no
 * ownership; order_batch_entries() orders them before the descriptor that
 * publishes the batch. */
inline void write_batch_entry(ov_batch_entry *e, uint64_t toff, uint32_t n, const char *origin)
{
    uint64_t data[2] = {0, 0};
    if (nullptr != origin) {
        ov_batch_copy(data, origin, n);
    }
    const uint64_t w[4] = {toff, n, data[0], data[1]}; /* length and reserved (0) share a word */
#if defined(__x86_64__)
    auto *q = reinterpret_cast<long long *>(e);
    _mm_stream_si64(q, static_cast<long long>(w[0]));
    _mm_stream_si64(q + 1, static_cast<long long>(w[1]));
    _mm_stream_si64(q + 2, static_cast<long long>(w[2]));
    _mm_stream_si64(q + 3, static_cast<long long>(w[3]));
#else
    memcpy(e, w, sizeof w);
#endif
}

/* Orders write_batch_entry()'s streaming stores before whatever the caller
 * publishes next (they are not ordered with ordinary stores). */
inline void order_batch_entries()
{
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

/** Where one get entry's result goes. */
struct GetDest {
    char *at;
    uint32_t n;
};

/** The batch being filled (BackendLink::batch_). */
struct OpenBatch {
    Tracker *tracker = nullptr;
    int target = -1;
    uint32_t win_id = 0, win_epoch = 0;
    bool put = false;
    uint64_t staging_off = 0; /* its entries: cap x ov_batch_entry */
    uint32_t n = 0;           /* entries so far (0: none open) */
    uint32_t cap = 0;         /* sent when it holds this many */
    struct GetScatter *gets = nullptr; /* a get batch: where its results go */
    GetDest *get_to = nullptr;         /* gets->to: per entry, in order */
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_BATCH_H */
