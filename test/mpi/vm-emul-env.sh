#!/bin/bash
# vm-emul-env.sh — run a command as a rank "inside a VM" of the vm-mode
# emulation in namespace guests: its PCI devices are the directory
# $OMPI_VIRT_VM_PCI_BASE/pci-<this guest's hostname>, where the backend plugs
# the job's btl segment (backend --vm NAME=FILE,peer=IP,pci=DIR; vm_plug.h).
# usage: vm-emul-env.sh PROG [ARGS...]   (OMPI_VIRT_VM_PCI_BASE set by mpirun -x)
: "${OMPI_VIRT_VM_PCI_BASE:?set OMPI_VIRT_VM_PCI_BASE (mpirun -x)}"
OMPI_VIRT_SYSFS_PCI="$OMPI_VIRT_VM_PCI_BASE/pci-$(hostname)" exec "$@"
