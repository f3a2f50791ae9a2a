/*
 * ov_hmac.h — HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256, checked against
 * the RFC 4231 vectors in test/unit/test_hmac.cc), for authenticating
 * backend-to-backend links per job (backend/fabric_link.h) without a crypto
 * library, and a comparison of MACs that takes the same time whatever the
 * bytes (a MAC checked byte by byte with an early exit leaks its prefix).
 */
#ifndef OMPI_VIRT_COMMON_OV_HMAC_H
#define OMPI_VIRT_COMMON_OV_HMAC_H

#include <cstddef>
#include <cstdint>

#include "ov_sha256.h"

/* HMAC-SHA256 of the concatenation of n message parts (parts[i], lens[i])
 * under key (any length: longer than 64 bytes is hashed first, as the RFC
 * says).  out: OV_SHA256_BYTES. */
void ov_hmac_sha256(const void *key, size_t keylen, const void *const *parts, const size_t *lens, size_t n,
                    unsigned char out[OV_SHA256_BYTES]) noexcept;

/* true when a and b (n bytes each) are equal; time independent of where
 * they differ. */
bool ov_mac_equal(const unsigned char *a, const unsigned char *b, size_t n) noexcept;

#endif
