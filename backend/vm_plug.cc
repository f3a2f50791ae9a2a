/*
 * vm_plug.cc — plugging a btl segment into a VM's PCI devices.  Contract:
 * vm_plug.h.
 */
#include "vm_plug.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "log.h"
#include "vm_qmp.h"

namespace {

/* Memory backends whose object-del QEMU refused while the guest had not yet
 * acknowledged the eject, per monitor socket: retried by the VM's next
 * session (vm_plug.h). */
std::mutex g_deferred_mu;
std::map<std::string, std::set<uint64_t>> g_deferred;

std::string device_dir(const ov_vm_decl &vm, uint64_t id)
{
    char name[48];
    snprintf(name, sizeof(name), "/ovbtl-%llu", (unsigned long long) id);
    return vm.pci + name;
}

bool write_line(const std::string &path, const char *text)
{
    FILE *f = fopen(path.c_str(), "we");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

std::string qmp_id(uint64_t id)
{
    return "ovbtl-" + std::to_string(id);
}

std::string object_del(uint64_t id)
{
    return "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"" + qmp_id(id) + "\"}}";
}

/* Retry the object-del of every backend this VM's QEMU refused to delete
 * before: one short session per id (a failed command ends a session). */
void retry_deferred(const ov_vm_decl &vm)
{
    std::set<uint64_t> ids;
    {
        std::lock_guard<std::mutex> g(g_deferred_mu);
        auto it = g_deferred.find(vm.qmp);
        if (it == g_deferred.end())
            return;
        ids.swap(it->second);
        g_deferred.erase(it);
    }
    std::set<uint64_t> still;
    for (uint64_t id : ids) {
        std::string err;
        if (ov_qmp_run(vm.qmp, {object_del(id)}, OV_VM_QMP_TIMEOUT_MS, &err) == OV_OK)
            OV_LOG_INFO("btl segment %llu unplugged from VM %s (QMP, deferred object-del)", (unsigned long long) id,
                        vm.name.c_str());
        else if (err.find("in use") != std::string::npos)
            still.insert(id); /* the guest still has not let go */
        else
            OV_LOG_WARN("VM %s: deferred object-del of btl segment %llu dropped: %s", vm.name.c_str(),
                        (unsigned long long) id, err.c_str());
    }
    if (!still.empty()) {
        std::lock_guard<std::mutex> g(g_deferred_mu);
        g_deferred[vm.qmp].insert(still.begin(), still.end());
    }
}

ov_status_t qmp_plug(const ov_vm_decl &vm, uint64_t id, const std::string &file, uint64_t bar)
{
    retry_deferred(vm);
    const std::string obj = qmp_id(id);
    std::string err;
    ov_status_t s = ov_qmp_run(
        vm.qmp,
        {"{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-file\",\"id\":\"" + obj +
             "\",\"mem-path\":\"" + ov_json_escape(file) + "\",\"size\":" + std::to_string(bar) +
             ",\"share\":true}}",
         "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"ivshmem-plain\",\"id\":\"" + obj +
             "-dev\",\"memdev\":\"" + obj + "\"}}"},
        OV_VM_QMP_TIMEOUT_MS, &err);
    if (s != OV_OK) {
        OV_LOG_ERR("VM %s: hot-plug of btl segment %llu through %s failed: %s", vm.name.c_str(),
                   (unsigned long long) id, vm.qmp.c_str(), err.c_str());
        std::string ignored; /* the object may exist without its device */
        ov_qmp_run(vm.qmp, {object_del(id)}, OV_VM_QMP_TIMEOUT_MS, &ignored);
        return OV_ERR_SYS;
    }
    OV_LOG_INFO("btl segment %llu plugged into VM %s (QMP %s)", (unsigned long long) id, vm.name.c_str(),
                vm.qmp.c_str());
    return OV_OK;
}

/* device_del asks the guest to let go (ACPI eject); object-del then frees
 * the memory backend, or is refused while the guest still holds the device:
 * remembered and retried by the VM's next session. */
void qmp_unplug(const ov_vm_decl &vm, uint64_t id)
{
    retry_deferred(vm);
    const std::string obj = qmp_id(id);
    std::string err;
    if (ov_qmp_run(vm.qmp, {"{\"execute\":\"device_del\",\"arguments\":{\"id\":\"" + obj + "-dev\"}}"},
                   OV_VM_QMP_TIMEOUT_MS, &err) != OV_OK)
        OV_LOG_WARN("VM %s: device_del of btl segment %llu: %s", vm.name.c_str(), (unsigned long long) id,
                    err.c_str());
    else if (ov_qmp_run(vm.qmp, {object_del(id)}, OV_VM_QMP_TIMEOUT_MS, &err) != OV_OK) {
        OV_LOG_INFO("VM %s: object-del of btl segment %llu deferred to the VM's next plug or unplug: %s",
                    vm.name.c_str(), (unsigned long long) id, err.c_str());
        std::lock_guard<std::mutex> g(g_deferred_mu);
        g_deferred[vm.qmp].insert(id);
    } else
        OV_LOG_INFO("btl segment %llu unplugged from VM %s (QMP)", (unsigned long long) id, vm.name.c_str());
}

} // namespace

ov_status_t ov_vm_plug_segment(const ov_vm_decl &vm, uint64_t segment_id, const std::string &file,
                               uint64_t bar_size) noexcept
{
    if (!ov_vm_can_plug(vm)) {
        OV_LOG_WARN("VM %s: neither qmp= nor pci= declared: it cannot receive the btl segment device",
                    vm.name.c_str());
        return OV_ERR_NOT_SUPPORTED;
    }
    try {
        if (!vm.qmp.empty())
            return qmp_plug(vm, segment_id, file, bar_size);
        const std::string d = device_dir(vm, segment_id);
        if (mkdir(vm.pci.c_str(), 0755) != 0 && errno != EEXIST)
            goto fail;
        if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST)
            goto fail;
        /* resource2 last: a scanner that sees it sees a complete device */
        if (!write_line(d + "/vendor", "0x1af4\n") || !write_line(d + "/device", "0x1110\n"))
            goto fail;
        unlink((d + "/resource2").c_str());
        if (symlink(file.c_str(), (d + "/resource2").c_str()) != 0)
            goto fail;
        OV_LOG_INFO("btl segment %llu plugged into VM %s (%s)", (unsigned long long) segment_id, vm.name.c_str(),
                    d.c_str());
        return OV_OK;
    fail:
        OV_LOG_ERR("VM %s: cannot plug btl segment %llu under %s: %s", vm.name.c_str(),
                   (unsigned long long) segment_id, vm.pci.c_str(), strerror(errno));
        ov_vm_unplug_segment(vm, segment_id);
        return OV_ERR_SYS;
    } catch (...) {
        return OV_ERR_NOMEM;
    }
}

void ov_vm_unplug_segment(const ov_vm_decl &vm, uint64_t segment_id) noexcept
{
    try {
        if (!vm.qmp.empty())
            return qmp_unplug(vm, segment_id);
        if (vm.pci.empty())
            return;
        const std::string d = device_dir(vm, segment_id);
        for (const char *f : {"/resource2", "/vendor", "/device"}) /* resource2 first: gone for scanners */
            unlink((d + f).c_str());
        if (rmdir(d.c_str()) == 0)
            OV_LOG_INFO("btl segment %llu unplugged from VM %s", (unsigned long long) segment_id, vm.name.c_str());
    } catch (...) {
    }
}
