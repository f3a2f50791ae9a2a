#!/bin/bash
# sniff-test.sh: a hostile guest on the guests' bridge must not learn a job's
# secret, redirect other guests' traffic or send with another's address.
#
# Brings up 3 guests with 'ompi-virt guests up' (its own state, bridge,
# subnet and backend directory; override with ST_STATE, ST_BRIDGE, ST_SUBNET,
# ST_DIR).  vg3 is the attacker: as root in its namespace it runs
# mgmtnet-attacker.py (ARP poisoning of the host and both victims with IP
# forwarding on, a promiscuous capture of everything it receives, UDP with a
# spoofed source to the host).  While it runs, a 2-rank MPI job is launched on
# vg1 and vg2 with 'ompi-virt guests mpirun' (mpirun on the host, orted in the
# guests: Open MPI's out-of-band channel carries the job's environment, with
# the job's key OMPI_MCA_orte_precondition_transports, over the bridge).
#
# Checks (each prints PASS/FAIL; last line "N passed, N failed"; exit 1 on any
# failure):
#   job-ok            the job ran and passed, and printed its key
#   attack-ran        the attacker captured frames and sent its ARP and spoofed frames
#   key-not-captured  no captured frame holds either half of the key's hex string
#   nothing-for-others the attacker received no frame addressed to another MAC
#   arp-not-poisoned  the host's and the victims' ARP caches hold each address's
#                     true MAC (sampled before and after the job)
#   spoof-not-received the host received none of the spoofed datagrams
#   guard-dropped     the bridge's nftables table dropped the attacker's frames
#   guard-removed     'guests down' removed the bridge and its table
#
# Against a bridge without the guard (OMPI_VIRT_TOOL=an older tools/ompi-virt)
# the key, poisoning and spoof checks fail: that is what this test is for.
# Every wait is bounded; cleans up everything it made on exit.
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd -- "$HERE/../.." && pwd)
TOOL=${OMPI_VIRT_TOOL:-$TOP/tools/ompi-virt}
ATTACKER=$HERE/mgmtnet-attacker.py

export OMPI_VIRT_GUESTS_STATE=${ST_STATE:-/run/ompi-virt-sniff-test}
BR=${ST_BRIDGE:-ovsniff0}
SUBNET=${ST_SUBNET:-10.213.10.0/24}
BDIR=${ST_DIR:-/run/ompi-virt-sniff-test-dir}
JOB_TIMEOUT=180
SPOOF_PORT=47999

: "${OMPI_VIRT_BUILDDIR:=$TOP/build}"
export OMPI_VIRT_BUILDDIR
PROGRAM=$OMPI_VIRT_BUILDDIR/test/mpi/pt2pt_test

npass=0 nfail=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
finish() { echo "$npass passed, $nfail failed"; [ "$nfail" = 0 ]; exit $?; }

if [ "$(id -u)" != 0 ]; then fail root "this test needs root"; finish; fi
for t in python3 nft mpirun; do
    command -v "$t" >/dev/null || { fail tools "'$t' not found (scripts/install-deps)"; finish; }
done
[ -x "$PROGRAM" ] || { fail build "$PROGRAM missing: build the tree first"; finish; }

TMPD=$(mktemp -d /tmp/sniff-test.XXXXXX)
chmod 755 "$TMPD"
BDIR_EXISTED=0; [ -e "$BDIR" ] && BDIR_EXISTED=1
LISTENER=""; ATK=""
cleanup() {
    : >"$TMPD/stop"
    [ -z "$ATK" ] || { timeout 10 tail --pid="$ATK" -f /dev/null; kill -KILL "$ATK" 2>/dev/null; }
    [ -z "$LISTENER" ] || kill -TERM "$LISTENER" 2>/dev/null
    timeout 60 "$TOOL" guests down --bridge "$BR" >/dev/null 2>&1
    if [ "$BDIR_EXISTED" = 0 ]; then rm -rf -- "$BDIR"; fi
    rm -rf -- "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

net=${SUBNET%/*}; net=${net%.*}
HOST_IP=$net.1 V1=$net.2 V2=$net.3 ATK_IP=$net.4

if ! timeout 60 "$TOOL" guests up 3 --bridge "$BR" --subnet "$SUBNET" --dir "$BDIR" >"$TMPD/up.log" 2>&1; then
    fail guests-up "$(tail -n3 "$TMPD/up.log" | tr '\n' ' ')"; finish
fi
gexec() { local g=$1; shift; timeout 20 "$TOOL" guests exec "$g" -- "$@"; }
declare -A MAC
MAC[$HOST_IP]=$(cat "/sys/class/net/$BR/address")
MAC[$V1]=$(gexec vg1 cat /sys/class/net/eth0/address)
MAC[$V2]=$(gexec vg2 cat /sys/class/net/eth0/address)
echo "# host $HOST_IP ${MAC[$HOST_IP]}, vg1 $V1 ${MAC[$V1]}, vg2 $V2 ${MAC[$V2]}, attacker vg3 $ATK_IP"

# the host counts datagrams that claim to come from vg1
timeout $((JOB_TIMEOUT + 60)) python3 - "$HOST_IP" "$SPOOF_PORT" "$TMPD/spoofed" <<'EOF' &
import signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
n = 0
def done(*_):
    open(sys.argv[3], "w").write("%d\n" % n); sys.exit(0)
signal.signal(signal.SIGTERM, done)
open(sys.argv[3], "w").write("0\n")
while True:
    data, _ = s.recvfrom(2048)
    if data.startswith(b"spoofed"):
        n += 1
        open(sys.argv[3], "w").write("%d\n" % n)
EOF
LISTENER=$!

timeout $((JOB_TIMEOUT + 60)) "$TOOL" guests exec vg3 -- python3 "$ATTACKER" --host "$HOST_IP" \
    --victims "$V1,$V2" --duration $((JOB_TIMEOUT + 30)) --pcap "$TMPD/capture.pcap" \
    --spoof-port "$SPOOF_PORT" --ready "$TMPD/ready" --stop-file "$TMPD/stop" \
    >"$TMPD/attacker.out" 2>&1 &
ATK=$!
for _ in $(seq 300); do [ -s "$TMPD/ready" ] || ! kill -0 "$ATK" 2>/dev/null && break; sleep 0.1; done
[ -s "$TMPD/ready" ] || { fail attacker "did not start: $(tr '\n' ' ' <"$TMPD/attacker.out")"; finish; }
sleep 2   # a few rounds of poison before the job starts

# arp_check WHEN: every cache entry for HOST_IP, V1, V2 holds the true MAC
arp_bad=""
arp_check() {
    local where ip mac
    for where in host vg1 vg2; do
        while read -r ip mac; do
            [ -n "${MAC[$ip]:-}" ] || continue
            [ "$mac" = "${MAC[$ip]}" ] || arp_bad+="$1: $where maps $ip to $mac (true ${MAC[$ip]}); "
        done < <(if [ $where = host ]; then ip neigh show dev "$BR"; else gexec $where ip neigh show dev eth0; fi |
                 awk '$2 == "lladdr" || $3 == "lladdr" { for (i = 1; i < NF; i++) if ($i == "lladdr") print $1, $(i+1) }')
    done
}
arp_check before-job

# the job: each rank prints the job's key, then runs the MPI program
OMPI_VIRT_PRIVATE_BACKEND=0 . "$TOP/test/mpi/component-env.sh"
timeout -k 10 "$JOB_TIMEOUT" "$TOOL" guests mpirun -- -np 2 --host vg1,vg2 --mca btl self,tcp \
    bash -c 'echo "JOBKEY=$OMPI_MCA_orte_precondition_transports"; exec "$0" "$@"' \
    "$PROGRAM" --cases pingpong,collectives --max-size 1048576 >"$TMPD/job.out" 2>&1
job_rc=$?
arp_check after-job
: >"$TMPD/stop"
timeout 15 tail --pid="$ATK" -f /dev/null
ATK=""
kill -TERM "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null; LISTENER=""

keys=$(sed -n 's/^JOBKEY=//p' "$TMPD/job.out" | sort -u)
if [ "$job_rc" = 0 ] && grep -q 'pt2pt_test: [0-9]* passed, 0 failed' "$TMPD/job.out" &&
   [[ $keys =~ ^[0-9a-f]{16}-[0-9a-f]{16}$ ]]; then
    pass job-ok
else
    fail job-ok "rc=$job_rc keys='$keys': $(tail -n5 "$TMPD/job.out" | tr '\n' ' ')"
fi

stats=$(tail -n1 "$TMPD/attacker.out")
echo "# attacker: $stats"
stat() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], -1))' "$stats" "$1" 2>/dev/null || echo -1; }
if [ "$(stat captured)" -gt 0 ] && [ "$(stat arp_sent)" -gt 0 ] && [ "$(stat spoof_sent)" -gt 0 ]; then
    pass attack-ran
else
    fail attack-ran "the attacker did not capture or send: $(tr '\n' ' ' <"$TMPD/attacker.out")"
fi

if [[ $keys =~ ^[0-9a-f]{16}-[0-9a-f]{16}$ ]]; then
    # a TCP segment boundary may cut the key, never both of its halves
    seen=$(python3 - "$TMPD/capture.pcap" "${keys%-*}" "${keys#*-}" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
halves = [h.encode() for h in sys.argv[2:]]
off, n = 24, 0
while off + 16 <= len(data):
    caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    if any(h in frame for h in halves):
        n += 1
print(n)
EOF
)
    if [ "$seen" = 0 ]; then pass key-not-captured
    else fail key-not-captured "key seen in $seen captured frame(s)"; fi
else
    fail key-not-captured "no key to look for (the job printed none)"
fi

if [ "$(stat not_for_me)" = 0 ]; then pass nothing-for-others
else fail nothing-for-others "$(stat not_for_me) captured frame(s) were addressed to another MAC"; fi

if [ -z "$arp_bad" ]; then pass arp-not-poisoned; else fail arp-not-poisoned "$arp_bad"; fi

spoofed=$(cat "$TMPD/spoofed" 2>/dev/null || echo "?")
if [ "$spoofed" = 0 ]; then pass spoof-not-received
else fail spoof-not-received "the host received $spoofed datagram(s) with vg1's source from the attacker"; fi

dropped=$(nft list chain bridge "$BR" "from_$BR-3" 2>/dev/null |
          awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") s += $(i+1) } END { print s + 0 }')
if [ "$dropped" -gt 0 ]; then pass guard-dropped; echo "# the guard dropped $dropped frame(s) from the attacker"
else fail guard-dropped "no nftables guard dropped the attacker's frames (table 'bridge $BR' missing?)"; fi

timeout 60 "$TOOL" guests down --bridge "$BR" >"$TMPD/down.log" 2>&1
if ! nft list table bridge "$BR" >/dev/null 2>&1 && ! ip link show "$BR" >/dev/null 2>&1; then
    pass guard-removed
else
    fail guard-removed "bridge $BR or its nftables table is left after 'guests down': $(tr '\n' ' ' <"$TMPD/down.log")"
fi

finish
