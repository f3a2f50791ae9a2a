/*
 * fabric_mappings.cc — records, mailboxes and quota of the fabric mapping
 * service; the links to other hosts are in fabric_links.cc.
 * Contract: fabric_mappings.h.
 */
#include "fabric_mappings.h"

#include <cstring>
#include <new>

#include "log.h"
#include "ov_clock.h"

ov_fabric_mappings::job *ov_fabric_mappings::find_job(uint64_t key)
{
    auto it = jobs_.find(key);
    return it == jobs_.end() ? nullptr : &it->second;
}

ov_status_t ov_fabric_mappings::charge(job &j, size_t bytes, uint32_t *limit)
{
    if (j.queued + bytes > quota_.job_fabric_queue_bytes) {
        *limit = OV_LIMIT_JOB_FABRIC_QUEUE;
        return OV_ERR_QUOTA;
    }
    j.queued += bytes;
    return OV_OK;
}

ov_status_t ov_fabric_mappings::publish(const ov_fabric_member &who, const unsigned char job_digest[OV_SHA256_BYTES],
                                        uint32_t epoch, const uint8_t *blob, uint32_t len, uint32_t *limit)
try {
    job *j = find_job(who.job_key);
    if (j) {
        auto r = j->records.find(who.rank);
        if (r != j->records.end() && r->second.conn && r->second.conn != who.conn)
            return OV_ERR_EXISTS;
        if (r == j->records.end() && j->records.size() >= quota_.job_fabric_mappings) {
            *limit = OV_LIMIT_JOB_FABRIC_MAPPINGS;
            return OV_ERR_QUOTA;
        }
        j->linger_until = 0;
    } else {
        j = &jobs_[who.job_key];
        ov_link_key(job_digest, j->key);
        j->out.assign(opts_.peers.size(), 0);
        for (size_t p = 0; p < opts_.peers.size(); p++)
            open_out(who.job_key, int(p));
    }
    auto e = endpoints_.find(who.conn);
    if (e == endpoints_.end()) {
        endpoint &ne = endpoints_[who.conn];
        ne.job_key = who.job_key;
        ne.rank = who.rank;
        j->local++;
    }
    record &r = j->records[who.rank];
    r.epoch = epoch;
    r.blob.assign(blob, blob + len);
    r.conn = who.conn;
    r.peer = -1;
    OV_LOG_DEBUG("fabric: job %016llx rank %u published epoch %u here (%u bytes)", (unsigned long long) who.job_key,
                 who.rank, epoch, len);
    ov_link_map m{who.rank, epoch, len, 0};
    to_peers(who.job_key, link_type::map, &m, sizeof(m), blob, len);
    return OV_OK;
} catch (const std::bad_alloc &) {
    return OV_ERR_NOMEM;
}

void ov_fabric_mappings::deliver_local(const record &to, uint32_t from, const uint8_t *blob, uint32_t len)
{
    auto e = endpoints_.find(to.conn);
    if (e != endpoints_.end())
        e->second.mailbox.push_back(letter{from, std::vector<uint8_t>(blob, blob + len)});
}

ov_status_t ov_fabric_mappings::send(const ov_fabric_member &who, uint32_t dest, const uint8_t *blob, uint32_t len,
                                     uint32_t *limit)
try {
    job *j = find_job(who.job_key);
    if (j == nullptr || endpoints_.count(who.conn) == 0)
        return OV_ERR_STATE;
    auto r = j->records.find(dest);
    if (r == j->records.end())
        return OV_ERR_BAD_ARG;
    if (r->second.conn) {
        if (ov_status_t s = charge(*j, len, limit); s != OV_OK)
            return s;
        deliver_local(r->second, who.rank, blob, len);
        return OV_OK;
    }
    ov_link_ctrl c{who.rank, dest, len, 0};
    to_peer(who.job_key, r->second.peer, link_type::ctrl, &c, sizeof(c), blob, len);
    return OV_OK;
} catch (const std::bad_alloc &) {
    return OV_ERR_NOMEM;
}

ov_status_t ov_fabric_mappings::take(const ov_fabric_member &who, uint32_t max_bytes, std::vector<uint8_t> *reply)
{
    auto e = endpoints_.find(who.conn);
    job *j = find_job(who.job_key);
    if (e == endpoints_.end() || j == nullptr)
        return OV_ERR_STATE;
    if (max_bytes == 0 || max_bytes > OV_FABRIC_TAKE_MAX)
        max_bytes = OV_FABRIC_TAKE_MAX;
    ov_fabric_take_rep rep{OV_OK, 0, 0, 0};
    reply->assign(sizeof(rep), 0);
    auto &box = e->second.mailbox;
    size_t used = 0;
    while (!box.empty()) {
        const letter &l = box.front();
        const size_t sz = sizeof(ov_fabric_entry) + ((l.blob.size() + 7) & ~size_t(7));
        if (used + sz > max_bytes)
            break;
        ov_fabric_entry en{l.from, uint32_t(l.blob.size())};
        const size_t at = reply->size();
        reply->resize(at + sz, 0);
        std::memcpy(reply->data() + at, &en, sizeof(en));
        std::memcpy(reply->data() + at + sizeof(en), l.blob.data(), l.blob.size());
        used += sz;
        j->queued -= std::min<uint64_t>(j->queued, l.blob.size());
        rep.count++;
        box.pop_front();
    }
    rep.more = box.empty() ? 0 : 1;
    std::memcpy(reply->data(), &rep, sizeof(rep));
    return OV_OK;
}

ov_status_t ov_fabric_mappings::lookup(const ov_fabric_member &who, uint32_t vid, std::vector<uint8_t> *reply)
{
    job *j = find_job(who.job_key);
    if (j == nullptr || endpoints_.count(who.conn) == 0)
        return OV_ERR_STATE;
    auto r = j->records.find(vid);
    if (r == j->records.end())
        return OV_ERR_BAD_ARG;
    ov_fabric_lookup_rep rep{OV_OK, r->second.epoch, uint32_t(r->second.blob.size()), r->second.conn ? 0u : 1u};
    reply->resize(sizeof(rep) + r->second.blob.size());
    std::memcpy(reply->data(), &rep, sizeof(rep));
    std::memcpy(reply->data() + sizeof(rep), r->second.blob.data(), r->second.blob.size());
    return OV_OK;
}

void ov_fabric_mappings::release(uint32_t conn)
{
    auto e = endpoints_.find(conn);
    if (e == endpoints_.end())
        return;
    const uint64_t key = e->second.job_key;
    job *j = find_job(key);
    for (const letter &l : e->second.mailbox)
        if (j)
            j->queued -= std::min<uint64_t>(j->queued, l.blob.size());
    const uint32_t rank = e->second.rank;
    endpoints_.erase(e);
    if (j == nullptr)
        return;
    auto r = j->records.find(rank);
    if (r != j->records.end() && r->second.conn == conn) {
        ov_link_unmap u{rank, r->second.epoch};
        j->records.erase(r);
        to_peers(key, link_type::unmap, &u, sizeof(u), nullptr, 0);
    }
    if (--j->local == 0) {
        j->linger_until = ov_now_ns() + int64_t(kLingerMs) * 1000000;
        arm_timer();
    }
}

size_t ov_fabric_mappings::records(uint64_t job_key) const
{
    auto it = jobs_.find(job_key);
    return it == jobs_.end() ? 0 : it->second.records.size();
}
