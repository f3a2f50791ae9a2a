#!/bin/bash
# msgrate-matrix.sh — the small-operation message rate matrix of
# docs/osc-virt.md ("Message rate"): 8-byte put and get, OSU's window of 64
# (osu_put_bw / osu_get_bw -m 8:8, MB/s) and 1000 per flush (ov_msgrate,
# µs per operation) on MPI_Win_allocate and MPI_Win_create windows, for
# osc virt across two guests (batched, unbatched, vm mode), pt2pt over tcp
# across two guests and osc sm in one guest.  Repetitions are outermost, then
# benchmarks, then configurations (interleaved); it prints every sample, the
# median per (benchmark, configuration), and each configuration's rate against
# osc sm's in the same repetition.
#
# Needs namespace guests vg1 and vg2 up (tools/ompi-virt guests up 2, with
# OMPI_VIRT_GUESTS_STATE/OMPI_VIRT_DIR exported for a private set) and this
# tree built in BUILD.
#
# usage: bench/msgrate-matrix.sh [-r REPS] [-b BUILD] [-B BASE] [-c CONFIGS] [-t BENCHES]
#   REPS     repetitions (default 3)
#   BUILD    build directory (default: ./build next to bench/)
#   BASE     another build directory (e.g. of main) whose osc virt component
#            runs as configuration virt-base, on the same backend and guests
#   CONFIGS  comma list of: virt, virt-nobatch, virt-vm, virt-base, pt2pt-tcp,
#            sm (default all but virt-base)
#   BENCHES  comma list of: put_bw, get_bw, put_alloc, get_alloc, put_create,
#            get_create (default all)
set -u
here=$(cd "$(dirname "$0")" && pwd)
reps=3 build=$here/../build base= configs=virt,virt-nobatch,virt-vm,pt2pt-tcp,sm
benches=put_bw,get_bw,put_alloc,get_alloc,put_create,get_create
while getopts r:b:B:c:t: o; do
    case $o in
        r) reps=$OPTARG ;; b) build=$OPTARG ;; B) base=$OPTARG ;; c) configs=$OPTARG ;;
        t) benches=$OPTARG ;;
        *) sed -n 2,27p "$0" >&2; exit 2 ;;
    esac
done
build=$(cd "$build" && pwd) || exit 2
case ",$configs," in
    *,virt-base,*) base=$(cd "${base:?virt-base needs -B BASE}" && pwd) || exit 2 ;;
esac
export OMPI_VIRT_BUILDDIR=$build
pkglib=$(ompi_info --parsable --path pkglibdir | sed -e 's/^path:pkglibdir://')
export OMPI_MCA_mca_base_component_path="$build/components:$pkglib"
tool=$here/../tools/ompi-virt

bench_args() { # name -> program and its arguments
    case $1 in
        put_bw) echo "osu_put_bw -m 8:8" ;;
        get_bw) echo "osu_get_bw -m 8:8" ;;
        put_alloc) echo "ov_msgrate -o put -m 8 -i 20 -r 3 -P 4" ;;
        get_alloc) echo "ov_msgrate -o get -m 8 -i 20 -r 3 -P 4" ;;
        put_create) echo "ov_msgrate -o put -m 8 -i 20 -r 3 -P 4 -w create" ;;
        get_create) echo "ov_msgrate -o get -m 8 -i 20 -r 3 -P 4 -w create" ;;
    esac
}
config_args() { # name -> mpirun arguments (hosts and MCA)
    case $1 in
        virt) echo "--host vg1,vg2 --mca osc virt" ;;
        virt-nobatch) echo "--host vg1,vg2 --mca osc virt --mca osc_virt_batch 0" ;;
        virt-vm) echo "--host vg1,vg2 --mca osc virt --mca osc_virt_guest_mode vm" ;;
        virt-base) echo "--host vg1,vg2 --mca osc virt --mca mca_base_component_path $base/components:$pkglib" ;;
        pt2pt-tcp) echo "--host vg1,vg2 --mca osc pt2pt --mca btl self,tcp" ;;
        sm) echo "--host vg1:2 --mca osc sm --mca btl self,vader" ;;
    esac
}

samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
for ((r = 1; r <= reps; r++)); do
    for b in ${benches//,/ }; do
        for c in ${configs//,/ }; do
            # osc sm has no MPI_Win_create windows
            case $c:$b in sm:*_create) continue ;; esac
            read -r prog args <<<"$(bench_args "$b")"
            out=$(timeout 300 "$tool" guests mpirun -- -np 2 $(config_args "$c") \
                "$build/bench/$prog" $args 2>&1)
            v=$(awk '/^[0-9]/ {v = $2} END {print v}' <<<"$out")
            [ -n "$v" ] || { v=failed; echo "$out" | tail -n 5 >&2; }
            echo "rep $r $b $c $v (load $(cut -d' ' -f1 /proc/loadavg))"
            echo "$b $c $v $r" >>"$samples"
        done
    done
done
echo "medians ($reps repetitions; put_bw/get_bw MB/s, the others µs per operation):"
python3 - "$samples" <<'EOF'
import collections, statistics, sys
s = collections.defaultdict(list)
by_rep = {}
for line in open(sys.argv[1]):
    b, c, v, r = line.split()
    if v != "failed":
        s[(b, c)].append(float(v))
        by_rep[(b, c, r)] = float(v)
for (b, c), vs in sorted(s.items()):
    print(f"{b:12s} {c:14s} {statistics.median(vs):10.4f}  ({len(vs)} samples)")
# Rate of each configuration against osc sm's in the same repetition (the
# machine's state drifts between repetitions; a ratio within one is steadier
# than a ratio of medians).  put_bw/get_bw are MB/s, the others us per op.
ratios = collections.defaultdict(list)
for (b, c, r), v in by_rep.items():
    ref = by_rep.get((b, "sm", r))
    if c != "sm" and ref and v > 0:
        ratios[(b, c)].append(v / ref if b.endswith("_bw") else ref / v)
if ratios:
    print("rate against osc sm in the same repetition (median, min-max):")
    for (b, c), rs in sorted(ratios.items()):
        print(f"{b:12s} {c:14s} {statistics.median(rs):6.2f}x  ({min(rs):.2f}-{max(rs):.2f}, {len(rs)} repetitions)")
EOF
