/*
 * ov_hmac.cc — HMAC-SHA256 (RFC 2104).  Contract: ov_hmac.h.
 */
#include "ov_hmac.h"

#include <cstring>

namespace {
constexpr size_t kBlock = 64; /* SHA-256 block size */
constexpr size_t kMaxParts = 16;
} // namespace

void ov_hmac_sha256(const void *key, size_t keylen, const void *const *parts, const size_t *lens, size_t n,
                    unsigned char out[OV_SHA256_BYTES]) noexcept
{
    unsigned char k0[kBlock] = {};
    if (keylen > kBlock) {
        const void *kp[] = {key};
        const size_t kl[] = {keylen};
        ov_sha256(kp, kl, 1, k0);
    } else if (keylen) {
        std::memcpy(k0, key, keylen);
    }
    unsigned char ipad[kBlock], opad[kBlock];
    for (size_t i = 0; i < kBlock; i++) {
        ipad[i] = k0[i] ^ 0x36;
        opad[i] = k0[i] ^ 0x5c;
    }
    /* inner: H(K0 ^ ipad || message parts); parts beyond kMaxParts - 1 are a
     * caller bug: the contract's users pass a handful */
    const void *ip[kMaxParts];
    size_t il[kMaxParts];
    ip[0] = ipad;
    il[0] = kBlock;
    size_t m = n < kMaxParts - 1 ? n : kMaxParts - 1;
    for (size_t i = 0; i < m; i++) {
        ip[i + 1] = parts[i];
        il[i + 1] = lens[i];
    }
    unsigned char inner[OV_SHA256_BYTES];
    ov_sha256(ip, il, m + 1, inner);
    const void *op[] = {opad, inner};
    const size_t ol[] = {kBlock, sizeof(inner)};
    ov_sha256(op, ol, 2, out);
    std::memset(k0, 0, sizeof(k0));
    std::memset(ipad, 0, sizeof(ipad));
    std::memset(opad, 0, sizeof(opad));
}

bool ov_mac_equal(const unsigned char *a, const unsigned char *b, size_t n) noexcept
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}
