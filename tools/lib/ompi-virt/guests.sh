# guests.sh — 'ompi-virt guests list|exec|reap' and the guests' dispatcher;
# the guests' state directory and the backend that serves the guests.
# Needs common.sh and backend.sh; 'up'/'down' are in guests-up.sh,
# 'mpirun' in mpirun.sh.

usage_guests() {
    cat <<EOF
usage: $PROG guests {up|down|list|exec|mpirun|reap} ...

  up N [--dir DIR] [--subnet CIDR] [--bridge NAME] [--no-backend]
  down [--bridge NAME]
  list
  exec GUEST [--] CMD...
  mpirun [--verbose] [--dry-run] -- MPIRUN-ARGS...
  reap [GUEST...]

Guests are named vg1..vgN (hostname = name). State lives in $STATE.
The host file system is shared with the guests except /dev/shm, /run (private
tmpfs, with the backend directory bind-mounted back) and /etc/hosts.
/tmp IS shared between the host and all guests.
EOF
}

usage_list() {
    cat <<EOF
usage: $PROG guests list

Print NAME IP PID ALIVE for each guest (PID = host pid of the guest's init),
then a line "backend: ..." saying whether a backend serves the guests'
directory, its pid, and whether 'guests down' will stop it.
Exit status 1 if no guests are up.
EOF
}

usage_exec() {
    cat <<EOF
usage: $PROG guests exec GUEST [--] CMD [ARG...]

Run CMD inside all of GUEST's namespaces (mount, UTS, IPC, net, PID) with
nsenter. stdin/stdout/stderr are passed through; the exit status is CMD's.
The working directory is kept if it exists in the guest, else /.
EOF
}

usage_reap() {
    cat <<EOF
usage: $PROG guests reap [GUEST...]

Kill (SIGKILL) every process inside the named guests (default: all), except
each guest's init. Use it to get rid of leftover orted/ranks after an aborted
run. The guests stay up.
EOF
}

# --------------------------------------------------------------------------
# state
#
# $STATE/config            BRIDGE SUBNET PREFIX HOST_IP DIR N BRIDGE_CREATED
# $STATE/guests/NAME       NAME IP PID UPID NETNS VETH
# $STATE/hosts             /etc/hosts bind-mounted into every guest
# $STATE/complete          written last by a successful 'up'
# $STATE/log/NAME.log      holder stderr
# $STATE.flock             lock serialising up/down


guest_names() {
    # guests in numeric order
    local f
    [ -d "$STATE/guests" ] || return 0
    for f in "$STATE"/guests/vg*; do
        [ -e "$f" ] || continue
        echo "${f##*/}"
    done | sort -V
}

# holder_alive PID NETNS: PID exists and is in the guest's netns
holder_alive() {
    local pid=$1 ns=$2 a b
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ -e "/run/netns/$ns" ] || return 1
    a=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) || return 1
    b=$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) || return 1
    [ "$a" = "$b" ]
}

# state_ok: complete, and every guest alive. Prints the guest count.
state_ok() {
    [ -f "$STATE/complete" ] && [ -f "$STATE/config" ] || return 1
    local kv_N="" g n=0
    read_kv "$STATE/config"
    for g in $(guest_names); do
        local kv_PID="" kv_NETNS=""
        read_kv "$STATE/guests/$g"
        holder_alive "$kv_PID" "$kv_NETNS" || return 1
        n=$((n + 1))
    done
    [ "$n" = "$kv_N" ] || return 1
    echo "$n"
}

# Serialise up/down (fd 9). Holders are started with all fds above 2 closed
# (close_fds), so they never keep the lock or a caller's pipe open.
lock_state() {
    mkdir -p "${STATE%/*}"
    exec 9>"$STATE.flock"
    if ! flock -w 60 9; then
        die "timed out after 60 s waiting for the lock $STATE.flock (another 'guests up/down' running?)"
    fi
}

# --------------------------------------------------------------------------
# the guests' backend

# guests_backend_start DIR: make sure a backend serves DIR; one that we
# start is recorded in $STATE/backend, so that 'guests down' stops it.
guests_backend_start() {
    local dir=$1 who
    backend_start "$STATE/backend" "$dir" "$STATE/log/backend.log" 5 "" 0 || return 1
    case $BK_RESULT in
        started) info "backend started on $dir (pid $BK_PID, log $STATE/log/backend.log); 'guests down' stops it" ;;
        ours) vinfo "backend already running on $dir (pid $BK_PID, started by 'guests up')" ;;
        reused)
            who=$(bk_owner_of "$dir") || who="someone else"
            info "a backend already serves $dir (pid ${BK_PID:-unknown}, started by $who); using it: 'guests down' will leave it alone" ;;
    esac
}

# guests_backend_line: one line on the backend serving the guests' directory
guests_backend_line() {
    local kv_DIR="" kv_PID="" kv_START="" p who dir
    [ -f "$STATE/config" ] || return 0
    read_kv "$STATE/config"
    dir=$kv_DIR
    [ -n "$dir" ] || return 0
    if p=$(backend_probe "$dir"); then
        if [ -f "$STATE/backend/record" ]; then
            kv_DIR="" kv_PID="" kv_START=""
            read_kv "$STATE/backend/record"
        fi
        if [ "$kv_DIR" = "$dir" ] && proc_alive "$kv_PID" "$kv_START"; then
            who="started by 'guests up'; 'guests down' stops it"
        else
            who=$(bk_owner_of "$dir") || who="someone else"
            who="not started by 'guests up' (by $who); 'guests down' leaves it alone"
        fi
        echo "backend: running, pid ${p:-unknown}, dir $dir ($who)"
    else
        echo "backend: NOT running on $dir (start one: '$PROG backend start --dir $dir', or 'guests up N' again)"
    fi
}

# default_guests_dir: $OMPI_VIRT_DIR, else /run/ompi-virt for the default
# state, else STATE.backend, so that independent sets of guests (--state)
# get independent backends
default_guests_dir() {
    if [ -n "${OMPI_VIRT_DIR:-}" ]; then
        echo "$OMPI_VIRT_DIR"
    elif [ "$STATE" = "$DEF_STATE" ]; then
        echo "$DEF_DIR"
    else
        echo "$STATE.backend"
    fi
}

# --------------------------------------------------------------------------
# guests list

cmd_list() {
    case ${1:-} in
        -h|--help) usage_list; exit 0 ;;
        "") ;;
        *) echo "$PROG: guests list: unexpected argument '$1'" >&2; usage_list >&2; exit 2 ;;
    esac
    need_root list
    if [ ! -d "$STATE/guests" ] || [ -z "$(guest_names)" ]; then
        info "no guests are up (state $STATE)"
        return 1
    fi
    local g alive
    printf '%-6s %-16s %-8s %s\n' NAME IP PID ALIVE
    for g in $(guest_names); do
        local kv_NAME="" kv_IP="" kv_PID="" kv_NETNS=""
        read_kv "$STATE/guests/$g"
        if holder_alive "$kv_PID" "$kv_NETNS"; then alive=yes; else alive=no; fi
        printf '%-6s %-16s %-8s %s\n' "$kv_NAME" "$kv_IP" "${kv_PID:--}" "$alive"
    done
    guests_backend_line
    if [ ! -f "$STATE/complete" ]; then
        info "warning: set-up incomplete; run 'guests up N' again or 'guests down'"
    fi
}

# guest_pid NAME -> host pid of the guest's init (dies if not up)
guest_pid() {
    local g=$1
    [[ $g =~ ^[A-Za-z0-9_.-]+$ ]] && [ -f "$STATE/guests/$g" ] ||
        die "no guest named '$g' (see '$PROG guests list')"
    local kv_PID="" kv_NETNS=""
    read_kv "$STATE/guests/$g"
    holder_alive "$kv_PID" "$kv_NETNS" || die "guest '$g' is not alive; run '$PROG guests down' and 'up' again"
    echo "$kv_PID"
}

# --------------------------------------------------------------------------
# guests exec

cmd_exec() {
    case ${1:-} in
        -h|--help) usage_exec; exit 0 ;;
        "") echo "$PROG: guests exec: missing GUEST" >&2; usage_exec >&2; exit 2 ;;
    esac
    local g=$1; shift
    [ "${1:-}" != "--" ] || shift
    [ $# -gt 0 ] || { echo "$PROG: guests exec: missing CMD" >&2; usage_exec >&2; exit 2; }
    need_root exec
    need_tool nsenter util-linux
    local pid wd=$PWD
    pid=$(guest_pid "$g")
    # the cwd must exist inside the guest (/run is private there)
    case $wd in /run|/run/*|/dev/shm|/dev/shm/*) wd=/ ;; esac
    [ -d "$wd" ] || wd=/
    exec nsenter -t "$pid" -m -u -i -n -p --wd="$wd" -- "$@"
}

# --------------------------------------------------------------------------
# guests reap

cmd_reap() {
    case ${1:-} in -h|--help) usage_reap; exit 0 ;; esac
    need_root reap
    local gs=("$@") g pid
    if [ ${#gs[@]} = 0 ]; then mapfile -t gs < <(guest_names); fi
    [ ${#gs[@]} -gt 0 ] || { info "no guests are up"; return 0; }
    for g in "${gs[@]}"; do
        pid=$(guest_pid "$g")
        # kill(-1) inside a pid namespace reaches every process of the namespace
        # except its init and the caller
        nsenter -t "$pid" -m -u -i -n -p -- /bin/kill -KILL -1 2>/dev/null || true
    done
}

cmd_guests() {
    local sub=${1:-}
    [ $# -eq 0 ] || shift
    case $sub in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        list|ls) cmd_list "$@" ;;
        exec) cmd_exec "$@" ;;
        mpirun) cmd_mpirun "$@" ;;
        reap) cmd_reap "$@" ;;
        -h|--help|help) usage_guests ;;
        "") usage_guests >&2; exit 2 ;;
        *) echo "$PROG: unknown guests subcommand '$sub'" >&2; usage_guests >&2; exit 2 ;;
    esac
}
