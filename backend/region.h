/*
 * region.h — one guest region (backend only): shared memory mapped in the
 * backend, header initialised (ov_layout.h), heap handed to ov_heap.
 *
 * Two kinds, one layout (the header is written identically by init()):
 *  - container guests: a sealed memfd (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL,
 *    so no guest holding the fd can truncate it under the backend, which
 *    would SIGBUS the backend), passed to frontends of exactly one (guest, job);
 *  - VM guests: the host file the VM's QEMU maps as its ivshmem BAR (vm.h).
 *    A path-opened file cannot be sealed: only the admin could truncate it,
 *    and must not while the backend runs.  Its previous contents (an earlier
 *    job's or backend's) are discarded before the header is written.
 */
#ifndef OMPI_VIRT_BACKEND_REGION_H
#define OMPI_VIRT_BACKEND_REGION_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "alloc.h"
#include "ov_fd.h"
#include "ov_layout.h"

class ov_region {
public:
    /* size: multiple of the page size, > OV_REGION_HDR_SIZE; 0: as large as
     * the host's physical memory (host_memory()), so that a guest's windows
     * are limited by the host's memory and not by a default region size: a
     * memfd is sparse (its pages cost only once touched, and it is made
     * with VM_NORESERVE, so no commit charge up front).  Pages are placed
     * by ov_place_memory (hwloc builds).  OV_ERR_SYS / OV_ERR_BAD_ARG. */
    static ov_status_t create(const std::string &guest, uint64_t job_key, uint64_t size,
                              uint64_t instance, std::unique_ptr<ov_region> *out);
    /* The region on `file` (not owned; dup'ed), which must still be a regular
     * file of exactly `size` bytes (else OV_ERR_LAYOUT).  OV_ERR_SYS. */
    static ov_status_t create_on_file(int file, const std::string &guest, uint64_t job_key,
                                      uint64_t size, uint64_t instance, std::unique_ptr<ov_region> *out);
    /* The host's physical memory in bytes (a multiple of the page size). */
    static uint64_t host_memory();
    int fd() const { return fd_.get(); }
    bool is_file() const { return is_file_; }
    char *base() const { return map_.data(); }
    uint64_t size() const { return map_.size(); }
    ov_heap &heap() { return *heap_; }
    /* Zero [off, +len) (inside the region) as it goes back to the heap, so
     * that every free heap byte is zero and a new window needs no clearing
     * (a WIN_CREATE costs the same at 64 bytes and at 1000 MiB).  Whole pages
     * of a large range are punched out of the file (they read as zeros and
     * their memory goes back to the system: the cost is the pages a guest
     * touched, not the range), the rest is memset. */
    void discard(uint64_t off, uint64_t len);
    /* discard()'s two halves, for a caller that punches elsewhere (the
     * reclaimer): zeroes the partial pages at either end of [off, +len) and
     * returns the whole pages between them in [*lo, *hi) (empty: lo == hi). */
    void discard_edges(uint64_t off, uint64_t len, uint64_t *lo, uint64_t *hi);
    /* A ring block goes back to the heap without being cleared: its
     * process's frontend may still be reading it, and zeroed rings would
     * read as completions.  claim() clears whatever part of such blocks a
     * new allocation [off, +len) covers (so a new window reads zeros). */
    void retire(uint64_t off, uint64_t len) { dirty_[off] = len; }
    void claim(uint64_t off, uint64_t len);
    ov_region_hdr *hdr() const { return reinterpret_cast<ov_region_hdr *>(map_.data()); }
    /* Frontends see SHUTDOWN and fail with OV_ERR_BACKEND_GONE. */
    void mark_shutdown() { hdr()->state.store(OV_REGION_SHUTDOWN, std::memory_order_release); }
    /* A file outlives its region: it must not go on saying LIVE. */
    ~ov_region()
    {
        if (is_file_ && map_.data())
            mark_shutdown();
    }

private:
    /* map fd_, place the pages, write the header, make the heap */
    ov_status_t init(const std::string &guest, uint64_t job_key, uint64_t size, uint64_t instance);
    ov_fd fd_;
    ov_mapping map_;
    std::unique_ptr<ov_heap> heap_;
    bool is_file_ = false;
    std::map<uint64_t, uint64_t> dirty_; /* retired ring blocks: offset -> length */
};

#endif
