#!/bin/bash
# host-rma.sh — `make check`: the RMA program on 2 ranks on this host, through
# osc virt, once per window flavor (and create once more with every put/get
# by single copy), then rma_threads (MPI_THREAD_MULTIPLE on
# a backend-served window, allocate and create), then create-path.sh on the
# host (create windows via the backend in container mode, the fallback in vm
# mode), bounded in time.
# component-env.sh starts a private host backend (OMPI_VIRT_DIR) for the
# ranks; it is stopped when this script exits, however it exits.  The test
# fails if the backend is not running any more after the program.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/component-env.sh" || exit 1
trap 'ov_backend_stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
prog=${RMA_TEST:-$PWD/rma_test}
echo "# backend: $("$OV_TOOL" backend status --dir "$OMPI_VIRT_DIR" | head -n1)"
# once per window flavor (rma_test --flavor): MPI_Win_create windows, then
# MPI_Win_allocate windows (the backend path); fails if either run fails
run_flavors() {
    local f st=0
    for f in create allocate; do
        timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none \
            --mca osc virt --mca btl self,vader,tcp "$prog" --flavor "$f" --timeout 240 || st=1
    done
    return "$st"
}
run_flavors
rc=$?
# put/get below osc_virt_single_copy_min (16 MiB) are staged; the create
# window's other rank is reached through the backend, so this run covers
# the backend's single copy (process_vm_readv/writev) from origin buffers
timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none --mca osc virt \
    --mca osc_virt_single_copy_min 0 --mca btl self,vader,tcp "$prog" --flavor create --timeout 240 || rc=1
threads=${RMA_THREADS:-$PWD/rma_threads}
if [ -x "$threads" ]; then
    for f in allocate create; do
        timeout -k 10 120 mpirun -np 2 --oversubscribe --bind-to none \
            --mca osc virt --mca btl self,vader,tcp "$threads" --flavor "$f" --timeout 90 || rc=1
    done
fi
# its own private backend (run-integration.sh's host placement)
timeout -k 10 300 "$here/create-path.sh" --prog "$prog" --placements host --vm-placements host || rc=1
if ! st=$("$OV_TOOL" backend status --dir "$OMPI_VIRT_DIR"); then
    echo "FAIL backend: not running any more after the run: $st"
    log=$(sed -n 's/.*; log: //p' <<<"$st")
    [ -z "$log" ] || tail -n 20 "$log" | sed 's/^/    | /'
    [ "$rc" != 0 ] || rc=1
fi
exit "$rc"
