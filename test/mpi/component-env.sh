# component-env.sh — sourced by the test scripts: makes Open MPI find the
# components built in this tree (before its own), lets mpirun run as root in
# CI containers, and gives ranks on the host a private host backend.
#   OMPI_VIRT_BUILDDIR  top of the build tree (default: two levels up from here)
#   OMPI_PKGLIBDIR      Open MPI's own component directory (default: ompi_info)
#   OMPI_VIRT_PRIVATE_BACKEND
#                       1 (default): start ompi-virt-backend (this build's) on a
#                       new private directory and export OMPI_VIRT_DIR=it;
#                       0: leave the backend to the caller.
# The private backend is stopped, and its directory removed, by
# ov_backend_stop (installed as the EXIT trap when the sourcing shell has none;
# scripts with traps of their own call it from them), and in any case as soon
# as the sourcing shell exits, however it exits ('ompi-virt backend start
# --owner').  A backend somebody else started is never touched.  Sourcing
# returns non-zero, after a message, when the backend cannot be started.
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OMPI_VIRT_BUILDDIR:=$(cd "$_here/../.." && pwd)}"
export OMPI_VIRT_BUILDDIR   # tools/ompi-virt finds the backend there
: "${OMPI_PKGLIBDIR:=$(ompi_info --parsable --path pkglibdir | sed -e 's/^path:pkglibdir://')}"
# The tree's components first: when two directories hold a component of the
# same name, Open MPI keeps the first it finds (e.g. an older `make install`).
export OMPI_MCA_mca_base_component_path="$OMPI_VIRT_BUILDDIR/components:$OMPI_PKGLIBDIR"
: "${OMPI_VIRT_HELPDIR:=$(cd "$_here/../.." && pwd)/ompi/mca/osc/virt}"
export OMPI_VIRT_HELPDIR
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
OV_TOOL=${OMPI_VIRT_TOOL:-$(cd "$_here/../.." && pwd)/tools/ompi-virt}

# ov_backend_stop: stop the private backend started below (idempotent)
ov_backend_stop() {
    if [ -n "${OV_PRIVATE_BACKEND_DIR:-}" ]; then
        "$OV_TOOL" backend stop --dir "$OV_PRIVATE_BACKEND_DIR" >/dev/null ||
            echo "component-env.sh: could not stop the backend on $OV_PRIVATE_BACKEND_DIR" >&2
        OV_PRIVATE_BACKEND_DIR=""
    fi
}

unset _here
_ov_rc=0
if [ "${OMPI_VIRT_PRIVATE_BACKEND:-1}" = 1 ] && [ -z "${OV_PRIVATE_BACKEND_DIR:-}" ]; then
    _owner=${BASHPID:-$$}   # the sourcing shell (not the $(...) subshell below)
    if OV_PRIVATE_BACKEND_DIR=$("$OV_TOOL" backend start --private --owner "$_owner") &&
       [ -n "$OV_PRIVATE_BACKEND_DIR" ]; then
        export OMPI_VIRT_DIR=$OV_PRIVATE_BACKEND_DIR
        unset OMPI_VIRT_URI   # it would take precedence over OMPI_VIRT_DIR
        if [ -z "$(trap -p EXIT)" ]; then
            trap ov_backend_stop EXIT
        fi
    else
        OV_PRIVATE_BACKEND_DIR=""
        echo "component-env.sh: could not start a private ompi-virt-backend (see above);" \
             "set OMPI_VIRT_BUILDDIR to the build tree, or OMPI_VIRT_PRIVATE_BACKEND=0 to run without" >&2
        _ov_rc=1
    fi
    unset _owner
fi
[ "$_ov_rc" = 0 ]
