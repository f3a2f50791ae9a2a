/*
 * status.cc — the STATUS snapshot (quotas, guests, processes, windows, counters).
 */
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "backend.h"

void ov_backend::snapshot(ov_status_snapshot *s)
{
    s->head.status = OV_OK;
    s->head.backend_instance = instance_;
    s->head.uptime_ms = uint64_t(ov_now_ns() / 1000000 - start_ms_);
    s->head.backend_pid = uint32_t(getpid());
    std::vector<ov_quota_line> lines;
    quota_.report(&lines);
    for (const ov_quota_line &l : lines) {
        ov_status_quota q{};
        q.kind = l.kind;
        std::strncpy(q.guest, l.guest.c_str(), sizeof(q.guest) - 1);
        q.job_key = l.job;
        q.conns = l.used.conns;
        q.conns_max = l.limit.conns;
        q.procs = l.used.procs;
        q.procs_max = l.limit.procs;
        q.windows = l.used.windows;
        q.windows_max = l.limit.windows;
        q.region_bytes = l.used.region_bytes;
        q.region_bytes_max = l.limit.region_bytes;
        s->quotas.push_back(q);
    }
    std::map<const guest *, uint32_t> idx;
    for (auto &e : guests_) {
        const guest &g = *e.second;
        ov_status_guest r{};
        std::strncpy(r.name, g.name.c_str(), sizeof(r.name) - 1);
        r.job_key = g.job_key;
        r.nprocs = g.nprocs;
        r.nwins = g.nwins;
        r.requests = g.requests;
        r.bytes = g.bytes;
        r.errors = g.errors;
        r.region_size = g.region->size();
        r.region_used = g.region->heap().used();
        idx[&g] = uint32_t(s->guests.size());
        s->guests.push_back(r);
    }
    for (auto &e : conns_) {
        conn &c = *e.second;
        if (c.doomed || !c.g)
            continue;
        ov_status_proc r{};
        r.proc_id = c.id;
        r.guest_idx = idx[c.g];
        r.job_key = c.job_key;
        r.rank = c.rank;
        r.pid = c.peer_pid;
        r.requests = c.requests;
        r.bytes = c.bytes;
        r.errors = c.errors;
        r.state = uint32_t(c.state);
        if (c.state == 3) {
            int64_t d = c.rq.depth(); /* guest-written tail: bounded by the ring check */
            r.queue_depth = d > 0 ? uint32_t(d) : 0;
            s->guests[r.guest_idx].queue_depth += r.queue_depth;
        }
        s->procs.push_back(r);
    }
    for (auto &w : wins_) {
        if (!w.live)
            continue;
        s->wins.push_back(ov_status_win{w.info.id, w.info.epoch, w.info.owner_proc,
                                        uint32_t(w.grants.size()), w.info.size, w.info.job_key});
    }
    /* a record added or removed: a window or grant changed (tables_gen_), a
     * region came (next_region_), a process attached or left (count) */
    s->head.generation = tables_gen_ ^ uint64_t(s->procs.size()) << 32 ^ uint64_t(next_region_) << 48;
}
