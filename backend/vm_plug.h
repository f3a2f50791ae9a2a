/*
 * vm_plug.h — how a job's btl segment reaches a VM (backend only): as one
 * more ivshmem-plain PCI device of that VM, plugged when the VM's first rank
 * of the job asks for the segment and unplugged when its last one goes
 * (docs/btl-vmshm.md "vm mode").  Two VMs of one job see the same host file
 * behind their devices, so they share its pages; a VM never gets a device of
 * a job none of its processes proved it belongs to.
 *
 * Mechanisms (the VM's declaration, vm.h):
 *   qmp=SOCKET  a QEMU VM: through its monitor, plug = `object-add
 *               memory-backend-file` (id ovbtl-<id>, mem-path the file, size
 *               the BAR, share) + `device_add ivshmem-plain` (id
 *               ovbtl-<id>-dev); unplug = `device_del` + `object-del`.  The
 *               guest kernel sees a hot-plugged PCI device (ACPI hot-plug of
 *               -machine pc's root bus).  Each call is one short monitor
 *               session (capabilities, commands), bounded by
 *               OV_VM_QMP_TIMEOUT_MS; it runs on the backend's thread.
 *   pci=DIR     DIR stands for the VM's /sys/bus/pci/devices: plug creates
 *               DIR/ovbtl-<id>/ with `vendor` 0x1af4, `device` 0x1110 and
 *               `resource2` (a symlink to the file): what the frontend scans
 *               in a QEMU VM, so the frontend code is the same.  Namespace
 *               guests and the unit tests use it ($OMPI_VIRT_SYSFS_PCI).
 * qmp= wins when both are given.
 *
 * plug: OV_OK; OV_ERR_NOT_SUPPORTED (neither qmp= nor pci=: the VM has no
 * way to receive a device); OV_ERR_SYS (the directory could not be written,
 * or the monitor could not be reached, refused a command or did not answer
 * in time; logged with QEMU's reason).
 * unplug: best effort, never fails; unknown entries are ignored.  With
 * qmp=, device_del only asks the guest to eject the device (ACPI); until the
 * guest has acknowledged, QEMU refuses object-del ("in use"), and a memory
 * backend never deleted stays in QEMU, mapping the segment file, for the
 * VM's life.  So a refused object-del is remembered (per monitor socket) and
 * retried at the start of that VM's next plug or unplug session; an id is
 * forgotten once QEMU deleted it or answers anything but "in use" (the
 * object unknown, the monitor gone: logged).
 *
 * Threads: callable from any thread (the remembered ids are locked).
 */
#ifndef OMPI_VIRT_BACKEND_VM_PLUG_H
#define OMPI_VIRT_BACKEND_VM_PLUG_H

#include <cstdint>
#include <string>

#include "ov_protocol.h"
#include "vm.h"

#define OV_VM_QMP_TIMEOUT_MS 2000

/* Can this VM receive a device at all (qmp= or pci=)? */
inline bool ov_vm_can_plug(const ov_vm_decl &vm) { return !vm.qmp.empty() || !vm.pci.empty(); }

ov_status_t ov_vm_plug_segment(const ov_vm_decl &vm, uint64_t segment_id, const std::string &file,
                               uint64_t bar_size) noexcept;
void ov_vm_unplug_segment(const ov_vm_decl &vm, uint64_t segment_id) noexcept;

#endif
