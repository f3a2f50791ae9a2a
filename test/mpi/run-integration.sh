#!/bin/bash
# run-integration.sh: run an MPI test program in six placements
#   host     2 ranks on the host (plain mpirun, no guests)
#   2guests  2 ranks in two namespace guests, one per guest (btl tcp between them)
#   4ranks   4 ranks, two per guest (vader inside a guest, tcp across)
#   2hosts   2 ranks on the host, each attached to its own backend: what two
#            physical hosts look like to osc virt (no rank shares a backend
#            with the other, so locks and accumulates stay with the fallback
#            while each rank's own window is still served by its backend)
#   nobackend   2 ranks on the host and no backend anywhere (OMPI_VIRT_DIR is
#            an empty directory): everything through the fallback
#   halfbackend 2 ranks in two guests, one per guest; the rank in vg2 has no
#            backend (its OMPI_VIRT_DIR is an empty directory), the rank in
#            vg1 has the guests' backend: a window mixes a served rank and
#            one that reaches no backend
#
# usage: test/mpi/run-integration.sh [options] [-- EXTRA-MPIRUN-ARGS...]
#   --prog PATH          MPI program (default test/mpi/rma_test)
#   --prog-args "ARGS"   arguments for the program (split on white space)
#   --mca-args "ARGS"    extra mpirun arguments (split on white space), e.g.
#                        --mca-args "--mca osc virt"; arguments after '--' are
#                        added too, unsplit
#   --timeout S          per-placement time limit in seconds (default 300)
#   --placements LIST    comma-separated subset of host,2guests,4ranks,2hosts,
#                        nobackend,halfbackend (default all)
#   --verbose            show the full output of every placement
#
# Sources test/mpi/component-env.sh (components of this build tree first) unless
# OMPI_VIRT_NO_COMPONENT_ENV=1.
#
# Guests: if fewer than two guests are up, brings two up ('ompi-virt guests up
# 2 --dir $OMPI_VIRT_DIR, default /run/ompi-virt-integration'), and takes them
# down at exit (also on failure or Ctrl-C) if they were brought up by this
# runner -- unless another run-integration.sh is still using them, in which
# case the last one to finish takes them down. Guests that someone brought up
# by hand are never taken down. OMPI_VIRT_GUESTS_STATE selects a non-default
# set of guests.
#
# Backends: the host placement gets a private backend on a directory of its
# own (OMPI_VIRT_DIR=$LOGDIR/backend for its ranks), started before it runs
# and stopped at exit, however the runner exits ('backend start --owner').
# Guest placements use the backend on the guests' directory, which 'guests
# up' starts (also for guests that are already up) and 'guests down' stops;
# a backend somebody else started there is used and never stopped. A
# placement fails if its backend is not running any more after the program.
#
# Each placement prints "PASS placement" or "FAIL placement (exit code, last
# lines of output)"; the last line is "N passed, N failed"; exit status 1 if any
# placement failed (2 for bad usage). A placement passes when the program exits
# 0 and prints no line starting with FAIL. After every placement, processes
# left over from it (mpirun, orted, ranks; on the host or in guests) are killed;
# they are recognised by a tag in their environment (OMPI_VIRT_RUN_TAG).
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd -- "$HERE/../.." && pwd)
TOOL=${OMPI_VIRT_TOOL:-$TOP/tools/ompi-virt}
STATE=${OMPI_VIRT_GUESTS_STATE:-/run/ompi-virt-guests}
export OMPI_VIRT_GUESTS_STATE=$STATE

# make Open MPI find the components built in this tree (skip with
# OMPI_VIRT_NO_COMPONENT_ENV=1)
if [ -f "$HERE/component-env.sh" ] && [ "${OMPI_VIRT_NO_COMPONENT_ENV:-0}" != 1 ]; then
    # shellcheck source=/dev/null
    OMPI_VIRT_PRIVATE_BACKEND=0 . "$HERE/component-env.sh"   # backends: see below
fi

PROG=$HERE/rma_test
PROG_ARGS=()
EXTRA=()
TIMEOUT=300
PLACEMENTS=host,2guests,4ranks,2hosts,nobackend,halfbackend
VERBOSE=0
TAIL=20

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --prog) [ $# -ge 2 ] || { echo "--prog needs a path" >&2; exit 2; }; PROG=$2; shift 2 ;;
        --prog=*) PROG=${1#*=}; shift ;;
        --prog-args) [ $# -ge 2 ] || { echo "--prog-args needs a value" >&2; exit 2; }
            read -r -a a <<<"$2"; PROG_ARGS+=("${a[@]}"); shift 2 ;;
        --prog-args=*) read -r -a a <<<"${1#*=}"; PROG_ARGS+=("${a[@]}"); shift ;;
        --mca-args) [ $# -ge 2 ] || { echo "--mca-args needs a value" >&2; exit 2; }
            read -r -a a <<<"$2"; EXTRA+=("${a[@]}"); shift 2 ;;
        --mca-args=*) read -r -a a <<<"${1#*=}"; EXTRA+=("${a[@]}"); shift ;;
        --timeout) [ $# -ge 2 ] || { echo "--timeout needs seconds" >&2; exit 2; }; TIMEOUT=$2; shift 2 ;;
        --timeout=*) TIMEOUT=${1#*=}; shift ;;
        --placements) [ $# -ge 2 ] || { echo "--placements needs a list" >&2; exit 2; }; PLACEMENTS=$2; shift 2 ;;
        --placements=*) PLACEMENTS=${1#*=}; shift ;;
        -v|--verbose) VERBOSE=1; shift ;;
        --) shift; EXTRA+=("$@"); break ;;
        *) echo "run-integration.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ $TIMEOUT =~ ^[0-9]+$ ]] && [ "$TIMEOUT" -ge 1 ] || { echo "--timeout must be a positive integer" >&2; exit 2; }
IFS=, read -r -a PL <<<"$PLACEMENTS"
for p in "${PL[@]}"; do
    case $p in host|2guests|4ranks|2hosts|nobackend|halfbackend) ;;
        *) echo "unknown placement '$p' (want host, 2guests, 4ranks, 2hosts, nobackend, halfbackend)" >&2; exit 2 ;;
    esac
done
[ ${#PL[@]} -gt 0 ] || { echo "no placements selected" >&2; exit 2; }
[[ $PROG == */* ]] || PROG=./$PROG
PROG_ABS=$(realpath -m -- "$PROG")

npass=0 nfail=0
LOGDIR=$(mktemp -d /tmp/run-integration.XXXXXX)
RUN_TAG=rit-$$-$RANDOM
CUR_PID=""          # pid of the running timeout(1)
WE_USE_GUESTS=0
HOST_BDIR=""        # the host placement's private backend directory
HOST2_BDIR=""       # the second "host" of the 2hosts placement
GUESTS_DIR=""       # the guests' backend directory

log() { echo "# $*"; }

# kill_tagged TAG: kill every process whose environment holds OMPI_VIRT_RUN_TAG=TAG
# (mpirun, orted inside guests, ranks). Prints how many were killed.
kill_tagged() {
    local tag=$1 sig p n=0 found
    for sig in TERM KILL; do
        found=()
        for p in /proc/[0-9]*; do
            p=${p#/proc/}
            [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] || continue
            if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "OMPI_VIRT_RUN_TAG=$tag"; then
                found+=("$p")
            fi
        done
        [ ${#found[@]} -gt 0 ] || break
        [ "$sig" = TERM ] && n=${#found[@]}
        kill -"$sig" "${found[@]}" 2>/dev/null || true
        [ "$sig" = TERM ] && sleep 2
    done
    echo "$n"
}

guests_release() {
    # called at exit: drop our shared claim; whoever finishes last (and can
    # take the lock exclusively) takes down guests that a runner brought up
    [ "$WE_USE_GUESTS" = 1 ] || return 0
    exec 8>&-
    WE_USE_GUESTS=0
    if [ -e "$STATE/auto" ]; then
        if flock -xn "$STATE.users" timeout 120 "$TOOL" guests down >"$LOGDIR/down.log" 2>&1; then
            log "guests taken down (this runner or another one had brought them up)$(grep -o '; backend stopped.*\|backend stopped.*' "$LOGDIR/down.log" | sed 's/^/, /' | tr -d '\n')"
            [ -z "$GUESTS_DIR" ] || rmdir -- "$GUESTS_DIR" 2>/dev/null || true
        elif [ -e "$STATE/auto" ]; then
            log "guests left up: another run-integration.sh is still using them"
        fi
    fi
}

# host_backend_start: a private backend for ranks on the host
# start_private_backend NAME VAR: a backend on $LOGDIR/NAME owned by this
# script; its directory goes into the variable named VAR.
start_private_backend() {
    local name=$1 var=$2
    [ -n "${!var}" ] && return 0
    if ! timeout 30 "$TOOL" backend start --dir "$LOGDIR/$name" --owner $$ \
            --log "$LOGDIR/$name.log" >"$LOGDIR/$name.out" 2>&1; then
        HOST_ERR="could not start a backend: $(tr '\n' ' ' <"$LOGDIR/$name.out")"
        return 1
    fi
    printf -v "$var" '%s' "$LOGDIR/$name"
    log "$name: $(sed 's/^ompi-virt: //' "$LOGDIR/$name.out" | tail -n1)"
}
host_backend_start() { start_private_backend backend HOST_BDIR; }
second_backend_start() { start_private_backend backend2 HOST2_BDIR; }

host_backend_stop() {
    local var
    for var in HOST_BDIR HOST2_BDIR; do
        [ -n "${!var}" ] || continue
        timeout 30 "$TOOL" backend stop --dir "${!var}" >>"$LOGDIR/stop.out" 2>&1 ||
            log "could not stop the backend on ${!var}: $(tail -n1 "$LOGDIR/stop.out")"
        printf -v "$var" '%s' ""
    done
}

# finish RC: kill leftovers, release guests, print the summary line last, exit
finish() {
    local rc=$1 k
    trap - EXIT INT TERM
    if [ -n "$CUR_PID" ]; then
        kill -TERM "$CUR_PID" 2>/dev/null || true
        sleep 1
        kill -KILL "$CUR_PID" 2>/dev/null || true
        wait "$CUR_PID" 2>/dev/null || true
        CUR_PID=""
        fail_placement "$CUR_NAME" "interrupted" "$LOGDIR/$CUR_NAME.log"
    fi
    k=$(kill_tagged "$RUN_TAG")
    [ "$k" = 0 ] || log "killed $k leftover processes"
    host_backend_stop
    guests_release
    rm -rf -- "$LOGDIR"
    echo "$npass passed, $nfail failed"
    if [ "$rc" = 0 ] && [ "$nfail" != 0 ]; then rc=1; fi
    exit "$rc"
}
CUR_NAME=""
trap 'finish $?' EXIT
trap 'echo "# interrupted" >&2; finish 130' INT
trap 'echo "# terminated" >&2; finish 143' TERM

fail_placement() {   # NAME WHY [LOGFILE]
    echo "FAIL $1 ($2)"
    nfail=$((nfail + 1))
    if [ -n "${3:-}" ] && [ -s "$3" ]; then
        tail -n "$TAIL" "$3" | sed 's/^/    | /'
    fi
}

# ensure_guests: at least vg1 and vg2 up and alive
ensure_guests() {
    [ "$WE_USE_GUESTS" = 1 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        GUEST_ERR="guest placements need root"; return 1
    fi
    mkdir -p "${STATE%/*}"
    exec 8>"$STATE.users"
    flock -s 8
    WE_USE_GUESTS=1
    # 'guests up' also starts a backend on the guests' directory if none
    # serves it (for guests that are already up, too)
    if ! timeout 60 "$TOOL" guests up 2 --auto --dir "${OMPI_VIRT_DIR:-/run/ompi-virt-integration}" \
            >"$LOGDIR/up.log" 2>&1; then
        # maybe more than two are up: fine if vg1 and vg2 are alive
        local l n
        l=$(timeout 30 "$TOOL" guests list 2>/dev/null || true)
        if ! grep -qE '^vg1 .* yes$' <<<"$l" || ! grep -qE '^vg2 .* yes$' <<<"$l"; then
            GUEST_ERR="could not bring guests up: $(tr '\n' ' ' <"$LOGDIR/up.log")"
            return 1
        fi
        n=$(grep -cE '^vg[0-9]+ ' <<<"$l")
        timeout 60 "$TOOL" guests up "$n" >>"$LOGDIR/up.log" 2>&1 || true   # no-op, plus the backend
    fi
    log "guests: $(grep -v '^ompi-virt: backend' "$LOGDIR/up.log" | tail -n1 | sed 's/^ompi-virt: //')"
    GUESTS_DIR=$(sed -n 's/^DIR=//p' "$STATE/config" 2>/dev/null)
    local b
    b=$(timeout 30 "$TOOL" guests list 2>/dev/null | grep '^backend: ')
    log "guests' $b"
    if ! grep -q '^backend: running' <<<"$b"; then
        GUEST_ERR="no backend serves the guests' directory: $b; $(tr '\n' ' ' <"$LOGDIR/up.log")"
        return 1
    fi
    return 0
}

# run_placement NAME CMD...: runs CMD bounded in time; the placement fails if
# the backend serving $PL_BACKEND_DIR is not running any more afterwards
run_placement() {
    local name=$1; shift
    local out=$LOGDIR/$name.log rc t0 t1 k bk=0 bst
    export OMPI_VIRT_RUN_TAG=$RUN_TAG-$name
    t0=$(date +%s%N)
    # timeout puts the command in its own process group and signals the group;
    # -k: SIGKILL 10 s after SIGTERM. fd 8 (guest-users lock) is not inherited.
    timeout -k 10 "$TIMEOUT" "$@" </dev/null >"$out" 2>&1 8>&- &
    CUR_PID=$!
    CUR_NAME=$name
    wait "$CUR_PID"; rc=$?
    CUR_PID=""
    t1=$(date +%s%N)
    unset OMPI_VIRT_RUN_TAG
    k=$(kill_tagged "$RUN_TAG-$name")
    if [ -n "${PL_BACKEND_DIR:-}" ] && ! bst=$(timeout 30 "$TOOL" backend status --dir "$PL_BACKEND_DIR" 2>&1); then
        bk=1
        echo "backend: $bst" >>"$out"
    fi
    if [ "$VERBOSE" = 1 ]; then sed "s/^/    $name| /" "$out"; fi
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        fail_placement "$name" "exit $rc: timed out after $TIMEOUT s; killed $k leftover processes" "$out"
    elif [ "$rc" != 0 ]; then
        fail_placement "$name" "exit $rc after $secs s$([ "$k" = 0 ] || echo "; killed $k leftover processes")" "$out"
    elif grep -q '^FAIL' "$out"; then
        fail_placement "$name" "exit 0 but the program reported FAIL lines" "$out"
    elif [ "$bk" = 1 ]; then
        fail_placement "$name" "the backend on $PL_BACKEND_DIR is not running any more after the program" "$out"
    else
        echo "PASS $name ($secs s, $(grep -c '^PASS' "$out") PASS lines$([ "$k" = 0 ] || echo "; killed $k leftover processes"))"
        npass=$((npass + 1))
    fi
}

log "program: $PROG_ABS ${PROG_ARGS[*]}"
log "extra mpirun args: ${EXTRA[*]:-(none)}"
if [ ! -x "$PROG_ABS" ]; then
    for p in "${PL[@]}"; do
        fail_placement "$p" "program $PROG_ABS not found or not executable; build it first (e.g. make -C test/mpi) or pass --prog"
    done
    finish 1
fi
if ! command -v mpirun >/dev/null 2>&1; then
    for p in "${PL[@]}"; do fail_placement "$p" "mpirun not found; apt-get install -y openmpi-bin"; done
    finish 1
fi

ROOTARGS=()
[ "$(id -u)" != 0 ] || ROOTARGS=(--allow-run-as-root)

for p in "${PL[@]}"; do
    case $p in
        host)
            HOST_ERR=""
            if ! host_backend_start; then
                fail_placement host "$HOST_ERR"
                continue
            fi
            PL_BACKEND_DIR=$HOST_BDIR
            run_placement host env -u OMPI_VIRT_URI OMPI_VIRT_DIR="$HOST_BDIR" \
                mpirun "${ROOTARGS[@]}" --oversubscribe -np 2 \
                "${EXTRA[@]}" "$PROG_ABS" "${PROG_ARGS[@]}"
            ;;
        2hosts)
            HOST_ERR=""
            if ! host_backend_start || ! second_backend_start; then
                fail_placement 2hosts "$HOST_ERR"
                continue
            fi
            PL_BACKEND_DIR=$HOST2_BDIR
            run_placement 2hosts env -u OMPI_VIRT_URI \
                mpirun "${ROOTARGS[@]}" --oversubscribe "${EXTRA[@]}" \
                -np 1 -x OMPI_VIRT_DIR="$HOST_BDIR" "$PROG_ABS" "${PROG_ARGS[@]}" : \
                -np 1 -x OMPI_VIRT_DIR="$HOST2_BDIR" "$PROG_ABS" "${PROG_ARGS[@]}"
            ;;
        nobackend)
            # an empty directory: no backend.sock, so no rank reaches a backend
            mkdir -p "$LOGDIR/empty"
            PL_BACKEND_DIR=""
            run_placement nobackend env -u OMPI_VIRT_URI OMPI_VIRT_DIR="$LOGDIR/empty" \
                mpirun "${ROOTARGS[@]}" --oversubscribe -np 2 \
                "${EXTRA[@]}" "$PROG_ABS" "${PROG_ARGS[@]}"
            ;;
        halfbackend)
            GUEST_ERR=""
            if ! ensure_guests; then
                fail_placement "$p" "$GUEST_ERR"
                continue
            fi
            mkdir -p "$LOGDIR/empty"
            PL_BACKEND_DIR=$GUESTS_DIR
            # -x per application context: vg2's rank looks in the empty directory
            run_placement halfbackend "$TOOL" guests mpirun -- "${EXTRA[@]}" \
                -np 1 --host vg1 "$PROG_ABS" "${PROG_ARGS[@]}" : \
                -np 1 --host vg2 -x OMPI_VIRT_DIR="$LOGDIR/empty" "$PROG_ABS" "${PROG_ARGS[@]}"
            ;;
        2guests|4ranks)
            GUEST_ERR=""
            if ! ensure_guests; then
                fail_placement "$p" "$GUEST_ERR"
                continue
            fi
            if [ "$p" = 2guests ]; then
                hosts=(-np 2 --host "vg1,vg2")
            else
                hosts=(-np 4 --host "vg1:2,vg2:2")
            fi
            PL_BACKEND_DIR=$GUESTS_DIR
            run_placement "$p" "$TOOL" guests mpirun -- "${hosts[@]}" \
                "${EXTRA[@]}" "$PROG_ABS" "${PROG_ARGS[@]}"
            ;;
    esac
done

finish 0
