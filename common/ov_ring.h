/*
 * ov_ring.h — single-producer single-consumer ring over shared memory
 * (ov_ring_idx followed by `slots` elements of T, in a region).
 *
 * Each side holds a private view (ov_ring_producer / ov_ring_consumer) with its
 * OWN index in private memory: a side never reads its own index back from
 * shared memory (the peer could have scribbled on it), only the peer's.
 * Indices run freely over 64 bits (wrap-around of the counter is harmless,
 * all arithmetic is modular); slot = index & (slots - 1), so slots never need
 * clearing.
 *
 * Stamped slots: T begins with `uint32_t stamp`, which the producer writes
 * last (release) with ov_ring_stamp(index); the consumer polls the stamp of
 * its next slot, not the producer's index.  A waiting consumer then takes one
 * cache line from the producer per element instead of two in a row (the
 * index, then the slot): 185 -> 120 ns for a request/completion round trip
 * between two cores (backend/bench_roundtrip, two threads, 2026-11-22).  The stamp is
 * odd (zeroed slots never look written) and differs between consecutive laps
 * of the ring (a slot still holding the previous lap looks empty).
 *
 * The producer still publishes its index (tail), for depth() (the backend's
 * status) and nothing else; the consumer publishes its index (head) after
 * copying a slot, and the producer re-reads it only when the ring looks
 * full, so a slot is never overwritten before the consumer copied it.
 *
 * Hostile peer: a consumer index (or, for depth(), a producer index) that
 * would mean more than `slots` entries in flight (or a negative count) is
 * reported as OV_RING_CORRUPT and the view stays unchanged; the caller
 * (backend) then drops the peer.  A producer that stamps slots out of order
 * or rewrites a slot after stamping it only garbles its own requests: the
 * consumer copies each slot once and the backend validates that copy.
 *
 * Attach/detach: the backend initialises both indices (ov_ring_init) before
 * it tells the frontend the ring exists; the frontend's views start from the
 * values it reads then.  Neither side may re-initialise a ring the other side
 * is using; a ring lives exactly as long as its process block.
 *
 * Memory order: producer: copy slot but its stamp, stamp.store(release),
 * tail.store(release).  Consumer: stamp.load(acquire), copy slot,
 * head.store(release).  Producer re-reads head with acquire.
 */
#ifndef OMPI_VIRT_COMMON_OV_RING_H
#define OMPI_VIRT_COMMON_OV_RING_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ov_layout.h"

enum ov_ring_result { OV_RING_OK = 0, OV_RING_EMPTY = 1, OV_RING_FULL = 2, OV_RING_CORRUPT = 3 };

/* The stamp of the element at `index` in a ring of 2^lap_shift slots: odd,
 * and different for the same slot one lap earlier or later. */
inline uint32_t ov_ring_stamp(uint64_t index, unsigned lap_shift)
{
    return uint32_t(index >> lap_shift) << 1 | 1u;
}

/* log2 of a ring's slot count (a power of two). */
inline unsigned ov_ring_lap_shift(uint32_t nslots) { return unsigned(__builtin_ctz(nslots)); }

/* Elements are stamped: a uint32_t `stamp` first, written by the ring only. */
template <typename T> constexpr bool ov_ring_stampable()
{
    return std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> &&
           std::is_same_v<decltype(T::stamp), uint32_t> && offsetof(T, stamp) == 0;
}

/* Backend only, before the ring is published. */
inline void ov_ring_init(ov_ring_idx *idx, uint64_t start = 0)
{
    idx->tail.store(start, std::memory_order_relaxed);
    idx->head.store(start, std::memory_order_relaxed);
}

template <typename T> class ov_ring_producer {
    static_assert(ov_ring_stampable<T>(), "ring elements start with uint32_t stamp");

public:
    ov_ring_producer() = default;
    /* `start` is the producer's own index: 0 for a fresh ring, or the value
     * read from idx->tail once at attach time (frontend). */
    ov_ring_producer(ov_ring_idx *idx, T *slots, uint32_t nslots, uint64_t start)
        : idx_(idx), slots_(slots), mask_(nslots - 1), cap_(nslots),
          lap_shift_(ov_ring_lap_shift(nslots)), tail_(start), head_cache_(start)
    {
    }
    /* Producer only.  OV_RING_OK, OV_RING_FULL or OV_RING_CORRUPT.  v.stamp
     * is ignored: the slot gets the stamp of its index. */
    ov_ring_result push(const T &v)
    {
        if (tail_ - head_cache_ >= cap_) {
            ov_ring_result r = refresh();
            if (r != OV_RING_OK)
                return r;
            if (tail_ - head_cache_ >= cap_)
                return OV_RING_FULL;
        }
        T *slot = &slots_[tail_ & mask_];
        constexpr size_t kStamp = sizeof(uint32_t);
        std::memcpy(reinterpret_cast<unsigned char *>(slot) + kStamp,
                    reinterpret_cast<const unsigned char *>(&v) + kStamp, sizeof(T) - kStamp);
        __atomic_store_n(&slot->stamp, ov_ring_stamp(tail_, lap_shift_), __ATOMIC_RELEASE);
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
    /* Producer only: free slots by the consumer index last seen, re-read only
     * when that says full (space() without a shared-memory read per call);
     * -1 if corrupt. */
    int64_t room()
    {
        if (tail_ - head_cache_ >= cap_ && refresh() != OV_RING_OK)
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
    unsigned lap_shift_ = 0;
    uint64_t tail_ = 0;       /* private copy of our index */
    uint64_t head_cache_ = 0; /* last consumer index seen */
};

template <typename T> class ov_ring_consumer {
    static_assert(ov_ring_stampable<T>(), "ring elements start with uint32_t stamp");

public:
    ov_ring_consumer() = default;
    ov_ring_consumer(ov_ring_idx *idx, const T *slots, uint32_t nslots, uint64_t start)
        : idx_(idx), slots_(slots), mask_(nslots - 1), cap_(nslots),
          lap_shift_(ov_ring_lap_shift(nslots)), head_(start), tail_cache_(start)
    {
    }
    /* Consumer only.  Copies the slot ONCE into *out once its stamp says the
     * producer wrote it for this lap.  OV_RING_OK or OV_RING_EMPTY. */
    ov_ring_result pop(T *out)
    {
        const T *slot = &slots_[head_ & mask_];
        if (__atomic_load_n(&slot->stamp, __ATOMIC_ACQUIRE) != ov_ring_stamp(head_, lap_shift_))
            return OV_RING_EMPTY;
        std::memcpy(static_cast<void *>(out), slot, sizeof(T));
        ++head_;
        idx_->head.store(head_, std::memory_order_release);
        return OV_RING_OK;
    }
    /* Consumer only: entries the producer's index says are waiting (re-reads
     * it; pop() does not use it); -1 if corrupt. */
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
    unsigned lap_shift_ = 0;
    uint64_t head_ = 0;       /* private copy of our index */
    uint64_t tail_cache_ = 0; /* last producer index seen */
};

#endif
