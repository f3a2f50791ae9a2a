/*
 * ov_strerror.cc — text for every ov_status_t.
 */
#include "ov_protocol.h"

extern "C" const char *ov_strerror(ov_status_t s) noexcept
{
    switch (s) {
    case OV_OK: return "success";
    case OV_ERR_AGAIN: return "resource temporarily unavailable (ring full or empty)";
    case OV_ERR_TIMEOUT: return "timed out waiting for the backend";
    case OV_ERR_BACKEND_GONE: return "the ompi-virt backend is gone (control connection closed)";
    case OV_ERR_SYS: return "system call failed";
    case OV_ERR_PROTO: return "malformed control message";
    case OV_ERR_VERSION: return "protocol or layout version mismatch";
    case OV_ERR_STATE: return "request not allowed in this connection state";
    case OV_ERR_DENIED: return "permission denied";
    case OV_ERR_NOMEM: return "out of region memory or backend table space";
    case OV_ERR_NO_FD_TRANSPORT: return "transport cannot pass the region (use a unix socket)";
    case OV_ERR_BAD_ARG: return "invalid argument";
    case OV_ERR_RING_CORRUPT: return "ring indices corrupt";
    case OV_ERR_BUSY: return "another backend owns the directory";
    case OV_ERR_LAYOUT: return "region header mismatch";
    case OV_ERR_EXISTS: return "job rank already attached";
    case OV_ERR_NOT_SUPPORTED: return "not supported";
    case OV_ERR_BAD_OP: return "unknown request operation or accumulate op not valid for the datatype";
    case OV_ERR_BAD_FLAGS: return "flags not valid for the operation, or a field that must be 0 is not";
    case OV_ERR_BAD_DTYPE: return "bad datatype kind or size, or length not a multiple of it";
    case OV_ERR_NO_WINDOW: return "no such window";
    case OV_ERR_STALE_WINDOW: return "window epoch mismatch (window freed)";
    case OV_ERR_NO_GRANT: return "no grant on the target window";
    case OV_ERR_PERM: return "grant does not permit this access";
    case OV_ERR_BOUNDS: return "access outside the window";
    case OV_ERR_TOO_LARGE: return "request longer than the backend limit";
    case OV_ERR_LOCAL_ACCESS: return "local window not owned by the caller, or local address refused";
    case OV_ERR_LOCK_BUSY: return "lock held by another process in a conflicting mode";
    case OV_ERR_LOCK_STATE: return "lock already held by the caller, or not held";
    case OV_ERR_QUOTA: return "a backend quota is exhausted";
    }
    return "unknown ov_status";
}

extern "C" const char *ov_limit_name(uint32_t limit) noexcept
{
    switch (limit) {
    case OV_LIMIT_GUEST_CONNS: return "connections per guest (--max-guest-conns)";
    case OV_LIMIT_GUEST_PROCS: return "processes per guest (--max-guest-procs)";
    case OV_LIMIT_GUEST_WINDOWS: return "windows per guest (--max-guest-windows)";
    case OV_LIMIT_GUEST_REGION_BYTES: return "region memory per guest (--max-guest-region-mb)";
    case OV_LIMIT_JOB_PROCS: return "processes per job (--max-job-procs)";
    case OV_LIMIT_JOB_WINDOWS: return "windows per job (--max-job-windows)";
    case OV_LIMIT_JOB_REGION_BYTES: return "region memory per job (--max-job-region-mb)";
    case OV_LIMIT_CONNS: return "connections of the backend (--max-conns, and its open-file limit)";
    case OV_LIMIT_PROCS: return "processes of the backend (--max-procs)";
    case OV_LIMIT_WINDOWS: return "windows of the backend (--max-windows)";
    case OV_LIMIT_REGION_BYTES: return "region memory of the backend (--max-region-mb)";
    case OV_LIMIT_JOB_FABRIC_MAPPINGS: return "fabric mappings per job (--max-job-fabric-mappings)";
    case OV_LIMIT_JOB_FABRIC_QUEUE: return "undelivered fabric control bytes per job (--max-job-fabric-queue-kb)";
    case OV_LIMIT_BACKEND_FDS: return "open files of the backend (its RLIMIT_NOFILE: LimitNOFILE= in its unit)";
    }
    return "unknown limit";
}
