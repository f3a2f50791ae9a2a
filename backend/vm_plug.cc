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

#include "log.h"

namespace {

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

} // namespace

ov_status_t ov_vm_plug_segment(const ov_vm_decl &vm, uint64_t segment_id, const std::string &file) noexcept
{
    if (vm.pci.empty()) {
        OV_LOG_WARN("VM %s: no pci= directory declared: it cannot receive the btl segment device", vm.name.c_str());
        return OV_ERR_NOT_SUPPORTED;
    }
    try {
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
    if (vm.pci.empty())
        return;
    try {
        const std::string d = device_dir(vm, segment_id);
        for (const char *f : {"/resource2", "/vendor", "/device"}) /* resource2 first: gone for scanners */
            unlink((d + f).c_str());
        if (rmdir(d.c_str()) == 0)
            OV_LOG_INFO("btl segment %llu unplugged from VM %s", (unsigned long long) segment_id, vm.name.c_str());
    } catch (...) {
    }
}
