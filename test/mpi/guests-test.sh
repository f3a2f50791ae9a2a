#!/bin/bash
# guests-test.sh: tests of 'tools/ompi-virt guests' (namespace guests), of
# 'tools/ompi-virt backend' (the host backend's lifecycle: 'guests up' starts
# one, 'guests down' stops it, nobody else's backend is ever stopped) and of
# tools/ompi-virt-agent.
#
# Runs as root. Uses its own state directory, bridge, subnet and backend
# directories, so it does not disturb guests or backends that other people
# have up (default ones: /run/ompi-virt-guests, ovirt0, 10.213.7.0/24,
# /run/ompi-virt). Override with GT_STATE, GT_BRIDGE, GT_SUBNET, GT_DIR.
# The backend binary: $OMPI_VIRT_BACKEND_BIN, else the build tree's
# ($OMPI_VIRT_BUILDDIR, default build/ of this checkout), else PATH.
#
# Each check prints "PASS name" or "FAIL name: why"; the last line is
# "N passed, N failed"; exit status 1 if any check failed. Cleans up on exit.
# Every command is bounded by timeout(1).
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd -- "$HERE/../.." && pwd)
TOOL=${OMPI_VIRT_TOOL:-$TOP/tools/ompi-virt}
AGENT=$(dirname -- "$TOOL")/ompi-virt-agent

export OMPI_VIRT_GUESTS_STATE=${GT_STATE:-/run/ompi-virt-guests-test}
# The test's own guests and backend, whatever the caller's shell points at
# (an exported OMPI_VIRT_DIR made `ompi-virt status` look elsewhere).
unset OMPI_VIRT_DIR OMPI_VIRT_URI
BR=${GT_BRIDGE:-ovtest0}
SUBNET=${GT_SUBNET:-10.213.8.0/24}
BDIR=${GT_DIR:-/run/ompi-virt-guests-test-dir}
SOLO=$BDIR-solo   # for 'backend start/stop' without guests
UPARGS=(--bridge "$BR" --subnet "$SUBNET" --dir "$BDIR")
T=30   # seconds allowed for any single command

# the backend binary ('guests up' and 'backend start' find it the same way)
if [ -z "${OMPI_VIRT_BUILDDIR:-}" ] && [ -x "$TOP/build/backend/ompi-virt-backend" ]; then
    export OMPI_VIRT_BUILDDIR=$TOP/build
fi
BACKEND_BIN=${OMPI_VIRT_BACKEND_BIN:-}
for b in "${OMPI_VIRT_BUILDDIR:-/nonexistent}/backend/ompi-virt-backend" \
         "$(PATH=$PATH:/usr/local/sbin:/usr/sbin command -v ompi-virt-backend 2>/dev/null)"; do
    [ -n "$BACKEND_BIN" ] && break
    if [ -n "$b" ] && [ -x "$b" ]; then BACKEND_BIN=$b; fi
done

npass=0 nfail=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
# check NAME WHY-IF-FALSE CONDITION...
check() {
    local name=$1 why=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

TMPD=$(mktemp -d /tmp/guests-test.XXXXXX)
BDIR_EXISTED=0; [ -e "$BDIR" ] && BDIR_EXISTED=1
SOLO_EXISTED=0; [ -e "$SOLO" ] && SOLO_EXISTED=1
FOREIGN_PID=""    # a backend this test starts by hand ("someone else's")
OWNER_PID=""      # a process standing in for a script that owns a backend

cleanup() {
    timeout 60 "$TOOL" guests down --bridge "$BR" >/dev/null 2>&1 || true
    timeout 30 "$TOOL" backend stop --dir "$SOLO" >/dev/null 2>&1 || true
    if [ -n "$FOREIGN_PID" ]; then stop_pid "$FOREIGN_PID"; fi
    if [ -n "$OWNER_PID" ]; then kill "$OWNER_PID" 2>/dev/null || true; fi
    ip link delete "$BR-2" >/dev/null 2>&1 || true   # from the mid-way failure test
    if [ "$BDIR_EXISTED" = 0 ]; then rm -rf -- "$BDIR"; fi
    if [ "$SOLO_EXISTED" = 0 ]; then rm -rf -- "$SOLO"; fi
    rm -rf -- "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run CMD...: sets out (stdout+stderr) and rc, bounded by timeout
run() { out=$(timeout -k 5 "$T" "$@" 2>&1); rc=$?; }

# alive PID: PID exists and is not a zombie
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# wait_gone PID SECONDS: 0 once PID is gone, 1 if still alive after SECONDS
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
    ! alive "$1"
}
# stop_pid PID: SIGTERM, 5 s, SIGKILL (only for processes this test started)
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait_gone "$1" 5 || kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# bpid DIR: pid of the backend serving DIR, from 'backend status' (empty if none)
bpid() { timeout "$T" "$TOOL" backend status --dir "$1" 2>/dev/null | sed -n 's/.*: running, pid \([0-9]*\).*/\1/p'; }
# no_rsh_warn: drop Open MPI's harmless "plm:rsh: Warning: setpgid(...) failed"
# (the child exec'd before the parent's setpgid, seen on busy machines)
no_rsh_warn() { grep -v '^\[[^]]*\] plm:rsh: Warning: setpgid(' || true; }
# is_backend PID: PID is an ompi-virt-backend process
is_backend() { alive "$1" && [[ $(readlink "/proc/$1/exe" 2>/dev/null) == *ompi-virt-backend* ]]; }
# gexec GUEST CMD...: like run, inside a guest
gexec() { local g=$1; shift; run "$TOOL" guests exec "$g" -- "$@"; }

if [ "$(id -u)" != 0 ]; then
    echo "FAIL root: this test needs root"
    echo "0 passed, 1 failed"
    exit 1
fi

# --------------------------------------------------------------------------
# refusals and usage

run "$TOOL" bogus
check usage-unknown-command "rc=$rc out=$out" test "$rc" = 2
run "$TOOL" guests bogus
check usage-unknown-subcommand "rc=$rc out=$out" test "$rc" = 2 -a -n "$out"
helps_ok=1
for s in up down list exec mpirun reap; do
    run "$TOOL" guests "$s" --help
    if [ "$rc" != 0 ] || ! grep -q "usage: .*guests $s" <<<"$out"; then helps_ok=0; echo "# --help of $s: rc=$rc"; fi
done
check help-every-subcommand "some --help failed" test "$helps_ok" = 1
run "$TOOL" guests up
check refuse-up-without-N "rc=$rc" test "$rc" = 2

run setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOL" guests up 1 "${UPARGS[@]}"
check refuse-not-root "rc=$rc out=$out" \
    bash -c '[ "$1" = 2 ] && grep -qi "root" <<<"$2"' _ "$rc" "$out"

# a PATH without 'ip' (everything else present)
mkdir -p "$TMPD/bin-noip" "$TMPD/bin-nompirun" "$TMPD/bin-nonft"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -d "$d" ] || continue
    for f in "$d"/*; do
        b=${f##*/}
        [ -e "$TMPD/bin-noip/$b" ] || [ "$b" = ip ] || ln -s "$f" "$TMPD/bin-noip/$b"
        [ -e "$TMPD/bin-nompirun/$b" ] || [ "$b" = mpirun ] || ln -s "$f" "$TMPD/bin-nompirun/$b"
        [ -e "$TMPD/bin-nonft/$b" ] || [ "$b" = nft ] || ln -s "$f" "$TMPD/bin-nonft/$b"
    done
done
run env PATH="$TMPD/bin-noip" "$TOOL" guests up 1 "${UPARGS[@]}"
check refuse-missing-ip "rc=$rc out=$out" \
    bash -c '[ "$1" != 0 ] && grep -q "apt-get install -y iproute2" <<<"$2"' _ "$rc" "$out"
# the bridge guard (netguard.sh) needs nft: no unguarded bridge without it
run env PATH="$TMPD/bin-nonft" "$TOOL" guests up 1 "${UPARGS[@]}"
check refuse-missing-nft "rc=$rc out=$out" \
    bash -c '[ "$1" != 0 ] && grep -q "apt-get install -y nftables" <<<"$2" && ! ip link show "$3" >/dev/null 2>&1' \
    _ "$rc" "$out" "$BR"
run env PATH="$TMPD/bin-nompirun" "$TOOL" guests mpirun -- -np 1 true
check refuse-missing-mpirun "rc=$rc out=$out" \
    bash -c '[ "$1" != 0 ] && grep -q "apt-get install -y openmpi-bin" <<<"$2"' _ "$rc" "$out"

# a subnet that overlaps a host address
hostnet=$(ip -4 -o addr show scope global | awk '{print $4}' | grep -v '^10\.213\.' | head -n1)
if [ -n "$hostnet" ]; then
    run "$TOOL" guests up 1 --bridge "$BR" --subnet "$hostnet" --dir "$BDIR"
    check refuse-overlapping-subnet "rc=$rc out=$out" \
        bash -c '[ "$1" != 0 ] && grep -q overlaps <<<"$2" && ! ip link show "$3" >/dev/null 2>&1' _ "$rc" "$out" "$BR"
fi

run "$TOOL" guests list
check list-when-none "rc=$rc out=$out" test "$rc" = 1
run "$TOOL" guests down
check down-when-none "rc=$rc out=$out" test "$rc" = 0
run "$TOOL" guests mpirun -- -np 1 true
check mpirun-when-none "rc=$rc out=$out" \
    bash -c '[ "$1" != 0 ] && grep -q "no guests are up" <<<"$2"' _ "$rc" "$out"

# --------------------------------------------------------------------------
# the backend on its own: start, reuse, stop, failures, --private --owner

run "$TOOL" backend --help
check backend-help "rc=$rc" bash -c '[ "$1" = 0 ] && grep -q "usage: .*backend start" <<<"$2" && grep -q "Exit status" <<<"$2"' _ "$rc" "$out"
run "$TOOL" backend bogus
check backend-usage "rc=$rc out=$out" test "$rc" = 2
run "$TOOL" backend start --dir relative/dir
check backend-refuse-relative-dir "rc=$rc out=$out" test "$rc" = 2

HAVE_BACKEND=1
if [ -z "$BACKEND_BIN" ]; then
    HAVE_BACKEND=0
    fail backend-binary "ompi-virt-backend not found: build the tree and set OMPI_VIRT_BUILDDIR (or OMPI_VIRT_BACKEND_BIN); running the guest checks with --no-backend"
    UPARGS+=(--no-backend)
else
    echo "# backend binary: $BACKEND_BIN"
fi

if [ "$HAVE_BACKEND" = 1 ]; then
    run env OMPI_VIRT_BACKEND_BIN=/nonexistent "$TOOL" guests up 1 "${UPARGS[@]}"
    check up-refuses-without-backend-binary "rc=$rc out=$out" \
        bash -c '[ "$1" != 0 ] && grep -q -- "--no-backend" <<<"$2" && [ ! -e "$OMPI_VIRT_GUESTS_STATE" ] && ! ip link show "$3" >/dev/null 2>&1' \
        _ "$rc" "$out" "$BR"

    t0=$(date +%s%N)
    run "$TOOL" backend start --dir "$SOLO" --log "$TMPD/solo.log"
    t1=$(date +%s%N)
    p1=$(bpid "$SOLO")
    st=$(timeout "$T" "$TOOL" backend status --dir "$SOLO" 2>&1)
    check backend-start "rc=$rc pid=$p1 out=$out status=$st" \
        bash -c '[ "$1" = 0 ] && [ -S "$3/backend.sock" ] && grep -q "started by: .backend start" <<<"$4"' _ "$rc" "$p1" "$SOLO" "$st"
    check backend-start-is-the-backend "pid=$p1 exe=$(readlink "/proc/$p1/exe" 2>/dev/null)" is_backend "$p1"
    echo "# backend start took $(( (t1 - t0) / 1000000 )) ms"
    run "$TOOL" backend start --dir "$SOLO" --log "$TMPD/solo.log"
    p2=$(bpid "$SOLO")
    check backend-start-again-no-op "rc=$rc out=$out pid=$p2 (was $p1)" \
        bash -c '[ "$1" = 0 ] && [ "$2" = "$3" ] && grep -q "already running" <<<"$4"' _ "$rc" "$p1" "$p2" "$out"
    run "$TOOL" backend stop --dir "$SOLO"
    wait_gone "$p1" 10; gone=$?
    run2_rc=$(timeout "$T" "$TOOL" backend status --dir "$SOLO" >/dev/null 2>&1; echo $?)
    check backend-stop "rc=$rc out=$out still-alive=$gone status-rc=$run2_rc socket=$([ -e "$SOLO/backend.sock" ] && echo left)" \
        bash -c '[ "$1" = 0 ] && [ "$2" = 0 ] && [ "$3" = 3 ] && [ ! -e "$4/backend.sock" ]' _ "$rc" "$gone" "$run2_rc" "$SOLO"
    run "$TOOL" backend stop --dir "$SOLO"
    check backend-stop-idempotent "rc=$rc out=$out" test "$rc" = 0

    t0=$(date +%s%N)
    run "$TOOL" backend start --dir "$SOLO" --log "$TMPD/solo.log" -- --region-mb 0
    t1=$(date +%s%N)
    check backend-start-failure-reported "rc=$rc in $(( (t1 - t0) / 1000000 )) ms: $out" \
        bash -c '[ "$1" = 1 ] && grep -q "exited with status" <<<"$2" && grep -q "region-mb" <<<"$2"' _ "$rc" "$out"

    # a backend tied to its owner: gone (and its directory too) once the owner is
    sleep 600 >/dev/null 2>&1 &
    OWNER_PID=$!
    pdir=$(timeout "$T" "$TOOL" backend start --private --owner "$OWNER_PID" 2>/dev/null)
    pp=$(bpid "$pdir")
    ok_before=0; is_backend "$pp" && [ -S "$pdir/backend.sock" ] && ok_before=1
    kill "$OWNER_PID"; wait "$OWNER_PID" 2>/dev/null; OWNER_PID=""
    wait_gone "$pp" 10; gone=$?
    for _ in $(seq 50); do [ -e "$pdir" ] || break; sleep 0.1; done
    check backend-private-stops-with-owner "dir=$pdir pid=$pp running-before=$ok_before alive-after=$gone dir-left=$([ -e "$pdir" ] && echo yes)" \
        bash -c '[ "$1" = 1 ] && [ "$2" = 0 ] && [[ $3 == /* ]] && [ ! -e "$3" ]' _ "$ok_before" "$gone" "$pdir"

    # someone else's backend: reused by 'backend start', never stopped
    mkdir -p "$SOLO"
    setsid "$BACKEND_BIN" --dir "$SOLO" </dev/null >"$TMPD/foreign-solo.log" 2>&1 &
    FOREIGN_PID=$!
    for _ in $(seq 50); do [ -S "$SOLO/backend.sock" ] && break; sleep 0.1; done
    run "$TOOL" backend start --dir "$SOLO" --log "$TMPD/solo.log"
    out1=$out rc1=$rc
    run "$TOOL" backend stop --dir "$SOLO"
    sleep 0.2
    p2=$(bpid "$SOLO")
    check backend-reuses-and-spares-foreign "start rc=$rc1 ($out1); stop rc=$rc ($out); serving pid=$p2, foreign pid=$FOREIGN_PID" \
        bash -c '[ "$1" = 0 ] && grep -q "reusing" <<<"$2" && [ "$3" = 0 ] && grep -q "leaving it alone" <<<"$4" && [ "$5" = "$6" ]' \
        _ "$rc1" "$out1" "$rc" "$out" "$FOREIGN_PID" "$p2"
    stop_pid "$FOREIGN_PID"; FOREIGN_PID=""
fi

# --------------------------------------------------------------------------
# failure mid-way cleans up: a link with the name of guest 2's veth exists

ip link add "$BR-2" type bridge
run "$TOOL" guests up 2 "${UPARGS[@]}"
leftover=$(ip -o link show | grep -c " ${BR}[:@-]" || true)
check up-failure-cleans-up "rc=$rc leftover_links=$leftover netns=$(ip netns | grep -c "^$BR-" || true) out=$out" \
    bash -c '[ "$1" != 0 ] && [ "$2" = 0 ] && ! ip netns | grep -q "^$3-" && [ ! -e "$OMPI_VIRT_GUESTS_STATE" ]' \
    _ "$rc" "$leftover" "$BR"
ip link delete "$BR-2" >/dev/null 2>&1 || true

# --------------------------------------------------------------------------
# up, idempotent up

t0=$(date +%s%N)
run "$TOOL" guests up 2 "${UPARGS[@]}"
t1=$(date +%s%N)
check up "rc=$rc out=$out" test "$rc" = 0
echo "# up 2 took $(( (t1 - t0) / 1000000 )) ms"
if [ "$rc" != 0 ]; then
    echo "# cannot continue without guests"
    echo "$npass passed, $nfail failed"
    exit 1
fi
GB=""   # pid of the backend 'guests up' started
if [ "$HAVE_BACKEND" = 1 ]; then
    GB=$(bpid "$BDIR")
    st=$(timeout "$T" "$TOOL" backend status --dir "$BDIR" 2>&1)
    check up-starts-backend "pid=$GB status: $st" \
        bash -c '[ -S "$2/backend.sock" ] && grep -q "started by: .guests up" <<<"$3"' _ "$GB" "$BDIR" "$st"
    check up-backend-is-the-backend "pid=$GB exe=$(readlink "/proc/$GB/exe" 2>/dev/null)" is_backend "$GB"
fi
run "$TOOL" guests up 2 "${UPARGS[@]}"
check up-idempotent "rc=$rc out=$out" bash -c '[ "$1" = 0 ] && grep -q "already up" <<<"$2"' _ "$rc" "$out"
if [ "$HAVE_BACKEND" = 1 ]; then
    p2=$(bpid "$BDIR")
    check up-idempotent-keeps-backend "pid now $p2, was $GB" test -n "$GB" -a "$p2" = "$GB"
fi
run "$TOOL" guests up 3 "${UPARGS[@]}"
check up-other-count-refused "rc=$rc out=$out" test "$rc" != 0

run "$TOOL" guests list
check list "rc=$rc out=$out" \
    bash -c '[ "$1" = 0 ] && [ "$(grep -cE "^vg[12] +[0-9.]+ +[0-9]+ +yes$" <<<"$2")" = 2 ]' _ "$rc" "$out"

if [ "$HAVE_BACKEND" = 1 ]; then
    check list-mentions-backend "out=$out" \
        bash -c 'grep -qE "^backend: running, pid $2, dir $3 \(started by .guests up" <<<"$1"' _ "$out" "$GB" "$BDIR"
    run "$TOOL" status
    check status-sees-backend "rc=$rc out=$out" \
        bash -c '[ "$1" = 0 ] && grep -q "^backend pid $3," <<<"$2"' _ "$rc" "$out" "$GB"
    gexec vg1 test -S "$BDIR/backend.sock"
    check guest-sees-backend-socket "rc=$rc out=$out" test "$rc" = 0
    # a second start on the guests' directory reuses it; stop leaves it alone
    run "$TOOL" backend start --dir "$BDIR"
    out1=$out rc1=$rc
    run "$TOOL" backend stop --dir "$BDIR"
    sleep 0.2
    p2=$(bpid "$BDIR")
    check backend-start-reuses-guests-backend "start rc=$rc1 ($out1); stop rc=$rc ($out); pid now $p2, was $GB" \
        bash -c '[ "$1" = 0 ] && grep -q "reusing" <<<"$2" && grep -q "guests up" <<<"$2" && [ "$3" = 0 ] && grep -q "leaving it alone" <<<"$4" && [ "$5" = "$6" ]' \
        _ "$rc1" "$out1" "$rc" "$out" "$GB" "$p2"
fi

# --------------------------------------------------------------------------
# identity and isolation

gexec vg1 hostname; h1=$out
gexec vg2 hostname; h2=$out
check distinct-hostnames "vg1='$h1' vg2='$h2' host='$(hostname)'" \
    bash -c '[ "$1" = vg1 ] && [ "$2" = vg2 ] && [ "$(hostname)" != vg1 ]' _ "$h1" "$h2"

gexec vg1 sh -c 'echo $$'; p1_self=$out
gexec vg1 sh -c 'tr "\0\n" "  " </proc/1/cmdline'; p1_init=$out
gexec vg1 readlink /proc/self/ns/pid; p1_ns=$out
gexec vg2 readlink /proc/self/ns/pid; p2_ns=$out
host_ns=$(readlink /proc/self/ns/pid)
check pid-namespace "self=$p1_self init='$p1_init' ns=$p1_ns/$p2_ns host=$host_ns" \
    bash -c '[ "$1" -lt 1000 ] && grep -q "ompi-virt-guest:vg1" <<<"$2" && [ "$3" != "$5" ] && [ "$4" != "$5" ] && [ "$3" != "$4" ] && [ -n "$3" ]' \
    _ "$p1_self" "$p1_init" "$p1_ns" "$p2_ns" "$host_ns"

ns_distinct=1
for ns in uts ipc mnt net pid; do
    a=$(timeout "$T" "$TOOL" guests exec vg1 -- readlink /proc/self/ns/$ns 2>/dev/null)
    b=$(timeout "$T" "$TOOL" guests exec vg2 -- readlink /proc/self/ns/$ns 2>/dev/null)
    h=$(readlink /proc/self/ns/$ns)
    if [ -z "$a" ] || [ "$a" = "$b" ] || [ "$a" = "$h" ] || [ "$b" = "$h" ]; then
        ns_distinct=0; echo "# $ns: vg1=$a vg2=$b host=$h"
    fi
done
check namespaces-distinct "see # lines" test "$ns_distinct" = 1

tag=gt-$$-$RANDOM
gexec vg1 sh -c "echo x > /dev/shm/$tag && ls /dev/shm"; w=$rc
gexec vg2 ls /dev/shm/$tag; r2=$rc
check private-dev-shm "write rc=$w, vg2 sees it: rc=$r2, host sees it: $([ -e /dev/shm/$tag ] && echo yes || echo no)" \
    bash -c '[ "$1" = 0 ] && [ "$2" != 0 ] && [ ! -e "/dev/shm/$3" ]' _ "$w" "$r2" "$tag"

echo "$tag" >"$BDIR/$tag"
gexec vg1 cat "$BDIR/$tag"; c1=$out
gexec vg2 sh -c "echo from-vg2 > $BDIR/$tag.2"
check backend-dir-shared "vg1 read '$c1', host sees vg2 file: $(cat "$BDIR/$tag.2" 2>/dev/null)" \
    bash -c '[ "$1" = "$2" ] && [ "$(cat "$3")" = from-vg2 ]' _ "$c1" "$tag" "$BDIR/$tag.2"
rm -f "$BDIR/$tag" "$BDIR/$tag.2"

gexec vg1 ls -d "$OMPI_VIRT_GUESTS_STATE"
check private-run "guest sees the host's $OMPI_VIRT_GUESTS_STATE (rc=$rc)" test "$rc" != 0

gexec vg1 ip -o link show
links=$(awk -F': ' '{print $2}' <<<"$out" | sed 's/@.*//' | sort | tr '\n' ' ')
check guest-sees-only-lo-eth0 "links: $links" test "$links" = "eth0 lo "

gexec vg1 getent hosts vg2; g2=$out
gexec vg2 getent hosts "$BR"; gb=$out
check guests-resolve-names "vg2='$g2' bridge='$gb'" \
    bash -c '[ -n "$1" ] && [ -n "$2" ]' _ "$g2" "$gb"
check host-etc-hosts-untouched "host /etc/hosts mentions vg1" bash -c '! grep -qw vg1 /etc/hosts'

# vg2 reachable from vg1 over the bridge: connecting to a closed port is refused
gexec vg1 timeout 5 bash -c 'echo > /dev/tcp/vg2/9'
check guest-reaches-guest "rc=$rc out=$out" bash -c 'grep -qi "refused" <<<"$1"' _ "$out"
gexec vg1 timeout 5 bash -c "echo > /dev/tcp/$BR/9"
check guest-reaches-host-bridge "rc=$rc out=$out" bash -c 'grep -qi "refused" <<<"$1"' _ "$out"

# other host addresses are unreachable (no route, no forwarding)
unreach_ok=1; n_other=0
for a in $(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1); do
    case $a in 10.213.*) continue ;; esac
    n_other=$((n_other + 1))
    gexec vg1 ip route get "$a"
    if [ "$rc" = 0 ]; then unreach_ok=0; echo "# route to $a: $out"; fi
    gexec vg1 timeout 5 bash -c "echo > /dev/tcp/$a/22"
    if ! grep -qi "unreachable" <<<"$out"; then unreach_ok=0; echo "# connect $a: $out"; fi
done
check guest-cannot-reach-other-host-interfaces "checked $n_other addresses" test "$unreach_ok" = 1
check no-ip-forwarding-enabled "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)" \
    test "$(cat /proc/sys/net/ipv4/ip_forward)" = 0

# --------------------------------------------------------------------------
# exec plumbing, agent

gexec vg1 sh -c 'exit 3'
check exec-exit-code "rc=$rc" test "$rc" = 3
out=$(echo hello-stdin | timeout "$T" "$TOOL" guests exec vg2 -- cat 2>&1)
check exec-stdin-stdout "out=$out" test "$out" = hello-stdin
run "$TOOL" guests exec vg9 -- true
check exec-unknown-guest "rc=$rc out=$out" bash -c '[ "$1" != 0 ] && grep -q "no guest named" <<<"$2"' _ "$rc" "$out"

run "$AGENT" vg2 'echo $(hostname)' '$$'
check agent-runs-in-guest "rc=$rc out=$out" bash -c '[ "$1" = 0 ] && [ "${2%% *}" = vg2 ]' _ "$rc" "$out"
run "$AGENT" -x -o BatchMode=yes root@vg1 'exit 5'
check agent-ssh-options-and-status "rc=$rc out=$out" test "$rc" = 5
run "$AGENT" nosuchhost true
check agent-unknown-host "rc=$rc out=$out" \
    bash -c '[ "$1" = 255 ] && grep -q "unknown host" <<<"$2"' _ "$rc" "$out"

if command -v mpirun >/dev/null 2>&1; then
    t0=$(date +%s%N)
    run "$TOOL" guests mpirun -- -np 2 --host vg1,vg2 hostname
    t1=$(date +%s%N)
    got=$(no_rsh_warn <<<"$out" | sort | tr '\n' ' ')
    check mpirun-hostname-2 "rc=$rc out=$out" test "$got" = "vg1 vg2 "
    echo "# mpirun -np 2 hostname took $(( (t1 - t0) / 1000000 )) ms"
    run "$TOOL" guests mpirun -- -np 4 --host vg1:2,vg2:2 hostname
    got=$(no_rsh_warn <<<"$out" | sort | tr '\n' ' ')
    check mpirun-hostname-4 "rc=$rc out=$out" test "$got" = "vg1 vg1 vg2 vg2 "
    run env OMPI_VIRT_DIR=/nonexistent-elsewhere "$TOOL" guests mpirun -- -np 2 --host vg1,vg2 printenv OMPI_VIRT_DIR
    got=$(no_rsh_warn <<<"$out" | sort -u)
    check mpirun-ranks-get-backend-dir "rc=$rc out=$out" \
        bash -c '[ "$1" = 0 ] && [ "$2" = "$3" ]' _ "$rc" "$got" "$BDIR"
    run "$TOOL" guests mpirun --dry-run -- -np 2 --host vg1,vg2 true
    check mpirun-dry-run-flags "out=$out" \
        bash -c 'for w in "plm_rsh_agent" "plm_rsh_no_tree_spawn 1" "--bind-to none" "oob_tcp_if_include $2" "btl_tcp_if_include $2"; do grep -q -- "$w" <<<"$1" || exit 1; done' _ "$out" "$SUBNET"
    # no orted/zombies left inside the guests
    gexec vg1 ps -e -o stat=,comm=
    check no-leftovers-in-guest "ps: $(tr '\n' ' ' <<<"$out")" \
        bash -c '! grep -qE "^Z|orted|hostname" <<<"$1"' _ "$out"
else
    echo "# mpirun not installed; skipping mpirun checks"
fi

# reap kills everything but init
timeout "$T" "$TOOL" guests exec vg1 -- sh -c 'sleep 1000 >/dev/null 2>&1 &' 2>/dev/null
run "$TOOL" guests reap vg1
gexec vg1 ps -e -o comm=
check reap "ps after reap: $(tr '\n' ' ' <<<"$out")" bash -c '! grep -qx "sleep" <<<"$(grep -v "^ps$" <<<"$1")" || [ "$(grep -c sleep <<<"$1")" -le 1 ]' _ "$out"

# --------------------------------------------------------------------------
# a dead guest makes the next 'up' recreate everything

pid1=$(awk '$1=="vg1"{print $3}' <<<"$(timeout "$T" "$TOOL" guests list 2>/dev/null)")
[ -n "$pid1" ] && kill -KILL "$pid1"
for _ in $(seq 50); do [ -d "/proc/$pid1" ] || break; sleep 0.1; done
run "$TOOL" guests list
check list-shows-dead "out=$out" bash -c 'grep -qE "^vg1 .* no$" <<<"$1"' _ "$out"
run "$TOOL" guests up 2 "${UPARGS[@]}"
up_rc=$rc; up_out=$out
run "$TOOL" guests list
check up-after-partial-failure "up rc=$up_rc ($up_out); list: $out" \
    bash -c '[ "$1" = 0 ] && [ "$(grep -cE " yes$" <<<"$2")" = 2 ]' _ "$up_rc" "$out"
if [ "$HAVE_BACKEND" = 1 ]; then
    p2=$(bpid "$BDIR")
    wait_gone "$GB" 10; gone=$?
    check up-after-partial-failure-backend "old backend $GB still alive=$gone, now $p2; list: $out" \
        bash -c '[ "$1" = 0 ] && [ -n "$2" ] && grep -q "^backend: running, pid $2, .*started by .guests up" <<<"$3"' _ "$gone" "$p2" "$out"
    GB=$p2
fi

# --------------------------------------------------------------------------
# down, idempotent down

pids=$(timeout "$T" "$TOOL" guests list 2>/dev/null | awk '/^vg/{print $3}')
t0=$(date +%s%N)
run "$TOOL" guests down
t1=$(date +%s%N)
echo "# down took $(( (t1 - t0) / 1000000 )) ms"
alive=""
for p in $pids; do
    wait_gone "$p" 5 || alive="$alive $p"   # a zombie not yet reaped by init is gone
done
left_links=$(ip -o link show | awk -F': ' '{print $2}' | grep -E "^$BR(\$|-|@)" | tr '\n' ' ')
left_ns=$(ip netns list | grep -E "^$BR-" | tr '\n' ' ')
check down "rc=$rc links='$left_links' netns='$left_ns' alive='$alive' state=$([ -e "$OMPI_VIRT_GUESTS_STATE" ] && echo present)" \
    bash -c '[ "$1" = 0 ] && [ -z "$2$3$4" ] && [ ! -e "$OMPI_VIRT_GUESTS_STATE" ]' _ "$rc" "$left_links" "$left_ns" "$alive"
if [ "$HAVE_BACKEND" = 1 ]; then
    wait_gone "$GB" 10; gone=$?
    st_rc=$(timeout "$T" "$TOOL" backend status --dir "$BDIR" >/dev/null 2>&1; echo $?)
    check down-stops-backend "pid $GB alive=$gone status-rc=$st_rc socket=$([ -e "$BDIR/backend.sock" ] && echo left) out=$out" \
        bash -c '[ -n "$1" ] && [ "$2" = 0 ] && [ "$3" = 3 ] && [ ! -e "$4/backend.sock" ] && grep -q "backend stopped" <<<"$5"' \
        _ "$GB" "$gone" "$st_rc" "$BDIR" "$out"
fi
run "$TOOL" guests down
check down-idempotent "rc=$rc out=$out" test "$rc" = 0
run "$AGENT" vg1 true
check agent-after-down "rc=$rc" test "$rc" = 255

# --------------------------------------------------------------------------
# a backend somebody else started: 'guests up' uses it, 'guests down' spares it

if [ "$HAVE_BACKEND" = 1 ]; then
    mkdir -p "$BDIR"
    setsid "$BACKEND_BIN" --dir "$BDIR" </dev/null >"$TMPD/foreign.log" 2>&1 &
    FOREIGN_PID=$!
    for _ in $(seq 50); do [ -S "$BDIR/backend.sock" ] && break; sleep 0.1; done
    run "$TOOL" guests up 1 "${UPARGS[@]}"
    up_rc=$rc up_out=$out
    run "$TOOL" guests list
    list_out=$out
    run "$TOOL" guests down
    sleep 0.2
    p2=$(bpid "$BDIR")
    check foreign-backend-survives-down "up rc=$up_rc ($up_out); list: $list_out; down rc=$rc ($out); serving pid=$p2, foreign pid=$FOREIGN_PID" \
        bash -c '[ "$1" = 0 ] && grep -q "already serves" <<<"$2" && grep -q "^backend: running, pid $5, .*not started by .guests up" <<<"$3" && [ "$4" = 0 ] && [ "$5" = "$6" ]' \
        _ "$up_rc" "$up_out" "$list_out" "$rc" "$FOREIGN_PID" "$p2"
    stop_pid "$FOREIGN_PID"; FOREIGN_PID=""
fi

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
