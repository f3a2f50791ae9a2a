/*
 * wire.cc — control payload decoders and STATUS records.
 */
#include "wire.h"

bool ov_guest_name_ok(const char *name, size_t field) noexcept
{
    size_t n = 0;
    while (n < field && name[n] != '\0') {
        char c = name[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
        n++;
    }
    if (n == 0 || n == field)
        return false;
    for (size_t i = n; i < field; i++)
        if (name[i] != '\0')
            return false;
    return true;
}

ov_status_t ov_decode_hello(const void *p, uint32_t len, ov_hello_req *out) noexcept
{
    ov_hello_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved0 || r.reserved[0] || r.role >= OV_ROLE_MAX ||
        !ov_guest_name_ok(r.guest, sizeof(r.guest)))
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

ov_status_t ov_decode_attach(const void *p, uint32_t len, ov_attach_req *out) noexcept
{
    ov_attach_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

ov_status_t ov_decode_rings(const void *p, uint32_t len, ov_rings_req *out) noexcept
{
    return ov_decode_fixed(p, len, out); /* values are checked by the handler: OV_ERR_BAD_ARG */
}

ov_status_t ov_decode_win_create(const void *p, uint32_t len, ov_win_create_req *out) noexcept
{
    ov_win_create_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

ov_status_t ov_decode_win_ref(const void *p, uint32_t len, ov_win_ref_req *out) noexcept
{
    return ov_decode_fixed(p, len, out);
}

ov_status_t ov_decode_grant(const void *p, uint32_t len, ov_grant_req *out) noexcept
{
    ov_grant_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || (r.perms & ~(OV_PERM_READ | OV_PERM_WRITE)))
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

ov_status_t ov_decode_empty(const void *p, uint32_t len) noexcept
{
    uint64_t r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r)
        return OV_ERR_PROTO;
    return OV_OK;
}

ov_status_t ov_decode_status(const void *p, uint32_t len, ov_status_req *out) noexcept
{
    ov_status_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

template <typename T> static void put(std::vector<uint8_t> *out, const T &v)
{
    const auto *b = reinterpret_cast<const uint8_t *>(&v);
    out->insert(out->end(), b, b + sizeof(T));
}

/* The part of [first, end) that falls in [from, from + n), relative to from. */
static void overlap(uint64_t first, uint64_t end, uint64_t from, uint64_t n, uint64_t *lo, uint64_t *cnt)
{
    uint64_t a = first > from ? first : from, b = end < from + n ? end : from + n;
    *lo = a - from;
    *cnt = b > a ? b - a : 0;
}

void ov_status_encode(const ov_status_snapshot &s, std::vector<uint8_t> *out, uint32_t first, uint32_t page_bytes)
{
    ov_status_head h = s.head;
    h.total_quotas = uint32_t(s.quotas.size());
    h.total_guests = uint32_t(s.guests.size());
    h.total_procs = uint32_t(s.procs.size());
    h.total_wins = uint32_t(s.wins.size());
    const uint64_t sizes[4] = {sizeof(ov_status_quota), sizeof(ov_status_guest), sizeof(ov_status_proc),
                               sizeof(ov_status_win)};
    const uint64_t counts[4] = {h.total_quotas, h.total_guests, h.total_procs, h.total_wins};
    /* how far this page reaches: whole records while they fit */
    uint64_t end = first, bytes = sizeof(h), from = 0;
    for (int k = 0; k < 4; k++) {
        while (end >= from && end < from + counts[k] && (end == first || bytes + sizes[k] <= page_bytes)) {
            bytes += sizes[k];
            end++;
        }
        from += counts[k];
    }
    uint64_t lo[4], n[4];
    from = 0;
    for (int k = 0; k < 4; k++) {
        overlap(first, end, from, counts[k], &lo[k], &n[k]);
        from += counts[k];
    }
    h.first = first;
    h.nquotas = uint32_t(n[0]);
    h.nguests = uint32_t(n[1]);
    h.nprocs = uint32_t(n[2]);
    h.nwins = uint32_t(n[3]);
    out->clear();
    put(out, h);
    for (uint64_t i = 0; i < n[0]; i++)
        put(out, s.quotas[lo[0] + i]);
    for (uint64_t i = 0; i < n[1]; i++)
        put(out, s.guests[lo[1] + i]);
    for (uint64_t i = 0; i < n[2]; i++)
        put(out, s.procs[lo[2] + i]);
    for (uint64_t i = 0; i < n[3]; i++)
        put(out, s.wins[lo[3] + i]);
}

template <typename T> static void take_records(const uint8_t *b, size_t *o, uint32_t n, std::vector<T> *v)
{
    v->resize(n);
    for (auto &r : *v) {
        std::memcpy(&r, b + *o, sizeof(r));
        *o += sizeof(r);
    }
}

ov_status_t ov_status_decode(const void *p, uint32_t len, ov_status_snapshot *out) noexcept
{
    if (len < sizeof(ov_status_head))
        return OV_ERR_PROTO;
    const auto *b = static_cast<const uint8_t *>(p);
    ov_status_head h;
    std::memcpy(&h, b, sizeof(h));
    uint64_t need = sizeof(h) + uint64_t(h.nquotas) * sizeof(ov_status_quota) +
                    uint64_t(h.nguests) * sizeof(ov_status_guest) + uint64_t(h.nprocs) * sizeof(ov_status_proc) +
                    uint64_t(h.nwins) * sizeof(ov_status_win);
    if (need != len)
        return OV_ERR_PROTO;
    /* the page's counts are what [first, first + n) covers of each kind */
    const uint64_t counts[4] = {h.total_quotas, h.total_guests, h.total_procs, h.total_wins};
    const uint64_t got[4] = {h.nquotas, h.nguests, h.nprocs, h.nwins};
    const uint64_t end = uint64_t(h.first) + got[0] + got[1] + got[2] + got[3];
    uint64_t from = 0, lo, n;
    for (int k = 0; k < 4; k++) {
        overlap(h.first, end, from, counts[k], &lo, &n);
        if (n != got[k])
            return OV_ERR_PROTO;
        from += counts[k];
    }
    if (end > from)
        return OV_ERR_PROTO;
    try {
        ov_status_snapshot s;
        s.head = h;
        size_t o = sizeof(h);
        take_records(b, &o, h.nquotas, &s.quotas);
        for (auto &q : s.quotas)
            q.guest[sizeof(q.guest) - 1] = '\0';
        take_records(b, &o, h.nguests, &s.guests);
        for (auto &g : s.guests)
            g.name[sizeof(g.name) - 1] = '\0';
        take_records(b, &o, h.nprocs, &s.procs);
        for (auto &pr : s.procs)
            if (pr.guest_idx >= h.total_guests)
                return OV_ERR_PROTO;
        take_records(b, &o, h.nwins, &s.wins);
        *out = std::move(s);
    } catch (...) {
        return OV_ERR_NOMEM;
    }
    return OV_OK;
}

void ov_status_append(ov_status_snapshot *all, const ov_status_snapshot &page)
{
    all->head = page.head;
    all->quotas.insert(all->quotas.end(), page.quotas.begin(), page.quotas.end());
    all->guests.insert(all->guests.end(), page.guests.begin(), page.guests.end());
    all->procs.insert(all->procs.end(), page.procs.begin(), page.procs.end());
    all->wins.insert(all->wins.end(), page.wins.begin(), page.wins.end());
}

ov_status_t ov_decode_btl_segment(const void *p, uint32_t len, ov_btl_segment_req *out) noexcept
{
    ov_btl_segment_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved0 || r.reserved)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

/* A fixed request followed by exactly r.len blob bytes. */
template <typename T> static ov_status_t decode_with_blob(const void *p, uint32_t len, T *out, const uint8_t **blob)
{
    T r;
    if (len < sizeof(T))
        return OV_ERR_PROTO;
    std::memcpy(&r, p, sizeof(T));
    if (r.reserved || r.len == 0 || r.len > OV_FABRIC_BLOB_MAX || len != sizeof(T) + r.len)
        return OV_ERR_PROTO;
    *out = r;
    *blob = static_cast<const uint8_t *>(p) + sizeof(T);
    return OV_OK;
}

static constexpr uint32_t kFabricMaxVid = 1u << 20; /* ib-virt's IBVIRT_MAX_PEERS */

ov_status_t ov_decode_fabric_publish(const void *p, uint32_t len, ov_fabric_publish_req *out,
                                     const uint8_t **blob) noexcept
{
    return decode_with_blob(p, len, out, blob);
}

ov_status_t ov_decode_fabric_send(const void *p, uint32_t len, ov_fabric_send_req *out, const uint8_t **blob) noexcept
{
    ov_fabric_send_req r;
    if (decode_with_blob(p, len, &r, blob) != OV_OK || r.dest >= kFabricMaxVid)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

ov_status_t ov_decode_fabric_take(const void *p, uint32_t len, ov_fabric_take_req *out) noexcept
{
    ov_fabric_take_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}

ov_status_t ov_decode_fabric_lookup(const void *p, uint32_t len, ov_fabric_lookup_req *out) noexcept
{
    ov_fabric_lookup_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved || r.vid >= kFabricMaxVid)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}
