# backend.sh — 'ompi-virt backend start|stop|status': the host backend
# (ompi-virt-backend) run in the background.  Also used by 'guests up/down/list'.
# Needs common.sh.
#
# backend: ompi-virt-backend started in the background, with a record of
# what we started, so that we only ever stop our own.
#
# A record directory (host-only; never the backend directory, which guests
# can write) holds:
#   record        DIR PID START BIN LOG PRIVATE [WATCHER WSTART OWNER]
#                 (START = field 22 of /proc/PID/stat, so that a recycled pid
#                 is never mistaken for ours)
#   backend.log   the backend's stderr (default LOG of 'backend start')
# 'backend start' keeps its records in $(bk_root)/<hash of DIR>; 'guests up'
# keeps its record in $STATE/backend and the log in $STATE/log/backend.log.

BK_RESULT="" BK_PID="" BROOT_FOR_WATCHER=""

find_backend_bin() {
    if [ -n "${OMPI_VIRT_BACKEND_BIN:-}" ]; then
        [ -f "$OMPI_VIRT_BACKEND_BIN" ] && [ -x "$OMPI_VIRT_BACKEND_BIN" ] || return 1
        echo "$OMPI_VIRT_BACKEND_BIN"
        return 0
    fi
    find_bin ompi-virt-backend
}

# backend_probe DIR [SECONDS]: 0 if a backend answers on DIR/backend.sock;
# prints its pid when it can tell.  Never touches DIR/backend.lock (taking it
# would make a starting backend believe the directory is owned).
backend_probe() {
    local dir=$1 sock=$1/backend.sock t=${2:-6} st out rc py
    [ -S "$sock" ] || return 1
    if st=$(find_bin ompi-virt-status); then
        out=$(timeout "$t" "$st" --json --dir "$dir" 2>/dev/null); rc=$?
        case $rc in
            0) sed -n 's/.*"backend":{"pid":\([0-9][0-9]*\).*/\1/p' <<<"$out" | head -n1; return 0 ;;
            3) return 0 ;;   # it answered, but will not tell us (we are in a guest)
        esac
        # no answer it understood: a backend of another version still
        # accepts connections (checked below); a stale socket does not
    fi
    py=/usr/bin/python3
    [ -x "$py" ] || py=$(command -v python3 2>/dev/null) || return 1
    timeout "$t" "$py" -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])' "$sock" 2>/dev/null
}

# bk_root: where 'backend start' keeps its records (host-only, ours)
bk_root() {
    local r
    if [ -n "${OMPI_VIRT_BACKEND_STATE:-}" ]; then
        r=$OMPI_VIRT_BACKEND_STATE
    elif [ "$(id -u)" = 0 ]; then
        r=/run/ompi-virt-backends
    else
        r=${XDG_RUNTIME_DIR:-/tmp}/ompi-virt-backends-$(id -u)
    fi
    [[ $r == /* ]] || die2 "OMPI_VIRT_BACKEND_STATE must be an absolute path"
    (umask 077 && mkdir -p -- "$r") 2>/dev/null || die "cannot create $r"
    [ -O "$r" ] && [ ! -L "$r" ] || die "$r is not a directory of ours; set OMPI_VIRT_BACKEND_STATE"
    echo "$r"
}

# bk_recdir DIR: the record directory of 'backend start' for DIR
bk_recdir() {
    local root key
    root=$(bk_root) || exit 1
    key=$(printf '%s' "$1" | md5sum | cut -c1-16)
    echo "$root/$key"
}

# bk_lock RECDIR: serialise start/stop on one record directory (fd 7).
# 'stop' may remove the directory; whoever then holds a lock on the removed
# file notices (inode re-check) and locks again.
bk_lock() {
    local rec=$1 k
    for ((k = 0; k < 10; k++)); do
        (umask 077 && mkdir -p -- "$rec") || die "cannot create $rec"
        exec 7>"$rec/lock" || die "cannot open $rec/lock"
        flock -w 30 7 || die "timed out after 30 s waiting for $rec/lock"
        if [ "$(stat -c %i -- "$rec/lock" 2>/dev/null)" = "$(stat -L -c %i /proc/self/fd/7)" ]; then
            return 0
        fi
        exec 7>&-
    done
    die "cannot lock $rec/lock"
}

# bk_unlock_tidy RECDIR: a record directory holding nothing but its lock is
# removed (called with the lock held)
bk_unlock_tidy() {
    local rec=$1 f
    for f in "$rec"/* "$rec"/.[!.]*; do
        [ -e "$f" ] || continue
        [ "$f" = "$rec/lock" ] || return 0
    done
    rm -f -- "$rec/lock"
    rmdir -- "$rec" 2>/dev/null || true
}

# bk_check_dir DIR: absolute, not a system directory, socket path short
# enough for sun_path; prints the canonical path
bk_check_dir() {
    local dir=$1
    [[ $dir == /* ]] || die2 "--dir must be an absolute path (got '$dir')"
    dir=$(realpath -m -- "$dir")
    case $dir in
        /|/run|/tmp|/dev|/dev/*|/proc|/proc/*|/sys|/sys/*) die2 "--dir '$dir' is not allowed" ;;
    esac
    [ ${#dir} -le 94 ] || die2 "--dir '$dir' is too long for a unix socket path (at most 94 characters)"
    echo "$dir"
}

# bk_owner_of DIR: who started the backend now serving DIR, as far as this
# tool knows; fails if it does not know (someone else started it)
bk_owner_of() {
    local dir=$1 rec kv_DIR kv_PID kv_START
    for rec in "$(bk_recdir "$dir")/record" "$STATE/backend/record"; do
        [ -f "$rec" ] || continue
        kv_DIR="" kv_PID="" kv_START=""
        read_kv "$rec"
        if [ "$kv_DIR" = "$dir" ] && proc_alive "$kv_PID" "$kv_START"; then
            case $rec in
                "$STATE"/*) echo "'guests up' (state $STATE); 'guests down' stops it" ;;
                *) echo "'backend start'; 'backend stop --dir $dir' stops it" ;;
            esac
            return 0
        fi
    done
    return 1
}

# backend_start RECDIR DIR LOG WAIT OWNER-PID PRIVATE [BACKEND-ARGS...]
# Sets BK_RESULT -- started | ours (already running from this RECDIR) |
# reused (a backend we did not start serves DIR) -- and BK_PID (empty if
# unknown).  Returns 1, with a message, if no backend could be started.
backend_start() {
    local rec=$1 dir=$2 log=$3 wait=$4 owner=$5 private=$6
    shift 6
    local kv_DIR="" kv_PID="" kv_START="" p bin pid rc w ready=0 ps_state="" ps_start="" deadline
    BK_RESULT="" BK_PID=""
    (umask 077 && mkdir -p -- "$rec") || { info "error: cannot create $rec"; return 1; }
    if [ -f "$rec/record" ]; then
        read_kv "$rec/record"
        if proc_alive "$kv_PID" "$kv_START"; then
            BK_RESULT=ours BK_PID=$kv_PID
            return 0
        fi
        vinfo "forgetting the backend recorded in $rec (pid $kv_PID is gone)"
        rm -f -- "$rec/record"
    fi
    if p=$(backend_probe "$dir"); then
        BK_RESULT=reused BK_PID=$p
        return 0
    fi
    if ! bin=$(find_backend_bin); then
        info "error: ompi-virt-backend not found (looked next to $SELF, in ../backend," \
             "../sbin, \$OMPI_VIRT_BUILDDIR/backend and PATH); build it (make), install it" \
             "(make install), or set OMPI_VIRT_BUILDDIR or OMPI_VIRT_BACKEND_BIN"
        return 1
    fi
    mkdir -p -- "$dir" || { info "error: cannot create $dir"; return 1; }
    mkdir -p -- "${log%/*}" 2>/dev/null
    echo "=== $(date '+%F %T') $PROG: $bin --dir $dir $*" >>"$log" || { info "error: cannot write $log"; return 1; }
    # setsid: the backend outlives this command and its process group (a
    # Ctrl-C aimed at the caller does not reach it).  The subshell is not a
    # process group leader, so setsid(1) execs in place and $! is the
    # backend's own pid.
    (
        close_fds
        cd /
        exec </dev/null >>"$log" 2>&1
        exec setsid "$bin" --dir "$dir" "$@"
    ) &
    pid=$!
    # record it at once: whoever interrupts us can still stop it
    proc_stat "$pid"
    printf 'DIR=%s\nPID=%s\nSTART=%s\nBIN=%s\nLOG=%s\nPRIVATE=%s\n' \
        "$dir" "$pid" "$ps_start" "$bin" "$log" "$private" >"$rec/record.tmp" &&
        mv -f -- "$rec/record.tmp" "$rec/record"
    deadline=$(( $(now_us) + wait * 1000000 ))
    while [ "$(now_us)" -lt "$deadline" ]; do
        if ! proc_stat "$pid" || [ "$ps_state" = Z ]; then
            wait "$pid" 2>/dev/null; rc=$?
            rm -f -- "$rec/record"
            if [ "$rc" = 2 ] && p=$(backend_probe "$dir"); then
                # another backend took the directory first: use that one
                BK_RESULT=reused BK_PID=$p
                return 0
            fi
            info "error: ompi-virt-backend exited with status $rc while starting on $dir; last lines of $log:"
            tail -n 8 "$log" | sed 's/^/    | /' >&2
            return 1
        fi
        if [ -S "$dir/backend.sock" ] && p=$(backend_probe "$dir" 2) && { [ -z "$p" ] || [ "$p" = "$pid" ]; }; then
            ready=1
            break
        fi
        sleep 0.05
    done
    if [ "$ready" = 0 ]; then
        kill -TERM "$pid" 2>/dev/null
        sleep 0.5
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -f -- "$rec/record"
        info "error: ompi-virt-backend (pid $pid) did not accept connections on $dir/backend.sock within $wait s; stopped it; last lines of $log:"
        tail -n 8 "$log" | sed 's/^/    | /' >&2
        return 1
    fi
    if [ -n "$owner" ]; then
        # stop the backend when OWNER exits, however it exits (even SIGKILL)
        (
            close_fds
            cd /
            exec </dev/null >>"$log" 2>&1
            export OMPI_VIRT_BACKEND_STATE=$BROOT_FOR_WATCHER
            # shellcheck disable=SC2016
            exec setsid /bin/bash -c 'tail --pid="$1" -f /dev/null; exec "$2" backend stop --dir "$3"' \
                ompi-virt-backend-watch "$owner" "$SELF" "$dir"
        ) &
        w=$!
        proc_stat "$w"
        printf 'WATCHER=%s\nWSTART=%s\nOWNER=%s\n' "$w" "$ps_start" "$owner" >>"$rec/record"
    fi
    BK_RESULT=started BK_PID=$pid
    return 0
}

# backend_stop RECDIR WAIT: stop the backend recorded in RECDIR if it still
# is the process we started: SIGTERM, WAIT seconds, SIGKILL.  Sets BK_RESULT
# (stopped | killed | gone | none) and BK_PID.  Returns 1 if it survived.
backend_stop() {
    local rec=$1 wait=$2
    local kv_DIR="" kv_PID="" kv_START="" kv_PRIVATE="" kv_WATCHER="" kv_WSTART=""
    BK_RESULT=none BK_PID=""
    [ -f "$rec/record" ] || return 0
    read_kv "$rec/record"
    BK_PID=$kv_PID
    # its owner watcher, unless that is what runs us
    if [ -n "$kv_WATCHER" ] && [ "$kv_WATCHER" != $$ ] && [ "$kv_WATCHER" != "$PPID" ] &&
       proc_alive "$kv_WATCHER" "$kv_WSTART"; then
        kill -KILL "$kv_WATCHER" 2>/dev/null || true
    fi
    BK_RESULT=gone
    if proc_alive "$kv_PID" "$kv_START"; then
        kill -TERM "$kv_PID" 2>/dev/null || true
        BK_RESULT=stopped
        if ! wait_exit "$kv_PID" "$kv_START" $((wait * 1000000)); then
            info "backend pid $kv_PID did not exit within $wait s of SIGTERM; sending SIGKILL"
            kill -KILL "$kv_PID" 2>/dev/null || true
            BK_RESULT=killed
            if ! wait_exit "$kv_PID" "$kv_START" 2000000; then
                info "error: backend pid $kv_PID survived SIGKILL"
                return 1
            fi
            # a killed backend leaves its socket behind (the next one would
            # remove it too); only ours, only if it is a socket
            [ ! -S "$kv_DIR/backend.sock" ] || rm -f -- "$kv_DIR/backend.sock"
        fi
    fi
    rm -f -- "$rec/record"
    if [ "$kv_PRIVATE" = 1 ] && [ -n "$kv_DIR" ]; then
        rm -rf -- "$kv_DIR" "$rec"
    fi
    return 0
}

usage_backend() {
    cat <<EOF
usage: $PROG backend start  [--dir DIR | --private] [--owner PID] [--log FILE]
                               [--wait S] [-- BACKEND-ARGS...]
       $PROG backend stop   [--dir DIR] [--wait S]
       $PROG backend status [--dir DIR]

Run the host backend, ompi-virt-backend, in the background on DIR (default
\$OMPI_VIRT_DIR, else $DEF_DIR).  MPI processes find it at DIR/backend.sock:
export OMPI_VIRT_DIR=DIR when DIR is not the default.

start   Start 'ompi-virt-backend --dir DIR BACKEND-ARGS' detached (own
        session), wait until DIR/backend.sock accepts connections (at most
        --wait S seconds, default 5), and record its pid.  If a backend already
        serves DIR, say so and reuse it: it was not started here, so
        'backend stop' will not stop it.
          --private    use a new directory under \${TMPDIR:-/tmp}, print its
                       path on stdout, remove it when the backend is stopped
          --owner PID  also stop the backend (and remove a --private
                       directory) when process PID exits, however it exits
          --log FILE   the backend's log (default: next to the record, below)
stop    Stop the backend that 'backend start' started on DIR: SIGTERM, up to
        --wait S seconds (default 5), then SIGKILL.  A backend that anyone else
        started (by hand, systemd, 'guests up') is never stopped.
status  Whether a backend serves DIR, its pid, who started it, its log.

The binary is looked for next to this tool, in ../backend/ (build tree),
../sbin/, \$OMPI_VIRT_BUILDDIR/backend/, then PATH, /usr/local/sbin and
/usr/sbin; OMPI_VIRT_BACKEND_BIN overrides.  'start' keeps its records and the
default log in \$OMPI_VIRT_BACKEND_STATE (default /run/ompi-virt-backends as
root, else \${XDG_RUNTIME_DIR:-/tmp}/ompi-virt-backends-UID), never in DIR.
'guests up' starts a backend of its own (see '$PROG guests up --help').

Exit status:
  start   0 started, or a backend already serves DIR; 1 could not start; 2 usage
  stop    0 stopped, or nothing of ours to stop; 1 could not stop; 2 usage
  status  0 a backend serves DIR; 3 none does; 2 usage
EOF
}

cmd_backend() {
    local sub=${1:-}
    [ $# -eq 0 ] || shift
    case $sub in
        -h|--help|help) usage_backend; return 0 ;;
        start|stop|status) ;;
        "") usage_backend >&2; exit 2 ;;
        *) echo "$PROG: unknown backend subcommand '$sub'" >&2; usage_backend >&2; exit 2 ;;
    esac
    local dir=${OMPI_VIRT_DIR:-$DEF_DIR} dir_set=0 private=0 owner="" log="" wait=5 p who
    local extra=()
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) usage_backend; exit 0 ;;
            --dir) [ $# -ge 2 ] || die2 "--dir needs an argument"; dir=$2; dir_set=1; shift 2 ;;
            --dir=*) dir=${1#*=}; dir_set=1; shift ;;
            --wait) [ $# -ge 2 ] || die2 "--wait needs seconds"; wait=$2; shift 2 ;;
            --wait=*) wait=${1#*=}; shift ;;
            --private) [ "$sub" = start ] || die2 "--private is an option of 'backend start'"; private=1; shift ;;
            --owner) { [ "$sub" = start ] && [ $# -ge 2 ]; } || die2 "--owner PID is an option of 'backend start'"; owner=$2; shift 2 ;;
            --owner=*) [ "$sub" = start ] || die2 "--owner is an option of 'backend start'"; owner=${1#*=}; shift ;;
            --log) { [ "$sub" = start ] && [ $# -ge 2 ]; } || die2 "--log FILE is an option of 'backend start'"; log=$2; shift 2 ;;
            --log=*) [ "$sub" = start ] || die2 "--log is an option of 'backend start'"; log=${1#*=}; shift ;;
            -v|--verbose) VERBOSE=1; shift ;;
            --) shift; [ "$sub" = start ] || die2 "backend arguments after '--' go with 'start' only"; extra=("$@"); break ;;
            *) echo "$PROG: backend $sub: unexpected argument '$1'" >&2; usage_backend >&2; exit 2 ;;
        esac
    done
    [[ $wait =~ ^[0-9]+$ ]] && [ "$wait" -ge 1 ] && [ "$wait" -le 600 ] || die2 "--wait must be 1..600 seconds"
    if [ -n "$owner" ]; then
        [[ $owner =~ ^[0-9]+$ ]] && [ -d "/proc/$owner" ] || die2 "--owner: no process $owner"
        command -v tail >/dev/null 2>&1 || die "'tail' not found; install it with: apt-get install -y coreutils"
    fi
    BROOT_FOR_WATCHER=$(bk_root) || exit 1
    if [ "$private" = 1 ]; then
        [ "$dir_set" = 0 ] || die2 "--private and --dir exclude each other"
        dir=$(mktemp -d "${TMPDIR:-/tmp}/ompi-virt-backend.XXXXXX") || die "cannot create a private directory"
    fi
    dir=$(bk_check_dir "$dir") || exit 2
    local rec
    rec=$(bk_recdir "$dir") || exit 1
    case $sub in
    start)
        [ -n "$log" ] || log=$rec/backend.log
        [[ $log == /* ]] || log=$PWD/$log
        bk_lock "$rec"
        if ! backend_start "$rec" "$dir" "$log" "$wait" "$owner" "$private" "${extra[@]}"; then
            if [ "$private" = 1 ]; then rm -rf -- "$dir" "$rec"; else bk_unlock_tidy "$rec"; fi
            exit 1
        fi
        [ "$BK_RESULT" != reused ] || bk_unlock_tidy "$rec"
        case $BK_RESULT in
            started) info "backend started on $dir (pid $BK_PID, log $log)" ;;
            ours) info "backend already running on $dir (pid $BK_PID, started by 'backend start'); nothing to do" ;;
            reused)
                who=$(bk_owner_of "$dir") || who="someone else, not this tool"
                info "a backend already serves $dir (pid ${BK_PID:-unknown}, started by $who);" \
                     "reusing it: 'backend stop' will not stop it" ;;
        esac
        if [ "$private" = 1 ]; then echo "$dir"; fi
        ;;
    stop)
        if [ -d "$rec" ]; then
            bk_lock "$rec"
        fi
        backend_stop "$rec" "$wait" || exit 1
        [ ! -d "$rec" ] || bk_unlock_tidy "$rec"
        case $BK_RESULT in
            stopped) info "backend on $dir stopped (pid $BK_PID)" ;;
            killed) info "backend on $dir killed (pid $BK_PID)" ;;
            gone) info "backend on $dir (pid $BK_PID) had already exited" ;;
            none)
                if p=$(backend_probe "$dir"); then
                    who=$(bk_owner_of "$dir") || who="someone else"
                    info "the backend on $dir (pid ${p:-unknown}) was not started by 'backend start'" \
                         "(started by $who); leaving it alone"
                else
                    info "no backend of ours on $dir (nothing to do)"
                fi ;;
        esac
        ;;
    status)
        if p=$(backend_probe "$dir"); then
            who=$(bk_owner_of "$dir") || who="someone else, not this tool ('backend stop' leaves it alone)"
            echo "backend on $dir: running, pid ${p:-unknown}"
            echo "started by: $who"
            local r kv_LOG kv_DIR
            for r in "$rec/record" "$STATE/backend/record"; do
                [ -f "$r" ] || continue
                kv_LOG="" kv_DIR=""
                read_kv "$r"
                if [ "$kv_DIR" = "$dir" ] && [ -n "$kv_LOG" ]; then echo "log: $kv_LOG"; break; fi
            done
            return 0
        fi
        echo "backend on $dir: not running (start one with '$PROG backend start --dir $dir')"
        local r kv_LOG kv_DIR kv_PID
        for r in "$rec/record" "$STATE/backend/record"; do
            [ -f "$r" ] || continue
            kv_LOG="" kv_DIR="" kv_PID=""
            read_kv "$r"
            if [ "$kv_DIR" = "$dir" ]; then
                echo "the backend started by this tool (pid $kv_PID) has exited; log: $kv_LOG"
                break
            fi
        done
        exit 3
        ;;
    esac
}
