#!/bin/bash
# ompi-virt bench self-test: runs every benchmark program once on 2 ranks on this
# host with tiny sizes and -c validation, and every mini-app with verification.
# Prints "PASS name" / "FAIL name" per run and, last, exactly "N passed, N failed".
# Exit status 0 only if nothing failed.  This checks correctness, not timing.
#
# Environment:
#   BENCH_DIR     directory with the built programs (default: this script's dir)
#   MPIRUN        mpirun to use (default: mpirun)
#   SELFTEST_MCA  extra mpirun arguments (default "--mca osc pt2pt": Debian disables
#                 pt2pt; rdma+vader crashes in MPI_Compare_and_swap, open-mpi/ompi#11349)
#   SELFTEST_TIMEOUT  seconds per run (default 60)
set -u
here=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-$here}
MPIRUN=${MPIRUN:-mpirun}
TMO=${SELFTEST_TIMEOUT:-60}
read -r -a MCA <<< "${SELFTEST_MCA---mca osc pt2pt}"
launcher=("$MPIRUN" --bind-to none --oversubscribe)
[ "$(id -u)" = 0 ] && launcher+=(--allow-run-as-root)
log=$(mktemp -d "${TMPDIR:-/tmp}/ov-selftest.XXXXXX")
trap 'rm -rf "$log"' EXIT
pass=0 fail=0 n=0

verdict() {  # verdict NAME OK(0/1): counts it; a failure shows the tail of $log/$n.out
    if [ "$2" = 0 ]; then
        echo "PASS $1"
        pass=$((pass + 1))
    else
        echo "FAIL $1"
        sed 's/^/    | /' "$log/$n.out" | tail -n 15
        fail=$((fail + 1))
    fi
}

run() {  # run NAME NP PROGRAM ARGS...
    local name=$1 np=$2 prog=$3
    shift 3
    n=$((n + 1))
    if [ ! -x "$BENCH_DIR/$prog" ]; then
        echo "FAIL $name (missing $BENCH_DIR/$prog)"
        fail=$((fail + 1))
        return
    fi
    timeout "$TMO" "${launcher[@]}" "${MCA[@]}" -np "$np" "$BENCH_DIR/$prog" "$@" > "$log/$n.out" 2>&1 &&
        ! grep -q -E '(^| )Fail$|FAILED' "$log/$n.out" &&
        grep -q -E '^[0-9]+ +[0-9.]+|VERIFIED' "$log/$n.out"
    verdict "$name" $?
}

tiny=(-m 1:64 -i 10 -x 2 -c)
all_sync="lock flush flush_local lock_all pscw fence"
for b in osu_put_latency osu_get_latency osu_put_bw osu_get_bw osu_acc_latency osu_get_acc_latency \
         osu_fop_latency osu_cas_latency; do
    for s in $all_sync; do run "$b -s $s" 2 "$b" "${tiny[@]}" -s "$s"; done
    for w in create allocate dynamic; do run "$b -w $w" 2 "$b" "${tiny[@]}" -w "$w"; done
done
for s in pscw fence; do run "osu_put_bibw -s $s" 2 osu_put_bibw "${tiny[@]}" -s "$s"; done
for w in create dynamic; do run "osu_put_bibw -w $w" 2 osu_put_bibw "${tiny[@]}" -w "$w"; done
for b in osu_latency osu_bw osu_bibw; do run "$b" 2 "$b" "${tiny[@]}"; done
for b in osu_allreduce osu_alltoall; do
    for np in 2 3 4; do run "$b np$np" "$np" "$b" -m 4:64 -i 10 -x 2 -c; done
done
# Large-message path (iteration reduction above 8 KiB) once per kind.
run "osu_put_bw large" 2 osu_put_bw -m 16384:65536 -i 4 -x 1 -W 4 -c
run "osu_latency large" 2 osu_latency -m 16384:65536 -i 4 -x 1 -c

for m in put-fence put-pscw sendrecv; do run "ov_halo2d $m np2" 2 ov_halo2d -n 64 -i 20 -m "$m"; done
run "ov_halo2d all np4" 4 ov_halo2d -n 67 -i 10
run "ov_transpose np2" 2 ov_transpose -n 128 -i 5
run "ov_transpose np3" 3 ov_transpose -n 100 -i 4
run "ov_histogram fence np2" 2 ov_histogram -k 20000 -b 1024 -i 3
run "ov_histogram lock_all np3" 3 ov_histogram -k 20000 -b 1000 -i 3 -s lock_all
run "ov_cg np2" 2 ov_cg -n 64 -i 30
run "ov_cg np3" 3 ov_cg -n 50 -i 30

# The host diagnostic (no MPI): it must time real copies and print medians.
n=$((n + 1))
timeout "$TMO" "$BENCH_DIR/ov_copy_pair" --seconds 0.5 --mib-dst 16 > "$log/$n.out" 2>&1 &&
    grep -q -E '^median: single [0-9]+\.[0-9] GB/s, dual [0-9]+\.[0-9] \+ [0-9]+\.[0-9] GB/s' "$log/$n.out" &&
    ! grep -q -E 'single 0\.0 GB/s' "$log/$n.out"
verdict ov_copy_pair $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
