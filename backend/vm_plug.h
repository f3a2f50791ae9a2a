/*
 * vm_plug.h — how a job's btl segment reaches a VM (backend only): as one
 * more ivshmem-plain PCI device of that VM, plugged when the VM's first rank
 * of the job asks for the segment and unplugged when its last one goes
 * (docs/btl-vmshm.md "vm mode").  Two VMs of one job see the same host file
 * behind their devices, so they share its pages; a VM never gets a device of
 * a job none of its processes proved it belongs to.
 *
 * Mechanism: the VM's declaration names a directory that stands for its
 * /sys/bus/pci/devices (`--vm NAME=FILE,pci=DIR`, vm.h).  plug creates
 * DIR/ovbtl-<segment id>/ with `vendor` 0x1af4, `device` 0x1110 and
 * `resource2` (a symlink to the segment's file): exactly what the frontend
 * scans in a QEMU VM, so the frontend code is the same in both.  Namespace
 * guests and the unit tests use this directly (the guest reads DIR through
 * $OMPI_VIRT_SYSFS_PCI).  For a QEMU VM the same two calls are the QMP
 * commands `object-add memory-backend-file,share=on,mem-path=FILE,size=BAR`
 * + `device_add ivshmem-plain,memdev=...` and `device_del` + `object-del`;
 * that transport is not built here (docs/btl-vmshm.md says what it needs).
 *
 * plug: OV_OK; OV_ERR_NOT_SUPPORTED (no pci= in the declaration: the VM has
 * no way to receive a device); OV_ERR_SYS (the directory could not be
 * written; logged).  Idempotent per (VM, segment).
 * unplug: best effort, never fails; unknown entries are ignored.
 */
#ifndef OMPI_VIRT_BACKEND_VM_PLUG_H
#define OMPI_VIRT_BACKEND_VM_PLUG_H

#include <cstdint>
#include <string>

#include "ov_protocol.h"
#include "vm.h"

ov_status_t ov_vm_plug_segment(const ov_vm_decl &vm, uint64_t segment_id, const std::string &file) noexcept;
void ov_vm_unplug_segment(const ov_vm_decl &vm, uint64_t segment_id) noexcept;

#endif
