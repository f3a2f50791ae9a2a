#!/bin/bash
# vmshm-test.sh — btl vmshm across namespace guests: pt2pt_test (every byte
# checked) in the 2guests and 4ranks placements of run-integration.sh with
# --mca btl vmshm,vader,self,tcp, then proof that vmshm carried the traffic:
# every rank's counters (btl_vmshm_stats) show messages received through the
# segment and no rejected value.  Guests: as run-integration.sh (uses those up
# in $OMPI_VIRT_GUESTS_STATE, else brings two up).
#
# and that large messages went by single copy (btl_vmshm_rdma_min and up:
# gets counted on some rank of each run, none failed or refused).
#
# Then more gets in flight than a rank has fragments (osu_bw, 64 messages
# of 64 KiB, every one by get): each RGET header holds a fragment, and ob1
# retries the ones that found none only from completion callbacks (this
# hung before the BTL ran them); bounded by a timeout.
#
# Last line: "vmshm: N passed, N failed" (2 placements + 3 checks).
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

# single copy: every run (2 ranks, 4 ranks) has ranks whose large receives
# were gets, and no rank saw a get fail or a registration refused
rdma=$(grep -E 'btl vmshm: rank [0-9]+ rdma:' "$out")
getters=$(grep -cE 'gets [1-9][0-9]* ' <<<"$rdma")
clean=$(grep -cE 'failed 0 refused 0$' <<<"$rdma")
if [ "$getters" -ge 2 ] && [ "$clean" -ge 6 ]; then
    echo "PASS single copy carried large messages ($getters ranks did gets, $clean of 6 clean)"
    pass=$((pass + 1))
else
    echo "FAIL single copy: $getters ranks did gets, $clean of 6 ranks without failure:"
    printf '%s\n' "$rdma"
    fail=$((fail + 1))
fi

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
BW="$OMPI_VIRT_BUILDDIR/bench/osu_bw"
if [ -x "$BW" ] && "$HERE/run-integration.sh" --prog "$BW" --prog-args "-W 64 -m 65536:65536" \
        --placements 2guests --timeout 180 --verbose \
        -- --mca pml ob1 --mca btl vmshm,self --mca btl_vmshm_rdma_min 0 >"$out" 2>&1 &&
        grep -qE '^ *2guests\| *65536 ' "$out"; then
    echo "PASS 64 gets in flight with 32 fragments per rank ($(grep -E '^ *2guests\| *65536 ' "$out" | awk '{print $NF}') MB/s)"
    pass=$((pass + 1))
else
    echo "FAIL osu_bw -W 64 with every message by get (hung, failed, or $BW missing):"
    tail -5 "$out"
    fail=$((fail + 1))
fi
echo "vmshm: $pass passed, $fail failed"
[ "$fail" = 0 ]
