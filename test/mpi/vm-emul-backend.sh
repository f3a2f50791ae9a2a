#!/bin/bash
# vm-emul-backend.sh — a backend of this build that treats the namespace
# guests vg1 and vg2 as VMs (docs/btl-vmshm.md "vm mode"): --tcp on the
# guests' bridge, --vm vgN=DIR/vgN.region,peer=<vgN's address>,pci=DIR/pci-vgN.
# DIR must be inside the guests' backend directory (bind-mounted into them).
#   vm-emul-backend.sh start DIR   prints "URI PID" (tcp:HOST:PORT and the
#                                  backend's pid; its log is DIR.log); exit 1
#                                  if it does not listen within 10 s
#   vm-emul-backend.sh stop DIR PID   stops it (that pid only) and removes DIR
# Ranks then run with -x OMPI_VIRT_URI=URI -x OMPI_VIRT_VM_PCI_BASE=DIR
# through vm-emul-env.sh.  Guests: those of $OMPI_VIRT_GUESTS_STATE.
set -uo pipefail
: "${OMPI_VIRT_GUESTS_STATE:=/run/ompi-virt-guests}"
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
: "${OMPI_VIRT_BUILDDIR:=$(cd "$HERE/../.." && pwd)}"
cmd=${1:-}; dir=${2:-}
[ -n "$dir" ] || { echo "usage: $0 start DIR | stop DIR PID" >&2; exit 2; }
case $cmd in
start)
    cfg=$OMPI_VIRT_GUESTS_STATE/config hosts=$OMPI_VIRT_GUESTS_STATE/hosts
    hostip=$(sed -n 's/^HOST_IP=//p' "$cfg" 2>/dev/null)
    ip1=$(awk '$2 == "vg1" {print $1}' "$hosts" 2>/dev/null)
    ip2=$(awk '$2 == "vg2" {print $1}' "$hosts" 2>/dev/null)
    bin=$OMPI_VIRT_BUILDDIR/backend/ompi-virt-backend
    if [ -z "$hostip" ] || [ -z "$ip1" ] || [ -z "$ip2" ] || [ ! -x "$bin" ]; then
        echo "vm-emul-backend: no guests vg1/vg2 in $OMPI_VIRT_GUESTS_STATE, or no $bin" >&2
        exit 1
    fi
    rm -rf "$dir" && mkdir -p "$dir" || exit 1
    "$bin" --dir "$dir" --tcp "tcp:$hostip:0" --region-mb 16 \
        --vm "vg1=$dir/vg1.region,peer=$ip1,pci=$dir/pci-vg1" \
        --vm "vg2=$dir/vg2.region,peer=$ip2,pci=$dir/pci-vg2" </dev/null >"$dir.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        port=$(sed -n "s/.*listening on tcp:$hostip:\([0-9]*\).*/\1/p" "$dir.log" | head -n 1)
        if [ -n "$port" ]; then echo "tcp:$hostip:$port $pid"; exit 0; fi
        sleep 0.1
    done
    echo "vm-emul-backend: backend did not listen:" >&2; tail -n 5 "$dir.log" >&2
    kill "$pid" 2>/dev/null
    exit 1 ;;
stop)
    pid=${3:?pid}
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -rf "$dir" ;;
*) echo "usage: $0 start DIR | stop DIR PID" >&2; exit 2 ;;
esac
