#!/bin/bash
# guests-test.sh: tests of 'tools/ompi-virt guests' (namespace guests) and of
# tools/ompi-virt-agent.
#
# Runs as root. Uses its own state directory, bridge, subnet and backend
# directory, so it does not disturb guests that other people have up
# (default ones: /run/ompi-virt-guests, ovirt0, 10.213.7.0/24).
# Override with GT_STATE, GT_BRIDGE, GT_SUBNET, GT_DIR.
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
BR=${GT_BRIDGE:-ovtest0}
SUBNET=${GT_SUBNET:-10.213.8.0/24}
BDIR=${GT_DIR:-/run/ompi-virt-guests-test-dir}
UPARGS=(--bridge "$BR" --subnet "$SUBNET" --dir "$BDIR")
T=30   # seconds allowed for any single command

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

cleanup() {
    timeout 60 "$TOOL" guests down --bridge "$BR" >/dev/null 2>&1 || true
    ip link delete "$BR-2" >/dev/null 2>&1 || true   # from the mid-way failure test
    if [ "$BDIR_EXISTED" = 0 ]; then rm -rf -- "$BDIR"; fi
    rm -rf -- "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run CMD...: sets out (stdout+stderr) and rc, bounded by timeout
run() { out=$(timeout -k 5 "$T" "$@" 2>&1); rc=$?; }
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
mkdir -p "$TMPD/bin-noip" "$TMPD/bin-nompirun"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -d "$d" ] || continue
    for f in "$d"/*; do
        b=${f##*/}
        [ -e "$TMPD/bin-noip/$b" ] || [ "$b" = ip ] || ln -s "$f" "$TMPD/bin-noip/$b"
        [ -e "$TMPD/bin-nompirun/$b" ] || [ "$b" = mpirun ] || ln -s "$f" "$TMPD/bin-nompirun/$b"
    done
done
run env PATH="$TMPD/bin-noip" "$TOOL" guests up 1 "${UPARGS[@]}"
check refuse-missing-ip "rc=$rc out=$out" \
    bash -c '[ "$1" != 0 ] && grep -q "apt-get install -y iproute2" <<<"$2"' _ "$rc" "$out"
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
run "$TOOL" guests up 2 "${UPARGS[@]}"
check up-idempotent "rc=$rc out=$out" bash -c '[ "$1" = 0 ] && grep -q "already up" <<<"$2"' _ "$rc" "$out"
run "$TOOL" guests up 3 "${UPARGS[@]}"
check up-other-count-refused "rc=$rc out=$out" test "$rc" != 0

run "$TOOL" guests list
check list "rc=$rc out=$out" \
    bash -c '[ "$1" = 0 ] && [ "$(grep -cE "^vg[12] +[0-9.]+ +[0-9]+ +yes$" <<<"$2")" = 2 ]' _ "$rc" "$out"

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
    got=$(sort <<<"$out" | tr '\n' ' ')
    check mpirun-hostname-2 "rc=$rc out=$out" test "$got" = "vg1 vg2 "
    echo "# mpirun -np 2 hostname took $(( (t1 - t0) / 1000000 )) ms"
    run "$TOOL" guests mpirun -- -np 4 --host vg1:2,vg2:2 hostname
    got=$(sort <<<"$out" | tr '\n' ' ')
    check mpirun-hostname-4 "rc=$rc out=$out" test "$got" = "vg1 vg1 vg2 vg2 "
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

# --------------------------------------------------------------------------
# down, idempotent down

pids=$(timeout "$T" "$TOOL" guests list 2>/dev/null | awk 'NR>1{print $3}')
t0=$(date +%s%N)
run "$TOOL" guests down
t1=$(date +%s%N)
echo "# down took $(( (t1 - t0) / 1000000 )) ms"
alive=""
for p in $pids; do [ -d "/proc/$p" ] && alive="$alive $p"; done
left_links=$(ip -o link show | awk -F': ' '{print $2}' | grep -E "^$BR(\$|-|@)" | tr '\n' ' ')
left_ns=$(ip netns list | grep -E "^$BR-" | tr '\n' ' ')
check down "rc=$rc links='$left_links' netns='$left_ns' alive='$alive' state=$([ -e "$OMPI_VIRT_GUESTS_STATE" ] && echo present)" \
    bash -c '[ "$1" = 0 ] && [ -z "$2$3$4" ] && [ ! -e "$OMPI_VIRT_GUESTS_STATE" ]' _ "$rc" "$left_links" "$left_ns" "$alive"
run "$TOOL" guests down
check down-idempotent "rc=$rc out=$out" test "$rc" = 0
run "$AGENT" vg1 true
check agent-after-down "rc=$rc" test "$rc" = 255

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
