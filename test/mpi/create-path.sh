#!/bin/bash
# create-path.sh: proves which path serves MPI_Win_create windows under osc
# virt, from the osc_virt_verbose 10 line every rank prints at creation
#   "osc virt: rank R: create window of B bytes over N ranks: K of N targets via the backend; ..."
# and the per-window path counts printed at MPI_Win_free.
#
#   container mode (the default, auto): every create window is served by the
#     backend (user memory registered, WIN_REGISTER): K = N in the host,
#     2guests and 4ranks placements, K = 1 (the rank itself; 0 when it
#     exposes 0 bytes) in 2hosts, and
#     some calls went via the backend (or direct, for the rank's own memory);
#   vm mode (--mca osc_virt_guest_mode vm): K = 0 everywhere (the fallback
#     alone, as before) and no call went via the backend.
#
# usage: test/mpi/create-path.sh [--placements LIST] [--vm-placements LIST] [--prog PATH]
#   --placements LIST     container-mode placements (default host,2guests,4ranks,2hosts)
#   --vm-placements LIST  vm-mode placements (default host,2guests; "none" skips)
# Each placement is run by run-integration.sh (same environment variables).
# Prints "PASS path-MODE-PLACEMENT" / "FAIL path-MODE-PLACEMENT: why" and
# "N passed, N failed"; exit 1 if anything failed.
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PROG=$HERE/rma_test
PLACEMENTS=host,2guests,4ranks,2hosts
VM_PLACEMENTS=host,2guests
while [ $# -gt 0 ]; do
    case $1 in
        --placements) PLACEMENTS=$2; shift 2 ;;
        --vm-placements) VM_PLACEMENTS=$2; shift 2 ;;
        --prog) PROG=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "create-path.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
# create windows only: the flavor cases of create, a lock epoch, accumulates
CASES="--flavor create --only win_create,win_zero_size,sync_lock_exclusive,acc_int --timeout 120"
npass=0 nfail=0
LOG=$(mktemp /tmp/create-path.XXXXXX)
trap 'rm -f "$LOG"' EXIT

ranks_of() { case $1 in 4ranks) echo 4 ;; *) echo 2 ;; esac; }

# check MODE PLACEMENT: judge the verbose output of one placement in $LOG
check() {
    local mode=$1 p=$2 n lines bad want calls
    n=$(ranks_of "$p")
    if ! grep -q "^PASS $p " "$LOG"; then
        echo "FAIL path-$mode-$p: the placement itself failed (see run-integration output above)"
        nfail=$((nfail + 1)); return
    fi
    lines=$(grep -E "^ +$p\| .*osc virt: rank [0-9]+: create window of [0-9]+ bytes over $n ranks: " "$LOG")
    if [ "$(grep -c . <<<"$lines")" -lt "$n" ]; then
        echo "FAIL path-$mode-$p: fewer than $n 'create window' lines (was osc_virt_verbose honoured?)"
        nfail=$((nfail + 1)); return
    fi
    case $mode-$p in
        container-2hosts) want=1 ;;
        container-*) want=$n ;;
        vm-*) want=0 ;;
    esac
    if [ "$mode-$p" = container-2hosts ]; then
        # each rank shares a backend with nobody: only its own memory, and
        # none when it exposes 0 bytes
        bad=$(grep -vE "of [1-9][0-9]* bytes over $n ranks: 1 of $n targets|of 0 bytes over $n ranks: 0 of $n targets" <<<"$lines" | head -n 3)
    else
        bad=$(grep -vE ": $want of $n targets via the backend" <<<"$lines" | head -n 3)
    fi
    if [ -n "$bad" ]; then
        echo "FAIL path-$mode-$p: expected '$want of $n targets via the backend' on every create window, got:"
        sed 's/^/    /' <<<"$bad"
        nfail=$((nfail + 1)); return
    fi
    calls=$(grep -E "^ +$p\| .*osc virt: window .*: [1-9][0-9]* calls via (backend|direct)$" "$LOG" | wc -l)
    if [ "$mode" = container ] && [ "$calls" = 0 ]; then
        echo "FAIL path-$mode-$p: no window counted a call via the backend or direct"
        nfail=$((nfail + 1)); return
    fi
    if [ "$mode" = vm ] && [ "$calls" != 0 ]; then
        echo "FAIL path-$mode-$p: $calls window(s) counted calls via the backend in vm mode"
        nfail=$((nfail + 1)); return
    fi
    echo "PASS path-$mode-$p ($(grep -c . <<<"$lines") create windows, $want of $n targets via the backend)"
    npass=$((npass + 1))
}

run_mode() {   # MODE PLACEMENTS EXTRA-MPIRUN-ARGS...
    local mode=$1 pls=$2 p
    shift 2
    [ "$pls" != none ] || return 0
    "$HERE/run-integration.sh" --verbose --prog "$PROG" --prog-args "$CASES" --placements "$pls" \
        --timeout 180 -- --mca osc virt --mca btl vmshm,vader,self,tcp --mca osc_virt_verbose 10 "$@" \
        >"$LOG" 2>&1
    grep -E '^(PASS|FAIL|#)|passed, ' "$LOG" | grep -v '^ ' | sed "s/^/[$mode] /"
    IFS=, read -r -a a <<<"$pls"
    for p in "${a[@]}"; do check "$mode" "$p"; done
}

run_mode container "$PLACEMENTS"
run_mode vm "$VM_PLACEMENTS" --mca osc_virt_guest_mode vm
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
