/*
 * btl_segments.cc — the btl segment service.  Contract: btl_segments.h.
 */
#include "btl_segments.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "log.h"

ov_btl_segments::~ov_btl_segments()
{
    for (auto &j : by_job_)
        reinterpret_cast<ov_bseg_hdr *>(j.second->map.data())->state.store(OV_BSEG_SHUTDOWN, std::memory_order_release);
}

ov_status_t ov_btl_segments::create(uint64_t job_key, uint32_t nranks, std::unique_ptr<segment> *out)
{
    std::unique_ptr<segment> s(new (std::nothrow) segment);
    if (!s)
        return OV_ERR_NOMEM;
    s->geom = ov_bseg_geometry(nranks);
    s->job_key = job_key;
    s->id = next_id_++;
    char name[64];
    snprintf(name, sizeof(name), "ompi-virt-btl:%016llx", (unsigned long long) job_key);
    s->fd.reset(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    /* sealed: no rank holding the fd can shrink it under the others (SIGBUS) */
    if (!s->fd.valid() || ftruncate(s->fd.get(), off_t(s->geom.size)) != 0 ||
        fcntl(s->fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0 ||
        !s->map.map(s->fd.get(), size_t(s->geom.size))) {
        OV_LOG_ERR("btl segment for job %016llx (%llu bytes): %s", (unsigned long long) job_key,
                   (unsigned long long) s->geom.size, strerror(errno));
        return OV_ERR_NOMEM;
    }
    ov_bseg_init_hdr(s->map.data(), s->geom, instance_, job_key, s->id);
    *out = std::move(s);
    return OV_OK;
}

ov_status_t ov_btl_segments::grant(const ov_btl_member &who, const ov_btl_segment_req &req, ov_btl_segment_rep *rep,
                                   int *fd)
{
    if (holders_.count(who.conn))
        return OV_ERR_STATE;
    if (req.nranks == 0 || who.rank >= req.nranks)
        return OV_ERR_BAD_ARG;
    if (req.nranks > OV_BSEG_MAX_RANKS)
        return OV_ERR_TOO_LARGE;
    auto it = by_job_.find(who.job_key);
    if (it != by_job_.end()) {
        if (it->second->geom.nranks != req.nranks)
            return OV_ERR_BAD_ARG;
        if (it->second->ranks.count(who.rank))
            return OV_ERR_EXISTS;
    } else {
        std::unique_ptr<segment> s;
        ov_status_t st = create(who.job_key, req.nranks, &s);
        if (st != OV_OK)
            return st;
        OV_LOG_INFO("btl segment %llu for job %016llx: %u ranks, %llu bytes", (unsigned long long) s->id,
                    (unsigned long long) who.job_key, req.nranks, (unsigned long long) s->geom.size);
        it = by_job_.emplace(who.job_key, std::move(s)).first;
    }
    segment &s = *it->second;
    s.ranks[who.rank] = who.conn;
    holders_[who.conn] = {who.job_key, who.rank};
    ov_bseg_member_at(s.map.data(), s.geom, who.rank)->present.store(1, std::memory_order_release);
    rep->nranks = s.geom.nranks;
    rep->segment_size = s.geom.size;
    rep->segment_id = s.id;
    *fd = s.fd.get();
    return OV_OK;
}

void ov_btl_segments::release(uint32_t conn)
{
    auto h = holders_.find(conn);
    if (h == holders_.end())
        return;
    auto it = by_job_.find(h->second.first);
    const uint32_t rank = h->second.second;
    holders_.erase(h);
    if (it == by_job_.end())
        return;
    segment &s = *it->second;
    s.ranks.erase(rank);
    ov_bseg_member_at(s.map.data(), s.geom, rank)->present.store(0, std::memory_order_release);
    if (s.ranks.empty()) {
        OV_LOG_INFO("btl segment %llu of job %016llx released (last holder gone)", (unsigned long long) s.id,
                    (unsigned long long) s.job_key);
        reinterpret_cast<ov_bseg_hdr *>(s.map.data())->state.store(OV_BSEG_SHUTDOWN, std::memory_order_release);
        by_job_.erase(it);
    }
}
