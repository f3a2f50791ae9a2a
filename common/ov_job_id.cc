/*
 * ov_job_id.cc — a job's secret and public key (contract in ov_job_id.h).
 */
#include "ov_job_id.h"

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "ov_sha256.h"

#define OV_JOB_KEY_ENV "OMPI_MCA_orte_precondition_transports"

namespace {

void derive(const char *label, const void *data, size_t len, unsigned char out[OV_SHA256_BYTES])
{
    const void *parts[] = {label, data};
    const size_t lens[] = {strlen(label) + 1, len}; /* the NUL separates label and data */
    ov_sha256(parts, lens, 2, out);
}

} // namespace

ov_status_t ov_job_secret_from_key(const char *key, ov_job_secret *out) noexcept
{
    if (!key)
        return OV_ERR_NOT_SUPPORTED;
    size_t hex = 0;
    for (const char *p = key; *p; p++) {
        if (isxdigit(static_cast<unsigned char>(*p)))
            hex++;
        else if (*p != '-')
            return OV_ERR_NOT_SUPPORTED;
    }
    if (hex < 32) /* 128 bits */
        return OV_ERR_NOT_SUPPORTED;
    static_assert(OV_SHA256_BYTES == OV_JOB_SECRET_BYTES, "one digest per secret");
    derive("ompi-virt job secret v1", key, strlen(key), out->b);
    return OV_OK;
}

ov_status_t ov_job_secret_from_env(ov_job_secret *out) noexcept
{
    return ov_job_secret_from_key(getenv(OV_JOB_KEY_ENV), out);
}

uint64_t ov_job_public_key(const ov_job_secret &s) noexcept
{
    unsigned char d[OV_SHA256_BYTES];
    derive("ompi-virt job public key v1", s.b, sizeof(s.b), d);
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | d[i];
    return k ? k : 1;
}

ov_job_secret ov_job_secret_from_seed(uint64_t seed) noexcept
{
    ov_job_secret s;
    derive("ompi-virt test job v1", &seed, sizeof(seed), s.b);
    return s;
}
