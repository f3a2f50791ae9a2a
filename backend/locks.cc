/*
 * locks.cc — the backend's lock table (contract in locks.h).
 */
#include "locks.h"

ov_status_t ov_lock_table::lock(uint32_t win, uint32_t slot, uint32_t proc, bool exclusive)
{
    uint64_t k = key(win, slot);
    auto it = locks_.find(k);
    if (it != locks_.end()) {
        const state &s = it->second;
        if (s.exclusive == proc || s.shared.count(proc))
            return OV_ERR_LOCK_STATE;
        if (s.exclusive != 0 || (exclusive && !s.shared.empty()))
            return OV_ERR_LOCK_BUSY;
    }
    auto mine = by_proc_.find(proc);
    if (total_ >= max_total_ || (mine != by_proc_.end() && mine->second.size() >= max_per_proc_))
        return OV_ERR_NOMEM;
    state &s = locks_[k];
    if (exclusive)
        s.exclusive = proc;
    else
        s.shared.insert(proc);
    by_proc_[proc].insert(k);
    total_++;
    return OV_OK;
}

ov_status_t ov_lock_table::unlock(uint32_t win, uint32_t slot, uint32_t proc)
{
    uint64_t k = key(win, slot);
    auto it = locks_.find(k);
    if (it == locks_.end() || (it->second.exclusive != proc && !it->second.shared.count(proc)))
        return OV_ERR_LOCK_STATE;
    drop(k, proc);
    return OV_OK;
}

void ov_lock_table::drop(uint64_t k, uint32_t proc)
{
    auto it = locks_.find(k);
    if (it != locks_.end()) {
        state &s = it->second;
        if (s.exclusive == proc) {
            s.exclusive = 0;
            total_--;
        } else if (s.shared.erase(proc)) {
            total_--;
        }
        if (s.exclusive == 0 && s.shared.empty())
            locks_.erase(it);
    }
    auto p = by_proc_.find(proc);
    if (p != by_proc_.end()) {
        p->second.erase(k);
        if (p->second.empty())
            by_proc_.erase(p);
    }
}

void ov_lock_table::release_process(uint32_t proc)
{
    auto p = by_proc_.find(proc);
    if (p == by_proc_.end())
        return;
    std::set<uint64_t> keys;
    keys.swap(p->second);
    by_proc_.erase(p);
    for (uint64_t k : keys)
        drop(k, proc);
}

void ov_lock_table::release_window(uint32_t win)
{
    auto first = locks_.lower_bound(key(win, 0));
    auto last = locks_.lower_bound(key(win + 1, 0));
    if (win == UINT32_MAX)
        last = locks_.end();
    for (auto it = first; it != last; ++it) {
        auto forget = [&](uint32_t proc) {
            total_--;
            auto p = by_proc_.find(proc);
            if (p != by_proc_.end()) {
                p->second.erase(it->first);
                if (p->second.empty())
                    by_proc_.erase(p);
            }
        };
        if (it->second.exclusive)
            forget(it->second.exclusive);
        for (uint32_t proc : it->second.shared)
            forget(proc);
    }
    locks_.erase(first, last);
}

ov_lock_table::mode ov_lock_table::held_by(uint32_t win, uint32_t slot, uint32_t proc) const
{
    auto it = locks_.find(key(win, slot));
    if (it == locks_.end())
        return NONE;
    if (it->second.exclusive == proc)
        return EXCLUSIVE;
    return it->second.shared.count(proc) ? SHARED : NONE;
}

size_t ov_lock_table::held(uint32_t proc) const
{
    auto p = by_proc_.find(proc);
    return p == by_proc_.end() ? 0 : p->second.size();
}
