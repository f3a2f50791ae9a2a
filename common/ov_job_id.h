/*
 * ov_job_id.h — a job's identity toward the backend: a secret of 256 bits
 * that every rank of the job knows and no other tenant can learn, and the
 * public name derived from it.  MPI-free; osc virt and btl vmshm both take
 * their job's identity from here, so both name the same job.
 *
 * Where the secret comes from: Open MPI's per-job random key.  ORTE (mpirun,
 * and the singleton path of MPI_Init) makes 128 random bits for every job
 * it launches and puts them in the environment of each of the job's
 * processes as OMPI_MCA_orte_precondition_transports ("%016llx-%016llx");
 * the orteds carry it to ranks in other guests with the launch message, so
 * all ranks of one mpirun hold the same key and every other job (another
 * mpirun, an MPI_Comm_spawn'ed job) a different one.  Nobody else can read
 * it: a process's environment is readable only with ptrace access to it
 * (its own uid, in its own guest).  The secret is SHA-256 over a label and
 * that key, so the backend never sees Open MPI's key itself.
 *
 * The public key (status, logs, window and region headers) is 64 bits of
 * SHA-256 over another label and the secret: knowing it tells nothing about
 * the secret.  The backend keys each job by its whole secret and refuses a
 * second secret with the same public key while the first job lives
 * (backend.h), so public keys never alias.
 *
 * The secret must never be logged or shown.
 */
#ifndef OMPI_VIRT_COMMON_OV_JOB_ID_H
#define OMPI_VIRT_COMMON_OV_JOB_ID_H

#include <cstdint>

#include "ov_protocol.h"

struct ov_job_secret {
    unsigned char b[OV_JOB_SECRET_BYTES];
};

/* The secret of this process's job, from Open MPI's key in the environment.
 * OV_OK; OV_ERR_NOT_SUPPORTED if the variable is missing or does not hold
 * at least 128 bits as 32 hex digits (then the backend path must not be
 * used: a made-up identity would either be guessable or split the job). */
ov_status_t ov_job_secret_from_env(ov_job_secret *out) noexcept;

/* The secret for an Open MPI key string (as in the variable above). */
ov_status_t ov_job_secret_from_key(const char *key, ov_job_secret *out) noexcept;

/* The public key of the job with this secret (never 0). */
uint64_t ov_job_public_key(const ov_job_secret &s) noexcept;

/* A secret anyone can compute from `seed`: unit tests and benchmarks only,
 * where the job is not worth protecting. */
ov_job_secret ov_job_secret_from_seed(uint64_t seed) noexcept;

#endif
