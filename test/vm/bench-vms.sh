#!/bin/bash
# test/vm/bench-vms.sh — one-sided MPI across two QEMU VMs: osc virt (through
# the host backend and the VMs' ivshmem regions) against osc pt2pt over btl
# tcp (what users get today), same VMs, same programs, runs interleaved.
#
#   test/vm/bench-vms.sh [ROUNDS]        (default 3; root; VMs up:
#                                         'ompi-virt vm up 2' first)
#
# Each round runs, for each of the two paths, bench/osu_put_latency
# (-w allocate -s flush, 8 B..64 KiB) and bench/osu_put_bw (-w allocate
# -s flush, 64 KiB..1 MiB).  Prints per size the median over the rounds of
# each path and their ratio.  Under TCG (no KVM) absolute figures mean
# nothing: only the ratio does, and even it is noisy on a loaded machine.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]" >&2; exit 2; }
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
        virt) mca=(--mca osc virt) ;;
        pt2pt) mca=(--mca osc pt2pt) ;;
    esac
    if ! timeout 600 "$tool" vm mpirun -- -np 2 --host vm1,vm2 "${mca[@]}" --mca btl self,tcp \
            "$bench/$prog" -w allocate -s flush "$@" >"$out/run.log" 2>&1; then
        tail -n 20 "$out/run.log" >&2
        echo "bench-vms: $prog over $path failed" >&2
        exit 1
    fi
    awk -v p="$path" -v g="$prog" '/^[0-9]+[ \t]/ {print p, g, $1, $2}' "$out/run.log" >>"$out/all"
}

for ((r = 1; r <= rounds; r++)); do
    echo "bench-vms: round $r of $rounds" >&2
    for path in virt pt2pt; do
        run "$path" osu_put_latency -m 8:65536 -i 50 -x 5
        run "$path" osu_put_bw -m 65536:1048576 -i 5 -x 1 -W 16
    done
done

# median PATH PROG SIZE: the median over the rounds
median() {
    awk -v p="$1" -v g="$2" -v s="$3" '$1 == p && $2 == g && $3 == s {print $4}' "$out/all" | sort -g |
        awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

echo "# one rank in each of 2 QEMU VMs ($accel), osc virt vs osc pt2pt over btl tcp;"
echo "# median of $rounds interleaved rounds; $(date -u +%Y-%m-%d)"
for prog in osu_put_latency osu_put_bw; do
    if [ $prog = osu_put_latency ]; then
        echo "# $prog (us, lower is better): size  virt  pt2pt  pt2pt/virt"
    else
        echo "# $prog (MB/s, higher is better): size  virt  pt2pt  virt/pt2pt"
    fi
    for size in $(awk -v g=$prog '$2 == g {print $3}' "$out/all" | sort -un); do
        v=$(median virt $prog "$size")
        p=$(median pt2pt $prog "$size")
        if [ $prog = osu_put_latency ]; then
            awk -v s="$size" -v v="$v" -v p="$p" 'BEGIN {printf "%8d %10.1f %10.1f %7.1fx\n", s, v, p, p / v}'
        else
            awk -v s="$size" -v v="$v" -v p="$p" 'BEGIN {printf "%8d %10.2f %10.2f %7.1fx\n", s, v, p, v / p}'
        fi
    done
done
