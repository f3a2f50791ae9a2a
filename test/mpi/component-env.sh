# component-env.sh — sourced by the test scripts: makes Open MPI find the
# components built in this tree (before its own), and lets mpirun run as root
# in CI containers.
#   OMPI_VIRT_BUILDDIR  top of the build tree (default: two levels up from here)
#   OMPI_PKGLIBDIR      Open MPI's own component directory (default: ompi_info)
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OMPI_VIRT_BUILDDIR:=$(cd "$_here/../.." && pwd)}"
: "${OMPI_PKGLIBDIR:=$(ompi_info --parsable --path pkglibdir | sed -e 's/^path:pkglibdir://')}"
# The tree's components first: when two directories hold a component of the
# same name, Open MPI keeps the first it finds (e.g. an older `make install`).
export OMPI_MCA_mca_base_component_path="$OMPI_VIRT_BUILDDIR/components:$OMPI_PKGLIBDIR"
: "${OMPI_VIRT_HELPDIR:=$(cd "$_here/../.." && pwd)/ompi/mca/osc/virt}"
export OMPI_VIRT_HELPDIR
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
unset _here
