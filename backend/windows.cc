/*
 * windows.cc — rings, windows, grants and the release of a process (attach: attach.cc).
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

#include "backend.h"
#include "log.h"

ov_backend::guest *ov_backend::find_guest(const std::string &name, uint64_t job_key)
{
    auto it = guests_.find({name, job_key});
    return it == guests_.end() ? nullptr : it->second.get();
}

ov_status_t ov_backend::do_rings(conn *c, const uint8_t *p, uint32_t len, ov_rings_rep *rep, ov_fd *db)
{
    ov_rings_req r;
    if (ov_decode_rings(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    if (!ov_is_pow2(r.rq_slots) || !ov_is_pow2(r.cq_slots) || r.rq_slots < OV_RING_MIN_SLOTS ||
        r.cq_slots > OV_RING_MAX_SLOTS || r.cq_slots < r.rq_slots)
        return OV_ERR_BAD_ARG;
    /* the doorbell, and the copy passed with the reply */
    if (ov_status_t s = fds_for_client(c, 2, &rep->rq_slots, "doorbell"); s != OV_OK)
        return s;
    ov_proc_block_layout l = ov_proc_block(r.rq_slots, r.cq_slots);
    uint64_t off;
    ov_region &reg = *c->g->region;
    if (reg.heap().alloc(l.size, &off) != OV_OK)
        return OV_ERR_NOMEM;
    const uint64_t charged = reg.heap().block_size(off);
    ov_status_t q = quota_error(quota_.admit_bytes(c->tenant, c->job_key, charged), &rep->rq_slots, c, "rings");
    if (q != OV_OK) {
        reg.heap().free(off);
        return q;
    }
    /* The doorbell and the copy passed to the client, both made before
     * anything is committed: should they fail all the same (ENFILE, the
     * system's table), the client is told so (it used to get its rings
     * without a doorbell). */
    ov_fd bell(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (bell.valid() && ov_comm_can_pass_fds(c->kind))
        *db = ov_fd(fcntl(bell.get(), F_DUPFD_CLOEXEC, 0));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = OV_EV_BELL << 32 | c->id;
    const bool out_of_fds = !bell.valid() || (ov_comm_can_pass_fds(c->kind) && !db->valid());
    if (out_of_fds || epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, bell.get(), &ev) != 0) {
        const int err = errno;
        db->reset();
        quota_.release_bytes(c->tenant, c->job_key, charged);
        reg.heap().free(off);
        if (out_of_fds && (err == EMFILE || err == ENFILE))
            return quota_error(OV_LIMIT_BACKEND_FDS, &rep->rq_slots, c, "doorbell");
        OV_LOG_ERR("doorbell for conn %u: %s", c->id, strerror(err));
        return OV_ERR_SYS;
    }
    reg.claim(off, l.size); /* forget retired rings under it */
    char *b = reg.base() + off;
    std::memset(b, 0, l.size);
    auto *ctl = new (b + l.ctl_off) ov_proc_ctl;
    ctl->proc_id = c->id;
    ctl->rq_slots = r.rq_slots;
    ctl->cq_slots = r.cq_slots;
    auto *rqi = new (b + l.rq_off) ov_ring_idx;
    auto *cqi = new (b + l.cq_off) ov_ring_idx;
    ov_ring_init(rqi);
    ov_ring_init(cqi);
    c->block_off = off;
    c->ring_bytes = charged;
    c->ctl = ctl;
    c->rq = ov_ring_consumer<ov_req_desc>(rqi, reinterpret_cast<ov_req_desc *>(rqi + 1), r.rq_slots, 0);
    c->cq = ov_ring_producer<ov_completion>(cqi, reinterpret_cast<ov_completion *>(cqi + 1), r.cq_slots, 0);
    c->doorbell = std::move(bell);
    c->state = 3;
    ready_.push_back(c);
    rep->rq_slots = r.rq_slots;
    rep->cq_slots = r.cq_slots;
    rep->ctl_off = off + l.ctl_off;
    rep->rq_off = off + l.rq_off;
    rep->cq_off = off + l.cq_off;
    return OV_OK;
}

ov_status_t ov_backend::do_win_create(conn *c, const uint8_t *p, uint32_t len, ov_win_create_rep *rep)
{
    ov_win_create_req r;
    if (ov_decode_win_create(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    ov_region &reg = *c->g->region;
    if (r.size == 0)
        return OV_ERR_BAD_ARG;
    uint64_t off;
    if (reg.heap().alloc(r.size, &off) != OV_OK)
        return park_for_scrub(c) ? OV_OK : OV_ERR_NOMEM;
    reg.claim(off, r.size); /* zero: free heap bytes are, but for retired rings */
    const char *what = nullptr;
    const ov_limit l = admit_window(c, reg.heap().block_size(off), &what);
    if (l != OV_LIMIT_NONE) {
        reg.heap().free(off);
        /* logged only if it fails: a parked request is answered when the
         * scrub it waits for is done, and then most often succeeds */
        return park_for_scrub(c) ? OV_OK : quota_error(l, &rep->win_id, c, what);
    }
    window &w = new_window(c);
    w.info.mem = OV_MEM_REGION;
    w.info.region = c->g->handle;
    w.info.region_off = off;
    w.info.size = r.size;
    rep->win_id = w.info.id;
    rep->win_epoch = w.info.epoch;
    rep->offset = off;
    rep->size = r.size;
    OV_LOG_DEBUG("conn %u: window %u.%u (%llu bytes at %llu)", c->id, w.info.id, w.info.epoch,
                 (unsigned long long) r.size, (unsigned long long) off);
    return OV_OK;
}

/* A window over the caller's own memory (ov_protocol.h, WIN_REGISTER). */
ov_status_t ov_backend::do_win_register(conn *c, const uint8_t *p, uint32_t len, ov_win_create_rep *rep)
{
    ov_win_register_req r;
    if (ov_decode_fixed(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    if (!(c->features & OV_FEAT_USER_WINDOWS))
        return OV_ERR_NOT_SUPPORTED;
    if (r.addr == 0 || r.size == 0 || r.size > UINT64_MAX - r.addr)
        return OV_ERR_BAD_ARG;
    char probe; /* mapped now?  (it must stay so until WIN_FREE; requests re-check) */
    if (c->peer_mem.read(r.addr, &probe, 1) != OV_OK || c->peer_mem.read(r.addr + r.size - 1, &probe, 1) != OV_OK)
        return OV_ERR_BAD_ARG;
    const char *what = nullptr; /* the owner's own memory: no region bytes */
    if (ov_status_t q = quota_error(admit_window(c, 0, &what), &rep->win_id, c, what); q != OV_OK)
        return q;
    window &w = new_window(c);
    w.info.mem = OV_MEM_OWNER;
    w.info.region = 0;
    w.info.region_off = r.addr;
    w.info.size = r.size;
    rep->win_id = w.info.id;
    rep->win_epoch = w.info.epoch;
    rep->offset = 0;
    rep->size = r.size;
    OV_LOG_DEBUG("conn %u: window %u.%u registered (%llu bytes of pid %u at %#llx)", c->id, w.info.id,
                 w.info.epoch, (unsigned long long) r.size, c->peer_pid, (unsigned long long) r.addr);
    return OV_OK;
}

/* One window and `bytes` of region memory for c's guest and job (the
 * window table is bounded by the backend-wide window quota).  False: not
 * charged, *why = OV_ERR_QUOTA and *limit the limit. */
ov_limit ov_backend::admit_window(conn *c, uint64_t bytes, const char **what)
{
    *what = "window";
    ov_limit l = quota_.admit_window(c->tenant, c->job_key);
    if (l != OV_LIMIT_NONE || bytes == 0)
        return l;
    *what = "window memory";
    if ((l = quota_.admit_bytes(c->tenant, c->job_key, bytes)) != OV_LIMIT_NONE)
        quota_.release_window(c->tenant, c->job_key);
    return l;
}

ov_backend::window &ov_backend::new_window(conn *c)
{
    uint32_t id;
    if (!free_win_ids_.empty()) {
        id = free_win_ids_.back();
        free_win_ids_.pop_back();
    } else {
        id = uint32_t(wins_.size());
        wins_.emplace_back();
    }
    tables_changed();
    window &w = wins_[id];
    w.live = true;
    w.info.id = id;
    w.info.epoch++;
    w.info.owner_proc = c->id;
    w.info.job_key = c->job_key;
    w.tenant = c->tenant;
    w.grants.clear();
    c->g->nwins++;
    return w;
}

/* The live window `id` at `epoch` that `c` owns: what free/grant/revoke may
 * act on.  Liveness is the data path's test (find()).  Another process's
 * window is answered as no window at all (validate.h, check 7). */
ov_status_t ov_backend::owned_window(conn *c, uint32_t id, uint32_t epoch, window **out)
{
    if (find(id) == nullptr || wins_[id].info.owner_proc != c->id)
        return OV_ERR_NO_WINDOW;
    window &w = wins_[id];
    if (w.info.epoch != epoch)
        return OV_ERR_STALE_WINDOW;
    *out = &w;
    return OV_OK;
}

ov_status_t ov_backend::do_win_free(conn *c, const uint8_t *p, uint32_t len)
{
    ov_win_ref_req r;
    if (ov_decode_win_ref(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    window *w = nullptr;
    ov_status_t st = owned_window(c, r.win_id, r.win_epoch, &w);
    if (st != OV_OK)
        return st;
    free_window(*w);
    return OV_OK;
}

ov_status_t ov_backend::do_grant(conn *c, const uint8_t *p, uint32_t len, bool grant)
{
    ov_grant_req r;
    if (ov_decode_grant(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    window *w = nullptr;
    ov_status_t st = owned_window(c, r.win_id, r.win_epoch, &w);
    if (st != OV_OK)
        return st;
    if (grant != (r.perms != 0))
        return OV_ERR_BAD_ARG;
    tables_changed();
    if (grant)
        w->grants[r.grantee_rank] = r.perms;
    else
        w->grants.erase(r.grantee_rank);
    return OV_OK;
}

void ov_backend::free_window(window &w)
{
    tables_changed();
    quota_.release_window(w.tenant, w.info.job_key);
    if (w.info.mem == OV_MEM_OWNER) { /* nothing of ours to free: count it off its owner's guest */
        auto o = conns_.find(w.info.owner_proc);
        if (o != conns_.end() && o->second->g)
            o->second->g->nwins--;
    } else {
        auto it = regions_.find(w.info.region);
        if (it != regions_.end()) {
            ov_region &reg = *it->second->region;
            uint64_t bytes = reg.heap().block_size(w.info.region_off);
            if (!scrub_later(w, reg, bytes)) {
                reg.discard(w.info.region_off, bytes);
                reg.heap().free(w.info.region_off);
                quota_.release_bytes(w.tenant, w.info.job_key, bytes);
            }
            it->second->nwins--;
        }
    }
    w.live = false;
    w.info.epoch++;
    w.grants.clear();
    locks_.release_window(w.info.id); /* holders see OV_ERR_STALE_WINDOW, not a lock */
    free_win_ids_.push_back(w.info.id);
}

/* A freed window of at least kScrubLaterFrom bytes: its whole pages are
 * punched by the reclaimer (reclaimer.h: about a second per touched GiB),
 * its block stays allocated and charged until then (on_reclaimed).  false:
 * the caller discards it now. */
bool ov_backend::scrub_later(const window &w, ov_region &reg, uint64_t bytes)
{
    const uint64_t kScrubLaterFrom = 8 << 20; /* below, at most ~10 ms of work even if all touched */
    if (bytes < kScrubLaterFrom || reg.is_file())
        return false;
    ov_fd file(fcntl(reg.fd(), F_DUPFD_CLOEXEC, 0));
    if (!file.valid())
        return false; /* at the fd limit: punch here rather than fail */
    uint64_t lo, hi;
    reg.discard_edges(w.info.region_off, bytes, &lo, &hi);
    const uint64_t token = next_scrub_++;
    scrubs_[token] = scrub{w.info.region, w.info.region_off, bytes, w.tenant, w.info.job_key};
    reclaimer_.punch(std::move(file), lo, hi, token);
    return true;
}

/* c's request failed for memory or quota: if scrubs that may give c's
 * region or tenant or job some back are pending, it waits for them. */
bool ov_backend::park_for_scrub(conn *c)
{
    for (const auto &e : scrubs_) {
        const scrub &s = e.second;
        if ((c->g && s.region == c->g->handle) || s.tenant == c->tenant || s.job_key == c->job_key) {
            c->parked = true;
            return true;
        }
    }
    return false;
}

void ov_backend::on_reclaimed()
{
    for (uint64_t token : reclaimer_.take_done()) {
        auto s = scrubs_.find(token);
        if (s == scrubs_.end())
            continue;
        auto r = regions_.find(s->second.region); /* gone with its last process: nothing to give back */
        if (r != regions_.end())
            r->second->region->heap().free(s->second.off);
        quota_.release_bytes(s->second.tenant, s->second.job_key, s->second.bytes);
        scrubs_.erase(s);
    }
    /* every parked request is tried again (it parks anew if it still waits) */
    for (uint32_t id : parked_) {
        auto it = conns_.find(id);
        if (it == conns_.end() || it->second->doomed || !it->second->parked)
            continue;
        it->second->parked = false;
        backlog_.push_back(id); /* still out of the read set: drain_backlog handles it */
    }
    parked_.clear();
}

void ov_backend::release_process(conn *c)
{
    if (c->state == 0)
        return;
    tables_changed(); /* its grants, windows and maybe its region go */
    btl_segments_->release(c->id);
    fabric_->release(c->id);
    btl_regs_.drop(c->id);
    for (auto &w : wins_) {
        if (!w.live || c->role != OV_ROLE_OSC) /* a BTL connection of the same rank holds no grants */
            continue;
        if (w.info.owner_proc == c->id)
            free_window(w);
        else if (w.info.job_key == c->job_key)
            w.grants.erase(c->rank);
    }
    locks_.release_process(c->id); /* on windows others own */
    if (c->state == 3) {
        for (size_t i = 0; i < ready_.size(); i++)
            if (ready_[i] == c) {
                ready_.erase(ready_.begin() + long(i));
                break;
            }
        epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, c->doorbell.get(), nullptr);
        c->doorbell.reset();
        c->g->region->retire(c->block_off, c->ring_bytes);
        c->g->region->heap().free(c->block_off);
        quota_.release_bytes(c->tenant, c->job_key, c->ring_bytes);
        c->ctl = nullptr;
    }
    if (c->kind == OV_COMM_UNIX) {
        auto it = ns_bind_.find(c->guest_name);
        if (it != ns_bind_.end() && --it->second.second == 0)
            ns_bind_.erase(it);
    }
    auto j = jobs_.find(c->job_key);
    if (j != jobs_.end() && --j->second.nprocs == 0)
        jobs_.erase(j); /* its rank bindings go with it */
    if (c->g && --c->g->nprocs == 0) {
        OV_LOG_INFO("region %u of guest %s released (last process gone)", c->g->handle, c->g->name.c_str());
        regions_.erase(c->g->handle);
        /* The last mapping of a memfd frees its touched pages: not on this
         * thread.  A VM's region file is not freed by it, and its
         * destructor writes the file's header, which a new region on the
         * same file may already own: that one goes here, now. */
        if (!c->g->region->is_file())
            reclaimer_.dispose(std::move(c->g->region));
        guests_.erase({c->g->name, c->g->job_key});
    }
    c->g = nullptr;
    auto held = proc_conns_.find(proc_identity{c->tenant, c->job_key, c->rank, c->peer_pid});
    if (held != proc_conns_.end() && --held->second == 0) { /* its last connection */
        proc_conns_.erase(held);
        quota_.release_proc(c->tenant, c->job_key);
    }
    c->state = 0;
}
