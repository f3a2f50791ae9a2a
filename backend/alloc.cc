/*
 * alloc.cc — first-fit heap with coalescing.
 */
#include "alloc.h"

#include <iterator>

ov_heap::ov_heap(uint64_t base, uint64_t size, uint64_t align) : base_(base), size_(size), align_(align)
{
    if (size)
        free_.emplace(base, size);
}

ov_status_t ov_heap::alloc(uint64_t size, uint64_t *off)
{
    if (size == 0)
        return OV_ERR_BAD_ARG;
    uint64_t need = (size + align_ - 1) & ~(align_ - 1);
    if (need < size)
        return OV_ERR_BAD_ARG;
    if (need > size_)
        return OV_ERR_NOMEM; /* a well-formed request this heap cannot hold */
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second < need)
            continue;
        uint64_t o = it->first, len = it->second;
        free_.erase(it);
        if (len > need)
            free_.emplace(o + need, len - need);
        live_.emplace(o, need);
        used_ += need;
        *off = o;
        return OV_OK;
    }
    return OV_ERR_NOMEM;
}

ov_status_t ov_heap::free(uint64_t off)
{
    auto it = live_.find(off);
    if (it == live_.end())
        return OV_ERR_BAD_ARG;
    uint64_t len = it->second;
    live_.erase(it);
    used_ -= len;
    auto next = free_.lower_bound(off);
    if (next != free_.end() && off + len == next->first) {
        len += next->second;
        next = free_.erase(next);
    }
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == off) {
            prev->second += len;
            return OV_OK;
        }
    }
    free_.emplace(off, len);
    return OV_OK;
}

uint64_t ov_heap::block_size(uint64_t off) const
{
    auto it = live_.find(off);
    return it == live_.end() ? 0 : it->second;
}
