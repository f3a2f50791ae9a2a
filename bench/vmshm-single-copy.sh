#!/bin/bash
# vmshm-single-copy.sh — btl vmshm across two namespace guests, single copy
# off against on, 64 KiB .. 4 MiB, osu_bw and osu_latency, interleaved: each
# repetition runs every configuration of every benchmark once, in turn;
# per-size medians at the end.  Decides btl_vmshm_single_copy's default
# (docs/btl-vmshm.md, "Single copy on or off").
#   usage: bench/vmshm-single-copy.sh [REPS]          (default 3)
#   configurations: off (btl_vmshm_single_copy 0), on (1, btl_vmshm_rdma_min
#   at its default: get from 4 MiB), on-64k (1, rdma_min 65536: get for every
#   size measured)
#   VMSHM_SC_ARGS: osu arguments (default "-i 10 -x 2 -W 16" for osu_bw,
#   latency uses its -i/-x only)
# Guests: those up in $OMPI_VIRT_GUESTS_STATE (tools/ompi-virt guests up 2).
# Output: "RUN rep bench config: size value ..." per run, then one line per
# (bench, size): the medians of each configuration and on/off ratios.
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
: "${OMPI_VIRT_BUILDDIR:=$TOP/build}"
: "${OMPI_VIRT_GUESTS_STATE:=/run/ompi-virt-guests}"
export OMPI_VIRT_BUILDDIR OMPI_VIRT_GUESTS_STATE
REPS=${1:-3}
ARGS=${VMSHM_SC_ARGS:--i 10 -x 2 -W 16}
OMPI_VIRT_PRIVATE_BACKEND=0 . "$TOP/test/mpi/component-env.sh" || exit 1
TOOL=$TOP/tools/ompi-virt
configs=(off on on-64k)
declare -A cfg_args=([off]="--mca btl_vmshm_single_copy 0" [on]="--mca btl_vmshm_single_copy 1"
                     [on-64k]="--mca btl_vmshm_single_copy 1 --mca btl_vmshm_rdma_min 65536")
sizes=(65536 131072 262144 524288 1048576 2097152 4194304)
declare -A vals # [bench,config,size] = "v v v"

one() { # BENCH CONFIG: prints "size value" lines
    local a=$ARGS
    [ "$1" = osu_latency ] && a=$(sed 's/-W [0-9]*//' <<<"$ARGS")
    # shellcheck disable=SC2086
    timeout 300 "$TOOL" guests mpirun -- -np 2 --host vg1,vg2 --mca pml ob1 --mca btl vmshm,self \
        ${cfg_args[$2]} "$OMPI_VIRT_BUILDDIR/bench/$1" -m 65536:4194304 $a 2>&1 |
        awk '$1 ~ /^[0-9]+$/ && NF >= 2 {print $1, $2}'
}

for r in $(seq "$REPS"); do
    for b in osu_bw osu_latency; do
        for c in "${configs[@]}"; do
            out=$(one "$b" "$c")
            echo "RUN $r $b $c: $(tr '\n' ' ' <<<"$out")"
            while read -r s v; do
                [ -n "$s" ] && vals[$b,$c,$s]+="$v "
            done <<<"$out"
        done
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "nan"}'; }
echo "bench size | median off | on | on-64k | on/off | on-64k/off  (MB/s for osu_bw, us for osu_latency)"
for b in osu_bw osu_latency; do
    for s in "${sizes[@]}"; do
        off=$(median <<<"${vals[$b,off,$s]:-}")
        on=$(median <<<"${vals[$b,on,$s]:-}")
        o64=$(median <<<"${vals[$b,on-64k,$s]:-}")
        awk -v b="$b" -v s="$s" -v f="$off" -v n="$on" -v k="$o64" \
            'BEGIN {printf "%s %s | %s | %s | %s | %.2f | %.2f\n", b, s, f, n, k, (f > 0 ? n / f : 0), (f > 0 ? k / f : 0)}'
    done
done
