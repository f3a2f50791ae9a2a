/*
 * attach.cc — ATTACH: which region a process gets and how it reaches it.
 *
 *   unix peer                -> the memfd region of (guest, job), fd passed
 *   tcp peer, declared VM    -> the VM's file region, OV_MAP_IVSHMEM (the
 *                               frontend maps its ivshmem BAR; nothing passed)
 *   tcp peer, undeclared     -> OV_ERR_NO_FD_TRANSPORT
 * Identity rules are in vm.h.
 */
#include <cstring>

#include "backend.h"
#include "log.h"

ov_status_t ov_backend::do_attach(conn *c, const uint8_t *p, uint32_t len, ov_attach_rep *rep)
{
    ov_attach_req r;
    if (ov_decode_attach(p, len, &r) != OV_OK)
        return OV_ERR_PROTO;
    ov_vm *vm = nullptr;
    for (auto &v : vms_)
        if (v.decl.name == c->guest_name)
            vm = &v;
    if (!ov_comm_can_pass_fds(c->kind))
        return vm ? attach_vm(c, *vm, rep) : OV_ERR_NO_FD_TRANSPORT;
    if (vm) {
        /* otherwise a container could hold a memfd region under a VM's name,
         * and the VM's frontends would be told to map a BAR that is not it */
        OV_LOG_WARN("conn %u (pid %u): guest name '%s' is declared as a VM (tcp only): denied", c->id,
                    c->peer_pid, c->guest_name.c_str());
        return OV_ERR_DENIED;
    }
    /* a new region's memfd, and the copy passed with the reply */
    if (ov_status_t s = fds_for_client(c, 2, &rep->map_mode, "region (open files)"); s != OV_OK)
        return s;
    guest *g = find_guest(c->guest_name, c->job_key);
    if (!g) {
        auto ng = std::make_unique<guest>();
        ng->name = c->guest_name;
        ng->job_key = c->job_key;
        ng->handle = next_region_++;
        ov_status_t s = ov_region::create(ng->name, ng->job_key, opts_.region_size, instance_, &ng->region);
        if (s != OV_OK)
            return s == OV_ERR_SYS ? OV_ERR_NOMEM : s;
        g = ng.get();
        regions_[g->handle] = g;
        guests_.emplace(std::make_pair(ng->name, ng->job_key), std::move(ng));
        OV_LOG_INFO("region %u for guest %s job %016llx (%llu bytes)", g->handle, g->name.c_str(),
                    (unsigned long long) g->job_key, (unsigned long long) g->region->size());
    }
    g->nprocs++;
    c->g = g;
    c->state = 2;
    rep->map_mode = OV_MAP_MEMFD;
    rep->region_size = g->region->size();
    return OV_OK;
}

ov_status_t ov_backend::attach_vm(conn *c, ov_vm &vm, ov_attach_rep *rep)
{
    if (c->peer_addr.empty() || (!vm.decl.peer.empty() && c->peer_addr != vm.decl.peer)) {
        OV_LOG_WARN("conn %u from %s claims VM guest '%s' (declared peer %s): denied", c->id,
                    c->peer_addr.c_str(), vm.decl.name.c_str(), vm.decl.peer.c_str());
        return OV_ERR_DENIED;
    }
    /* One file, so one region per VM: is another job (or address) holding it? */
    guest *g = nullptr;
    for (auto it = guests_.lower_bound({vm.decl.name, 0}); it != guests_.end() && it->first.first == vm.decl.name;
         ++it)
        g = it->second.get();
    if (g && g->job_key != c->job_key) {
        OV_LOG_WARN("conn %u: VM %s already serves job %016llx; job %016llx refused", c->id,
                    vm.decl.name.c_str(), (unsigned long long) g->job_key, (unsigned long long) c->job_key);
        return OV_ERR_BUSY;
    }
    if (g && c->peer_addr != vm.bound_addr) {
        OV_LOG_WARN("conn %u from %s claims VM guest '%s', bound to %s: denied", c->id,
                    c->peer_addr.c_str(), vm.decl.name.c_str(), vm.bound_addr.c_str());
        return OV_ERR_DENIED;
    }
    if (!g) {
        auto ng = std::make_unique<guest>();
        ng->name = vm.decl.name;
        ng->job_key = c->job_key;
        ng->handle = next_region_++;
        ov_status_t s = ov_region::create_on_file(vm.file.get(), ng->name, ng->job_key,
                                                  opts_.region_size ? opts_.region_size : kVmRegionDefault,
                                                  instance_, &ng->region);
        if (s != OV_OK)
            return s == OV_ERR_SYS ? OV_ERR_NOMEM : s;
        g = ng.get();
        regions_[g->handle] = g;
        guests_.emplace(std::make_pair(ng->name, ng->job_key), std::move(ng));
        vm.bound_addr = c->peer_addr;
        OV_LOG_INFO("region %u for VM %s (%s) job %016llx on %s", g->handle, g->name.c_str(),
                    c->peer_addr.c_str(), (unsigned long long) g->job_key, vm.decl.path.c_str());
    }
    g->nprocs++;
    c->g = g;
    c->state = 2;
    rep->map_mode = OV_MAP_IVSHMEM;
    rep->region_size = g->region->size();
    return OV_OK;
}
