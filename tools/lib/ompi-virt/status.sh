# status.sh — 'ompi-virt status': the backend's own view, printed by the
# ompi-virt-status binary.  Needs common.sh.

# `ompi-virt status [--json] [--dir DIR]`: the backend's view (guests,
# processes, windows, counters), printed by the ompi-virt-status binary.
# Without --dir: $OMPI_VIRT_DIR, else the backend directory of the guests
# in the state directory, else the default.
cmd_status() {
    local bin a dir="" rc
    for a in "$@"; do
        case $a in -d|--dir|--dir=*|-d*) dir=given ;; esac
    done
    bin=$(find_bin ompi-virt-status) ||
        die "ompi-virt-status not found: build the tree (make) or install it (make install)"
    if [ -z "$dir" ]; then
        dir=${OMPI_VIRT_DIR:-}
        if [ -z "$dir" ] && [ -r "$STATE/config" ]; then
            local kv_DIR=""
            read_kv "$STATE/config"
            dir=$kv_DIR
        fi
        dir=${dir:-$DEF_DIR}
        set -- --dir "$dir" "$@"
    fi
    "$bin" "$@" && return 0
    rc=$?
    if [ "$rc" = 2 ] && [ "$dir" != given ]; then
        info "no backend serves $dir; start one with '$PROG backend start --dir $dir' (or 'guests up')"
    fi
    exit "$rc"
}
