#!/bin/bash
# region-limit.sh — `make check`: where a region's size is a real limit (a
# backend started with --region-mb, as for VM guests), a shared window that
# does not fit fails with MPI_ERR_NO_MEM and a help message naming
# --region-mb, and an MPI_Win_allocate window that does not fit is served
# from the process's own memory instead (so it passes).  2 ranks on the host,
# a private backend with 64 MiB regions, windows of 128 MiB per process;
# bounded in time.  Prints PASS/FAIL lines and "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
OMPI_VIRT_PRIVATE_BACKEND=0 . "$here/component-env.sh" || exit 1
prog=${RMA_TEST:-$PWD/rma_test}
dir=$(mktemp -d /tmp/ov-region-limit.XXXXXX)
stop() { "$OV_TOOL" backend stop --dir "$dir" >/dev/null 2>&1; rm -rf -- "$dir"; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if ! timeout 30 "$OV_TOOL" backend start --dir "$dir/be" --owner $$ --log "$dir/be.log" -- --region-mb 64 >"$dir/start.log" 2>&1; then
    echo "FAIL region limit: could not start a backend"; echo "0 passed, 1 failed"; exit 1
fi
run() {
    OMPI_VIRT_DIR=$dir/be timeout -k 10 120 mpirun -np 2 --oversubscribe --bind-to none --mca osc virt \
        --mca btl self,vader,tcp "$prog" --timeout 60 --large-mb 128 --only "$1" 2>&1
}
pass=0 fail=0
check() {  # NAME CONDITION-RESULT OUTPUT
    if [ "$2" = 0 ]; then echo "PASS $1"; pass=$((pass + 1)); else
        echo "FAIL $1"; sed 's/^/    | /' <<<"$3" | tail -n 15; fail=$((fail + 1)); fi
}
out=$(run win_large_shared)
grep -q '^FAIL win_large_shared: .*MPI_ERR_NO_MEM' <<<"$out" && grep -q -- '--region-mb' <<<"$out"
check "shared window beyond the region: MPI_ERR_NO_MEM and a help message naming --region-mb" $? "$out"
out=$(run win_large_allocate)
grep -q '^PASS win_large_allocate' <<<"$out"
check "MPI_Win_allocate window beyond the region: served from process memory" $? "$out"
st=$("$OV_TOOL" backend status --dir "$dir/be" 2>&1)
check "backend still running" $? "$st"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
