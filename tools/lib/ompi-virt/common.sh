# common.sh — shared by every subcommand group of ompi-virt: messages,
# preconditions, the KEY=VALUE record reader, process identity (pid + start
# time, so that a recycled pid is never mistaken for ours), and where this
# build's or the installed binaries are.
# Sourced by tools/ompi-virt; uses PROG, VERBOSE, TOOLS_DIR set there.

# --------------------------------------------------------------------------
# messages

die()  { echo "$PROG: error: $*" >&2; exit 1; }
die2() { echo "$PROG: error: $*" >&2; exit 2; }
info() { echo "$PROG: $*" >&2; }
vinfo() { if [ "$VERBOSE" = 1 ]; then echo "$PROG: $*" >&2; fi; return 0; }

# --------------------------------------------------------------------------
# preconditions

need_root() {
    if [ "$(id -u)" != 0 ]; then
        die2 "'guests $1' needs root (it creates namespaces, a bridge and veths); run it as root or with sudo"
    fi
}

# need_tool CMD DEBIAN-PACKAGE
need_tool() {
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' not found; install it with: apt-get install -y $2"
}

need_base_tools() {
    need_tool ip iproute2
    need_tool nsenter util-linux
    need_tool unshare util-linux
    need_tool flock util-linux
    need_tool mount mount
    need_tool timeout coreutils
}

# --------------------------------------------------------------------------
# records and processes

# read_kv FILE: sets kv_<KEY> for each KEY=VALUE line (no eval of content)
read_kv() {
    local line k v
    while IFS= read -r line || [ -n "$line" ]; do
        [[ $line == *=* ]] || continue
        k=${line%%=*}; v=${line#*=}
        [[ $k =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
        printf -v "kv_$k" '%s' "$v"
    done <"$1"
}

# close_fds: close every fd above 2 of the current (sub)shell, so that
# long-lived children do not keep locks or callers' pipes open.
close_fds() {
    local f fd
    for f in /proc/$BASHPID/fd/*; do
        fd=${f##*/}
        [[ $fd =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ] || continue
        eval "exec $fd>&-" 2>/dev/null || true
    done
}

# find_bin NAME: this build's or the installed NAME, searched next to this
# tool, in ../backend/ (build tree), ../sbin/ (installed prefix),
# $OMPI_VIRT_BUILDDIR/backend/, then PATH plus /usr/local/sbin and /usr/sbin.
find_bin() {
    local name=$1 bin
    for bin in "$TOOLS_DIR/$name" "$TOOLS_DIR/../backend/$name" "$TOOLS_DIR/../sbin/$name" \
               "${OMPI_VIRT_BUILDDIR:-/nonexistent}/backend/$name" \
               "$(PATH=$PATH:/usr/local/sbin:/usr/sbin command -v "$name" 2>/dev/null || true)"; do
        if [ -n "$bin" ] && [ -f "$bin" ] && [ -x "$bin" ]; then
            echo "$bin"
            return 0
        fi
    done
    return 1
}

# proc_stat PID: sets ps_state and ps_start (field 22) of an existing PID
proc_stat() {
    local s rest f
    ps_state="" ps_start=""
    [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${s##*) }
    read -r -a f <<<"$rest"
    ps_state=${f[0]:-} ps_start=${f[19]:-}
    [ -n "$ps_start" ]
}

# proc_alive PID START: PID runs (is not a zombie) and is the same process
proc_alive() {
    local ps_state ps_start
    proc_stat "${1:-}" || return 1
    [ "$ps_state" != Z ] && [ "$ps_start" = "${2:-}" ]
}

# now_us: microseconds since the epoch (deadlines of bounded waits)
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

# wait_exit PID START US: wait up to US microseconds for the process to exit;
# true if it has
wait_exit() {
    local deadline=$(( $(now_us) + $3 ))
    while [ "$(now_us)" -lt "$deadline" ]; do
        proc_alive "$1" "$2" || return 0
        sleep 0.05
    done
    ! proc_alive "$1" "$2"
}
