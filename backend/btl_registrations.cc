/*
 * btl_registrations.cc — btl vmshm's single-copy grants (contract in
 * btl_registrations.h).
 */
#include "btl_registrations.h"

namespace {

bool wraps(uint64_t addr, uint64_t len)
{
    return addr + len < addr;
}

} // namespace

ov_status_t ov_btl_registrations::add(const ov_btl_member &who, const ov_btl_reg_req &req)
{
    if (req.handle == 0 || req.len == 0 || wraps(req.addr, req.len) || req.access == 0 ||
        (req.access & ~OV_BTL_ACCESS_ALL) != 0)
        return OV_ERR_BAD_ARG;
    auto it = by_conn_.find(who.conn);
    if (it != by_conn_.end()) {
        if (it->second.regs.count(req.handle))
            return OV_ERR_EXISTS;
        if (it->second.regs.size() >= OV_BTL_MAX_REGS)
            return OV_ERR_QUOTA;
    } else {
        it = by_conn_.emplace(who.conn, owner{who.job_key, who.rank, {}}).first;
        by_rank_[{who.job_key, who.rank}] = who.conn;
    }
    it->second.regs.emplace(req.handle, reg{req.addr, req.len, req.key, req.access});
    return OV_OK;
}

ov_status_t ov_btl_registrations::remove(uint32_t conn, const ov_btl_dereg_req &req)
{
    auto it = by_conn_.find(conn);
    if (it == by_conn_.end())
        return OV_ERR_NO_WINDOW;
    auto r = it->second.regs.find(req.handle);
    if (req.reserved != 0 || r == it->second.regs.end() || r->second.key != req.key)
        return OV_ERR_NO_WINDOW;
    it->second.regs.erase(r);
    return OV_OK;
}

void ov_btl_registrations::drop(uint32_t conn)
{
    auto it = by_conn_.find(conn);
    if (it == by_conn_.end())
        return;
    auto r = by_rank_.find({it->second.job_key, it->second.rank});
    if (r != by_rank_.end() && r->second == conn)
        by_rank_.erase(r);
    by_conn_.erase(it);
}

uint32_t ov_btl_registrations::owner_of(uint64_t job_key, uint32_t rank) const
{
    auto it = by_rank_.find({job_key, rank});
    return it == by_rank_.end() ? 0 : it->second;
}

size_t ov_btl_registrations::live(uint32_t conn) const
{
    auto it = by_conn_.find(conn);
    return it == by_conn_.end() ? 0 : it->second.regs.size();
}

ov_status_t ov_btl_registrations::check(const ov_btl_member &who, const ov_btl_rdma_req &req,
                                        uint32_t *owner_conn) const
{
    if ((req.op != OV_BTL_GET && req.op != OV_BTL_PUT) || req.reserved != 0 || req.peer == who.rank ||
        wraps(req.remote_addr, req.len) || wraps(req.local_addr, req.len))
        return OV_ERR_BAD_ARG;
    if (req.len > OV_BTL_MAX_RDMA)
        return OV_ERR_TOO_LARGE;
    const uint32_t conn = owner_of(who.job_key, req.peer);
    auto o = by_conn_.find(conn);
    if (conn == 0 || o == by_conn_.end())
        return OV_ERR_NO_WINDOW;
    auto r = o->second.regs.find(req.handle);
    if (r == o->second.regs.end() || r->second.key != req.key)
        return OV_ERR_NO_WINDOW;
    const uint32_t need = req.op == OV_BTL_GET ? OV_BTL_ACCESS_READ : OV_BTL_ACCESS_WRITE;
    if ((r->second.access & need) == 0)
        return OV_ERR_PERM;
    const reg &g = r->second;
    if (req.remote_addr < g.addr || req.remote_addr - g.addr > g.len || req.len > g.len - (req.remote_addr - g.addr))
        return OV_ERR_BOUNDS;
    *owner_conn = conn;
    return OV_OK;
}
