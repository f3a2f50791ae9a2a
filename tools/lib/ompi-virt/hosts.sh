# hosts.sh — 'host up|guest|list|down' and 'move': emulated fabric hosts for
# ib-virt (docs/ib-virt.md), each with its own backend.
# Sourced by tools/ompi-virt; uses common.sh and netguard.sh.
#
# A host is a network namespace PREFIX-NAME with its own ompi-virt-backend
# (directory DIRPREFIX-NAME) and its own address FABRIC.I on the fabric
# network, a private bridge PREFIXf.  Host I (1..9, in the order given to
# 'host up') owns the fabric addresses FABRIC.(10*I) .. FABRIC.(10*I+9).
# The backends talk to each other over the fabric network (fabric mappings:
# backend/fabric_mappings.h), port 7470.
#
# A guest is a network namespace PREFIX-gK with two veths: eth0 on the
# management bridge PREFIXm, address MGMT.(100+K), which it keeps (Open MPI's
# out-of-band channel, as a VM's virtual NIC keeps its address when it
# migrates; that bridge is guarded like the guests' one, netguard.sh, so no
# guest reads another's out-of-band traffic and the job key in it); and fab0
# on the fabric bridge, one address from its host's range.  'move GUEST
# HOST' gives fab0 a free address of HOST's range and deletes the old one,
# so endpoints bound to it really die, and records the guest's new host
# (whose backend the guest's processes then use).  As a live migration does
# it, the move also comes in two steps: 'move --prepare' adds the new address
# while the guest still runs (the destination's NIC, made ready before the
# stop), 'move --cutover' deletes the old one inside the blackout
# (--cutover-on-input: set up beforehand, the deletion on a line of stdin).
#
# State (KEY=VALUE records): $OMPI_VIRT_HOSTS_STATE (default
# /run/ompi-virt-hosts): config, host-NAME, guest-NAME.  Every name and
# address comes from the options of 'host up'; nothing else is touched.
# (kv_* and ps_* are set by common.sh's read_kv and proc_stat.)
# shellcheck shell=bash disable=SC2154

HOSTS_STATE=${OMPI_VIRT_HOSTS_STATE:-/run/ompi-virt-hosts}
HOST_LINK_PORT=7470

usage_host() {
    cat <<EOF
usage: $PROG host up NAME... [--prefix P] [--mgmt A.B.C] [--fabric A.B.D] [--dir-prefix PATH]
                            [-- BACKEND-ARGS...]
       $PROG host guest GUEST HOST
       $PROG host list
       $PROG host down
       $PROG move GUEST HOST
       $PROG move --prepare GUEST HOST | --cutover GUEST | --cutover-on-input GUEST | --commit GUEST
                  | --abort GUEST

  host up     make the hosts (at most 9, all at once: their backends know each
              other) and start one backend in each.  Defaults: --prefix ovh,
              --mgmt 10.213.8 (management network, /24), --fabric 10.213.9
              (fabric network, /24), --dir-prefix /run/ompi-virt-host (a
              host's backend directory is PATH-NAME).  Bridges PREFIXm and
              PREFIXf, namespaces PREFIX-NAME (hosts) and PREFIX-gK (guests).
  host guest  make guest GUEST (a network namespace) on HOST: its management
              address MGMT.(100+K), its fabric address from HOST's range
  host list   hosts (namespace, backend directory, pid, fabric range) and
              guests (host, fabric and management address)
  host down   stop the backends, remove every namespace, veth and bridge
              'host up' and 'host guest' made, the state, the backends'
              directories and their logs (a log is kept if its backend had
              exited on its own, or with OMPI_VIRT_KEEP_LOGS=1)
  move        move GUEST to HOST: a new fabric address from HOST's range, the
              old one deleted; prints the new address on its last line.  In
              two steps, as a live migration does it: --prepare adds the new
              address beside the old one (before the guest is suspended) and
              prints it; --cutover deletes the old address (inside the
              blackout) and records the new host; --cutover-on-input does
              all its set-up, prints "ready", deletes the old address when
              a line arrives on stdin and prints "cut" once it is gone
              (abandons the move after 60 s or at end of input); --commit
              records a prepared move whose old address the migration
              deleted itself (deleting it if it is still there); --abort
              removes a prepared address

Needs root.  State: \$OMPI_VIRT_HOSTS_STATE (default /run/ompi-virt-hosts).
A guest's processes run with 'ip netns exec PREFIX-gK CMD' and reach their
host's backend at unix:DIR/backend.sock ('host list' names DIR).
EOF
}

hosts_need_root() {
    [ "$(id -u)" = 0 ] || die2 "'$1' needs root (network namespaces, bridges, veths)"
    need_tool ip iproute2
}

hosts_config() {
    [ -r "$HOSTS_STATE/config" ] || die "no hosts (run '$PROG host up' first; state $HOSTS_STATE)"
    read_kv "$HOSTS_STATE/config"
}

# host_record NAME: sets kv_* of host NAME
host_record() {
    [ -r "$HOSTS_STATE/host-$1" ] || die "no host '$1' (see '$PROG host list')"
    read_kv "$HOSTS_STATE/host-$1"
}

# guest_record NAME: sets kv_* of guest NAME
guest_record() {
    [ -r "$HOSTS_STATE/guest-$1" ] || die "no guest '$1' (see '$PROG host list')"
    read_kv "$HOSTS_STATE/guest-$1"
}

valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,7}$ ]] || die2 "bad name '$1' ([A-Za-z0-9_-], at most 8)"; }
valid_net() { [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die2 "bad network '$1' (A.B.C: a /24)"; }

# Bound of one 'ip' call on a guest's fabric address: 'ip -n' mounts sysfs
# and takes the rtnl lock, both of which wait behind other namespaces being
# made or removed on the machine (a 10 s bound expired under such churn,
# 2026-12-07).
IP_BOUND=60

# free_fabric_addr HOST_INDEX: the first address of the host's range no guest
# holds or has prepared a move to (kv_FABRIC: from the config record)
free_fabric_addr() {
    local i=$1 j used a
    used=$(cat "$HOSTS_STATE"/guest-* 2>/dev/null | sed -n -e 's/^FABRIC_ADDR=//p' -e 's/^PENDING=.*://p')
    for j in 0 1 2 3 4 5 6 7 8 9; do
        a=$kv_FABRIC.$((10 * i + j))
        grep -qx "$a" <<<"$used" || { echo "$a"; return 0; }
    done
    return 1
}

cmd_host_up() {
    local prefix=ovh mgmt=10.213.8 fabric=10.213.9 dirprefix=/run/ompi-virt-host
    local names=() extra=()
    while [ $# -gt 0 ]; do
        case $1 in
            --prefix) prefix=$2; shift 2 ;;
            --mgmt) mgmt=$2; shift 2 ;;
            --fabric) fabric=$2; shift 2 ;;
            --dir-prefix) dirprefix=$2; shift 2 ;;
            -h|--help) usage_host; return 0 ;;
            --) shift; extra=("$@"); break ;;
            -*) die2 "unknown option '$1' (see '$PROG host --help')" ;;
            *) names+=("$1"); shift ;;
        esac
    done
    hosts_need_root "host up"
    netguard_need
    [ ${#names[@]} -ge 1 ] && [ ${#names[@]} -le 9 ] || die2 "host up wants 1 to 9 host names"
    [[ $prefix =~ ^[a-z0-9]{1,6}$ ]] || die2 "bad --prefix '$prefix' ([a-z0-9], at most 6)"
    valid_net "$mgmt"; valid_net "$fabric"
    [[ $dirprefix == /* ]] || die2 "--dir-prefix must be absolute"
    [ ! -e "$HOSTS_STATE/config" ] || die "hosts exist already (state $HOSTS_STATE): '$PROG host down' first"
    local bin n i
    bin=$(find_bin ompi-virt-backend) || die "ompi-virt-backend not found (build it, or set OMPI_VIRT_BUILDDIR)"
    for n in "${names[@]}"; do valid_name "$n"; done
    mkdir -p "$HOSTS_STATE"
    printf 'PREFIX=%s\nMGMT=%s\nFABRIC=%s\nDIRPREFIX=%s\nNHOSTS=%s\nNGUESTS=0\n' \
        "$prefix" "$mgmt" "$fabric" "$dirprefix" "${#names[@]}" >"$HOSTS_STATE/config"
    local b
    for b in "${prefix}m" "${prefix}f"; do
        ip link add "$b" type bridge
        ip link set "$b" up
    done
    i=0
    for n in "${names[@]}"; do
        i=$((i + 1))
        local ns=$prefix-$n
        ip netns add "$ns"
        ip link add "$prefix-h$i" type veth peer name fab0 netns "$ns"
        ip link set "$prefix-h$i" master "${prefix}f" up
        ip -n "$ns" link set lo up
        ip -n "$ns" link set fab0 up
        ip -n "$ns" addr add "$fabric.$i/24" dev fab0
        printf 'INDEX=%s\nNS=%s\nDIR=%s-%s\nADDR=%s\n' "$i" "$ns" "$dirprefix" "$n" "$fabric.$i" \
            >"$HOSTS_STATE/host-$n"
    done
    i=0
    for n in "${names[@]}"; do
        i=$((i + 1))
        local dir=$dirprefix-$n peers=() j
        for j in $(seq ${#names[@]}); do
            [ "$j" = $i ] || peers+=(--fabric-peer "$fabric.$j:$HOST_LINK_PORT")
        done
        mkdir -p "$dir"
        ( close_fds
          exec ip netns exec "$prefix-$n" "$bin" --dir "$dir" --fabric-listen "$fabric.$i:$HOST_LINK_PORT" \
              "${peers[@]}" "${extra[@]}" </dev/null >"$dir.log" 2>&1 ) &
        local pid=$!
        proc_stat "$pid" # sets ps_start
        printf 'BACKEND_PID=%s\nBACKEND_START=%s\n' "$pid" "$ps_start" >>"$HOSTS_STATE/host-$n"
        local _
        for _ in $(seq 100); do
            [ -S "$dir/backend.sock" ] && break
            proc_alive "$pid" "$ps_start" || die "backend of host $n exited (log $dir.log)"
            sleep 0.05
        done
        [ -S "$dir/backend.sock" ] || die "backend of host $n did not start in 5 s (log $dir.log)"
        info "host $n: namespace $prefix-$n, fabric $fabric.$i (guests $fabric.$((10 * i))-$((10 * i + 9))), backend $dir (pid $pid)"
    done
}

cmd_host_guest() {
    [ "${1:-}" != --help ] && [ "${1:-}" != -h ] || { usage_host; return 0; }
    [ $# = 2 ] || die2 "usage: $PROG host guest GUEST HOST"
    hosts_need_root "host guest"
    local g=$1 h=$2
    valid_name "$g"
    hosts_config
    local prefix=$kv_PREFIX k=$((kv_NGUESTS + 1))
    [ ! -e "$HOSTS_STATE/guest-$g" ] || die "guest '$g' exists already"
    [ "$k" -le 99 ] || die "at most 99 guests"
    host_record "$h"
    local addr ns=$prefix-g$k
    addr=$(free_fabric_addr "$kv_INDEX") || die "host $h has no free fabric address"
    # the management bridge's guard (netguard.sh) names every guest, this one too
    local mgmt_ip=$kv_MGMT.$((100 + k)) mac f specs=()
    mac=$(netguard_mac "$mgmt_ip")
    for f in "$HOSTS_STATE"/guest-*; do
        [ -e "$f" ] || continue
        local kv_NS="" kv_MGMT_ADDR=""
        read_kv "$f"
        specs+=("$prefix-m${kv_NS#"$prefix"-g} $(netguard_mac "$kv_MGMT_ADDR") $kv_MGMT_ADDR")
    done
    specs+=("$prefix-m$k $mac $mgmt_ip")
    netguard_load "${prefix}m" "${specs[@]}"
    ip netns add "$ns"
    ip link add "$prefix-m$k" type veth peer name eth0 address "$mac" netns "$ns"
    ip link set "$prefix-m$k" master "${prefix}m"
    netguard_port "${prefix}m" "$prefix-m$k" "$mac"
    netguard_no_ipv6 "$prefix-m$k"
    netguard_no_ipv6 "$ns" eth0
    ip link set "$prefix-m$k" up
    ip link add "$prefix-f$k" type veth peer name fab0 netns "$ns"
    ip link set "$prefix-f$k" master "${prefix}f" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set fab0 up
    # deleting the old (primary) address on a move would take the new,
    # secondary one with it: promote it instead
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv4/conf/fab0/promote_secondaries'
    ip -n "$ns" addr add "$mgmt_ip/24" dev eth0
    ip -n "$ns" addr add "$addr/24" dev fab0
    sed -i "s/^NGUESTS=.*/NGUESTS=$k/" "$HOSTS_STATE/config"
    printf 'NS=%s\nHOST=%s\nFABRIC_ADDR=%s\nMGMT_ADDR=%s\n' "$ns" "$h" "$addr" "$kv_MGMT.$((100 + k))" \
        >"$HOSTS_STATE/guest-$g"
    info "guest $g: namespace $ns on host $h, fabric $addr, management $kv_MGMT.$((100 + k))"
}

cmd_host_list() {
    [ "${1:-}" != --help ] && [ "${1:-}" != -h ] || { usage_host; return 0; }
    hosts_config
    local f n alive
    printf '%-10s %-14s %-30s %-8s %-6s %s\n' HOST NAMESPACE DIR PID ALIVE FABRIC
    for f in "$HOSTS_STATE"/host-*; do
        [ -e "$f" ] || continue
        n=${f##*/host-}
        read_kv "$f"
        alive=no
        proc_alive "$kv_BACKEND_PID" "$kv_BACKEND_START" && alive=yes
        printf '%-10s %-14s %-30s %-8s %-6s %s (guests .%s-.%s)\n' "$n" "$kv_NS" "$kv_DIR" "$kv_BACKEND_PID" \
            "$alive" "$kv_ADDR" "$((10 * kv_INDEX))" "$((10 * kv_INDEX + 9))"
    done
    printf '%-10s %-14s %-10s %-16s %s\n' GUEST NAMESPACE HOST FABRIC MANAGEMENT
    for f in "$HOSTS_STATE"/guest-*; do
        [ -e "$f" ] || continue
        read_kv "$f"
        printf '%-10s %-14s %-10s %-16s %s\n' "${f##*/guest-}" "$kv_NS" "$kv_HOST" "$kv_FABRIC_ADDR" "$kv_MGMT_ADDR"
    done
}

cmd_host_down() {
    [ "${1:-}" != --help ] && [ "${1:-}" != -h ] || { usage_host; return 0; }
    hosts_need_root "host down"
    [ -r "$HOSTS_STATE/config" ] || { info "no hosts"; return 0; }
    read_kv "$HOSTS_STATE/config"
    local prefix=$kv_PREFIX nguests=$kv_NGUESTS nhosts=$kv_NHOSTS f k
    for f in "$HOSTS_STATE"/host-*; do
        [ -e "$f" ] || continue
        read_kv "$f"
        if proc_alive "$kv_BACKEND_PID" "$kv_BACKEND_START"; then
            kill -TERM "$kv_BACKEND_PID" 2>/dev/null || true
            wait_exit "$kv_BACKEND_PID" "$kv_BACKEND_START" 5000000 || kill -KILL "$kv_BACKEND_PID" 2>/dev/null || true
            # the backend's socket and state go with it; so does its log,
            # unless asked to keep it
            [ "${OMPI_VIRT_KEEP_LOGS:-0}" = 1 ] || rm -f "$kv_DIR.log"
        else
            info "host ${f##*/host-}: its backend had exited before 'host down'; its log is kept: $kv_DIR.log"
        fi
        case $kv_DIR in /?*) rm -rf -- "$kv_DIR" ;; esac
        ip netns del "$kv_NS" 2>/dev/null || true
    done
    for k in $(seq "$nguests"); do
        ip netns del "$prefix-g$k" 2>/dev/null || true
        ip link del "$prefix-m$k" 2>/dev/null || true
        ip link del "$prefix-f$k" 2>/dev/null || true
    done
    for k in $(seq "$nhosts"); do ip link del "$prefix-h$k" 2>/dev/null || true; done
    ip link del "${prefix}m" 2>/dev/null || true
    ip link del "${prefix}f" 2>/dev/null || true
    netguard_unload "${prefix}m"
    rm -f "$HOSTS_STATE"/config "$HOSTS_STATE"/host-* "$HOSTS_STATE"/guest-* "$HOSTS_STATE"/.guest-*
    rmdir "$HOSTS_STATE" 2>/dev/null || true
    info "hosts removed"
}

cmd_host() {
    case ${1:-} in
        up) shift; cmd_host_up "$@" ;;
        guest) shift; cmd_host_guest "$@" ;;
        list) shift; cmd_host_list "$@" ;;
        down) shift; cmd_host_down "$@" ;;
        -h|--help|help) usage_host ;;
        *) usage_host >&2; exit 2 ;;
    esac
}

# guest_move_record NAME HOST ADDR [PENDING]: rewrite guest NAME's record
# (kv_NS, kv_MGMT_ADDR: from its record)
guest_move_record() {
    printf 'NS=%s\nHOST=%s\nFABRIC_ADDR=%s\nMGMT_ADDR=%s\n' "$kv_NS" "$2" "$3" "$kv_MGMT_ADDR" >"$HOSTS_STATE/.guest-$1.new"
    [ -z "${4:-}" ] || printf 'PENDING=%s\n' "$4" >>"$HOSTS_STATE/.guest-$1.new"
    mv "$HOSTS_STATE/.guest-$1.new" "$HOSTS_STATE/guest-$1"
}

# move_prepare GUEST HOST: add a free address of HOST's range to the guest's
# fab0 beside its current one (the destination's NIC, made ready while the
# guest still runs) and record it as pending; prints it
move_prepare() {
    local g=$1 h=$2 index new
    hosts_config
    host_record "$h"
    index=$kv_INDEX
    kv_PENDING=
    guest_record "$g"
    [ -z "$kv_PENDING" ] || die "guest $g has a move to ${kv_PENDING%%:*} prepared already (--cutover or --abort it)"
    [ "$kv_HOST" != "$h" ] || die "guest $g is on host $h already"
    read_kv "$HOSTS_STATE/config"
    new=$(free_fabric_addr "$index") || die "host $h has no free fabric address"
    # IPv4: no duplicate address detection to wait for
    timeout "$IP_BOUND" ip -n "$kv_NS" addr add "$new/24" dev fab0 ||
        die "guest $g: adding $new to fab0 failed or took over $IP_BOUND s"
    guest_move_record "$g" "$kv_HOST" "$kv_FABRIC_ADDR" "$h:$new"
    vinfo "guest $g: $new (host $h) added beside $kv_FABRIC_ADDR (host $kv_HOST)"
    echo "$new"
}

# move_cutover GUEST WAIT: delete the guest's old address, so endpoints bound
# to it die, and record the pending host as its host; prints the new
# address.  WAIT=1: everything is set up first (the 'ip' that deletes the
# address runs already, reading its command from a pipe), then one line is
# read from stdin and only then is the address deleted, and "cut" printed
# as soon as it is gone (before the record is rewritten): a migration starts
# this before it suspends the guest, writes the line inside its blackout and
# resumes at "cut".  No line within 60 s, or end of input: the pending address is
# removed instead (the move is abandoned) and it fails.
move_cutover() {
    local g=$1 wait=$2 h new old go ipfd st
    hosts_config
    kv_PENDING=
    guest_record "$g"
    [ -n "$kv_PENDING" ] || die "guest $g has no move prepared ('$PROG move --prepare $g HOST' first)"
    h=${kv_PENDING%%:*} new=${kv_PENDING#*:} old=$kv_FABRIC_ADDR
    exec {ipfd}> >(exec timeout $((IP_BOUND + 70)) ip -n "$kv_NS" -batch -)
    local ip_pid=$!
    if [ "$wait" = 1 ]; then
        echo "ready"
        if ! IFS= read -r -t 60 go; then
            echo "address del $new/24 dev fab0" >&"$ipfd"
            exec {ipfd}>&-
            wait "$ip_pid" || true
            guest_move_record "$g" "$kv_HOST" "$old"
            die "guest $g: no go for the cutover; the move to host $h is abandoned"
        fi
    fi
    echo "address del $old/24 dev fab0" >&"$ipfd"
    exec {ipfd}>&-
    st=0
    wait "$ip_pid" || st=$?
    [ "$st" = 0 ] || die "guest $g: deleting $old from fab0 failed (ip: $st)"
    # the waiting migration may resume now; the bookkeeping follows
    [ "$wait" = 0 ] || echo "cut"
    guest_move_record "$g" "$h" "$new"
    vinfo "guest $g: $old (host $kv_HOST) -> $new (host $h)"
    echo "$new"
}

# move_commit GUEST: record a prepared move as done when the migration
# deleted the old address itself (ib-virt-stress --commit-cmd: a netlink
# call inside its blackout); an old address still there is deleted; prints
# the new address
move_commit() {
    local g=$1 h new old
    hosts_config
    kv_PENDING=
    guest_record "$g"
    [ -n "$kv_PENDING" ] || die "guest $g has no move prepared ('$PROG move --prepare $g HOST' first)"
    h=${kv_PENDING%%:*} new=${kv_PENDING#*:} old=$kv_FABRIC_ADDR
    if ip -n "$kv_NS" -4 -o addr show dev fab0 | grep -q " $old/"; then
        timeout "$IP_BOUND" ip -n "$kv_NS" addr del "$old/24" dev fab0 || die "guest $g: deleting $old from fab0 failed"
    fi
    guest_move_record "$g" "$h" "$new"
    vinfo "guest $g: $old (host $kv_HOST) -> $new (host $h)"
    echo "$new"
}

# move_abort GUEST: remove a prepared move's address
move_abort() {
    local g=$1
    hosts_config
    kv_PENDING=
    guest_record "$g"
    [ -n "$kv_PENDING" ] || { vinfo "guest $g has no move prepared"; return 0; }
    timeout "$IP_BOUND" ip -n "$kv_NS" addr del "${kv_PENDING#*:}/24" dev fab0 2>/dev/null || true
    guest_move_record "$g" "$kv_HOST" "$kv_FABRIC_ADDR"
}

cmd_move() {
    [ "${1:-}" != --help ] && [ "${1:-}" != -h ] || { usage_host; return 0; }
    local mode=both
    case ${1:-} in
        --prepare) mode=prepare; shift ;;
        --cutover) mode=cutover; shift ;;
        --cutover-on-input) mode=cutover-wait; shift ;;
        --commit) mode=commit; shift ;;
        --abort) mode=abort; shift ;;
    esac
    hosts_need_root move
    case $mode in
        prepare)
            [ $# = 2 ] || die2 "usage: $PROG move --prepare GUEST HOST"
            move_prepare "$1" "$2" ;;
        cutover|cutover-wait)
            [ $# = 1 ] || die2 "usage: $PROG move --cutover|--cutover-on-input GUEST"
            move_cutover "$1" "$([ $mode = cutover-wait ] && echo 1 || echo 0)" ;;
        commit)
            [ $# = 1 ] || die2 "usage: $PROG move --commit GUEST"
            move_commit "$1" ;;
        abort)
            [ $# = 1 ] || die2 "usage: $PROG move --abort GUEST"
            move_abort "$1" ;;
        both)
            [ $# = 2 ] || die2 "usage: $PROG move GUEST HOST"
            move_prepare "$1" "$2" >/dev/null
            move_cutover "$1" 0 ;;
    esac
}
