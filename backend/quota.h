/*
 * quota.h — per-tenant resource accounting (backend only): what each guest,
 * each job and the whole backend hold of what all tenants share, against
 * its limits, so that no one tenant can exhaust a resource for the others.
 *
 * Resources: connections (counted from accept, per guest identity only: a
 * connection has no job before HELLO), processes (HELLO), windows
 * (WIN_CREATE, WIN_REGISTER) and region bytes (heap bytes of windows and
 * ring blocks).  A guest here is a kernel identity (peer network namespace,
 * or tcp source address), not a HELLO name: one namespace claiming many
 * names is still one guest.  A job is its job_key.
 *
 * Contract:
 *   ov_quota q(limits);       limits as configured (see clamp_to_fds)
 *   q.clamp_to_fds(nofile)    start-up: the backend-wide connection limit is
 *                             lowered to what `nofile` descriptors can hold
 *                             (kFdsPerConn each, kFdReserve kept), and every
 *                             per-guest / per-job limit to at most half of its
 *                             backend-wide one, so one tenant always leaves
 *                             room for the others.  Returns true if it changed
 *                             anything (the caller logs limits()).
 *   admit_*(...)              OV_LIMIT_NONE: admitted and charged to the guest,
 *                             the job and the backend; else the first limit
 *                             that would be exceeded (guest, then job, then
 *                             backend-wide) and nothing is charged.
 *   release_*(...)            gives back exactly what a successful admit_*
 *                             charged (the caller pairs them; an unpaired
 *                             release is a backend bug and is clamped at 0).
 *   report(...)               usage against limit of every guest and job
 *                             holding anything, and of the backend.
 * Not thread-safe (the backend thread only).
 */
#ifndef OMPI_VIRT_BACKEND_QUOTA_H
#define OMPI_VIRT_BACKEND_QUOTA_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ov_protocol.h"

struct ov_quota_limits {
    uint32_t guest_conns = 1024, guest_procs = 1024, guest_windows = 16384;
    uint64_t guest_region_bytes = uint64_t(8) << 30;
    uint32_t job_procs = 1024, job_windows = 16384;
    uint64_t job_region_bytes = uint64_t(8) << 30;
    uint32_t conns = 8192, procs = 4096, windows = 65536;
    uint64_t region_bytes = uint64_t(64) << 30;
    /* fabric mappings (fabric_mappings.h): records of a job (its ranks on
     * every host it serves) and its blobs waiting for delivery */
    uint32_t job_fabric_mappings = 4096;
    uint64_t job_fabric_queue_bytes = uint64_t(1) << 20;
};

struct ov_quota_usage {
    uint32_t conns = 0, procs = 0, windows = 0;
    uint64_t region_bytes = 0;
    bool empty() const { return !conns && !procs && !windows && !region_bytes; }
};

/* One line of `ompi-virt status`: who, what it holds, its limits. */
struct ov_quota_line {
    enum kind_t : uint32_t { BACKEND = 0, GUEST = 1, JOB = 2 } kind;
    std::string guest; /* GUEST: the identity */
    uint64_t job = 0;  /* JOB */
    ov_quota_usage used, limit;
};

class ov_quota {
public:
    /* descriptors one process may cost the backend: socket, pidfd, its
     * memory (single copy: /proc/PID/mem), doorbell, and the memfd of a
     * region of its own (a job of one process) */
    static constexpr uint32_t kFdsPerConn = 5;
    static constexpr uint32_t kFdReserve = 32; /* listeners, epoll, log, the spare fd ... */
    /* Descriptors kept free (server.cc fds_free).  A connection is accepted
     * only if kFdHeadroom stay free after it (and its pidfd): room for what
     * the clients already connected still ask for.  A connected client's
     * HELLO, ATTACH or RINGS is answered only if kFdFloor stay free after
     * the descriptors it takes: those are never given to a client, they are
     * the backend's own (the sanitizer runtime checks a vtable through a
     * pipe: with no descriptor free it reports a live object as having an
     * invalid vptr; a punch's dup, a log line's fopen). */
    static constexpr int kFdHeadroom = 8;
    static constexpr int kFdFloor = 4;

    explicit ov_quota(const ov_quota_limits &l) : lim_(l) {}
    bool clamp_to_fds(uint64_t nofile);
    const ov_quota_limits &limits() const { return lim_; }

    ov_limit admit_conn(const std::string &guest);
    void release_conn(const std::string &guest);
    ov_limit admit_proc(const std::string &guest, uint64_t job);
    void release_proc(const std::string &guest, uint64_t job);
    ov_limit admit_window(const std::string &guest, uint64_t job);
    void release_window(const std::string &guest, uint64_t job);
    ov_limit admit_bytes(const std::string &guest, uint64_t job, uint64_t bytes);
    void release_bytes(const std::string &guest, uint64_t job, uint64_t bytes);

    void report(std::vector<ov_quota_line> *out) const;
    const ov_quota_usage &total() const { return total_; }

private:
    ov_quota_usage guest_limit() const;
    ov_quota_usage job_limit() const;
    ov_quota_usage backend_limit() const;
    void tidy(const std::string &guest, uint64_t job);
    /* res: the resource<T> (quota.cc) being charged or refunded */
    template <typename T> ov_limit charge(const void *res, const std::string &guest, uint64_t job, T n);
    template <typename T> void refund(const void *res, const std::string &guest, uint64_t job, T n);
    ov_quota_limits lim_;
    std::map<std::string, ov_quota_usage> guests_;
    std::map<uint64_t, ov_quota_usage> jobs_;
    ov_quota_usage total_;
};

#endif
