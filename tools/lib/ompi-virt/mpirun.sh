# mpirun.sh — 'ompi-virt guests mpirun': mpirun on the host, ranks inside
# the guests.  Needs common.sh and guests.sh.

usage_mpirun() {
    cat <<EOF
usage: $PROG guests mpirun [--verbose] [--dry-run] -- MPIRUN-ARGS...

Run mpirun on the host so that its daemons and ranks start inside the guests,
e.g.  $PROG guests mpirun -- -np 2 --host vg1,vg2 ./prog

Adds, before MPIRUN-ARGS:
  --mca plm rsh --mca plm_rsh_agent $AGENT
  --mca plm_rsh_no_tree_spawn 1 --mca if_base_do_not_resolve 1 --bind-to none
  --mca oob_tcp_if_include SUBNET --mca btl_tcp_if_include SUBNET
  --allow-run-as-root (when root)
and exports OMPI_VIRT_DIR=(the guests' backend directory), which the agent
passes on to the ranks.

  --verbose   print the final mpirun command on stderr
  --dry-run   print it and exit without running
EOF
}

# --------------------------------------------------------------------------
# guests mpirun

cmd_mpirun() {
    local dry=0
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) usage_mpirun; exit 0 ;;
            -v|--verbose) VERBOSE=1; shift ;;
            -n|--dry-run) dry=1; VERBOSE=1; shift ;;
            --) shift; break ;;
            *) break ;;   # tolerate a missing '--'
        esac
    done
    [ $# -gt 0 ] || { echo "$PROG: guests mpirun: missing mpirun arguments" >&2; usage_mpirun >&2; exit 2; }
    need_root mpirun
    need_tool mpirun openmpi-bin
    need_tool nsenter util-linux
    [ -x "$AGENT" ] || die "launcher agent $AGENT missing or not executable"
    case $AGENT in *[\ :]*) die "the path of the agent ($AGENT) must not contain spaces or ':' (Open MPI splits plm_rsh_agent on them)" ;; esac
    [ -f "$STATE/complete" ] || die "no guests are up; run '$PROG guests up N' first"
    local kv_SUBNET="" kv_DIR=""
    read_kv "$STATE/config"
    # MCA parameters the user sets win: Open MPI refuses a parameter given twice
    local -A user_mca=()
    local user_bind=0 a prev=""
    for a in "$@"; do
        case $prev in -mca|--mca|-gmca|--gmca) [ -z "$a" ] || user_mca[$a]=1 ;; esac
        case $a in --bind-to|-bind-to|--bind-to=*) user_bind=1 ;; esac
        prev=$a
    done
    local cmd=(mpirun) k v
    # name value pairs, in order
    local ours=(
        plm rsh
        plm_rsh_agent "$AGENT"
        plm_rsh_no_tree_spawn 1
        if_base_do_not_resolve 1
        oob_tcp_if_include "$kv_SUBNET"
        btl_tcp_if_include "$kv_SUBNET")
    local i
    for ((i = 0; i < ${#ours[@]}; i += 2)); do
        k=${ours[i]}; v=${ours[i+1]}
        if [ -n "${user_mca[$k]:-}" ]; then
            vinfo "keeping the user's --mca $k instead of ours ($v)"
            continue
        fi
        cmd+=(--mca "$k" "$v")
    done
    if [ "$user_bind" = 0 ]; then cmd+=(--bind-to none); fi
    if [ "$(id -u)" = 0 ]; then cmd+=(--allow-run-as-root); fi
    cmd+=("$@")
    export OMPI_VIRT_GUESTS_STATE=$STATE
    # the ranks reach the backend through the directory bind-mounted into
    # the guests, whatever OMPI_VIRT_DIR the caller has
    if [ -n "$kv_DIR" ]; then
        if [ -n "${OMPI_VIRT_DIR:-}" ] && [ "$OMPI_VIRT_DIR" != "$kv_DIR" ]; then
            vinfo "OMPI_VIRT_DIR=$OMPI_VIRT_DIR is not the guests' backend directory; using $kv_DIR"
        fi
        export OMPI_VIRT_DIR=$kv_DIR
    fi
    if [ "$VERBOSE" = 1 ]; then
        echo "$PROG: OMPI_VIRT_GUESTS_STATE=$STATE OMPI_VIRT_DIR=${OMPI_VIRT_DIR:-} $(printf '%q ' "${cmd[@]}")" >&2
    fi
    [ "$dry" = 0 ] || return 0
    exec "${cmd[@]}"
}
