/*
 * ov_sha256.h — SHA-256 (FIPS 180-4), for deriving a job's identity
 * (ov_job_id.h) without a crypto library.  Not for bulk data.
 */
#ifndef OMPI_VIRT_COMMON_OV_SHA256_H
#define OMPI_VIRT_COMMON_OV_SHA256_H

#include <cstddef>
#include <cstdint>

#define OV_SHA256_BYTES 32

/* digest of the concatenation of n parts (parts[i], lens[i]) */
void ov_sha256(const void *const *parts, const size_t *lens, size_t n, unsigned char out[OV_SHA256_BYTES]) noexcept;

#endif
