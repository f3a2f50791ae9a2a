/*
 * osc_virt_fifo.h — the in-flight table of a backend link: a FIFO of
 * trivially copyable records in one power-of-two array that doubles when
 * full (order kept).
 *
 * Why not std::deque: a deque of 64-byte records allocates a node every 8
 * pushes and frees one every 8 pops, which callgrind counted at ~40
 * instructions per 8-byte put + flush.  Requests in flight are bounded by
 * the request ring (submit() retires before it overfills), so after the
 * first few pushes this never allocates again.
 *
 * Contract: front()/pop_front() only when !empty(); back() is the record
 * push_back() just stored.  References are invalidated by the next
 * push_back() (it may grow the array).  Not thread safe (the link lock
 * serialises every use).
 */
#ifndef OMPI_OSC_VIRT_FIFO_H
#define OMPI_OSC_VIRT_FIFO_H

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace ov::osc {

template <class T> class Fifo {
    static_assert(std::is_trivially_copyable_v<T>, "records are moved bytewise when it grows");

public:
    explicit Fifo(size_t capacity = 64) : slots_(round_up(capacity)) {}

    bool empty() const { return head_ == tail_; }
    size_t size() const { return static_cast<size_t>(tail_ - head_); }
    size_t capacity() const { return slots_.size(); }

    void push_back(const T &v)
    {
        if (size() == slots_.size()) {
            grow();
        }
        slots_[tail_ & (slots_.size() - 1)] = v;
        ++tail_;
    }
    T &back() { return slots_[(tail_ - 1) & (slots_.size() - 1)]; }
    T &front() { return slots_[head_ & (slots_.size() - 1)]; }
    void pop_front() { ++head_; }

private:
    static size_t round_up(size_t n)
    {
        size_t c = 1;
        while (c < n) {
            c <<= 1;
        }
        return c;
    }
    void grow()
    {
        std::vector<T> bigger(slots_.size() * 2);
        const size_t n = size();
        for (size_t i = 0; i < n; ++i) {
            bigger[i] = slots_[(head_ + i) & (slots_.size() - 1)];
        }
        slots_.swap(bigger);
        head_ = 0;
        tail_ = n;
    }
    std::vector<T> slots_;
    uint64_t head_ = 0, tail_ = 0; /* free-running; slot = index & (capacity - 1) */
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_FIFO_H */
