#!/bin/bash
# host-rma.sh — `make check`: the RMA program on 2 ranks on this host, through
# osc virt (which drives pt2pt for every target today), bounded in time.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/component-env.sh"
prog=${RMA_TEST:-$PWD/rma_test}
timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none \
    --mca osc virt --mca btl self,vader,tcp "$prog" --timeout 240
