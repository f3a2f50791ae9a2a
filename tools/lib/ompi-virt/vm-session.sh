#!/bin/bash
# vm-session.sh — one launcher session inside an ompi-virt VM (run by the
# VM's agent, socat, with the connection on stdin/stdout; see vm-init.sh).
# The host's side is tools/ompi-virt-vm-agent.  Protocol, lines on the
# connection:
#   host -> VM   TOKEN            the VM's secret (from 'vm up'), else refused
#                N                number of environment entries that follow
#                NAME=VALUE  x N  exported if NAME is one the agent forwards
#                COMMAND          a shell command line, as ssh would get it
#   VM -> host   the command's stdout and stderr, then one line
#                "@@ov-vm-exit@@ STATUS"
# The guest's identity for the backend (OMPI_VIRT_GUEST) and the backend's
# address (OMPI_VIRT_URI) come from the VM's own settings, never from the
# host's request.
set -u
cfg=/run/ompi-virt-vm
IFS= read -r -t 20 tok || exit 255
if [ "$tok" != "$(cat "$cfg/token")" ]; then
    echo "ompi-virt vm agent: wrong token"
    echo "@@ov-vm-exit@@ 255"
    exit 255
fi
IFS= read -r -t 20 n || exit 255
[[ $n =~ ^[0-9]{1,3}$ ]] || exit 255
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
for ((i = 0; i < n; i++)); do
    IFS= read -r -t 20 kv || exit 255
    case ${kv%%=*} in
        PATH|LD_LIBRARY_PATH|LANG|LC_*|TZ|OPAL_PREFIX|OMPI_MCA_*|OMPI_VIRT_*) export "$kv" ;;
    esac
done
IFS= read -r -t 20 cmd || exit 255
# shellcheck source=/dev/null
. "$cfg/config"
export OMPI_VIRT_URI=$BACKEND_URI OMPI_VIRT_GUEST=$NAME
cd / && /bin/sh -c "$cmd" </dev/null 2>&1
echo "@@ov-vm-exit@@ $?"
