/*
 * ibvirt_tables.h — virtual -> physical translation for ib-virt (internal).
 *
 * Three tables, each a flat array indexed by the virtual id, sized once at
 * open (nothing on the data path allocates, searches or locks):
 *   PeerTable::addr(vid)          -> the peer's fi_addr_t today
 *   PeerTable::rkey(vid, vkey)    -> the peer's provider key + base address
 *   KeyTable::at(vkey)            -> my region: provider key, descriptor
 * A NIC is single-threaded (ib_virt.h "threads"): the control path updates
 * the tables between data-path calls, so plain loads suffice.
 *
 * Size: PeerTable holds max_peers * max_keys RemoteKey entries (24 B each):
 * 1024 peers x 64 keys = 1.5 MiB. A job with far more peers than it talks to
 * would want a two-level table; not needed for a first landing.
 */
#ifndef IBVIRT_TABLES_H
#define IBVIRT_TABLES_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ibvirt {

/* A peer's region as the provider names it today. len 0 = no such key. */
struct RemoteKey {
    uint64_t key;  /* provider MR key */
    uint64_t base; /* address to add the offset to: the region's base with
                      FI_MR_VIRT_ADDR (verbs), 0 with offset addressing (tcp) */
    uint64_t len;  /* region length: bounds check of offset + len */
};

class PeerTable {
public:
    static constexpr uint64_t kNoAddr = ~uint64_t(0); /* == FI_ADDR_NOTAVAIL */

    PeerTable(uint32_t max_peers, uint32_t max_keys)
        : npeers_(max_peers), nkeys_(max_keys), addr_(max_peers, kNoAddr),
          rkeys_(size_t(max_peers) * max_keys, RemoteKey{0, 0, 0}) {}

    uint32_t max_peers() const noexcept { return npeers_; }
    uint32_t max_keys() const noexcept { return nkeys_; }

    /* Data path: the peer's fi_addr_t, or kNoAddr (unknown vid or no mapping). */
    uint64_t addr(uint32_t vid) const noexcept { return vid < npeers_ ? addr_[vid] : kNoAddr; }

    /* Data path: the peer's key vkey if [offset, offset+len) lies in it, else nullptr. */
    const RemoteKey *rkey(uint32_t vid, uint32_t vkey, uint64_t offset, uint64_t len) const noexcept
    {
        if (vid >= npeers_ || vkey >= nkeys_)
            return nullptr;
        const RemoteKey &k = rkeys_[size_t(vid) * nkeys_ + vkey];
        if (k.len == 0 || offset > k.len || len > k.len - offset)
            return nullptr;
        return &k;
    }

    /* Control path. vid/vkey must be in range (the caller validated). */
    void set_addr(uint32_t vid, uint64_t fi_addr) noexcept { addr_[vid] = fi_addr; }
    void set_rkey(uint32_t vid, uint32_t vkey, const RemoteKey &k) noexcept
    {
        rkeys_[size_t(vid) * nkeys_ + vkey] = k;
    }
    /* Forget every key of vid (before a new mapping replaces them). */
    void clear_rkeys(uint32_t vid) noexcept
    {
        for (uint32_t k = 0; k < nkeys_; ++k)
            rkeys_[size_t(vid) * nkeys_ + k] = RemoteKey{0, 0, 0};
    }

private:
    uint32_t npeers_, nkeys_;
    std::vector<uint64_t> addr_;
    std::vector<RemoteKey> rkeys_;
};

/* One of my registered regions. mr/desc are libfabric's (fid_mr *, fi_mr_desc). */
struct LocalRegion {
    char *buf = nullptr; /* nullptr = free slot */
    size_t len = 0;
    uint32_t access = 0;  /* IBVIRT_ACCESS_* */
    uint64_t phys_key = 0;
    void *desc = nullptr;
    void *mr = nullptr;
};

class KeyTable {
public:
    explicit KeyTable(uint32_t max_keys) : regions_(max_keys) {}

    uint32_t max_keys() const noexcept { return uint32_t(regions_.size()); }

    /* Data path: region vkey if [p, p+len) lies in it, else nullptr. */
    const LocalRegion *at(uint32_t vkey, const void *p, size_t len) const noexcept
    {
        if (vkey >= regions_.size())
            return nullptr;
        const LocalRegion &r = regions_[vkey];
        const char *c = static_cast<const char *>(p);
        if (r.buf == nullptr || c < r.buf || len > r.len || size_t(c - r.buf) > r.len - len)
            return nullptr;
        return &r;
    }

    /* Control path: the region (used or not) or nullptr when out of range. */
    LocalRegion *slot(uint32_t vkey) noexcept { return vkey < regions_.size() ? &regions_[vkey] : nullptr; }
    const LocalRegion *slot(uint32_t vkey) const noexcept
    {
        return vkey < regions_.size() ? &regions_[vkey] : nullptr;
    }
    /* Lowest free vkey, or -1 when all are used. */
    int64_t lowest_free() const noexcept
    {
        for (size_t i = 0; i < regions_.size(); ++i)
            if (regions_[i].buf == nullptr)
                return int64_t(i);
        return -1;
    }

private:
    std::vector<LocalRegion> regions_;
};

} // namespace ibvirt
#endif
