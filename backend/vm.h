/*
 * vm.h — VM guests (backend only): `--vm NAME=FILE[,peer=IP][,pci=DIR][,qmp=SOCKET]`
 * declarations and their region files.
 *
 * A VM guest reaches the backend over TCP (control only, no fd passing) and
 * sees its region as the ivshmem-plain BAR of a host file that its QEMU maps
 * (-object memory-backend-file,share=on,mem-path=FILE,size=S
 *  -device ivshmem-plain,memdev=...).  The backend opens FILE at start-up,
 * creating it (mode 0600) and sizing it to the region size when it is absent
 * or empty; an existing file of another size is a start-up error (QEMU's
 * size= and --region-mb must agree; a BAR is a power of two bytes).
 *
 * Identity: only a TCP peer whose source address is `peer` may claim NAME.
 * Without peer=, NAME is bound to the address of the first TCP peer that
 * attaches, for as long as the VM's region is held (the unix rule, with the
 * source address in place of the network namespace).  Declared names are
 * reserved for TCP: a unix peer claiming one is denied.  A TCP peer whose
 * guest name is not declared can never ATTACH (OV_ERR_NO_FD_TRANSPORT).
 *
 * One region per VM (QEMU maps one file): the first job that attaches owns
 * it until its last process is gone; another job meanwhile gets OV_ERR_BUSY.
 *
 * pci=DIR: the directory that stands for the VM's /sys/bus/pci/devices, where
 * the backend plugs (and unplugs) the job's btl segment as an ivshmem-plain
 * device (vm_plug.h; namespace guests, tests).  qmp=SOCKET: the VM's QEMU
 * monitor (-qmp unix:SOCKET,server,nowait), through which the backend
 * hot-plugs that device into a QEMU VM.  With neither the VM gets no btl
 * segment.
 */
#ifndef OMPI_VIRT_BACKEND_VM_H
#define OMPI_VIRT_BACKEND_VM_H

#include <cstdint>
#include <string>

#include "ov_fd.h"
#include "ov_protocol.h"

struct ov_vm_decl {
    std::string name; /* guest name the VM's frontends send in HELLO */
    std::string path; /* host file QEMU maps as the ivshmem BAR */
    std::string peer; /* canonical dotted IPv4 source address, "" = bind to the first claimer */
    std::string pci;  /* absolute directory standing for the VM's PCI devices, "" = none (vm_plug.h) */
    std::string qmp;  /* absolute path of the VM's QMP unix socket, "" = none (vm_plug.h) */
};

/* Parse "NAME=FILE[,peer=IP][,pci=DIR][,qmp=SOCKET]".  NAME as in HELLO ([A-Za-z0-9._-], < 32
 * chars), FILE absolute.  OV_OK, or OV_ERR_BAD_ARG with *err explaining. */
ov_status_t ov_vm_parse(const char *arg, ov_vm_decl *out, std::string *err) noexcept;

/* Open (creating or sizing it if absent/empty) the region file of `d`;
 * it must be a regular file of exactly `size` bytes afterwards.  `size`
 * must be a power of two (PCI BAR).  OV_OK and *out, or OV_ERR_BAD_ARG /
 * OV_ERR_SYS (logged). */
ov_status_t ov_vm_open_file(const ov_vm_decl &d, uint64_t size, ov_fd *out) noexcept;

/* A declared VM as the running backend keeps it. */
struct ov_vm {
    ov_vm_decl decl;
    ov_fd file;
    std::string bound_addr; /* address holding the region now (valid while it exists) */
};

/* Dotted IPv4 source address of a connected TCP socket, "" on error. */
std::string ov_tcp_peer_addr(int fd);

#endif
