# vm-up.sh — 'ompi-virt vm up|down'.  Needs common.sh, backend.sh,
# vm.sh, vm-image.sh, netguard.sh.
#
# How a VM is wired (one QEMU per VM):
#   region   -object memory-backend-file,share=on,mem-path=REGION
#            -device ivshmem-plain: REGION is the file the backend made for
#            this VM (--vm vmK=REGION,peer=127.0.1.K)
#   MPI NIC  virtio-net on tap ${BRIDGE}tK, a port of the private bridge,
#            guarded (netguard.sh: it sends only as its MAC and address)
#   control  virtio-net with QEMU user networking (restrict=on: no way out)
#            that carries exactly two things: 10.0.2.100:7000 in the VM is
#            forwarded by QEMU to the backend, from source address 127.0.1.K,
#            so the backend knows the VM by its QEMU instance, whatever it
#            claims (the backend binds name vmK to that address); and host
#            127.0.0.1:HOST_AGENT_PORT is forwarded to the VM's launcher
#            agent, which no other VM can reach.
#   monitor  -qmp unix:$VM_STATE/vms/vmK/qmp.sock: the backend is started
#            with qmp= naming it in vmK's --vm, and hot-plugs each job's btl
#            vmshm segment (one more ivshmem-plain device) through it into
#            the job's VMs only; the guest never sees the socket
#   root     the host's root file system (that one file system: no /proc,
#            /sys, /dev, other mounts) read-only over 9p, with /run, /tmp,
#            the state and backend directories hidden (empty tmpfs) in
#            QEMU's own mount namespace, so no VM sees the region files.

usage_vm_up() {
    cat <<EOF
usage: $PROG vm up N [options]

Boot VMs vm1..vmN under QEMU (KVM when /dev/kvm is usable, else TCG, which
is slow: it says which) and start a backend serving one ivshmem region per
VM; the backend also hot-plugs each MPI job's btl vmshm segment into the
job's VMs through their QEMU monitors.  Waits until every VM's launcher
agent answers.

options:
  --bridge NAME     private bridge of the VMs' MPI NICs (default $VM_DEF_BRIDGE)
  --subnet CIDR     its IPv4 /24 (or wider) network: host .1, vmK .(10+K)
                    (default $VM_DEF_SUBNET)
  --dir DIR         the backend's directory (default $VM_DEF_DIR)
  --region-mb MB    each VM's region (ivshmem BAR), a power of two (default 64)
  --mem MB          guest RAM (default 512)
  --cpus N          guest CPUs (default 1)
  --accel auto|kvm|tcg   (default auto)
  --kernel FILE --modules DIR
                    guest kernel and its /lib/modules/VERSION (default: the
                    host's /boot/vmlinuz-\$(uname -r) if usable, else
                    Debian's linux-image-amd64 fetched with apt-get download
                    and cached in \$OMPI_VIRT_VM_CACHE, default
                    /var/cache/ompi-virt-vm)
  --kernel-args ARGS
                    more guest kernel command line (e.g. 'loglevel=7' to see
                    the boot on the console log)
  --boot-timeout S  give up when the agents do not answer in S seconds
                    (default 300)
  --share DIR       also show the host's DIR (read-only, at the same path) in
                    the VMs; repeatable.  The VMs see the host's root file
                    system, but not /tmp, /run or other mounts: share a
                    build tree or programs that live there
  -- BACKEND-ARGS   more arguments for ompi-virt-backend
EOF
}

usage_vm_down() {
    cat <<EOF
usage: $PROG vm down

Stop the VMs of the state directory (\$OMPI_VIRT_VM_STATE), the backend
'vm up' started, the taps and the bridge (if 'vm up' created it), and remove
the state directory.
EOF
}

# vm_stop_pid PID START: TERM, then KILL after 5 s
vm_stop_pid() {
    proc_alive "$1" "$2" || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait_exit "$1" "$2" 5000000 && return 0
    kill -KILL "$1" 2>/dev/null || true
    wait_exit "$1" "$2" 2000000 || true
}

# vm_br_mac K: the MAC of VM K's MPI NIC (on the private bridge)
vm_br_mac() { printf '52:54:00:ab:%02x:%02x\n' $(($1 / 256)) $(($1 % 256)); }

# vm_teardown: stop whatever the state records, remove the state
vm_teardown() {
    local v kv_QEMU_PID kv_QEMU_START kv_TAP kv_PID kv_START kv_BRIDGE="" kv_BRIDGE_CREATED="" kv_DIR=""
    [ -d "$VM_STATE" ] || return 0
    [ -f "$VM_STATE/config" ] && read_kv "$VM_STATE/config"
    for v in $(vm_names); do
        kv_QEMU_PID="" kv_QEMU_START="" kv_TAP=""
        [ -f "$VM_STATE/vms/$v/host" ] && read_kv "$VM_STATE/vms/$v/host"
        [ -z "$kv_QEMU_PID" ] || vm_stop_pid "$kv_QEMU_PID" "$kv_QEMU_START"
        [ -z "$kv_TAP" ] || ip link del "$kv_TAP" 2>/dev/null || true
    done
    kv_PID="" kv_START=""
    [ -f "$VM_STATE/backend" ] && read_kv "$VM_STATE/backend"
    [ -z "$kv_PID" ] || vm_stop_pid "$kv_PID" "$kv_START"
    # the backend's directory and its vm-segments/ (btl vmshm's segment files,
    # each removed by the backend with the job's last holder), if it left
    # them empty (never anything in them)
    [ -z "$kv_DIR" ] || rmdir -- "$kv_DIR/vm-segments" "$kv_DIR" 2>/dev/null || true
    if [ "$kv_BRIDGE_CREATED" = 1 ] && [ -n "$kv_BRIDGE" ]; then
        ip link del "$kv_BRIDGE" 2>/dev/null || true
    fi
    # the bridge's guard goes with it
    [ -z "$kv_BRIDGE" ] || ip link show "$kv_BRIDGE" >/dev/null 2>&1 || netguard_unload "$kv_BRIDGE"
    rm -rf -- "$VM_STATE"
}

# vm_free_port: a TCP port nobody listens on at 127.0.0.1 (QEMU fails if
# one is taken meanwhile; 'vm up' then says so)
vm_free_port() {
    local p
    for _ in $(seq 50); do
        p=$(( 20000 + RANDOM % 20000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

# vm_qmp_socket K: vmK's QEMU monitor (QMP), a unix socket in the root-only
# state directory that only the backend uses (to hot-plug btl segments)
vm_qmp_socket() { echo "$VM_STATE/vms/vm$1/qmp.sock"; }

# vm_start_backend N DIR REGION_MB ARGS...: the backend with one --vm per VM
vm_start_backend() {
    local n=$1 dir=$2 mb=$3 bin k log=$VM_STATE/backend.log port pid ps_state ps_start
    shift 3
    bin=$(find_backend_bin) || die "ompi-virt-backend not found (build it, or set OMPI_VIRT_BACKEND_BIN)"
    local args=(--dir "$dir" --tcp tcp:127.0.0.1:0 --region-mb "$mb")
    mkdir -p "$VM_STATE/regions"
    for ((k = 1; k <= n; k++)); do
        # qmp=: the monitor of vmK's QEMU (vm_start_qemu), through which the
        # backend hot-plugs a job's btl vmshm segment; the mapping name ->
        # source address -> monitor is this host's, never a guest's claim
        args+=(--vm "vm$k=$VM_STATE/regions/vm$k.region,peer=127.0.1.$k,qmp=$(vm_qmp_socket "$k")")
    done
    ( close_fds; exec setsid "$bin" "${args[@]}" "$@" </dev/null >"$log" 2>&1 ) &
    pid=$!
    proc_stat "$pid" || die "the backend did not start (log $log)"
    printf 'PID=%s\nSTART=%s\nLOG=%s\n' "$pid" "$ps_start" "$log" >"$VM_STATE/backend"
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
        [ -n "$port" ] && break
        proc_alive "$pid" "$ps_start" || break
        sleep 0.05
    done
    [ -n "$port" ] || { cat "$log" >&2; die "the backend did not listen (log $log)"; }
    for ((k = 1; k <= n; k++)); do
        [ -f "$VM_STATE/regions/vm$k.region" ] || die "the backend made no region file for vm$k"
    done
    echo "$port"
}

# vm_start_qemu K: boot vmK (settings in $VM_STATE/vms/vmK), record its pid
vm_start_qemu() {
    local k=$1 v=vm$1 d=$VM_STATE/vms/vm$1 hport pid ps_state ps_start
    local kv_ACCEL kv_KERNEL kv_MEM kv_CPUS kv_REGION_MB kv_BACKEND_PORT kv_DIR kv_KERNEL_ARGS="" kv_SHARES=""
    read_kv "$VM_STATE/config"
    local kv_BR_MAC kv_CTL_MAC kv_AGENT_PORT kv_TAP
    read_kv "$d/config"
    kv_TAP=$(sed -n 's/^TAP=//p' "$d/host")
    hport=$(vm_free_port) || die "no free TCP port on 127.0.0.1 for $v's agent"
    echo "HOST_AGENT_PORT=$hport" >>"$d/host"
    cat "$VM_STATE/image/initrd.gz" "$d/config.cpio.gz" >"$d/initrd.gz"
    local root=$VM_STATE/rootfs hide=/run:/tmp:$VM_STATE:$kv_DIR
    mkdir -p "$root"
    local cpu=max
    [ "$kv_ACCEL" = kvm ] && cpu=host
    local qemu=(qemu-system-x86_64 -name "$v" -machine pc -accel "$kv_ACCEL" -cpu "$cpu"
        -m "$kv_MEM" -smp "$kv_CPUS" -nodefaults -display none -no-reboot
        -serial "file:$d/console.log" -pidfile "$d/qemu.pid"
        -qmp "unix:$(vm_qmp_socket "$k"),server=on,wait=off"
        -kernel "$kv_KERNEL" -initrd "$d/initrd.gz"
        -append "console=ttyS0 quiet panic=-1 tsc=reliable $kv_KERNEL_ARGS"
        -object "memory-backend-file,id=ovregion,share=on,mem-path=$VM_STATE/regions/$v.region,size=${kv_REGION_MB}M"
        -device ivshmem-plain,memdev=ovregion
        -netdev "tap,id=br,ifname=$kv_TAP,script=no,downscript=no"
        -device "virtio-net-pci,netdev=br,mac=$kv_BR_MAC,romfile="
        -netdev "user,id=ctl,restrict=on,guestfwd=tcp:10.0.2.100:7000-cmd:socat STDIO TCP:127.0.0.1:$kv_BACKEND_PORT,,bind=127.0.1.$k,hostfwd=tcp:127.0.0.1:$hport-10.0.2.15:$kv_AGENT_PORT"
        -device "virtio-net-pci,netdev=ctl,mac=$kv_CTL_MAC,romfile="
        -fsdev "local,id=hostroot,path=$root,security_model=none,readonly=on,multidevs=remap"
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot)
    local i=0 share
    local IFS=:
    for share in $kv_SHARES; do
        qemu+=(-fsdev "local,id=share$i,path=$share,security_model=none,readonly=on,multidevs=remap"
            -device "virtio-9p-pci,fsdev=share$i,mount_tag=share$i")
        i=$((i + 1))
    done
    unset IFS
    # shellcheck disable=SC2016
    local wrap='set -e; r=$1; h=$2; shift 2
        mount --bind / "$r"
        IFS=:; for p in $h; do [ -d "$r$p" ] && mount -t tmpfs -o ro,size=4k,mode=0555 ov-hidden "$r$p"; done
        mount -o remount,bind,ro "$r"
        exec "$@"'
    ( close_fds; exec setsid unshare -m --propagation private bash -c "$wrap" ov-vm "$root" "$hide" "${qemu[@]}" \
        </dev/null >"$d/qemu.log" 2>&1 ) &
    pid=$!
    proc_stat "$pid" || die "QEMU for $v did not start ($d/qemu.log)"
    printf 'QEMU_PID=%s\nQEMU_START=%s\n' "$pid" "$ps_start" >>"$d/host"
}

# vm_wait_agents N DEADLINE_S: every VM says "agent ready" and answers
vm_wait_agents() {
    local n=$1 deadline=$(( $(date +%s) + $2 )) k d ready kv_QEMU_PID kv_QEMU_START out
    while :; do
        ready=0
        for ((k = 1; k <= n; k++)); do
            d=$VM_STATE/vms/vm$k
            read_kv "$d/host"
            if ! proc_alive "$kv_QEMU_PID" "$kv_QEMU_START"; then
                tail -n 20 "$d/qemu.log" "$d/console.log" >&2 2>/dev/null
                die "QEMU of vm$k exited while booting (logs $d)"
            fi
            if grep -aq 'ov-vm: FAILED' "$d/console.log" 2>/dev/null; then
                tail -n 20 "$d/console.log" >&2
                die "vm$k failed to start: $(grep -ao 'ov-vm: FAILED.*' "$d/console.log" | head -n1)"
            fi
            grep -aq 'ov-vm: agent ready' "$d/console.log" 2>/dev/null && ready=$((ready + 1))
        done
        [ "$ready" -lt "$n" ] || break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 20 "$VM_STATE"/vms/*/console.log >&2
            die "the VMs did not boot within $2 s (logs $VM_STATE/vms/*)"
        fi
        sleep 0.5
    done
    # "agent ready" is said just before socat listens: retry a refused connection
    local tries
    for ((k = 1; k <= n; k++)); do
        for ((tries = 1; ; tries++)); do
            out=$(timeout 60 env OMPI_VIRT_VM_STATE="$VM_STATE" "$VM_AGENT" "vm$k" hostname 2>&1) && break
            [ "$tries" -lt 30 ] || die "vm$k's agent does not answer: $out"
            sleep 1
        done
        [ "$out" = "vm$k" ] || die "vm$k's agent answered '$out' to hostname"
    done
}

cmd_vm_up() {
    local n="" bridge=$VM_DEF_BRIDGE subnet=$VM_DEF_SUBNET dir=$VM_DEF_DIR mb=64 mem=512 cpus=1
    local accel=auto kernel="" moddir="" kargs="" boot_timeout=300 beargs=() shares=
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) usage_vm_up; return 0 ;;
            --bridge) bridge=${2:?}; shift 2 ;;
            --subnet) subnet=${2:?}; shift 2 ;;
            --dir) dir=${2:?}; shift 2 ;;
            --region-mb) mb=${2:?}; shift 2 ;;
            --mem) mem=${2:?}; shift 2 ;;
            --cpus) cpus=${2:?}; shift 2 ;;
            --accel) accel=${2:?}; shift 2 ;;
            --kernel) kernel=${2:?}; shift 2 ;;
            --modules) moddir=${2:?}; shift 2 ;;
            --kernel-args) kargs=${2?}; shift 2 ;;
            --boot-timeout) boot_timeout=${2:?}; shift 2 ;;
            --share)
                [[ ${2:?} == /* && $2 != *:* && -d $2 ]] || die2 "--share: an existing directory, absolute path, no ':'"
                shares+=${shares:+:}$2; shift 2 ;;
            --) shift; beargs=("$@"); break ;;
            -*) die2 "vm up: unknown option $1 (see --help)" ;;
            *) [ -z "$n" ] || die2 "vm up: one N only"; n=$1; shift ;;
        esac
    done
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die2 "vm up: N must be 1..200"
    [[ $mb =~ ^[0-9]+$ ]] && [ $(( mb & (mb - 1) )) -eq 0 ] || die2 "--region-mb must be a power of two"
    [[ $mem =~ ^[0-9]+$ && $cpus =~ ^[0-9]+$ && $boot_timeout =~ ^[0-9]+$ ]] || die2 "--mem, --cpus, --boot-timeout take numbers"
    [[ $bridge =~ ^[A-Za-z0-9_.-]{1,11}$ ]] || die2 "--bridge: 1-11 characters [A-Za-z0-9_.-] (its taps add 't' and a number)"
    [[ $subnet =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)\.0/([0-9]+)$ ]] && [ "${BASH_REMATCH[4]}" -le 24 ] ||
        die2 "--subnet must be A.B.C.0/LEN with LEN <= 24"
    local net3="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}" plen=${BASH_REMATCH[4]}
    [[ $dir == /* ]] || die2 "--dir must be an absolute path"
    vm_need_root up
    need_tool qemu-system-x86_64 qemu-system-x86
    need_tool socat socat
    need_tool busybox busybox-static
    need_tool ip iproute2
    netguard_need
    need_tool unshare util-linux
    need_tool flock util-linux
    case $accel in
        auto) if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi ;;
        kvm|tcg) ;;
        *) die2 "--accel auto|kvm|tcg" ;;
    esac
    if [ "$accel" = kvm ]; then
        info "VMs run under KVM"
    else
        info "VMs run under TCG (software emulation$([ -e /dev/kvm ] || echo ': no /dev/kvm')): slow, minutes to boot and run; only ratios of figures mean anything"
    fi

    [ ! -e "$VM_STATE/config" ] || die "VMs are up already (state $VM_STATE); '$PROG vm down' first"
    (umask 077 && mkdir -p -- "$VM_STATE/image" "$VM_STATE/vms") || die "cannot create $VM_STATE"
    # from here on a failure undoes everything
    trap 'rc=$?; if [ ! -f "$VM_STATE/complete" ]; then info "vm up failed; undoing"; vm_teardown; fi; exit $rc' EXIT

    local t0 kpath
    t0=$(date +%s)
    kpath=$(vm_kernel "$kernel" "$moddir" "$VM_STATE/image") || exit 1
    vm_initramfs "$VM_STATE/image"
    info "guest kernel $kpath; initramfs $VM_STATE/image/initrd.gz"

    local created=0
    if ip link show "$bridge" >/dev/null 2>&1; then
        [ "$(cat "/sys/class/net/$bridge/ifalias" 2>/dev/null)" = "$VM_BRIDGE_ALIAS" ] ||
            die "bridge $bridge exists and is not one 'vm up' made; choose another --bridge"
    else
        ip link add "$bridge" type bridge && ip link set "$bridge" alias "$VM_BRIDGE_ALIAS" &&
            ip addr add "$net3.1/$plen" dev "$bridge" && ip link set "$bridge" up ||
            die "cannot create bridge $bridge"
        created=1
    fi
    printf '%s\n' "BRIDGE=$bridge" "SUBNET=$subnet" "DIR=$dir" "ACCEL=$accel" "N=$n" \
        "KERNEL=$kpath" "KERNEL_ARGS=$kargs" "MEM=$mem" "CPUS=$cpus" "REGION_MB=$mb" "BRIDGE_CREATED=$created" \
        "SHARES=$shares" \
        >"$VM_STATE/config"

    local bport
    bport=$(vm_start_backend "$n" "$dir" "$mb" "${beargs[@]}") || exit 1
    echo "BACKEND_PORT=$bport" >>"$VM_STATE/config"

    # guard the bridge (netguard.sh) before any tap is on it: a VM sends only
    # as its MPI NIC's MAC and address, and sees only frames for it
    local k d specs=() hosts="127.0.0.1 localhost"$'\n'"$net3.1 host"
    for ((k = 1; k <= n; k++)); do specs+=("${bridge}t$k $(vm_br_mac "$k") $net3.$((10 + k))"); done
    netguard_load "$bridge" "${specs[@]}"
    for ((k = 1; k <= n; k++)); do hosts+=$'\n'"$net3.$((10 + k)) vm$k"; done
    # the session script travels in the initramfs: the tool itself may live
    # where the VMs cannot see (/tmp, another mount)
    local session=/run/ompi-virt-vm/vm-session.sh
    for ((k = 1; k <= n; k++)); do
        d=$VM_STATE/vms/vm$k
        mkdir -p "$d"
        local tap=${bridge}t$k
        ip tuntap add dev "$tap" mode tap && ip link set "$tap" master "$bridge" || die "cannot create tap $tap"
        netguard_port "$bridge" "$tap" "$(vm_br_mac "$k")"
        netguard_no_ipv6 "$tap"
        ip link set "$tap" up || die "cannot bring up tap $tap"
        printf 'TAP=%s\nIP=%s\n' "$tap" "$net3.$((10 + k))" >"$d/host"
        printf '%s\n' "NAME=vm$k" "BR_MAC=$(vm_br_mac "$k")" \
            "BR_ADDR=$net3.$((10 + k))/$plen" \
            "CTL_MAC=52:54:00:ac:$(printf %02x $((k / 256))):$(printf %02x $((k % 256)))" \
            "AGENT_PORT=7001" "BACKEND_URI=tcp:10.0.2.100:7000" "SESSION=$session" "SHARES=$shares" >"$d/config"
        printf '%s\n' "$hosts" >"$d/hosts"
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$d/token"
        cp -- "$OV_CLI_LIB/vm-session.sh" "$d/vm-session.sh"
        vm_config_archive "$d" config hosts token vm-session.sh
        vm_start_qemu "$k"
    done
    info "booting $n VM(s) (consoles: $VM_STATE/vms/vmK/console.log)"
    vm_wait_agents "$n" "$boot_timeout"
    touch "$VM_STATE/complete"
    trap - EXIT
    info "$n VM(s) up in $(( $(date +%s) - t0 )) s under $accel: $(vm_names | tr '\n' ' ')(bridge $bridge, $subnet; backend tcp:127.0.0.1:$bport)"
}

cmd_vm_down() {
    case ${1:-} in -h|--help) usage_vm_down; return 0 ;; esac
    vm_need_root down
    [ -d "$VM_STATE" ] || { info "no VMs (state $VM_STATE)"; return 0; }
    vm_teardown
    info "VMs down"
}
