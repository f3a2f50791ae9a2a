/*
 * ov_ring.h — single-producer single-consumer ring over shared memory
 * (ov_ring_idx followed by `slots` elements of T, in a region).
 *
 * Each side holds a private view (ov_ring_producer / ov_ring_consumer) with its
 * OWN index in private memory: a side never reads its own index back from
 * shared memory (the peer could have scribbled on it), only the peer's.
 * Indices run freely over 64 bits (wrap-around of the counter is harmless,
 * all arithmetic is modular); slot = index & (slots - 1), so slots never need
 * clearing.  The producer caches the consumer's head and re-reads it only when
 * the ring looks full.
 *
 * Hostile peer: a peer index that would mean more than `slots` entries in
 * flight (or a negative count) is reported as OV_RING_CORRUPT and the view
 * stays unchanged; the caller (backend) then drops the peer.
 *
 * Attach/detach: the backend initialises both indices (ov_ring_init) before
 * it tells the frontend the ring exists; the frontend's views start from the
 * values it reads then.  Neither side may re-initialise a ring the other side
 * is using; a ring lives exactly as long as its process block.
 *
 * Memory order: producer: copy slot, tail.store(release).  Consumer:
 * tail.load(acquire), copy slot, head.store(release).  Producer re-reads head
 * with acquire, so a slot is never overwritten before the consumer copied it.
 */
#ifndef OMPI_VIRT_COMMON_OV_RING_H
#define OMPI_VIRT_COMMON_OV_RING_H

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ov_layout.h"

enum ov_ring_result { OV_RING_OK = 0, OV_RING_EMPTY = 1, OV_RING_FULL = 2, OV_RING_CORRUPT = 3 };

/* Backend only, before the ring is published. */
inline void ov_ring_init(ov_ring_idx *idx, uint64_t start = 0)
{
    idx->tail.store(start, std::memory_order_relaxed);
    idx->head.store(start, std::memory_order_relaxed);
}

template <typename T> class ov_ring_producer {
    static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied bytewise");

public:
    ov_ring_producer() = default;
    /* `start` is the producer's own index: 0 for a fresh ring, or the value
     * read from idx->tail once at attach time (frontend). */
    ov_ring_producer(ov_ring_idx *idx, T *slots, uint32_t nslots, uint64_t start)
        : idx_(idx), slots_(slots), mask_(nslots - 1), cap_(nslots), tail_(start),
          head_cache_(start)
    {
    }
    /* Producer only.  OV_RING_OK, OV_RING_FULL or OV_RING_CORRUPT. */
    ov_ring_result push(const T &v)
    {
        if (tail_ - head_cache_ >= cap_) {
            ov_ring_result r = refresh();
            if (r != OV_RING_OK)
                return r;
            if (tail_ - head_cache_ >= cap_)
                return OV_RING_FULL;
        }
        std::memcpy(static_cast<void *>(&slots_[tail_ & mask_]), &v, sizeof(T));
        ++tail_;
        idx_->tail.store(tail_, std::memory_order_release);
        return OV_RING_OK;
    }
    /* Producer only: free slots after re-reading the consumer index; -1 if corrupt. */
    int64_t space()
    {
        if (refresh() != OV_RING_OK)
            return -1;
        return int64_t(cap_ - (tail_ - head_cache_));
    }
    uint64_t tail() const { return tail_; }

private:
    ov_ring_result refresh()
    {
        uint64_t h = idx_->head.load(std::memory_order_acquire);
        /* consumer may be at most tail_ and at least tail_ - cap_ */
        if (tail_ - h > cap_)
            return OV_RING_CORRUPT;
        head_cache_ = h;
        return OV_RING_OK;
    }
    ov_ring_idx *idx_ = nullptr;
    T *slots_ = nullptr;
    uint64_t mask_ = 0, cap_ = 0;
    uint64_t tail_ = 0;       /* private copy of our index */
    uint64_t head_cache_ = 0; /* last consumer index seen */
};

template <typename T> class ov_ring_consumer {
    static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied bytewise");

public:
    ov_ring_consumer() = default;
    ov_ring_consumer(ov_ring_idx *idx, const T *slots, uint32_t nslots, uint64_t start)
        : idx_(idx), slots_(slots), mask_(nslots - 1), cap_(nslots), head_(start), tail_cache_(start)
    {
    }
    /* Consumer only.  Copies the slot ONCE into *out.  OV_RING_OK,
     * OV_RING_EMPTY or OV_RING_CORRUPT. */
    ov_ring_result pop(T *out)
    {
        if (head_ == tail_cache_) {
            ov_ring_result r = refresh();
            if (r != OV_RING_OK)
                return r;
            if (head_ == tail_cache_)
                return OV_RING_EMPTY;
        }
        std::memcpy(static_cast<void *>(out), &slots_[head_ & mask_], sizeof(T));
        ++head_;
        idx_->head.store(head_, std::memory_order_release);
        return OV_RING_OK;
    }
    /* Consumer only: entries waiting (re-reads the producer index); -1 if corrupt. */
    int64_t depth()
    {
        if (refresh() != OV_RING_OK)
            return -1;
        return int64_t(tail_cache_ - head_);
    }
    uint64_t head() const { return head_; }

private:
    ov_ring_result refresh()
    {
        uint64_t t = idx_->tail.load(std::memory_order_acquire);
        if (t - head_ > cap_)
            return OV_RING_CORRUPT;
        tail_cache_ = t;
        return OV_RING_OK;
    }
    ov_ring_idx *idx_ = nullptr;
    const T *slots_ = nullptr;
    uint64_t mask_ = 0, cap_ = 0;
    uint64_t head_ = 0;       /* private copy of our index */
    uint64_t tail_cache_ = 0; /* last producer index seen */
};

#endif
