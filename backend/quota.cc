/*
 * quota.cc — per-tenant resource accounting (quota.h).
 */
#include "quota.h"

#include <algorithm>

namespace {
/* One resource: its field in ov_quota_usage and the limit each level names. */
template <typename T> struct resource {
    T ov_quota_usage::*field;
    ov_limit guest, job, backend;
};
const resource<uint32_t> kConns{&ov_quota_usage::conns, OV_LIMIT_GUEST_CONNS, OV_LIMIT_NONE, OV_LIMIT_CONNS};
const resource<uint32_t> kProcs{&ov_quota_usage::procs, OV_LIMIT_GUEST_PROCS, OV_LIMIT_JOB_PROCS, OV_LIMIT_PROCS};
const resource<uint32_t> kWindows{&ov_quota_usage::windows, OV_LIMIT_GUEST_WINDOWS, OV_LIMIT_JOB_WINDOWS,
                                  OV_LIMIT_WINDOWS};
const resource<uint64_t> kBytes{&ov_quota_usage::region_bytes, OV_LIMIT_GUEST_REGION_BYTES,
                                OV_LIMIT_JOB_REGION_BYTES, OV_LIMIT_REGION_BYTES};

template <typename T> bool fits(const ov_quota_usage &u, const ov_quota_usage &lim, T ov_quota_usage::*f, T n)
{
    return u.*f <= lim.*f && n <= lim.*f - u.*f;
}
template <typename T> void take(ov_quota_usage &u, T ov_quota_usage::*f, T n, bool give_back)
{
    u.*f = give_back ? (u.*f > n ? u.*f - n : 0) : u.*f + n;
}
template <typename T> void halve_into(T &per_tenant, T global)
{
    per_tenant = std::min(per_tenant, std::max<T>(global / 2, 1));
}
} // namespace

bool ov_quota::clamp_to_fds(uint64_t nofile)
{
    const ov_quota_limits before = lim_;
    uint64_t fit = nofile > kFdReserve + kFdsPerConn ? (nofile - kFdReserve) / kFdsPerConn : 1;
    lim_.conns = uint32_t(std::min<uint64_t>(lim_.conns, fit));
    halve_into(lim_.guest_conns, lim_.conns);
    halve_into(lim_.guest_procs, lim_.procs);
    halve_into(lim_.guest_windows, lim_.windows);
    halve_into(lim_.guest_region_bytes, lim_.region_bytes);
    halve_into(lim_.job_procs, lim_.procs);
    halve_into(lim_.job_windows, lim_.windows);
    halve_into(lim_.job_region_bytes, lim_.region_bytes);
    return before.conns != lim_.conns || before.guest_conns != lim_.guest_conns ||
           before.guest_procs != lim_.guest_procs || before.guest_windows != lim_.guest_windows ||
           before.guest_region_bytes != lim_.guest_region_bytes || before.job_procs != lim_.job_procs ||
           before.job_windows != lim_.job_windows || before.job_region_bytes != lim_.job_region_bytes;
}

static ov_quota_usage usage_of(uint32_t conns, uint32_t procs, uint32_t windows, uint64_t bytes)
{
    ov_quota_usage u;
    u.conns = conns;
    u.procs = procs;
    u.windows = windows;
    u.region_bytes = bytes;
    return u;
}

ov_quota_usage ov_quota::guest_limit() const
{
    return usage_of(lim_.guest_conns, lim_.guest_procs, lim_.guest_windows, lim_.guest_region_bytes);
}

ov_quota_usage ov_quota::job_limit() const /* a job's connections are its processes: no limit of their own */
{
    return usage_of(UINT32_MAX, lim_.job_procs, lim_.job_windows, lim_.job_region_bytes);
}

ov_quota_usage ov_quota::backend_limit() const
{
    return usage_of(lim_.conns, lim_.procs, lim_.windows, lim_.region_bytes);
}

/* The shared admit/release of one resource at the three levels; a job of
 * nullptr is "no job" (connections). */
template <typename T>
static ov_limit admit(const resource<T> &r, ov_quota_usage &g, ov_quota_usage *j, ov_quota_usage &all,
                      const ov_quota_usage &gl, const ov_quota_usage &jl, const ov_quota_usage &al, T n)
{
    if (!fits(g, gl, r.field, n))
        return r.guest;
    if (j && !fits(*j, jl, r.field, n))
        return r.job;
    if (!fits(all, al, r.field, n))
        return r.backend;
    take(g, r.field, n, false);
    if (j)
        take(*j, r.field, n, false);
    take(all, r.field, n, false);
    return OV_LIMIT_NONE;
}

void ov_quota::tidy(const std::string &guest, uint64_t job)
{
    auto g = guests_.find(guest);
    if (g != guests_.end() && g->second.empty())
        guests_.erase(g);
    auto j = jobs_.find(job);
    if (j != jobs_.end() && j->second.empty())
        jobs_.erase(j);
}

ov_limit ov_quota::admit_conn(const std::string &guest)
{
    ov_limit l = admit(kConns, guests_[guest], nullptr, total_, guest_limit(), job_limit(), backend_limit(), 1u);
    if (l != OV_LIMIT_NONE)
        tidy(guest, 0);
    return l;
}

void ov_quota::release_conn(const std::string &guest)
{
    take(guests_[guest], kConns.field, 1u, true);
    take(total_, kConns.field, 1u, true);
    tidy(guest, 0);
}

template <typename T> ov_limit ov_quota::charge(const void *res, const std::string &guest, uint64_t job, T n)
{
    const auto &r = *static_cast<const resource<T> *>(res);
    ov_limit l = admit(r, guests_[guest], &jobs_[job], total_, guest_limit(), job_limit(), backend_limit(), n);
    if (l != OV_LIMIT_NONE)
        tidy(guest, job);
    return l;
}

template <typename T> void ov_quota::refund(const void *res, const std::string &guest, uint64_t job, T n)
{
    const auto &r = *static_cast<const resource<T> *>(res);
    take(guests_[guest], r.field, n, true);
    take(jobs_[job], r.field, n, true);
    take(total_, r.field, n, true);
    tidy(guest, job);
}

ov_limit ov_quota::admit_proc(const std::string &g, uint64_t job) { return charge(&kProcs, g, job, 1u); }
void ov_quota::release_proc(const std::string &g, uint64_t job) { refund(&kProcs, g, job, 1u); }
ov_limit ov_quota::admit_window(const std::string &g, uint64_t job) { return charge(&kWindows, g, job, 1u); }
void ov_quota::release_window(const std::string &g, uint64_t job) { refund(&kWindows, g, job, 1u); }
ov_limit ov_quota::admit_bytes(const std::string &g, uint64_t job, uint64_t n) { return charge(&kBytes, g, job, n); }
void ov_quota::release_bytes(const std::string &g, uint64_t job, uint64_t n) { refund(&kBytes, g, job, n); }

void ov_quota::report(std::vector<ov_quota_line> *out) const
{
    out->clear();
    out->push_back({ov_quota_line::BACKEND, "", 0, total_, backend_limit()});
    for (auto &g : guests_)
        out->push_back({ov_quota_line::GUEST, g.first, 0, g.second, guest_limit()});
    for (auto &j : jobs_)
        out->push_back({ov_quota_line::JOB, "", j.first, j.second, job_limit()});
}
