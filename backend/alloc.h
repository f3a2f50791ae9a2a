/*
 * alloc.h — region heap allocator (backend only).
 *
 * First fit over [base, base+size) of a region, with coalescing on free.  All
 * metadata lives in backend-private memory: nothing a guest writes can change
 * what the allocator believes.  Sizes are rounded up to `align` (a power of
 * two, >= 64, so no two blocks share a cache line).  Not thread-safe (the
 * backend is single-threaded).
 */
#ifndef OMPI_VIRT_BACKEND_ALLOC_H
#define OMPI_VIRT_BACKEND_ALLOC_H

#include <cstdint>
#include <map>

#include "ov_protocol.h"

class ov_heap {
public:
    /* base and size must be multiples of align. */
    ov_heap(uint64_t base, uint64_t size, uint64_t align = 64);
    /* OV_OK and *off; OV_ERR_BAD_ARG (size 0 or overflow); OV_ERR_NOMEM (no
     * free extent that large, including size > capacity()). */
    ov_status_t alloc(uint64_t size, uint64_t *off);
    /* OV_OK; OV_ERR_BAD_ARG if off is not the start of a live block. */
    ov_status_t free(uint64_t off);
    uint64_t used() const { return used_; }
    uint64_t capacity() const { return size_; }
    size_t live_blocks() const { return live_.size(); }
    size_t free_extents() const { return free_.size(); }
    /* Size of the live block at off, 0 if none. */
    uint64_t block_size(uint64_t off) const;

private:
    uint64_t base_, size_, align_, used_ = 0;
    std::map<uint64_t, uint64_t> free_; /* offset -> length, disjoint, coalesced */
    std::map<uint64_t, uint64_t> live_; /* offset -> length */
};

#endif
