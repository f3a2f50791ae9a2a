#!/bin/bash
# deb-test.sh — the Debian package end to end, as root:
#   1. build it: dpkg-buildpackage -us -uc -b in a copy of this tree;
#   2. install it: dpkg -i (apt-get install -f for missing dependencies);
#   3. start the backend as ompi-virt-backend.service does: systemctl when
#      systemd is pid 1, else the unit's own settings through run-unit.sh;
#   4. run the installed rma_hello on 2 ranks with plain
#      `mpirun --mca osc virt` (no environment of ours, no other step);
#   5. stop the backend, purge the package, check nothing is left (files,
#      directories, the system user and group, /run/ompi-virt, systemd links).
# The package is purged and our backend stopped on any exit (trap), so the
# other suites never see a system-wide install.
#
#   test/deb/deb-test.sh [--deb FILE] [--private]
#     --deb FILE   skip the build, test FILE
#     --private    install into overlays of /usr, /etc and /var in a private
#                  mount namespace (with a private /run): nothing on this
#                  machine changes, for machines shared with others
#
# Each check prints "PASS name" or "FAIL name: why"; the last line is
# "N passed, N failed".  Every command is bounded by timeout(1).
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd -- "$HERE/../.." && pwd)
deb="" private=0
while [ $# -gt 0 ]; do
    case $1 in
        --deb) deb=$(realpath -- "$2"); shift ;;
        --private) private=1 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "deb-test: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$(id -u)" != 0 ]; then
    echo "deb-test: needs root (dpkg -i, a system user, a system service)" >&2
    echo "deb-test: 0 passed, 0 failed, 1 skipped"
    exit 0
fi

if [ $private = 1 ] && [ -z "${DEB_TEST_IN_PRIVATE:-}" ]; then
    # a tmpfs for the overlays' upper layers, then this script again inside
    ovl=$(mktemp -d /tmp/deb-test-ovl.XXXXXX)
    # shellcheck disable=SC2016
    unshare -m --propagation private bash -c '
        set -e
        o=$1; shift
        mount -t tmpfs deb-test-ovl "$o"
        for d in usr etc var; do
            mkdir -p "$o/$d.up" "$o/$d.work"
            mount -t overlay "deb-test-$d" -o "lowerdir=/$d,upperdir=$o/$d.up,workdir=$o/$d.work" "/$d"
        done
        mount -t tmpfs -o mode=755 deb-test-run /run
        DEB_TEST_IN_PRIVATE=1 exec "$@"' deb-test "$ovl" "$0" ${deb:+--deb "$deb"}
    rc=$?
    rmdir "$ovl" 2>/dev/null
    exit $rc
fi

PKG=ompi-virt
UNIT=/lib/systemd/system/ompi-virt-backend.service
RUNDIR=/run/ompi-virt
PKGLIBDIR=$(ompi_info --parsable --path pkglibdir | sed 's/^path:pkglibdir://')
WORK=$(mktemp -d /tmp/deb-test.XXXXXX)
npass=0 nfail=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
check() {   # check NAME WHY-IF-FALSE CONDITION...
    local name=$1 why=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}
finish() {
    echo "deb-test: $npass passed, $nfail failed"
    [ "$nfail" = 0 ]
    exit $?
}
systemd_runs() { [ -d /run/systemd/system ]; }
installed() { dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; }

BACKEND_PID=""
stop_backend() {
    if systemd_runs; then
        timeout 30 systemctl stop ompi-virt-backend.service 2>/dev/null || true
    elif [ -n "$BACKEND_PID" ] && kill -0 "$BACKEND_PID" 2>/dev/null; then
        kill -TERM "$BACKEND_PID"
        for _ in $(seq 100); do kill -0 "$BACKEND_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BACKEND_PID" 2>/dev/null || true
    fi
    BACKEND_PID=""
}
cleanup() {
    stop_backend
    if installed || dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q config-files; then
        timeout 120 dpkg --purge "$PKG" >/dev/null 2>&1 || true
    fi
    [ -n "${DEB_TEST_KEEP:-}" ] || rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ preconditions
if installed; then
    fail preconditions "$PKG is already installed here; this test purges it at the end, so it refuses to run"
    trap - EXIT; finish
fi
if [ -S "$RUNDIR/backend.sock" ]; then
    fail preconditions "$RUNDIR/backend.sock exists: another backend may serve $RUNDIR; stop it first"
    trap - EXIT; finish
fi
if [ -e "$PKGLIBDIR/mca_osc_virt.so" ] || [ -e "$PKGLIBDIR/mca_btl_vmshm.so" ]; then
    fail preconditions "$PKGLIBDIR already has mca_osc_virt.so or mca_btl_vmshm.so (make install?); remove them first"
    trap - EXIT; finish
fi

# ------------------------------------------------------------ build
if [ -z "$deb" ]; then
    src=$WORK/src/$PKG
    mkdir -p "$src"
    # the tree without build directories, VCS data or generated caches
    tar -C "$TOP" --exclude=./.git --exclude='./build*' --exclude=./debian/build \
        --exclude=./autom4te.cache -cf - . | tar -C "$src" -xf -
    echo "# dpkg-buildpackage -us -uc -b in $src (log $WORK/build.log)"
    if (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" timeout 1200 \
            dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
        pass build
    else
        fail build "dpkg-buildpackage failed; last lines:"
        tail -25 "$WORK/build.log" | sed 's/^/    | /'
        finish
    fi
    deb=$(ls "$WORK"/src/${PKG}_*.deb 2>/dev/null | head -1)
fi
[ -f "$deb" ] || { fail build "no .deb produced"; finish; }

# ------------------------------------------------------------ contents
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
for f in "$PKGLIBDIR/mca_osc_virt.so" "$PKGLIBDIR/mca_btl_vmshm.so" \
         /usr/bin/ompi-virt /usr/bin/ompi-virt-agent /usr/bin/ompi-virt-backend /usr/bin/ompi-virt-status \
         /usr/share/ompi-virt/help-osc-virt.txt /usr/share/ompi-virt/cli/common.sh \
         /usr/share/man/man1/ompi-virt.1.gz /usr/share/man/man1/ompi-virt-backend.1.gz \
         /usr/share/man/man1/ompi-virt-status.1.gz /usr/share/man/man1/ompi-virt-agent.1.gz \
         "$UNIT" /usr/libexec/ompi-virt/rma_hello; do
    check "contents ${f##*/}" "$f is not in $(basename "$deb")" grep -qxF "$f" <<<"$contents"
done
check "contents no .la" "libtool archives in the package" bash -c '! grep -q "\.la$" <<<"$1"' _ "$contents"

# ------------------------------------------------------------ install
if timeout 300 dpkg -i "$deb" >"$WORK/install.log" 2>&1 ||
   { DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -f -y -qq >>"$WORK/install.log" 2>&1 && installed; }; then
    pass install
else
    fail install "dpkg -i failed; last lines:"
    tail -15 "$WORK/install.log" | sed 's/^/    | /'
    finish
fi
mapfile -t owned < <(dpkg -L "$PKG")
check user "no system user ompi-virt" bash -c 'u=$(getent passwd ompi-virt) && [ "$(cut -d: -f3 <<<"$u")" -lt 1000 ]'
check "ompi_info" "ompi_info lists neither osc virt nor btl vmshm" \
    bash -c 'o=$(env -u OMPI_MCA_mca_base_component_path ompi_info); grep -q "MCA osc: virt" <<<"$o" && grep -q "MCA btl: vmshm" <<<"$o"'
check "cli --help" "the installed ompi-virt cannot find its parts" \
    bash -c 'cd / && timeout 10 ompi-virt backend --help | grep -q "backend start"'
if command -v man >/dev/null; then
    check "man pages" "man cannot find ompi-virt(1) or ompi-virt-backend(1)" \
        bash -c 'man -w ompi-virt >/dev/null && man -w ompi-virt-backend >/dev/null'
fi

# ------------------------------------------------------------ the service
if systemd_runs; then
    timeout 30 systemctl start ompi-virt-backend.service
    BACKEND_PID=$(systemctl show -p MainPID --value ompi-virt-backend.service)
else
    BACKEND_PID=$(RUN_UNIT_LOG=$WORK/backend.log "$HERE/run-unit.sh" "$UNIT")
fi
for _ in $(seq 100); do [ -S "$RUNDIR/backend.sock" ] && break; sleep 0.1; done
check "backend up" "no $RUNDIR/backend.sock within 10 s (log: $(tail -3 "$WORK/backend.log" 2>/dev/null))" \
    test -S "$RUNDIR/backend.sock"
check "backend user" "the backend does not run as ompi-virt" \
    bash -c '[ "$(ps -o user= -p "$1" | tr -d " ")" = ompi-virt ]' _ "$BACKEND_PID"
# CAP_SYS_PTRACE (bit 19) and nothing else; nothing at all where this
# container itself lacks it
want_caps=0000000000000000
if (( (0x$(awk '/^CapBnd:/ {print $2}' /proc/self/status) >> 19) & 1 )); then
    want_caps=0000000000080000
else
    echo "# this container lacks CAP_SYS_PTRACE: a non-root backend cannot read a caller's"
    echo "# /proc/PID/ns/net and refuses it, so the MPI run below is expected to fail"
fi
check "backend caps" "the backend's capabilities are not $want_caps (CAP_SYS_PTRACE only)" \
    bash -c '[ "$(awk "/^CapEff:/ {print \$2}" /proc/$1/status)" = "$2" ]' _ "$BACKEND_PID" "$want_caps"

# ------------------------------------------------------------ an MPI job
# only what a user types: no OMPI_VIRT_* and no component path of ours
(cd / && env -u OMPI_VIRT_DIR -u OMPI_MCA_mca_base_component_path -u OMPI_VIRT_HELPDIR \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    timeout -k 10 120 mpirun -np 2 --oversubscribe --bind-to none --mca osc virt \
        --mca osc_virt_verbose 10 /usr/libexec/ompi-virt/rma_hello) >"$WORK/mpirun.log" 2>&1
rc=$?
sed 's/^/    | /' "$WORK/mpirun.log" | tail -12
check "mpirun --mca osc virt" "rma_hello exited $rc or did not say RESULT: OK" \
    bash -c '[ "$1" = 0 ] && grep -q "RESULT: OK" "$2"' _ "$rc" "$WORK/mpirun.log"
check "served by the backend" "no rank counted calls via the backend (osc_virt_verbose 10)" \
    grep -qE 'osc virt: window .*: [1-9][0-9]* calls via backend' "$WORK/mpirun.log"
check "status" "ompi-virt status cannot reach the backend" \
    bash -c 'cd / && env -u OMPI_VIRT_DIR -u OMPI_VIRT_URI timeout 10 ompi-virt status >/dev/null'

# ------------------------------------------------------------ purge
stop_backend
if timeout 120 dpkg --purge "$PKG" >"$WORK/purge.log" 2>&1 && ! dpkg-query -W "$PKG" >/dev/null 2>&1; then
    pass purge
else
    fail purge "dpkg --purge failed: $(tail -3 "$WORK/purge.log")"
fi
left=()
for f in "${owned[@]}"; do
    # directories the package shares with others (/usr/bin, ...) stay
    if [ -d "$f" ]; then   # also /lib, a link to usr/lib
        case $f in */ompi-virt|*/ompi-virt/*) [ -e "$f" ] && left+=("$f") ;; esac
    elif [ -e "$f" ] || [ -L "$f" ]; then
        left+=("$f")
    fi
done
check "purge: files" "left behind: ${left[*]:-}" test ${#left[@]} = 0
check "purge: user" "user or group ompi-virt left" bash -c '! getent passwd ompi-virt && ! getent group ompi-virt'
check "purge: run dir" "$RUNDIR left" test ! -e "$RUNDIR"
check "purge: systemd" "enablement links left" bash -c \
    '! ls /etc/systemd/system/*/ompi-virt-backend.service /var/lib/systemd/deb-systemd-helper-enabled/*ompi-virt* \
        /var/lib/systemd/deb-systemd-helper-enabled/*/ompi-virt* >/dev/null 2>&1'
check "purge: components" "ompi_info still lists osc virt" \
    bash -c '! env -u OMPI_MCA_mca_base_component_path ompi_info | grep -q "MCA osc: virt"'
finish
