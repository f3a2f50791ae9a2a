#!/bin/bash
# test/vm/mpi-vms.sh — MPI across two real QEMU VMs ('ompi-virt vm up 2'),
# the CI smoke test of the VM path (TCG is enough; about 3-5 minutes on 2
# cores).  Root.
#
#   test/vm/mpi-vms.sh [--bridge NAME] [--subnet CIDR] [--dir DIR] [--state DIR]
#
# Uses the build tree $OMPI_VIRT_BUILDDIR (default: ../../build).  Checks,
# each counted:
#   boot          'vm up 2' boots both VMs, their agents answer, and vm1
#                 has its own tmpfs on /tmp and /run
#   agent-token   vm1's launcher agent refuses a connection without its token
#   own-region    a frontend in vm2 attaches as vm2 and puts/gets through
#                 the backend via its ivshmem BAR (ov_vm_probe)
#   impersonate   the same in vm2 claiming to be vm1 is refused by the
#                 backend (identity is the QEMU instance, not the claim),
#                 so is a connection to the backend over the bridge, and
#                 vm2 cannot read vm1's region file on the 9p root
#   osc-virt      rma_test --flavor allocate, one rank per VM, --mca osc
#                 virt: put/get/accumulate/lock/... cases PASS and the
#                 windows' targets went through the backend (verbose log)
#   tcp           pt2pt_test between the VMs over btl tcp
#   vmshm         all of pt2pt_test (ping-pong 0 B .. 16 MiB with every
#                 byte checked, anysource, tags, probe, non-blocking,
#                 persistent, collectives, threads), one rank per VM over
#                 --mca btl vmshm,self (tcp not loaded: no fallback):
#                 passes, both ranks received through the segment and
#                 rejected nothing (btl_vmshm_stats), and the backend
#                 hot-plugged the job's one segment into vm1 and vm2 (QMP)
#   vmshm-own-vms a job with both ranks in vm1: the same checks, and its
#                 segment is plugged into vm1 only, never into vm2
#   vmshm-unplug  afterwards QEMU lists no segment device in either VM
#                 (QMP query-pci): the backend unplugged every one; and no
#                 memory backend of an earlier job (qom-list /objects)
# Skips everything (exit 0, counted as skipped) only when QEMU cannot run
# at all.  Whatever it starts ('vm up': QEMU, backend, bridge, taps) is
# stopped on any exit.  Last line: "N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${OMPI_VIRT_BUILDDIR:-$src/build}
bridge=ovvmt0 subnet=10.213.29.0/24 dir=/run/ompi-virt-vmtest state=/run/ompi-virt-vmtest-state
while [ $# -gt 0 ]; do
    case $1 in
        --bridge) bridge=$2; shift 2 ;;
        --subnet) subnet=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --state) state=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "mpi-vms: unknown option $1" >&2; exit 2 ;;
    esac
done
pass=0 fail=0 skip=0
ok()   { echo "PASS $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1: $2"; fail=$((fail + 1)); }
skp()  { echo "SKIP $1: $2"; echo "mpi-vms: *** $1 SKIPPED: $2 ***" >&2; skip=$((skip + 1)); }
totals() { echo "$pass passed, $fail failed, $skip skipped"; }

if ! command -v qemu-system-x86_64 >/dev/null || ! qemu-system-x86_64 --version >/dev/null 2>&1; then
    skp vm-suite "QEMU cannot run here (apt-get install qemu-system-x86)"; totals; exit 0
fi
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
    skp vm-suite "needs root and /dev/net/tun for the VMs' taps"; totals; exit 0
fi

export OMPI_VIRT_BUILDDIR=$build OMPI_VIRT_PRIVATE_BACKEND=0
# shellcheck source=/dev/null
. "$src/test/mpi/component-env.sh" || { bad setup "component-env.sh"; totals; exit 1; }
export OMPI_VIRT_VM_STATE=$state
tool=$src/tools/ompi-virt
work=$build/test/vm        # visible inside the VMs (the host's root file system)
mkdir -p "$work"
logs=$work/logs
rm -rf "$logs"; mkdir -p "$logs"
cleanup() {
    "$tool" vm down >/dev/null 2>&1 || "$tool" vm down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the MPI programs (check_PROGRAMS: 'make check' builds them too) and
# the probe (a frontend alone, no MPI), built like smoke.sh's
make -C "$build/test/mpi" rma_test pt2pt_test >"$logs/make.log" 2>&1 ||
    { tail -n 20 "$logs/make.log"; bad setup "cannot build rma_test and pt2pt_test"; totals; exit 1; }
felib="$build/common/.libs/libompi_virt_frontend.a"
g++ -std=c++17 -O2 -I"$src/common" "$here/ov_vm_probe.cc" "$felib" -o "$work/ov_vm_probe" -lpthread ||
    { bad setup "cannot build ov_vm_probe"; totals; exit 1; }

t0=$(date +%s)
# the VMs see the host's root, not /tmp or other mounts: share the trees
shares=(--share "$src")
case $build/ in "$src"/*) ;; *) shares+=(--share "$build") ;; esac
if ! "$tool" vm up 2 --bridge "$bridge" --subnet "$subnet" --dir "$dir" --boot-timeout 240 "${shares[@]}" \
        >"$logs/vm-up.log" 2>&1; then
    cat "$logs/vm-up.log"
    bad boot "vm up 2 failed"; totals; exit 1
fi
cat "$logs/vm-up.log"
"$tool" vm list
vmexec() { timeout "$1" "$tool" vm exec "$2" -- "${@:3}"; }
# the VM's own tmpfs on /tmp and /run (the 9p export once gave both one inode,
# so the guest saw a single mount on /run and none on /tmp)
mounts=$(vmexec 60 vm1 "cat /proc/mounts")
if grep -q '^tmp /tmp tmpfs' <<<"$mounts" && grep -q '^run /run tmpfs' <<<"$mounts"; then
    ok "boot ($(( $(date +%s) - t0 )) s)"
else
    bad boot "vm1 lacks its own /tmp and /run: $mounts"
fi
# the launcher agent obeys only the VM's token
port=$(sed -n 's/^HOST_AGENT_PORT=//p' "$state/vms/vm1/host")
reply=$(timeout 30 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "not-the-token\n0\nhostname\n" >&3 && cat <&3' _ "$port" 2>&1)
if grep -q 'wrong token' <<<"$reply" && ! grep -qx vm1 <<<"$reply"; then
    ok agent-token
else
    bad agent-token "the agent answered a wrong token with: $reply"
fi
# ---- identity
out=$(vmexec 120 vm2 "$work/ov_vm_probe" 2>&1)
if grep -q 'OVVM probe OK' <<<"$out"; then ok own-region; else bad own-region "$out"; fi
out=$(vmexec 120 vm2 "OMPI_VIRT_GUEST=vm1 $work/ov_vm_probe" 2>&1)
if grep -q 'OVVM probe OK' <<<"$out"; then
    bad impersonate "vm2 attached as vm1: $out"
elif grep -q 'OVVM probe FAILED: connect' <<<"$out"; then
    port=$(sed -n 's/^BACKEND_PORT=//p' "$state/config")
    net3=${subnet%.*}
    out2=$(vmexec 120 vm2 "OMPI_VIRT_URI=tcp:$net3.1:$port OMPI_VIRT_GUEST=vm2 $work/ov_vm_probe" 2>&1)
    if ! grep -q 'OVVM probe FAILED: connect' <<<"$out2"; then
        bad impersonate "the backend answered over the bridge: $out2"
    elif vmexec 60 vm2 "head -c 8 $state/regions/vm1.region" >/dev/null 2>&1; then
        bad impersonate "vm2 can read vm1's region file through the 9p root"
    else
        ok "impersonate (refused: $(grep -o 'FAILED.*' <<<"$out" | head -n1))"
    fi
else
    bad impersonate "unexpected: $out"
fi

# ---- MPI
mpirun_vms() {
    timeout "$1" "$tool" vm mpirun -- -np 2 --host vm1,vm2 "${@:2}"
}
mpirun_vms 240 --mca osc virt --mca osc_virt_verbose 10 --mca btl self,tcp \
    "$build/test/mpi/rma_test" --flavor allocate --large-mb 0 --no-shared --timeout 100 \
    >"$logs/osc-virt.log" 2>&1
rc=$?
tail -n 5 "$logs/osc-virt.log" | sed 's/^/  /'
if [ $rc = 0 ] && grep -qE '^[0-9]+ passed, 0 failed' "$logs/osc-virt.log" &&
   grep -q '2 of 2 targets via the backend' "$logs/osc-virt.log"; then
    ok "osc-virt ($(grep -E '^[0-9]+ passed' "$logs/osc-virt.log"))"
else
    grep -E '^FAIL|error|Error' "$logs/osc-virt.log" | head -n 20
    bad osc-virt "rma_test across the VMs (exit $rc; log $logs/osc-virt.log)"
fi

mpirun_vms 240 --mca btl self,tcp "$build/test/mpi/pt2pt_test" >"$logs/tcp.log" 2>&1
rc=$?
tail -n 2 "$logs/tcp.log" | sed 's/^/  /'
if [ $rc = 0 ]; then ok tcp; else bad tcp "pt2pt_test over tcp (exit $rc; log $logs/tcp.log)"; fi

# ---- btl vmshm: the job's segment, hot-plugged by the backend into each of
# the job's VMs through its QEMU monitor, carries every message; tcp is not
# even loaded (--mca btl vmshm,self), so nothing can fall back to it.
blog=$(sed -n 's/^LOG=//p' "$state/backend")
vmshm_mca=(--mca btl vmshm,self --mca btl_vmshm_verbose 1 --mca btl_vmshm_stats 1)
# vmshm_carried LOG: both ranks received through the segment, nothing rejected
vmshm_carried() {
    [ "$(grep -E 'btl vmshm: rank [01] stats:' "$1" |
         awk '{for (i = 1; i < NF; i++) {if ($i == "fbox_recv" || $i == "fifo_recv") n += $(i + 1);
                                          if ($i == "rejected") r = $(i + 1)}
               if (n > 0 && r == 0) ok++; n = 0} END {print ok + 0}')" = 2 ]
}
# plugs SINCE: the "btl segment ID plugged into VM vmK" lines the backend
# logged after line SINCE of its log, as "ID vmK" pairs
plugs() { tail -n +"$(( $1 + 1 ))" "$blog" | sed -n 's/.*btl segment \([0-9]*\) plugged into VM \(vm[0-9]*\) .*/\1 \2/p' | sort -u; }
# vmshm_case NAME PLUGGED-VMS HOSTS PT2PT-ARGS...: pt2pt_test over vmshm,self
# passes, both ranks received through the segment, and the backend plugged
# the job's one segment into exactly PLUGGED-VMS (e.g. "vm1 vm2")
vmshm_case() {
    local name=$1 want=$2 hosts=$3 since rc got ids
    shift 3
    since=$(wc -l <"$blog")
    timeout 240 "$tool" vm mpirun -- -np 2 --host "$hosts" "${vmshm_mca[@]}" "$build/test/mpi/pt2pt_test" "$@" \
        >"$logs/$name.log" 2>&1
    rc=$?
    tail -n 2 "$logs/$name.log" | sed 's/^/  /'
    got=$(plugs "$since" | awk '{print $2}' | sort | xargs)
    ids=$(plugs "$since" | awk '{print $1}' | sort -u | wc -l)
    if [ $rc != 0 ] || ! grep -qE '^pt2pt_test: [1-9][0-9]* passed, 0 failed' "$logs/$name.log"; then
        grep -E 'FAIL|btl vmshm|unreachable|error' "$logs/$name.log" | head -n 20
        tail -n 5 "$blog"
        bad "$name" "pt2pt_test over btl vmshm,self (exit $rc; log $logs/$name.log)"
    elif ! vmshm_carried "$logs/$name.log"; then
        grep 'btl vmshm: rank' "$logs/$name.log"
        bad "$name" "a rank received nothing through the segment (log $logs/$name.log)"
    elif [ "$got" != "$want" ] || [ "$ids" != 1 ]; then
        bad "$name" "the backend plugged segment(s) into '$got' ($ids segments), want one into '$want' (log $blog)"
    else
        ok "$name ($(grep -E '^pt2pt_test:' "$logs/$name.log"); segment plugged into $want)"
    fi
}
# all of the two-sided program (ping-pong 0 B .. 16 MiB, every byte checked,
# anysource, tags, probe, non-blocking, persistent, collectives, threads),
# one rank per VM
vmshm_case vmshm "vm1 vm2" vm1,vm2
# a job in vm1 alone: its segment reaches vm1 only, never vm2
vmshm_case vmshm-own-vms vm1 vm1,vm1 --cases pingpong,anysource --max-size 65536
# the jobs gone, no VM keeps a segment device: QEMU's own list of each VM's
# PCI devices (QMP query-pci) has no ovbtl-* left.  device_del is an ACPI
# eject the guest acknowledges, so give it a bounded while.  And QEMU
# deleted the segments' memory backends (qom-list /objects), all but at most
# the last one plugged into each VM: QEMU refuses that object-del until the
# guest has acknowledged, and the backend retries it at the VM's next plug
# or unplug (backend/vm_plug.h), which the VM's last job never gets.
qmp() {
    printf '{"execute":"qmp_capabilities"}\n%s\n' "$2" |
        timeout 10 socat -t 5 - "UNIX-CONNECT:$state/vms/$1/qmp.sock" | tail -n 1
}
left=unknown
for _ in $(seq 30); do
    left=$(for v in vm1 vm2; do qmp $v '{"execute":"query-pci"}' | grep -o '"qdev_id": "ovbtl-[^"]*"' | sed "s/^/$v /"; done)
    [ -z "$left" ] && break
    sleep 1
done
stale=$(for v in vm1 vm2; do
    last=$(plugs 0 | awk -v v=$v '$2 == v {print $1}' | sort -n | tail -n 1)
    qmp $v '{"execute":"qom-list","arguments":{"path":"/objects"}}' | grep -o '"name": "ovbtl-[0-9]*"' |
        grep -o '[0-9]*' | awk -v v=$v -v l="$last" '$1 != l {print v " ovbtl-" $1}'
done)
nplug=$(plugs 0 | wc -l)
if [ -z "$left" ] && [ -z "$stale" ] && [ "$nplug" -ge 3 ]; then
    ok "vmshm-unplug ($nplug plugs, $(grep -cE 'btl segment [0-9]+ unplugged from VM' "$blog") unplugs logged, no ovbtl device left in either VM, no earlier job's memory backend)"
else
    grep -E 'btl segment' "$blog" | tail -n 8
    bad vmshm-unplug "after the jobs: $nplug plugs (want >= 3), devices left: ${left:-none}, earlier jobs' memory backends left: ${stale:-none} (log $blog)"
fi

echo "mpi-vms: $(( $(date +%s) - t0 )) s"
totals
[ $fail = 0 ]
