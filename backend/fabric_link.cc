/*
 * fabric_link.cc — backend-to-backend frames and their authentication.
 * Contract: fabric_link.h.
 */
#include "fabric_link.h"

#include <cstring>

#include "ov_hmac.h"

static const char kLinkLabel[] = "ompi-virt fabric link 1";

void ov_link_key(const unsigned char job_digest[OV_SHA256_BYTES], unsigned char out[kLinkMac]) noexcept
{
    const void *parts[] = {kLinkLabel};
    const size_t lens[] = {sizeof(kLinkLabel) - 1};
    ov_hmac_sha256(job_digest, OV_SHA256_BYTES, parts, lens, 1, out);
}

void ov_link_handshake_mac(const unsigned char key[kLinkMac], char side, const ov_link_hello &h,
                           const unsigned char nonce_r[kLinkNonce], unsigned char out[kLinkMac]) noexcept
{
    const void *parts[] = {&side, &h.job_key, h.nonce, nonce_r, h.addr};
    const size_t lens[] = {1, sizeof(h.job_key), kLinkNonce, kLinkNonce, kLinkAddr};
    ov_hmac_sha256(key, kLinkMac, parts, lens, 5, out);
}

void ov_link_session_key(const unsigned char key[kLinkMac], const unsigned char nonce_i[kLinkNonce],
                         const unsigned char nonce_r[kLinkNonce], unsigned char out[kLinkMac]) noexcept
{
    const char s = 'S';
    const void *parts[] = {&s, nonce_i, nonce_r};
    const size_t lens[] = {1, kLinkNonce, kLinkNonce};
    ov_hmac_sha256(key, kLinkMac, parts, lens, 3, out);
}

static void frame_mac(const unsigned char *session, uint64_t seq, const ov_link_hdr &h, const uint8_t *payload,
                      unsigned char out[kLinkMac])
{
    const void *parts[] = {&seq, &h, payload};
    const size_t lens[] = {sizeof(seq), sizeof(h), h.len};
    ov_hmac_sha256(session, kLinkMac, parts, lens, 3, out);
}

void ov_link_encode(link_type t, const void *const *parts, const size_t *lens, size_t n,
                    const unsigned char *session, uint64_t seq, std::vector<uint8_t> *out)
{
    ov_link_hdr h{kLinkMagic, kLinkVersion, uint16_t(t), 0, 0};
    for (size_t i = 0; i < n; i++)
        h.len += uint32_t(lens[i]);
    const size_t at = out->size();
    out->resize(at + sizeof(h) + h.len + (session ? kLinkMac : 0));
    uint8_t *p = out->data() + at;
    std::memcpy(p, &h, sizeof(h));
    size_t off = sizeof(h);
    for (size_t i = 0; i < n; i++) {
        if (lens[i])
            std::memcpy(p + off, parts[i], lens[i]);
        off += lens[i];
    }
    if (session)
        frame_mac(session, seq, h, p + sizeof(h), p + off);
}

int ov_link_parse(const uint8_t *buf, size_t len, const unsigned char *session, uint64_t seq, ov_link_hdr *hdr,
                  const uint8_t **payload, size_t *consumed) noexcept
{
    if (len < sizeof(ov_link_hdr))
        return 0;
    ov_link_hdr h;
    std::memcpy(&h, buf, sizeof(h));
    if (h.magic != kLinkMagic || h.version != kLinkVersion || h.reserved != 0 || h.len > kLinkMaxPayload ||
        h.type < uint16_t(link_type::hello) || h.type > uint16_t(link_type::ctrl))
        return OV_ERR_PROTO;
    const size_t need = sizeof(h) + h.len + (session ? kLinkMac : 0);
    if (len < need)
        return 0;
    if (session) {
        unsigned char mac[kLinkMac];
        frame_mac(session, seq, h, buf + sizeof(h), mac);
        if (!ov_mac_equal(mac, buf + sizeof(h) + h.len, kLinkMac))
            return OV_ERR_PROTO;
    }
    *hdr = h;
    *payload = buf + sizeof(h);
    *consumed = need;
    return 1;
}

template <typename T> static ov_status_t fixed(const uint8_t *p, size_t len, T *out)
{
    if (len != sizeof(T))
        return OV_ERR_PROTO;
    std::memcpy(out, p, sizeof(T));
    return OV_OK;
}

ov_status_t ov_link_decode_hello(const uint8_t *p, size_t len, ov_link_hello *out) noexcept
{
    ov_link_hello h;
    if (fixed(p, len, &h) != OV_OK || h.job_key == 0)
        return OV_ERR_PROTO;
    const void *nul = std::memchr(h.addr, 0, kLinkAddr);
    if (nul == nullptr || nul == h.addr)
        return OV_ERR_PROTO;
    for (size_t i = size_t(static_cast<const char *>(nul) - h.addr); i < kLinkAddr; i++)
        if (h.addr[i] != 0)
            return OV_ERR_PROTO; /* zero-padded: the MAC covers every byte, so no hidden bytes */
    *out = h;
    return OV_OK;
}

ov_status_t ov_link_decode_challenge(const uint8_t *p, size_t len, ov_link_challenge *out) noexcept
{
    return fixed(p, len, out);
}

ov_status_t ov_link_decode_auth(const uint8_t *p, size_t len, ov_link_auth *out) noexcept
{
    return fixed(p, len, out);
}

/* MAP and CTRL share a layout: two ids, the blob length, a reserved word. */
template <typename T> static ov_status_t with_blob(const uint8_t *p, size_t len, T *out, const uint8_t **blob)
{
    static_assert(sizeof(T) == 16, "ids, len, reserved");
    T r;
    if (len < sizeof(r))
        return OV_ERR_PROTO;
    std::memcpy(&r, p, sizeof(r));
    if (r.reserved != 0 || r.len == 0 || r.len > OV_FABRIC_BLOB_MAX || len != sizeof(r) + r.len)
        return OV_ERR_PROTO;
    *out = r;
    *blob = p + sizeof(r);
    return OV_OK;
}

ov_status_t ov_link_decode_map(const uint8_t *p, size_t len, ov_link_map *out, const uint8_t **blob) noexcept
{
    ov_link_map m;
    if (with_blob(p, len, &m, blob) != OV_OK || m.vid >= kLinkMaxVid)
        return OV_ERR_PROTO;
    *out = m;
    return OV_OK;
}

ov_status_t ov_link_decode_ctrl(const uint8_t *p, size_t len, ov_link_ctrl *out, const uint8_t **blob) noexcept
{
    ov_link_ctrl c;
    if (with_blob(p, len, &c, blob) != OV_OK || c.from >= kLinkMaxVid || c.dest >= kLinkMaxVid)
        return OV_ERR_PROTO;
    *out = c;
    return OV_OK;
}

ov_status_t ov_link_decode_unmap(const uint8_t *p, size_t len, ov_link_unmap *out) noexcept
{
    ov_link_unmap u;
    if (fixed(p, len, &u) != OV_OK || u.vid >= kLinkMaxVid)
        return OV_ERR_PROTO;
    *out = u;
    return OV_OK;
}
