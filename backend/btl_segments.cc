/*
 * btl_segments.cc — the btl segment service.  Contract: btl_segments.h.
 */
#include "btl_segments.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "log.h"
#include "vm_plug.h"

ov_btl_segments::~ov_btl_segments()
{
    for (auto &j : by_job_)
        free_segment(*j.second);
}

/* vm mode: a host file a VM's QEMU can map as a BAR.  Not sealable (only
 * memfds are): with QEMU only the backend and QEMU open it, and a VM cannot
 * resize a BAR; in the namespace emulation a guest process maps the file
 * itself and could truncate it (docs/btl-vmshm.md "vm mode"). */
ov_status_t ov_btl_segments::create_file(segment *s)
{
    char name[48];
    snprintf(name, sizeof(name), "/btl-%llu.bseg", (unsigned long long) s->id);
    if (mkdir(vm_dir_.c_str(), 0755) != 0 && errno != EEXIST)
        return OV_ERR_NOMEM;
    s->file = vm_dir_ + name;
    s->fd.reset(open(s->file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!s->fd.valid()) {
        s->file.clear();
        return OV_ERR_NOMEM;
    }
    return ftruncate(s->fd.get(), off_t(ov_bseg_bar_size(s->geom.size))) == 0 ? OV_OK : OV_ERR_NOMEM;
}

ov_status_t ov_btl_segments::create(uint64_t job_key, uint32_t nranks, bool on_file, std::unique_ptr<segment> *out)
{
    std::unique_ptr<segment> s(new (std::nothrow) segment);
    if (!s)
        return OV_ERR_NOMEM;
    s->geom = ov_bseg_geometry(nranks);
    s->job_key = job_key;
    s->id = next_id_++;
    bool ok;
    if (on_file) {
        ok = create_file(s.get()) == OV_OK;
    } else {
        char name[64];
        snprintf(name, sizeof(name), "ompi-virt-btl:%016llx", (unsigned long long) job_key);
        s->fd.reset(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
        /* sealed: no rank holding the fd can shrink it under the others (SIGBUS) */
        ok = s->fd.valid() && ftruncate(s->fd.get(), off_t(s->geom.size)) == 0 &&
             fcntl(s->fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0;
    }
    if (!ok || !s->map.map(s->fd.get(), size_t(s->geom.size))) {
        OV_LOG_ERR("btl segment for job %016llx (%llu bytes%s%s): %s", (unsigned long long) job_key,
                   (unsigned long long) s->geom.size, on_file ? ", file under " : "", on_file ? vm_dir_.c_str() : "",
                   strerror(errno));
        if (!s->file.empty())
            unlink(s->file.c_str());
        return OV_ERR_NOMEM;
    }
    ov_bseg_init_hdr(s->map.data(), s->geom, instance_, job_key, s->id);
    *out = std::move(s);
    return OV_OK;
}

ov_status_t ov_btl_segments::grant(const ov_btl_member &who, const ov_btl_segment_req &req, ov_btl_segment_rep *rep,
                                   int *fd, const ov_vm_decl *vm)
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
        if (it->second->file.empty() == (vm != nullptr))
            return OV_ERR_NOT_SUPPORTED; /* one kind per job: a VM cannot map a memfd, nor a container a BAR */
    } else {
        if (vm && (!ov_vm_can_plug(*vm) || vm_dir_.empty()))
            return OV_ERR_NOT_SUPPORTED;
        std::unique_ptr<segment> s;
        ov_status_t st = create(who.job_key, req.nranks, vm != nullptr, &s);
        if (st != OV_OK)
            return st;
        OV_LOG_INFO("btl segment %llu for job %016llx: %u ranks, %llu bytes%s%s", (unsigned long long) s->id,
                    (unsigned long long) who.job_key, req.nranks, (unsigned long long) s->geom.size,
                    vm ? ", vm mode: " : "", s->file.c_str());
        it = by_job_.emplace(who.job_key, std::move(s)).first;
    }
    segment &s = *it->second;
    if (vm) {
        auto v = s.vms.find(vm->name);
        if (v == s.vms.end()) {
            ov_status_t st = ov_vm_plug_segment(*vm, s.id, s.file, ov_bseg_bar_size(s.geom.size));
            if (st != OV_OK) {
                if (s.ranks.empty())
                    free_segment(s), by_job_.erase(it);
                return st;
            }
            v = s.vms.emplace(vm->name, std::make_pair(*vm, 0u)).first;
        }
        ++v->second.second;
    }
    s.ranks[who.rank] = who.conn;
    holders_[who.conn] = holder{who.job_key, who.rank, vm ? vm->name : std::string()};
    ov_bseg_member_at(s.map.data(), s.geom, who.rank)->present.store(1, std::memory_order_release);
    rep->nranks = s.geom.nranks;
    rep->segment_size = s.geom.size;
    rep->segment_id = s.id;
    *fd = vm ? -1 : s.fd.get();
    return OV_OK;
}

/* The last holder went: no rank maps it any more (VMs: unplugged). */
void ov_btl_segments::free_segment(segment &s)
{
    reinterpret_cast<ov_bseg_hdr *>(s.map.data())->state.store(OV_BSEG_SHUTDOWN, std::memory_order_release);
    for (auto &v : s.vms)
        ov_vm_unplug_segment(v.second.first, s.id);
    s.vms.clear();
    if (!s.file.empty())
        unlink(s.file.c_str());
}

void ov_btl_segments::release(uint32_t conn)
{
    auto h = holders_.find(conn);
    if (h == holders_.end())
        return;
    auto it = by_job_.find(h->second.job_key);
    const uint32_t rank = h->second.rank;
    const std::string vm = std::move(h->second.vm);
    holders_.erase(h);
    if (it == by_job_.end())
        return;
    segment &s = *it->second;
    s.ranks.erase(rank);
    ov_bseg_member_at(s.map.data(), s.geom, rank)->present.store(0, std::memory_order_release);
    auto v = vm.empty() ? s.vms.end() : s.vms.find(vm);
    if (v != s.vms.end() && --v->second.second == 0) { /* the VM's last rank of the job */
        ov_vm_unplug_segment(v->second.first, s.id);
        s.vms.erase(v);
    }
    if (s.ranks.empty()) {
        OV_LOG_INFO("btl segment %llu of job %016llx released (last holder gone)", (unsigned long long) s.id,
                    (unsigned long long) s.job_key);
        free_segment(s);
        by_job_.erase(it);
    }
}
