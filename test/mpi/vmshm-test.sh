#!/bin/bash
# vmshm-test.sh — btl vmshm across namespace guests: pt2pt_test (every byte
# checked) in the 2guests and 4ranks placements of run-integration.sh with
# --mca btl vmshm,vader,self,tcp, then proof that vmshm carried the traffic:
# every rank's counters (btl_vmshm_stats) show messages received through the
# segment and no rejected value.  Guests: as run-integration.sh (uses those up
# in $OMPI_VIRT_GUESTS_STATE, else brings two up).
#
# Last line: "vmshm: N passed, N failed" (2 placements + 1 traffic check).
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
: "${OMPI_VIRT_BUILDDIR:=$(cd "$HERE/../.." && pwd)}"
PROG="$OMPI_VIRT_BUILDDIR/test/mpi/pt2pt_test"
out=$(mktemp /tmp/vmshm-test.XXXXXX)
trap 'rm -f "$out"' EXIT

"$HERE/run-integration.sh" --prog "$PROG" --placements 2guests,4ranks --timeout 300 --verbose \
    -- --mca btl vmshm,vader,self,tcp --mca btl_vmshm_stats 1 2>&1 | tee "$out"
pass=$(grep -cE '^PASS (2guests|4ranks)' "$out")
fail=$((2 - pass))

# 2 ranks + 4 ranks = 6 counter lines; each rank received through vmshm
# (vader keeps same-guest pairs, but every rank also talks across guests)
lines=$(grep -E 'btl vmshm: rank [0-9]+ stats:' "$out")
carried=$(grep -cE 'fifo_recv [1-9][0-9]* .*rejected 0$' <<<"$lines")
if [ "$carried" -ge 6 ]; then
    echo "PASS vmshm carried the cross-guest messages of all 6 ranks"
    pass=$((pass + 1))
else
    echo "FAIL vmshm carried messages for $carried of 6 ranks:"
    printf '%s\n' "$lines"
    fail=$((fail + 1))
fi
echo "vmshm: $pass passed, $fail failed"
[ "$fail" = 0 ]
