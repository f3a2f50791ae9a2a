#!/bin/bash
# vmshm-faults.sh — faults on btl vmshm's path end the job with a clear error
# within a bound, never a hang (vmshm_fault_test.cc; docs/btl-vmshm.md,
# "Faults").  Every run is bounded by `timeout`.
#
#   peer death      the last rank SIGKILLs itself with a message in flight
#                   while rank 0 receives from it: 2 ranks in 2 guests and 4
#                   ranks 2 per guest, single copy off and on (4 runs).  Pass:
#                   the run ends within FAULT_BOUND seconds, non-zero, and
#                   mpirun names the killed rank ("exited on signal 9").
#   backend killed  rank 0 and rank 1 (2 guests) exchange 0 B .. 8 MiB; once
#                   they run, the guests' backend is killed (SIGKILL), single
#                   copy off and on (2 runs).  Pass: the run ends within
#                   FAULT_BOUND seconds of the kill, non-zero, and a rank says
#                   "lost the ompi-virt backend".  The backend is started
#                   again after each run ('guests up', which starts it for
#                   guests already up).  Only the backend recorded by 'guests
#                   up' in $OMPI_VIRT_GUESTS_STATE is killed; if that set's
#                   backend was not started by 'guests up', these runs fail.
#
# Guests: those up in $OMPI_VIRT_GUESTS_STATE; if none, two are brought up
# here (--auto) and taken down at exit.  FAULT_BOUND defaults to 60 (a
# loaded 2-core machine: the runtime's own reaction is 2-10 s).
# Last line: "vmshm-faults: N passed, N failed"; exit 1 if any failed.
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
: "${OMPI_VIRT_BUILDDIR:=$(cd "$HERE/../.." && pwd)}"
: "${OMPI_VIRT_GUESTS_STATE:=/run/ompi-virt-guests}"
export OMPI_VIRT_BUILDDIR OMPI_VIRT_GUESTS_STATE
TOOL=${OMPI_VIRT_TOOL:-$HERE/../../tools/ompi-virt}
PROG="$OMPI_VIRT_BUILDDIR/test/mpi/vmshm_fault_test"
BOUND=${FAULT_BOUND:-60}
pass=0 fail=0
out=$(mktemp /tmp/vmshm-faults.XXXXXX)
cleanup() { rm -f "$out"; }
trap cleanup EXIT

if [ ! -f "$OMPI_VIRT_GUESTS_STATE/config" ]; then
    timeout 60 "$TOOL" guests up 2 --auto --dir "${OMPI_VIRT_DIR:-/run/ompi-virt-integration}" >/dev/null 2>&1 ||
        { echo "FAIL cannot bring two guests up"; echo "vmshm-faults: 0 passed, 1 failed"; exit 1; }
    cleanup() { rm -f "$out"; timeout 60 "$TOOL" guests down >/dev/null 2>&1; }
fi
OMPI_VIRT_PRIVATE_BACKEND=0 . "$HERE/component-env.sh" || exit 1

verdict() { # verdict NAME OK WHY
    if [ "$2" = 1 ]; then
        echo "PASS $1 ($3)"; pass=$((pass + 1))
    else
        echo "FAIL $1: $3"; sed 's/^/    /' "$out" | tail -n 12; fail=$((fail + 1))
    fi
}

# mpirun through the guests, bounded; exit status in $rc
run_job() { # run_job HOSTS NP SINGLE_COPY MODE
    timeout -k 10 $((BOUND + 60)) "$TOOL" guests mpirun -- -np "$2" --host "$1" --mca pml ob1 \
        --mca btl vmshm,vader,self --mca btl_vmshm_single_copy "$3" "$PROG" "$4" >"$out" 2>&1
}

peer_death() { # peer_death HOSTS NP SINGLE_COPY
    local t0 rc secs name="peer death, $2 ranks on $1, single copy $3"
    t0=$(date +%s)
    run_job "$1" "$2" "$3" peer-death; rc=$?
    secs=$(($(date +%s) - t0))
    if [ "$rc" = 124 ] || [ "$rc" = 137 -a "$secs" -ge $((BOUND + 60)) ]; then
        verdict "$name" 0 "hung: killed by the test's timeout after $secs s"
    elif ! grep -q "killing myself" "$out"; then
        verdict "$name" 0 "the peer never reached its death (exit $rc after $secs s)"
    elif [ "$rc" = 0 ] || [ "$secs" -gt "$BOUND" ] || ! grep -q "exited on signal 9" "$out"; then
        verdict "$name" 0 "exit $rc after $secs s (want non-zero within $BOUND s, and mpirun naming the killed rank)"
    else
        verdict "$name" 1 "job ended in $secs s, exit $rc: $(grep -m1 -o 'process rank [0-9]* .*exited on signal 9' "$out")"
    fi
}

backend_pid() { # the backend 'guests up' recorded, if it is that backend
    local pid
    pid=$(sed -n 's/^PID=//p' "$OMPI_VIRT_GUESTS_STATE/backend/record" 2>/dev/null)
    [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ompi-virt-backend && echo "$pid"
}

backend_killed() { # backend_killed SINGLE_COPY
    local name="backend killed mid-job, 2 ranks in 2 guests, single copy $1" pid job i t0 rc secs
    pid=$(backend_pid)
    if [ -z "$pid" ]; then
        : >"$out"; verdict "$name" 0 "no backend recorded by 'guests up' in $OMPI_VIRT_GUESTS_STATE"; return
    fi
    run_job vg1,vg2 2 "$1" backend-gone &
    job=$!
    for i in $(seq $((BOUND * 2))); do
        grep -q '^running' "$out" && break
        sleep 0.5
    done
    if ! grep -q '^running' "$out"; then
        kill "$job" 2>/dev/null; wait "$job"
        verdict "$name" 0 "the ranks never started exchanging"; return
    fi
    t0=$(date +%s)
    kill -KILL "$pid"
    wait "$job"; rc=$?
    secs=$(($(date +%s) - t0))
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        verdict "$name" 0 "hung: killed by the test's timeout $secs s after the backend"
    elif [ "$rc" = 0 ] || [ "$secs" -gt "$BOUND" ] || ! grep -q "lost the ompi-virt backend" "$out"; then
        verdict "$name" 0 "exit $rc $secs s after the kill (want non-zero within $BOUND s, and 'lost the ompi-virt backend')"
    else
        verdict "$name" 1 "job ended $secs s after the kill, exit $rc: $(grep -m1 -o 'btl vmshm: lost the ompi-virt backend.*' "$out")"
    fi
    timeout 60 "$TOOL" guests up "$(sed -n 's/^N=//p' "$OMPI_VIRT_GUESTS_STATE/config")" >/dev/null 2>&1 ||
        echo "warning: could not start the guests' backend again"
}

for sc in 0 1; do
    peer_death vg1,vg2 2 "$sc"
    peer_death vg1:2,vg2:2 4 "$sc"
done
for sc in 0 1; do
    backend_killed "$sc"
done
echo "vmshm-faults: $pass passed, $fail failed"
[ "$fail" = 0 ]
