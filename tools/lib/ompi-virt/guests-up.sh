# guests-up.sh — 'ompi-virt guests up' and 'guests down': making and
# removing namespace guests, their veths and bridge.
# Needs common.sh, backend.sh, guests.sh and netguard.sh.

usage_up() {
    cat <<EOF
usage: $PROG guests up N [--dir DIR] [--subnet CIDR] [--bridge NAME] [--no-backend]

Create N guests vg1..vgN, each with its own UTS, IPC, PID, mount and network
namespace, a private tmpfs on /dev/shm and on /run, the backend directory
bind-mounted from the host at the same path, a private /etc/hosts, and a veth
on a private bridge.  Then start the host backend (ompi-virt-backend) on the
backend directory, unless one already serves it (that one is used and left
alone by 'guests down'); one that 'guests up' started is stopped by 'guests
down'.  Its log is in the state directory (log/backend.log).

  --dir DIR       backend directory shared with the guests, created if
                  missing (default: \$OMPI_VIRT_DIR, else $DEF_DIR with the
                  default --state, else STATE.backend: give each set its own)
  --subnet CIDR   private subnet (default $DEF_SUBNET); the bridge gets the
                  first address (.1), guests .2, .3, ...
  --bridge NAME   bridge name (default $DEF_BRIDGE; at most 12 characters)
  --no-backend    do not start a backend (see '$PROG backend --help')

The bridge is guarded by the nftables table 'bridge NAME' (needs nft, package
nftables): a guest sends only with its own MAC (02:00 + its address in hex),
ARP sender and IPv4 source, and receives only frames for its MAC or broadcast,
so no guest reads or redirects another's (or the host's) traffic; 'nft list
table bridge NAME' shows what it dropped.

The backend directory is bind-mounted when the guest starts: do not delete and
re-create it on the host while guests are up (they would keep the old one).
/tmp and the rest of the host file system are shared with the host.

Idempotent: if N guests are already up and alive this is a no-op, except that
a backend is started if none serves their directory. If a previous
'up' failed half-way or guests died, everything is removed and recreated.
If a different number of guests is up, it refuses (run 'guests down' first).
EOF
}

usage_down() {
    cat <<EOF
usage: $PROG guests down [--bridge NAME]

Remove everything 'guests up' made: holder processes (and every process still
running inside the guests), network namespaces, veths, the bridge and its
nftables table, the backend
'guests up' started (SIGTERM, then SIGKILL after 5 s; a backend that someone
else started is left alone) and the state directory. Idempotent: succeeds
when nothing exists. --bridge is only needed
to clean up leftovers of a custom-named bridge whose state directory is lost.
EOF
}

# --------------------------------------------------------------------------
# IPv4 helpers

ip2int() {
    local IFS=. a b c d
    read -r a b c d <<<"$1"
    echo $(( (a << 24) | (b << 16) | (c << 8) | d ))
}
int2ip() {
    local n=$1
    echo "$(( (n >> 24) & 255 )).$(( (n >> 16) & 255 )).$(( (n >> 8) & 255 )).$(( n & 255 ))"
}
valid_ipv4() {
    local ip=$1 o
    [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
    local IFS=.
    for o in $ip; do [ "$o" -le 255 ] || return 1; done
}

# --------------------------------------------------------------------------
# teardown (used by 'down' and on failure of 'up'); never fails

teardown() {
    local want=${1:-} g pids p ns i bridge
    local kv_BRIDGE="" kv_BRIDGE_CREATED="" kv_DIR="" kv_DIR_CREATED=""
    if [ -f "$STATE/config" ]; then
        read_kv "$STATE/config"
    fi
    # the bridge in the state, and the one asked for (if different)
    local bridges=()
    [ -z "$kv_BRIDGE" ] || bridges+=("$kv_BRIDGE")
    [ -z "$want" ] || [ "$want" = "$kv_BRIDGE" ] || bridges+=("$want")
    [ ${#bridges[@]} -gt 0 ] || bridges=("$DEF_BRIDGE")

    # 1. kill holders (SIGKILL to a pid namespace's init kills the whole ns)
    for g in $(guest_names); do
        local kv_PID="" kv_UPID="" kv_NETNS=""
        read_kv "$STATE/guests/$g"
        if [ -n "$kv_PID" ] && [ -n "$kv_NETNS" ] && holder_alive "$kv_PID" "$kv_NETNS"; then
            kill -KILL "$kv_PID" 2>/dev/null || true
        fi
        if [ -n "$kv_UPID" ] && [ -n "$kv_NETNS" ] && holder_alive "$kv_UPID" "$kv_NETNS"; then
            kill -KILL "$kv_UPID" 2>/dev/null || true
        fi
    done
    for bridge in "${bridges[@]}"; do
        # 2. anything else still inside our network namespaces (also covers a
        #    lost state directory: namespaces are named BRIDGE-vgK)
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${bridge}-vg[0-9]+\$" || true); do
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            if [ -n "$pids" ]; then
                # shellcheck disable=SC2086
                kill -KILL $pids 2>/dev/null || true
            fi
            for i in $(seq 50); do
                [ -n "$(ip netns pids "$ns" 2>/dev/null || true)" ] || break
                sleep 0.1
            done
            ip netns delete "$ns" 2>/dev/null || true
        done
        # 3. host ends of veths (normally gone with the netns already)
        for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
                   grep -E "^${bridge}-[0-9]+\$" || true); do
            ip link delete "$p" 2>/dev/null || true
        done
        # 4. the bridge, only if we made it (state says so, or our alias is on it)
        if ip link show "$bridge" >/dev/null 2>&1; then
            if { [ "$bridge" = "$kv_BRIDGE" ] && [ "$kv_BRIDGE_CREATED" = 1 ]; } ||
               ip -d link show "$bridge" 2>/dev/null | grep -q "alias $BRIDGE_ALIAS"; then
                ip link delete "$bridge" 2>/dev/null || true
            fi
        fi
        # its guard (netguard_unload leaves a table it did not make alone)
        ip link show "$bridge" >/dev/null 2>&1 || netguard_unload "$bridge"
    done
    # 5. the backend, only if 'guests up' started it (never someone else's)
    if [ -f "$STATE/backend/record" ]; then
        backend_stop "$STATE/backend" 5 || true
        case $BK_RESULT in
            stopped|killed) info "backend stopped (pid $BK_PID)" ;;
        esac
    fi
    # 6. the backend directory, if 'up' created it and it is empty now
    if [ "$kv_DIR_CREATED" = 1 ] && [ -n "$kv_DIR" ]; then
        rmdir -- "$kv_DIR" 2>/dev/null || true
    fi
    rm -rf -- "$STATE"
}

# --------------------------------------------------------------------------
# holder: runs as pid 1 of the guest's pid namespace (bash, reaps orphans)
# args: NAME BACKEND_DIR HOSTS_FILE READY_FILE

# shellcheck disable=SC2016
HOLDER_SCRIPT='
set -e
unset OVIRT_HOLDER_SCRIPT
name=$1 dir=$2 hosts=$3 ready=$4
exec 4>"$ready"
echo "$name" >/proc/sys/kernel/hostname
mount -t tmpfs -o mode=1777,nosuid,nodev,size=50% ovirt-shm /dev/shm
mount --bind "$hosts" /etc/hosts
mkdir -p "$dir"
exec 3<"$dir"
mount -t tmpfs -o mode=755,nosuid,nodev ovirt-run /run
mkdir -p /run/lock && chmod 1777 /run/lock
mkdir -p "$dir"
# bind the host directory (held open on fd 3) back at the same path;
# --no-canonicalize so that mount(2) follows /proc/self/fd/3 itself.
mount --no-canonicalize --bind /proc/self/fd/3 "$dir"
exec 3<&-
cd /
echo ready >&4
exec 4>&- 0</dev/null
# become a tiny init: bash reaps every child (a daemonized orted is reparented
# to us) while sleeping in the background, and stays responsive to signals
exec -a "ompi-virt-guest:$name" /bin/bash -c "trap \"exit 0\" TERM INT HUP; while :; do sleep 86400 & wait \$! || true; done"'

# --------------------------------------------------------------------------
# guests up

cmd_up() {
    local n="" dir subnet=$DEF_SUBNET bridge=$DEF_BRIDGE auto=0 backend=1
    dir=$(default_guests_dir)
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) usage_up; exit 0 ;;
            --dir) [ $# -ge 2 ] || die2 "--dir needs an argument"; dir=$2; shift 2 ;;
            --dir=*) dir=${1#*=}; shift ;;
            --subnet) [ $# -ge 2 ] || die2 "--subnet needs an argument"; subnet=$2; shift 2 ;;
            --subnet=*) subnet=${1#*=}; shift ;;
            --bridge) [ $# -ge 2 ] || die2 "--bridge needs an argument"; bridge=$2; shift 2 ;;
            --bridge=*) bridge=${1#*=}; shift ;;
            --no-backend) backend=0; shift ;;
            --auto) auto=1; shift ;;   # internal: mark as brought up by a test runner
            -v|--verbose) VERBOSE=1; shift ;;
            -*) echo "$PROG: unknown option '$1'" >&2; usage_up >&2; exit 2 ;;
            *) [ -z "$n" ] || { usage_up >&2; exit 2; }; n=$1; shift ;;
        esac
    done
    [ -n "$n" ] || { echo "$PROG: guests up: missing N" >&2; usage_up >&2; exit 2; }
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die2 "N must be an integer in 1..200 (got '$n')"
    need_root up
    need_base_tools
    netguard_need

    # validate arguments
    [[ $bridge =~ ^[A-Za-z][A-Za-z0-9_]{0,11}$ ]] ||
        die2 "bad bridge name '$bridge' (letters, digits, _; at most 12 characters)"
    [[ $subnet == */* ]] || die2 "--subnet must be CIDR, e.g. $DEF_SUBNET"
    local net=${subnet%/*} prefix=${subnet#*/}
    valid_ipv4 "$net" && [[ $prefix =~ ^[0-9]+$ ]] && [ "$prefix" -ge 8 ] && [ "$prefix" -le 30 ] ||
        die2 "bad subnet '$subnet' (want a.b.c.d/P with 8 <= P <= 30)"
    local mask=$(( (0xffffffff << (32 - prefix)) & 0xffffffff ))
    local netint=$(( $(ip2int "$net") & mask ))
    local size=$(( 1 << (32 - prefix) ))
    [ $((n + 2)) -lt "$size" ] || die2 "subnet $subnet too small for $n guests"
    subnet="$(int2ip "$netint")/$prefix"
    [[ $dir == /* ]] || die2 "--dir must be an absolute path"
    dir=$(realpath -m -- "$dir")
    case $dir in
        /|/run|/dev/shm|/dev/shm/*|/proc|/proc/*|/sys|/sys/*) die2 "--dir '$dir' is not allowed" ;;
    esac

    lock_state

    # idempotency
    local have
    if have=$(state_ok); then
        if [ "$have" = "$n" ]; then
            info "$n guests already up (no-op); see '$PROG guests list'"
            if [ "$backend" = 1 ]; then
                local kv_DIR=""
                read_kv "$STATE/config"
                guests_backend_start "${kv_DIR:-$dir}" || exit 1
            fi
            return 0
        fi
        die "$have guests are up, not $n; run '$PROG guests down' first"
    fi
    if [ -e "$STATE" ] || ip link show "$bridge" >/dev/null 2>&1 ||
       ip netns list 2>/dev/null | grep -qE "^${bridge}-vg[0-9]+( |\$)"; then
        if [ -e "$STATE" ] || ip -d link show "$bridge" 2>/dev/null | grep -q "alias $BRIDGE_ALIAS"; then
            info "incomplete or dead guests found; cleaning up first"
            teardown "$bridge"
        elif ip link show "$bridge" >/dev/null 2>&1; then
            die "interface '$bridge' exists and was not made by $PROG; choose another --bridge"
        else
            teardown "$bridge"
        fi
    fi

    # refuse a subnet that overlaps something already on this host
    local host_ip guest_ip
    host_ip=$(int2ip $((netint + 1)))
    local a r
    while read -r a; do
        [ -n "$a" ] || continue
        local aip=${a%/*}
        if [ $(( $(ip2int "$aip") & mask )) = "$netint" ]; then
            die "subnet $subnet overlaps address $a already on this host; choose another --subnet"
        fi
    done < <(ip -4 -o addr show | awk '{print $4}')
    r=$(ip -4 route show match "$host_ip" 2>/dev/null | grep -v '^default' || true)
    if [ -n "$r" ]; then
        die "subnet $subnet overlaps an existing route ($r); choose another --subnet"
    fi

    if [ "$backend" = 1 ] && ! backend_probe "$dir" >/dev/null && ! find_backend_bin >/dev/null; then
        die "ompi-virt-backend not found (looked next to $SELF, in ../backend, ../sbin," \
            "\$OMPI_VIRT_BUILDDIR/backend and PATH): build or install it, set OMPI_VIRT_BUILDDIR or" \
            "OMPI_VIRT_BACKEND_BIN, or pass --no-backend"
    fi
    local dir_created=0
    [ -e "$dir" ] || dir_created=1
    mkdir -p "$dir"

    # from here on, failure means: remove what we made
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2154
    trap 'rc=$?; if [ $rc != 0 ]; then echo "$PROG: guests up failed; cleaning up" >&2; teardown "'"$bridge"'"; fi' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    mkdir -p "$STATE/guests" "$STATE/log"
    cat >"$STATE/config" <<EOF
BRIDGE=$bridge
SUBNET=$subnet
PREFIX=$prefix
HOST_IP=$host_ip
DIR=$dir
DIR_CREATED=$dir_created
N=$n
BRIDGE_CREATED=1
EOF

    # /etc/hosts for the guests
    {
        echo "# written by $PROG guests up; bind-mounted as /etc/hosts inside guests"
        echo "127.0.0.1	localhost"
        echo "::1	localhost ip6-localhost ip6-loopback"
        echo "$host_ip	$bridge ovirt-host $(hostname)"
        local i
        for i in $(seq 1 "$n"); do
            echo "$(int2ip $((netint + 1 + i)))	vg$i"
        done
    } >"$STATE/hosts"

    # bridge, with its own MAC fixed (a bridge otherwise takes the lowest of
    # its ports' and changes it as ports come and go)
    ip link add "$bridge" address "$(netguard_mac "$host_ip")" type bridge
    ip link set dev "$bridge" alias "$BRIDGE_ALIAS"
    ip addr add "$host_ip/$prefix" dev "$bridge"
    netguard_no_ipv6 "$bridge"
    ip link set dev "$bridge" up
    vinfo "bridge $bridge $host_ip/$prefix"

    # guard every port before any of them exists (netguard.sh: no guest can
    # take another's or the host's addresses, or see frames not meant for it)
    local i specs=()
    for i in $(seq 1 "$n"); do
        guest_ip=$(int2ip $((netint + 1 + i)))
        specs+=("$bridge-$i $(netguard_mac "$guest_ip") $guest_ip")
    done
    netguard_load "$bridge" "${specs[@]}"

    local name ns veth mac upid pid ready log k
    for i in $(seq 1 "$n"); do
        name=vg$i
        ns=$bridge-$name
        veth=$bridge-$i
        guest_ip=$(int2ip $((netint + 1 + i)))
        mac=$(netguard_mac "$guest_ip")
        ready=$STATE/log/$name.ready
        log=$STATE/log/$name.log
        : >"$ready"
        printf 'NAME=%s\nIP=%s\nMAC=%s\nNETNS=%s\nVETH=%s\n' "$name" "$guest_ip" "$mac" "$ns" "$veth" >"$STATE/guests/$name"

        ip netns add "$ns"
        ip link add "$veth" type veth peer name eth0 address "$mac" netns "$ns"
        ip link set dev "$veth" master "$bridge"
        netguard_port "$bridge" "$veth" "$mac"
        netguard_no_ipv6 "$veth"
        netguard_no_ipv6 "$ns" eth0
        ip link set dev "$veth" up
        ip -n "$ns" link set dev lo up
        ip -n "$ns" addr add "$guest_ip/$prefix" dev eth0
        ip -n "$ns" link set dev eth0 up

        # holder: ip netns exec (net ns + fresh /sys) -> unshare (the rest) -> bash as pid 1
        (
            exec </dev/null >"$log" 2>&1
            close_fds
            export OVIRT_HOLDER_SCRIPT=$HOLDER_SCRIPT
            exec setsid ip netns exec "$ns" \
                unshare --fork --pid --mount-proc --uts --ipc --mount --propagation private \
                /bin/bash -c 'eval "$OVIRT_HOLDER_SCRIPT"' ompi-virt-holder "$name" "$dir" "$STATE/hosts" "$ready"
        ) &
        upid=$!
        echo "UPID=$upid" >>"$STATE/guests/$name"

        # wait (bounded) for the holder to finish its set-up
        for k in $(seq 200); do
            if [ -s "$ready" ]; then break; fi
            if ! kill -0 "$upid" 2>/dev/null; then
                die "holder of $name exited during set-up: $(tr '\n' ' ' <"$log")"
            fi
            sleep 0.025
        done
        [ -s "$ready" ] || die "holder of $name did not get ready in 5 s: $(tr '\n' ' ' <"$log")"
        # host pid of the guest's init = the child of unshare
        pid=""
        for k in $(seq 100); do
            pid=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}') || true
            [ -n "$pid" ] && break
            pid=$(pgrep -P "$upid" 2>/dev/null | head -n1) || true
            [ -n "$pid" ] && break
            sleep 0.02
        done
        [ -n "$pid" ] || die "cannot find the init process of $name"
        echo "PID=$pid" >>"$STATE/guests/$name"
        holder_alive "$pid" "$ns" || die "holder of $name is not in its network namespace"
        vinfo "$name ip=$guest_ip pid=$pid netns=$ns veth=$veth"
    done

    if [ "$backend" = 1 ]; then
        guests_backend_start "$dir" || exit 1   # the EXIT trap tears everything down
    fi
    if [ "$auto" = 1 ]; then : >"$STATE/auto"; fi
    : >"$STATE/complete"
    trap - EXIT INT TERM
    t1=$(date +%s.%N)
    info "$n guests up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s (bridge $bridge $host_ip/$prefix, backend dir $dir)"
}

# --------------------------------------------------------------------------
# guests down

cmd_down() {
    local bridge=""
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) usage_down; exit 0 ;;
            --bridge) [ $# -ge 2 ] || die2 "--bridge needs an argument"; bridge=$2; shift 2 ;;
            --bridge=*) bridge=${1#*=}; shift ;;
            *) echo "$PROG: guests down: unexpected argument '$1'" >&2; usage_down >&2; exit 2 ;;
        esac
    done
    need_root down
    need_base_tools
    if [ -n "$bridge" ] && ! [[ $bridge =~ ^[A-Za-z][A-Za-z0-9_]{0,11}$ ]]; then
        die2 "bad bridge name '$bridge'"
    fi
    lock_state
    if [ ! -e "$STATE" ] && { [ -z "$bridge" ] && bridge=$DEF_BRIDGE; true; } &&
       ! ip link show "$bridge" >/dev/null 2>&1 &&
       ! ip netns list 2>/dev/null | grep -qE "^${bridge}-vg[0-9]+( |\$)"; then
        info "no guests (nothing to do)"
        return 0
    fi
    local n
    n=$(guest_names | wc -l)
    teardown "$bridge"
    if [ "$n" -gt 0 ]; then
        info "guests down ($n removed)"
    else
        info "guests down (leftovers removed)"
    fi
}
