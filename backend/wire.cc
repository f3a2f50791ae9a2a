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

template <typename T> static void put(std::vector<uint8_t> *out, const T &v)
{
    const auto *b = reinterpret_cast<const uint8_t *>(&v);
    out->insert(out->end(), b, b + sizeof(T));
}

void ov_status_encode(const ov_status_snapshot &s, std::vector<uint8_t> *out)
{
    ov_status_head h = s.head;
    h.nguests = uint32_t(s.guests.size());
    h.nprocs = uint32_t(s.procs.size());
    h.nwins = uint32_t(s.wins.size());
    out->clear();
    put(out, h);
    for (auto &g : s.guests)
        put(out, g);
    for (auto &p : s.procs)
        put(out, p);
    for (auto &w : s.wins)
        put(out, w);
}

ov_status_t ov_status_decode(const void *p, uint32_t len, ov_status_snapshot *out) noexcept
{
    if (len < sizeof(ov_status_head))
        return OV_ERR_PROTO;
    const auto *b = static_cast<const uint8_t *>(p);
    ov_status_head h;
    std::memcpy(&h, b, sizeof(h));
    uint64_t need = sizeof(h) + uint64_t(h.nguests) * sizeof(ov_status_guest) +
                    uint64_t(h.nprocs) * sizeof(ov_status_proc) + uint64_t(h.nwins) * sizeof(ov_status_win);
    if (need != len)
        return OV_ERR_PROTO;
    try {
        ov_status_snapshot s;
        s.head = h;
        size_t o = sizeof(h);
        s.guests.resize(h.nguests);
        for (auto &g : s.guests) {
            std::memcpy(&g, b + o, sizeof(g));
            g.name[sizeof(g.name) - 1] = '\0';
            o += sizeof(g);
        }
        s.procs.resize(h.nprocs);
        for (auto &pr : s.procs) {
            std::memcpy(&pr, b + o, sizeof(pr));
            if (pr.guest_idx >= h.nguests)
                return OV_ERR_PROTO;
            o += sizeof(pr);
        }
        s.wins.resize(h.nwins);
        for (auto &w : s.wins) {
            std::memcpy(&w, b + o, sizeof(w));
            o += sizeof(w);
        }
        *out = std::move(s);
    } catch (...) {
        return OV_ERR_NOMEM;
    }
    return OV_OK;
}

ov_status_t ov_decode_btl_segment(const void *p, uint32_t len, ov_btl_segment_req *out) noexcept
{
    ov_btl_segment_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK || r.reserved0 || r.reserved)
        return OV_ERR_PROTO;
    *out = r;
    return OV_OK;
}
