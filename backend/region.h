/*
 * region.h — one guest region (backend only): a sealed memfd, mapped in the
 * backend, header initialised (ov_layout.h), heap handed to ov_heap.
 *
 * Sealing (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL) means no guest holding the
 * fd can truncate it under the backend (which would SIGBUS the backend).
 * The fd is passed to frontends of exactly one (guest, job).
 */
#ifndef OMPI_VIRT_BACKEND_REGION_H
#define OMPI_VIRT_BACKEND_REGION_H

#include <cstdint>
#include <memory>
#include <string>

#include "alloc.h"
#include "ov_fd.h"
#include "ov_layout.h"

class ov_region {
public:
    /* size: multiple of the page size, > OV_REGION_HDR_SIZE.  numa_node >= 0
     * binds the pages there (hwloc, when built with it).  OV_ERR_SYS / OV_ERR_BAD_ARG. */
    static ov_status_t create(const std::string &guest, uint64_t job_key, uint64_t size,
                              uint64_t instance, std::unique_ptr<ov_region> *out);
    int fd() const { return fd_.get(); }
    char *base() const { return map_.data(); }
    uint64_t size() const { return map_.size(); }
    ov_heap &heap() { return *heap_; }
    ov_region_hdr *hdr() const { return reinterpret_cast<ov_region_hdr *>(map_.data()); }
    /* Frontends see SHUTDOWN and fail with OV_ERR_BACKEND_GONE. */
    void mark_shutdown() { hdr()->state.store(OV_REGION_SHUTDOWN, std::memory_order_release); }

private:
    ov_fd fd_;
    ov_mapping map_;
    std::unique_ptr<ov_heap> heap_;
};

#endif
