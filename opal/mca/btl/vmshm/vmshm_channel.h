/*
 * vmshm_channel.h — one rank's end of btl vmshm's eager channel over its
 * job's segment (common/ov_btl_segment.h).  MPI-free, so GoogleTest and the
 * fuzz target drive it without mpirun; the BTL (btl_vmshm_module.cc) wraps it.
 *
 * Two ways from rank s to rank r, one order:
 *   fast box (r, s)  small messages (<= OV_BSEG_FBOX_MAX bytes), copied into
 *                    the single-producer ring the pair owns: no fragment, no
 *                    return trip.
 *   FIFO r           anything up to OV_BSEG_FRAG_PAYLOAD: s fills one of its
 *                    own fragments and posts the fragment's OFFSET into r's
 *                    multi-producer FIFO; r delivers it and posts the offset
 *                    (| OV_BSEG_FIFO_RETURN) back into s's FIFO, where s
 *                    completes and reuses it.
 * Every message from s to r carries a sequence number shared by both ways;
 * r delivers in that order (a FIFO fragment that overtook fast-box messages
 * waits until they are delivered: they are always visible first, since s
 * publishes the box before posting the fragment).
 *
 * Lifecycle: init() over a mapped segment whose geometry was checked
 * (ov_bseg_check); watch(rank) for every peer whose fast box to poll;
 * alloc/post/release and fbox_reserve/fbox_commit to send; poll() to
 * receive and to take back returned fragments.  Not thread-safe: the owner
 * serialises every call (the BTL holds its lock).  No call blocks or makes a
 * system call.
 *
 * Hostile peers: everything read from the segment is validated before use
 * (ov_bseg_locate_frag, fragment length, sender != self, fast-box entries).
 * A bad value is counted in rejected() and dropped; a corrupt fast box is
 * never read again (its sender's messages stop: only its own job breaks).
 * Deliveries point into the segment: a sender may still change the bytes
 * while the callback reads them (that corrupts its own messages only).
 */
#ifndef OPAL_BTL_VMSHM_CHANNEL_H
#define OPAL_BTL_VMSHM_CHANNEL_H

#include <cstdint>
#include <vector>

#include "ov_btl_segment.h"

class vmshm_channel {
public:
    /* A message for this rank: `data` (len bytes) is valid during the call only. */
    using deliver_fn = void (*)(void *ctx, uint32_t src, uint8_t tag, const char *data, uint32_t len);
    /* Own fragment `index` came back from its receiver (it is no longer in flight). */
    using returned_fn = void (*)(void *ctx, uint32_t index);

    struct counters {
        uint64_t fbox_sent = 0, fifo_sent = 0, fbox_recv = 0, fifo_recv = 0, returned = 0;
        uint64_t rejected = 0; /* values from the segment that failed validation */
    };

    /* OV_ERR_BAD_ARG: me >= geom.nranks or a null callback. */
    ov_status_t init(char *base, const ov_bseg_geom &geom, uint32_t me, deliver_fn deliver, returned_fn returned,
                     void *ctx);
    /* Does the backend say `rank` holds this segment now?  (rank < nranks) */
    bool present(uint32_t rank) const;
    /* Poll `rank`'s fast box to us from now on (rank != me, < nranks; a
     * sender whose fragment arrives first is watched from then on). */
    void watch(uint32_t rank);

    /* A free own fragment index (its payload at payload(i)), or -1. */
    int alloc();
    char *payload(uint32_t index) const;
    /* Give back a fragment that is not in flight. */
    void release(uint32_t index);
    /* Send own fragment `index` holding len (<= OV_BSEG_FRAG_PAYLOAD) bytes
     * to dest.  false: dest's FIFO refused it (full or scribbled on; an
     * honest job never fills it), the fragment stays ours. */
    bool post(uint32_t index, uint32_t dest, uint8_t tag, uint32_t len);

    /* Room for a len-byte message in the fast box to dest?  Where to write it,
     * or nullptr.  Then fbox_commit with the bytes written (<= len). */
    char *fbox_reserve(uint32_t dest, uint32_t len);
    void fbox_commit(uint32_t dest, uint8_t tag, uint32_t len);

    /* Deliver what has arrived: every watched fast box, then up to max_fifo
     * FIFO entries.  Returns the number of deliveries + returns. */
    int poll(unsigned max_fifo = 32);

    const counters &stats() const { return stats_; }
    uint32_t rank() const { return me_; }
    uint32_t nranks() const { return geom_.nranks; }
    uint32_t in_flight() const { return in_flight_; }

private:
    struct rx { ov_bfbox_reader box; uint32_t seq = 0; bool watched = false, broken = false; };
    int drain_fbox(uint32_t src, bool until_seq, uint32_t seq);
    void take(uint64_t value);
    char *base_ = nullptr;
    ov_bseg_geom geom_{};
    uint32_t me_ = 0;
    deliver_fn deliver_ = nullptr;
    returned_fn returned_ = nullptr;
    void *ctx_ = nullptr;
    ov_bfifo inbox_;
    std::vector<ov_bfifo> fifos_;           /* producer views, by rank */
    std::vector<ov_bfbox_writer> out_;      /* by destination */
    std::vector<uint32_t> seq_out_;         /* by destination */
    std::vector<rx> rx_;                    /* by source */
    std::vector<uint32_t> watched_;
    std::vector<uint8_t> flying_;           /* own fragments: 1 while posted */
    std::vector<uint32_t> free_;            /* own free fragment indices */
    uint32_t in_flight_ = 0;
    counters stats_;
};

#endif
