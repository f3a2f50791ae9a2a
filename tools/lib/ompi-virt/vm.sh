# vm.sh — 'ompi-virt vm list|mpirun' and the dispatch of 'ompi-virt vm':
# QEMU virtual machines on one host whose MPI ranks reach the host backend
# through an ivshmem-plain region (see docs/vm.md).  'vm up|down' are in
# vm-up.sh, the guest image in vm-image.sh.  Needs common.sh, mpirun.sh.
#
# State directory VM_STATE ($OMPI_VIRT_VM_STATE, default /run/ompi-virt-vms;
# root only, never visible to the VMs):
#   config            BRIDGE SUBNET DIR ACCEL N KERNEL KERNEL_ARGS MEM CPUS
#                     REGION_MB BRIDGE_CREATED BACKEND_PORT (SUBNET and DIR
#                     are read by 'vm mpirun' through mpirun.sh)
#   backend           PID START LOG of the backend 'vm up' started;
#                     backend.log its log
#   rootfs/           where each QEMU, in its own mount namespace, binds the
#                     host's root file system to export it (empty outside)
#   image/            initrd.gz (shared part) and the guest kernel's modules
#   regions/vmK.region the VM's region file (the backend's; QEMU maps it)
#   vms/vmK/          config, token, hosts (the VM's own settings, packed in
#                     its initramfs), host (HOST_AGENT_PORT QEMU_PID
#                     QEMU_START TAP IP), console.log, qemu.log, qmp.sock
#                     (QEMU's monitor, for the backend's btl segment plugs)
#   complete          written when every VM's agent has answered

VM_STATE=${OMPI_VIRT_VM_STATE:-/run/ompi-virt-vms}
VM_AGENT="$TOOLS_DIR/ompi-virt-vm-agent"
VM_DEF_BRIDGE=ovvm0
VM_DEF_SUBNET=10.213.9.0/24
VM_DEF_DIR=/run/ompi-virt-vm
VM_BRIDGE_ALIAS=ompi-virt-vms   # ifalias put on bridges we create

usage_vm() {
    cat <<EOF
usage: $PROG vm COMMAND ...

QEMU virtual machines on this host for MPI through the host backend: each VM
has an ivshmem-plain region served by the backend, a virtio-net NIC on a
private bridge, the host's root file system read-only over 9p (the installed
Open MPI and ompi-virt run unchanged inside) and a launcher agent.

commands:
  vm up N [options]      boot vm1..vmN (KVM when /dev/kvm works, else TCG)
                         and a backend serving their regions
  vm down                stop the VMs, their backend, taps and bridge
  vm list                name, address, QEMU pid, alive of each VM
  vm mpirun [--verbose] [--dry-run] -- MPIRUN-ARGS...
                         mpirun on the host, ranks inside the VMs
  vm exec VM -- CMD...   run a shell command line inside VM

State directory: \$OMPI_VIRT_VM_STATE (default /run/ompi-virt-vms).
'$PROG vm COMMAND --help' describes each.  Needs root.
EOF
}

usage_vm_list() {
    cat <<EOF
usage: $PROG vm list

One line per VM: name, bridge address, QEMU pid, alive|dead; then the
accelerator and the backend (pid, tcp port, log).
EOF
}

usage_vm_exec() {
    cat <<EOF
usage: $PROG vm exec VM -- CMD...

Run CMD (joined into one shell command line) inside VM through its launcher
agent; its stdout and stderr come back on stdout; exit status CMD's, 255 if
the VM cannot be reached.
EOF
}

usage_vm_mpirun() {
    cat <<EOF
usage: $PROG vm mpirun [--verbose] [--dry-run] -- MPIRUN-ARGS...

Run mpirun on the host so that its daemons and ranks start inside the VMs,
e.g.  $PROG vm mpirun -- -np 2 --host vm1,vm2 ./prog

Adds, before MPIRUN-ARGS:
  --mca plm rsh --mca plm_rsh_agent $VM_AGENT
  --mca plm_rsh_no_tree_spawn 1 --mca if_base_do_not_resolve 1 --bind-to none
  --mca oob_tcp_if_include SUBNET --mca btl_tcp_if_include SUBNET
  --allow-run-as-root (when root)
Inside a VM each rank has OMPI_VIRT_URI (its backend, through QEMU) and
OMPI_VIRT_GUEST (the VM's name); the backend knows the VM by its QEMU
instance whatever name it claims.

  --verbose   print the final mpirun command on stderr
  --dry-run   print it and exit without running
EOF
}

# vm_need_root WHAT: 'vm WHAT' runs as root only
vm_need_root() {
    [ "$(id -u)" = 0 ] ||
        die2 "'vm $1' needs root (it creates a bridge and taps and mounts in QEMU's namespace); run it as root or with sudo"
}

# vm_names: vm1..vmN of the state, one per line
vm_names() {
    local d
    for d in "$VM_STATE"/vms/*/; do
        [ -d "$d" ] && basename "$d"
    done | sort -V
}

cmd_vm_list() {
    case ${1:-} in -h|--help) usage_vm_list; return 0 ;; esac
    [ -f "$VM_STATE/config" ] || { info "no VMs (state $VM_STATE)"; return 0; }
    local kv_ACCEL="" kv_BACKEND_PORT="" kv_BRIDGE="" v alive
    read_kv "$VM_STATE/config"
    for v in $(vm_names); do
        local kv_IP="" kv_QEMU_PID="" kv_QEMU_START=""
        read_kv "$VM_STATE/vms/$v/host"
        alive=dead
        proc_alive "$kv_QEMU_PID" "$kv_QEMU_START" && alive=alive
        printf '%-6s %-15s qemu-pid %-8s %s\n' "$v" "$kv_IP" "$kv_QEMU_PID" "$alive"
    done
    local kv_PID="" kv_START="" kv_LOG=""
    [ -f "$VM_STATE/backend" ] && read_kv "$VM_STATE/backend"
    alive=dead
    proc_alive "$kv_PID" "$kv_START" && alive=alive
    echo "accelerator $kv_ACCEL; bridge $kv_BRIDGE; backend pid $kv_PID tcp:127.0.0.1:$kv_BACKEND_PORT $alive (log $kv_LOG)"
    [ -f "$VM_STATE/complete" ] || echo "(set-up incomplete)"
}

cmd_vm_exec() {
    case ${1:-} in -h|--help) usage_vm_exec; return 0 ;; esac
    [ $# -ge 1 ] || die2 "vm exec: which VM?"
    local vm=$1
    shift
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || die2 "vm exec: no command"
    OMPI_VIRT_VM_STATE=$VM_STATE "$VM_AGENT" "$vm" "$*"
}

cmd_vm_mpirun() {
    case ${1:-} in -h|--help) usage_vm_mpirun; return 0 ;; esac
    vm_need_root mpirun
    [ -f "$VM_STATE/complete" ] || die "no VMs are up (state $VM_STATE); run '$PROG vm up N' first"
    # mpirun.sh does the rest: its agent, state and usage are ours
    STATE=$VM_STATE AGENT=$VM_AGENT
    usage_mpirun() { usage_vm_mpirun; }
    export OMPI_VIRT_VM_STATE=$VM_STATE
    cmd_mpirun "$@"
}

cmd_vm() {
    local sub=${1:-}
    [ $# -eq 0 ] || shift
    case $sub in
        up) cmd_vm_up "$@" ;;
        down) cmd_vm_down "$@" ;;
        list) cmd_vm_list "$@" ;;
        exec) cmd_vm_exec "$@" ;;
        mpirun) cmd_vm_mpirun "$@" ;;
        -h|--help|help) usage_vm ;;
        "") usage_vm >&2; exit 2 ;;
        *) echo "$PROG: unknown vm command '$sub'" >&2; usage_vm >&2; exit 2 ;;
    esac
}
