#!/bin/bash
# run-unit.sh UNIT-FILE — start a service the way systemd would, where
# systemd does not run (CI containers): the unit's ExecStart in the
# background, as its User=/Group=, with its RuntimeDirectory= (made, owned
# by User=, RuntimeDirectoryMode=), LimitNOFILE=, LimitMEMLOCK=,
# AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges=.
# Prints the service's pid on stdout; its output goes to $RUN_UNIT_LOG
# (default /dev/null).  Exit status 0 if it was started, 2 on a unit it
# cannot read, 1 otherwise.
#
# Understands only the keys above (ompi-virt-backend.service's); any other
# [Service] key it does not know makes it refuse, so a unit that grows a
# setting this emulation would silently drop is noticed.
set -euo pipefail
unit=${1:?usage: run-unit.sh UNIT-FILE}
[ -r "$unit" ] || { echo "run-unit: cannot read $unit" >&2; exit 2; }

exec_start="" user="" group="" rundir="" rundir_mode=0755 nofile="" memlock=""
ambient="" bounding="" nnp=no
section=""
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    [[ $line =~ ^[[:space:]]*$ ]] && continue
    if [[ $line =~ ^\[(.*)\]$ ]]; then section=${BASH_REMATCH[1]}; continue; fi
    [ "$section" = Service ] || continue
    key=${line%%=*} val=${line#*=}
    case $key in
        ExecStart) exec_start=$val ;;
        User) user=$val ;;
        Group) group=$val ;;
        RuntimeDirectory) rundir=$val ;;
        RuntimeDirectoryMode) rundir_mode=$val ;;
        LimitNOFILE) nofile=$val ;;
        LimitMEMLOCK) memlock=$val ;;
        AmbientCapabilities) ambient=$val ;;
        CapabilityBoundingSet) bounding=$val ;;
        NoNewPrivileges) nnp=$val ;;
        # what only matters to systemd itself (stop, restart, ordering)
        Type|KillSignal|TimeoutStopSec|Restart|RestartSec|RuntimeDirectoryPreserve) ;;
        *) echo "run-unit: $unit: [Service] $key= is not emulated; refusing" >&2; exit 2 ;;
    esac
done <"$unit"
[ -n "$exec_start" ] || { echo "run-unit: $unit has no ExecStart=" >&2; exit 2; }

# CAP_SYS_PTRACE ... -> +sys_ptrace,... (setpriv's spelling), leaving out,
# with a warning, what our own bounding set lacks (a container may run
# without CAP_SYS_PTRACE; nothing could grant it there).  Only the
# capabilities in the table are known; any other makes us refuse.
declare -A CAP_BIT=([CAP_SYS_PTRACE]=19)
bounding_now=$((0x$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
caps() {
    local c out=""
    for c in $1; do
        [ -n "${CAP_BIT[$c]:-}" ] || { echo "run-unit: $unit: capability $c is not emulated; refusing" >&2; exit 2; }
        if (( (bounding_now >> CAP_BIT[$c]) & 1 )); then
            out+=",+$(tr '[:upper:]' '[:lower:]' <<<"${c#CAP_}")"
        else
            echo "run-unit: $c is not in this process's bounding set; started without it" >&2
        fi
    done
    echo "${out#,}"
}

prefix=(setpriv)
if [ -n "$user" ]; then
    getent passwd "$user" >/dev/null || { echo "run-unit: no user $user" >&2; exit 1; }
    prefix+=(--reuid="$user" --regid="${group:-$user}" --init-groups)
fi
if [ -n "$ambient" ]; then
    a=$(caps "$ambient") || exit 2
    [ -z "$a" ] || prefix+=(--inh-caps="$a" --ambient-caps="$a")
fi
if [ -n "$bounding" ]; then
    b=$(caps "$bounding" 2>/dev/null) || exit 2
    prefix+=(--bounding-set="-all${b:+,$b}")
fi
[ "$nnp" != yes ] || prefix+=(--no-new-privs)
# Limits: systemd (pid 1) may raise hard limits; we may only if we hold
# CAP_SYS_RESOURCE (containers often drop it): else keep at most the current
# hard limit, and say so.
can_raise=0
(( (0x$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 24) & 1 )) && can_raise=1
limit() {   # limit OPTION WANT HARD-NOW
    local opt=$1 want=$2 hard=$3
    [ "$want" != infinity ] || want=unlimited
    if [ $can_raise = 0 ] && [ "$hard" != unlimited ] &&
       { [ "$want" = unlimited ] || [ "$want" -gt "$hard" ]; }; then
        echo "run-unit: no CAP_SYS_RESOURCE: $opt $hard (the hard limit here), not $want" >&2
        want=$hard
    fi
    limits+=("--$opt=$want:$want")
}
limits=(prlimit)
[ -z "$nofile" ] || limit nofile "$nofile" "$(ulimit -Hn)"
if [ -n "$memlock" ]; then
    hard=$(ulimit -Hl)   # KiB; prlimit takes bytes
    [ "$hard" = unlimited ] || hard=$((hard * 1024))
    limit memlock "$memlock" "$hard"
fi

if [ -n "$rundir" ]; then
    mkdir -p "/run/$rundir"
    chmod "$rundir_mode" "/run/$rundir"
    [ -z "$user" ] || chown "$user:${group:-$user}" "/run/$rundir"
fi
read -r -a argv <<<"$exec_start"
(
    cd /
    exec </dev/null >>"${RUN_UNIT_LOG:-/dev/null}" 2>&1
    exec setsid "${limits[@]}" -- "${prefix[@]}" -- "${argv[@]}"
) &
echo $!
