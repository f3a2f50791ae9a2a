/*
 * vmshm_channel.cc — btl vmshm's eager channel.  Contract: vmshm_channel.h.
 */
#include "vmshm_channel.h"

ov_status_t vmshm_channel::init(char *base, const ov_bseg_geom &geom, uint32_t me, deliver_fn deliver,
                                returned_fn returned, void *ctx)
{
    if (me >= geom.nranks || deliver == nullptr || returned == nullptr)
        return OV_ERR_BAD_ARG;
    base_ = base;
    geom_ = geom;
    me_ = me;
    deliver_ = deliver;
    returned_ = returned;
    ctx_ = ctx;
    inbox_ = ov_bfifo(ov_bseg_fifo_at(base, geom, me), geom.fifo_slots);
    fifos_.clear();
    out_.clear();
    for (uint32_t r = 0; r < geom.nranks; ++r) {
        fifos_.emplace_back(ov_bseg_fifo_at(base, geom, r), geom.fifo_slots);
        out_.emplace_back(ov_bseg_fbox_at(base, geom, r, me));
    }
    seq_out_.assign(geom.nranks, 0);
    rx_.assign(geom.nranks, rx{});
    watched_.clear();
    flying_.assign(geom.frags_per_rank, 0);
    free_.clear();
    for (uint32_t i = geom.frags_per_rank; i-- > 0;)
        free_.push_back(i);
    in_flight_ = 0;
    stats_ = counters{};
    return OV_OK;
}

bool vmshm_channel::present(uint32_t rank) const
{
    return rank < geom_.nranks &&
           ov_bseg_member_at(base_, geom_, rank)->present.load(std::memory_order_acquire) != 0;
}

void vmshm_channel::watch(uint32_t rank)
{
    if (rank >= geom_.nranks || rank == me_ || rx_[rank].watched || rx_[rank].broken)
        return;
    rx_[rank].watched = true;
    rx_[rank].box = ov_bfbox_reader(ov_bseg_fbox_at(base_, geom_, me_, rank));
    watched_.push_back(rank);
}

int vmshm_channel::alloc()
{
    if (free_.empty())
        return -1;
    uint32_t i = free_.back();
    free_.pop_back();
    return int(i);
}

char *vmshm_channel::payload(uint32_t index) const
{
    return base_ + ov_bseg_frag_off(geom_, me_, index) + OV_BSEG_FRAG_HDR;
}

void vmshm_channel::release(uint32_t index)
{
    if (index < geom_.frags_per_rank && !flying_[index])
        free_.push_back(index);
}

bool vmshm_channel::post(uint32_t index, uint32_t dest, uint8_t tag, uint32_t len)
{
    if (index >= geom_.frags_per_rank || dest >= geom_.nranks || len > OV_BSEG_FRAG_PAYLOAD || flying_[index])
        return false;
    const uint64_t off = ov_bseg_frag_off(geom_, me_, index);
    ov_bfrag_hdr h{};
    h.len = len;
    h.tag = tag;
    h.seq = seq_out_[dest];
    std::memcpy(base_ + off, &h, sizeof(h));
    flying_[index] = 1; /* before the push: the receiver may hand it back at once */
    if (!fifos_[dest].push(off)) {
        flying_[index] = 0;
        return false;
    }
    ++seq_out_[dest];
    ++in_flight_;
    ++stats_.fifo_sent;
    return true;
}

char *vmshm_channel::fbox_reserve(uint32_t dest, uint32_t len)
{
    return dest < geom_.nranks && dest != me_ ? out_[dest].reserve(len) : nullptr;
}

void vmshm_channel::fbox_commit(uint32_t dest, uint8_t tag, uint32_t len)
{
    out_[dest].commit(len, tag, seq_out_[dest]++);
    ++stats_.fbox_sent;
}

/* Deliver src's fast-box messages in order: all that are due, or (until_seq)
 * only those before `seq`, the number of a FIFO fragment now in hand. */
int vmshm_channel::drain_fbox(uint32_t src, bool until_seq, uint32_t seq)
{
    rx &r = rx_[src];
    int n = 0;
    ov_bfbox_reader::message m;
    while (!(until_seq && r.seq == seq)) {
        const ov_bfbox_reader::result res = r.box.peek(&m);
        if (res == ov_bfbox_reader::CORRUPT) {
            ++stats_.rejected;
            r.watched = false; /* never read again */
            r.broken = true;
            break;
        }
        if (res == ov_bfbox_reader::EMPTY || m.seq != r.seq)
            break; /* empty, or a FIFO fragment of src is due first */
        deliver_(ctx_, src, m.tag, m.payload, m.size);
        r.box.consume();
        ++r.seq;
        ++stats_.fbox_recv;
        ++n;
    }
    return n;
}

/* One value popped from our FIFO: a peer's fragment for us, or one of ours back. */
void vmshm_channel::take(uint64_t value)
{
    uint32_t owner, index;
    bool back;
    if (!ov_bseg_locate_frag(geom_, value, &owner, &index, &back)) {
        ++stats_.rejected;
        return;
    }
    if (back) {
        if (owner != me_ || !flying_[index]) { /* not ours, or not out: a forged return */
            ++stats_.rejected;
            return;
        }
        flying_[index] = 0;
        --in_flight_;
        ++stats_.returned;
        returned_(ctx_, index);
        return;
    }
    if (owner == me_) {
        ++stats_.rejected;
        return;
    }
    const uint64_t off = ov_bseg_frag_off(geom_, owner, index);
    ov_bfrag_hdr h;
    std::memcpy(&h, base_ + off, sizeof(h)); /* copy once, then check */
    if (h.len > OV_BSEG_FRAG_PAYLOAD) {
        ++stats_.rejected;
    } else {
        rx &r = rx_[owner];
        watch(owner);
        if (h.seq != r.seq && r.watched)
            drain_fbox(owner, true, h.seq);
        if (h.seq != r.seq)
            ++stats_.rejected; /* out of order even after the box: deliver anyway, resynchronise */
        deliver_(ctx_, owner, h.tag, base_ + off + OV_BSEG_FRAG_HDR, h.len);
        r.seq = h.seq + 1;
        ++stats_.fifo_recv;
    }
    /* hand it back; a refusing owner FIFO only costs the owner a fragment */
    if (!fifos_[owner].push(off | OV_BSEG_FIFO_RETURN))
        ++stats_.rejected;
}

int vmshm_channel::poll(unsigned max_fifo)
{
    int n = 0;
    for (size_t i = 0; i < watched_.size(); ++i) /* by index: a delivery may watch a new sender */
        if (rx_[watched_[i]].watched)
            n += drain_fbox(watched_[i], false, 0);
    uint64_t v;
    for (unsigned i = 0; i < max_fifo && inbox_.pop(&v); ++i) {
        take(v);
        ++n;
    }
    return n;
}
