#!/bin/bash
# test/vm/bench-vms.sh — MPI across two QEMU VMs, same VMs, same programs,
# runs interleaved:
#   osc      one-sided: osc virt (through the host backend and the VMs'
#            ivshmem regions) against osc pt2pt over btl tcp (what users get
#            without ompi-virt): bench/osu_put_latency (-w allocate -s
#            flush, 8 B..64 KiB) and bench/osu_put_bw (64 KiB..1 MiB)
#   twosided two-sided: btl vmshm (the job's segment, hot-plugged into both
#            VMs by the backend; --mca btl vmshm,self, so nothing can fall
#            back to tcp, and each run must show both ranks received
#            through the segment: btl_vmshm_stats) against btl tcp
#            (virtio-net and the host bridge): bench/osu_latency
#            8 B..64 KiB and bench/osu_bw 4 KiB..1 MiB
#
#   test/vm/bench-vms.sh [ROUNDS] [osc|twosided|all]
#                            (default 3 all; root; VMs up: 'ompi-virt vm up 2')
#
# Each round runs every path of the chosen sets once, in turn (the order of
# the two paths alternates between rounds, so neither always runs first).
# Prints per size the median over the rounds of each path and their ratio;
# each run's own figures go to stderr as it ends ("bench-vms: raw PATH PROG
# SIZE VALUE"), so a run stopped early still leaves them.  Under TCG (no
# KVM) absolute figures mean nothing: only the ratio does, and even it is
# noisy on a loaded machine.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
rounds=${1:-3} sets=${2:-all}
[[ $rounds =~ ^[1-9][0-9]*$ && $sets =~ ^(osc|twosided|all)$ ]] ||
    { echo "usage: $0 [ROUNDS] [osc|twosided|all]" >&2; exit 2; }
export OMPI_VIRT_BUILDDIR=${OMPI_VIRT_BUILDDIR:-$src/build} OMPI_VIRT_PRIVATE_BACKEND=0
# shellcheck source=/dev/null
. "$src/test/mpi/component-env.sh" || exit 1
tool=$src/tools/ompi-virt
bench=$OMPI_VIRT_BUILDDIR/bench
out=$(mktemp -d /tmp/ov-vm-bench-XXXXXX)
trap 'rm -rf "$out"' EXIT

"$tool" vm list | grep -q 'accelerator' || { echo "bench-vms: no VMs; run 'ompi-virt vm up 2'" >&2; exit 1; }
accel=$("$tool" vm list | sed -n 's/^accelerator \([a-z]*\);.*/\1/p')

# run PATH PROG ARGS...: append "PATH PROG SIZE VALUE" lines to $out/all
run() {
    local path=$1 prog=$2 mca
    shift 2
    case $path in
        virt) mca=(--mca osc virt --mca btl self,tcp) ;;
        pt2pt) mca=(--mca osc pt2pt --mca btl self,tcp) ;;
        vmshm) mca=(--mca btl vmshm,self --mca btl_vmshm_stats 1) ;; # no tcp: nothing to fall back to
        tcp) mca=(--mca btl tcp,self) ;;
    esac
    if ! timeout 600 "$tool" vm mpirun -- -np 2 --host vm1,vm2 "${mca[@]}" \
            "$bench/$prog" "$@" >"$out/run.log" 2>&1; then
        tail -n 20 "$out/run.log" >&2
        echo "bench-vms: $prog over $path failed" >&2
        exit 1
    fi
    # both ranks received through the segment (a run that moved nothing
    # through vmshm would time something else)
    if [ "$path" = vmshm ] && [ "$(grep -cE 'btl vmshm: rank [01] stats: .*(fbox_recv|fifo_recv) [1-9]' "$out/run.log")" != 2 ]; then
        grep 'btl vmshm' "$out/run.log" >&2
        echo "bench-vms: $prog over vmshm: a rank received nothing through the segment" >&2
        exit 1
    fi
    awk -v p="$path" -v g="$prog" '/^[0-9]+[ \t]/ {print p, g, $1, $2}' "$out/run.log" | tee -a "$out/all" |
        sed 's/^/bench-vms: raw /' >&2
}

for ((r = 1; r <= rounds; r++)); do
    echo "bench-vms: round $r of $rounds" >&2
    # odd rounds: the ompi-virt path first; even rounds: the tcp path first
    if [ $((r % 2)) = 1 ]; then osc_paths=(virt pt2pt) two_paths=(vmshm tcp); else osc_paths=(pt2pt virt) two_paths=(tcp vmshm); fi
    if [ "$sets" != twosided ]; then
        for path in "${osc_paths[@]}"; do
            run "$path" osu_put_latency -w allocate -s flush -m 8:65536 -i 50 -x 5
            run "$path" osu_put_bw -w allocate -s flush -m 65536:1048576 -i 5 -x 1 -W 16
        done
    fi
    if [ "$sets" != osc ]; then
        for path in "${two_paths[@]}"; do
            run "$path" osu_latency -m 8:65536 -i 100 -x 10
            run "$path" osu_bw -m 4096:1048576 -i 10 -x 2 -W 16
        done
    fi
done

# median PATH PROG SIZE: the median over the rounds
median() {
    awk -v p="$1" -v g="$2" -v s="$3" '$1 == p && $2 == g && $3 == s {print $4}' "$out/all" | sort -g |
        awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# table PROG FAST SLOW LATENCY?: per size, medians of paths FAST and SLOW and
# the ratio (slow/fast for a latency, fast/slow for a bandwidth: > 1 = FAST wins)
table() {
    local prog=$1 a=$2 b=$3 size va vb
    if [ "$4" = latency ]; then
        echo "# $prog (us, lower is better): size  $a  $b  $b/$a"
    else
        echo "# $prog (MB/s, higher is better): size  $a  $b  $a/$b"
    fi
    for size in $(awk -v g="$prog" '$2 == g {print $3}' "$out/all" | sort -un); do
        va=$(median "$a" "$prog" "$size")
        vb=$(median "$b" "$prog" "$size")
        if [ "$4" = latency ]; then
            awk -v s="$size" -v a="$va" -v b="$vb" 'BEGIN {printf "%8d %10.1f %10.1f %7.1fx\n", s, a, b, b / a}'
        else
            awk -v s="$size" -v a="$va" -v b="$vb" 'BEGIN {printf "%8d %10.2f %10.2f %7.1fx\n", s, a, b, a / b}'
        fi
    done
}

echo "# one rank in each of 2 QEMU VMs ($accel); median of $rounds interleaved rounds; $(date -u +%Y-%m-%d)"
if [ "$sets" != twosided ]; then
    echo "# one-sided: osc virt vs osc pt2pt over btl tcp"
    table osu_put_latency virt pt2pt latency
    table osu_put_bw virt pt2pt bw
fi
if [ "$sets" != osc ]; then
    echo "# two-sided: btl vmshm vs btl tcp"
    table osu_latency vmshm tcp latency
    table osu_bw vmshm tcp bw
fi
