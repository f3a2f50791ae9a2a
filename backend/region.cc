/*
 * region.cc — region creation: memfd (containers) or a VM's ivshmem file.
 */
#include "region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "log.h"
#include "placement.h"

ov_status_t ov_region::create(const std::string &guest, uint64_t job_key, uint64_t size,
                              uint64_t instance, std::unique_ptr<ov_region> *out)
{
    uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
    if (size == 0)
        size = host_memory();
    if (size <= OV_REGION_HDR_SIZE || size % page)
        return OV_ERR_BAD_ARG;
    std::unique_ptr<ov_region> r(new (std::nothrow) ov_region);
    if (!r)
        return OV_ERR_NOMEM;
    std::string name = "ompi-virt:" + guest;
    r->fd_.reset(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!r->fd_.valid()) {
        OV_LOG_ERR("memfd_create for guest %s: %s", guest.c_str(), strerror(errno));
        return OV_ERR_SYS;
    }
    if (ftruncate(r->fd_.get(), off_t(size)) != 0 ||
        fcntl(r->fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        OV_LOG_ERR("sizing/sealing the region of guest %s: %s", guest.c_str(), strerror(errno));
        return OV_ERR_SYS;
    }
    ov_status_t s = r->init(guest, job_key, size, instance);
    if (s == OV_OK)
        *out = std::move(r);
    return s;
}

uint64_t ov_region::host_memory()
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return uint64_t(1024) << 20; /* unknown: what the backend always had */
    return uint64_t(pages) * uint64_t(page);
}

ov_status_t ov_region::create_on_file(int file, const std::string &guest, uint64_t job_key,
                                      uint64_t size, uint64_t instance, std::unique_ptr<ov_region> *out)
{
    uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
    if (size <= OV_REGION_HDR_SIZE || size % page)
        return OV_ERR_BAD_ARG;
    struct stat st;
    if (fstat(file, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) != size) {
        OV_LOG_ERR("region file of VM %s is no longer a regular file of %llu bytes", guest.c_str(),
                   (unsigned long long) size);
        return OV_ERR_LAYOUT;
    }
    std::unique_ptr<ov_region> r(new (std::nothrow) ov_region);
    if (!r)
        return OV_ERR_NOMEM;
    r->is_file_ = true;
    r->fd_.reset(fcntl(file, F_DUPFD_CLOEXEC, 0));
    if (!r->fd_.valid())
        return OV_ERR_SYS;
    /* A new job must not read what the previous one left in the BAR.  A hole
     * reads as zeros and gives the pages back (tmpfs, hugetlbfs, ext4, xfs);
     * init() zeroes by hand where punching is not supported. */
    bool zeroed = fallocate(r->fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, off_t(size)) == 0;
    ov_status_t s = r->init(guest, job_key, size, instance);
    if (s != OV_OK)
        return s;
    if (!zeroed)
        std::memset(r->base() + OV_REGION_HDR_SIZE, 0, size - OV_REGION_HDR_SIZE);
    *out = std::move(r);
    return OV_OK;
}

ov_status_t ov_region::init(const std::string &guest, uint64_t job_key, uint64_t size, uint64_t instance)
{
    if (!map_.map(fd_.get(), size_t(size))) {
        OV_LOG_ERR("mmap of the region of guest %s: %s", guest.c_str(), strerror(errno));
        return OV_ERR_SYS;
    }
    ov_place_memory(map_.data(), size_t(size));
    /* The whole header page is rewritten: a file may hold an old header. */
    std::memset(map_.data(), 0, OV_REGION_HDR_SIZE);
    auto *h = new (map_.data()) ov_region_hdr;
    h->magic = OV_REGION_MAGIC;
    h->layout_version = OV_LAYOUT_VERSION;
    h->header_size = OV_REGION_HDR_SIZE;
    h->region_size = size;
    h->backend_instance = instance;
    h->job_key = job_key;
    std::strncpy(h->guest, guest.c_str(), sizeof(h->guest) - 1);
    h->heap_off = OV_REGION_HDR_SIZE;
    h->heap_size = size - OV_REGION_HDR_SIZE;
    h->ring_desc_size = sizeof(ov_req_desc);
    h->ring_cpl_size = sizeof(ov_completion);
    h->ring_idx_size = sizeof(ov_ring_idx);
    h->ctl_size = sizeof(ov_proc_ctl);
    h->state.store(OV_REGION_LIVE, std::memory_order_release);
    heap_.reset(new (std::nothrow) ov_heap(h->heap_off, h->heap_size, OV_CACHE_LINE));
    if (!heap_)
        return OV_ERR_NOMEM;
    return OV_OK;
}

void ov_region::discard_edges(uint64_t off, uint64_t len, uint64_t *lo, uint64_t *hi)
{
    static const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
    *lo = (off + page - 1) / page * page;
    *hi = (off + len) / page * page;
    if (*hi <= *lo) { /* inside one page */
        std::memset(base() + off, 0, len);
        *lo = *hi = off;
        return;
    }
    std::memset(base() + off, 0, *lo - off);
    std::memset(base() + *hi, 0, off + len - *hi);
}

void ov_region::discard(uint64_t off, uint64_t len)
{
    const uint64_t kPunchFrom = 64 << 10; /* below, a memset is as cheap as the system call */
    if (len < kPunchFrom) {
        std::memset(base() + off, 0, len);
        return;
    }
    uint64_t lo, hi;
    discard_edges(off, len, &lo, &hi);
    if (hi > lo && fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(lo), off_t(hi - lo)) != 0)
        std::memset(base() + lo, 0, hi - lo);
}

void ov_region::claim(uint64_t off, uint64_t len)
{
    auto it = dirty_.upper_bound(off);
    if (it != dirty_.begin())
        --it;
    while (it != dirty_.end() && it->first < off + len) {
        const uint64_t b = it->first, e = b + it->second;
        if (e <= off) {
            ++it;
            continue;
        }
        const uint64_t lo = b > off ? b : off, hi = e < off + len ? e : off + len;
        std::memset(base() + lo, 0, hi - lo);
        it = dirty_.erase(it);
        if (b < lo)
            dirty_[b] = lo - b;
        if (hi < e)
            it = dirty_.emplace(hi, e - hi).first, ++it;
    }
}
