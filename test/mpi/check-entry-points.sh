#!/bin/bash
# check-entry-points.sh — `make check`: no C++ exception can reach Open MPI.
#
# Every function of ours that Open MPI (C) calls back is stored in a
# function-pointer field of one of Open MPI's structures (component and
# module tables, requests) or handed to a callback registration.  The fields
# are read from Open MPI's own installed headers (every member declared with
# a *_fn_t type in mca.h, btl.h, osc.h and request.h), so a field added there
# is checked too.  Each assignment to such a field in the components and the
# frontend library (ompi/mca/osc/virt, opal/mca/btl/vmshm, common) must be
# OV_ENTRY(function) (common/ov_entry.h: a noexcept wrapper that turns any
# exception into an error code) or nullptr; so must the callback given to
# opal_progress_register/unregister and opal_infosubscribe_subscribe (written
# on one line, the callback last).  Prints PASS/FAIL lines and exits 1 on
# any violation; also fails when it finds no assignment at all (the patterns
# would be out of date).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
incdir=$(ompi_info --parsable --path incdir 2>/dev/null | sed -n 's/^path:incdir://p')
headers=()
for h in opal/mca/mca.h opal/mca/btl/btl.h ompi/mca/osc/osc.h ompi/request/request.h; do
    for d in "$incdir/openmpi" "$incdir"; do
        if [ -f "$d/$h" ]; then headers+=("$d/$h"); break; fi
    done
done
if [ ${#headers[@]} != 4 ]; then
    echo "FAIL entry points: Open MPI's headers not found under '$incdir' (found: ${headers[*]:-none})"
    exit 1
fi
fields=$(sed -nE 's/^[[:space:]]*[a-z_0-9]+_fn_t[[:space:]]+([a-z_0-9]+)[[:space:]]*;.*/\1/p' "${headers[@]}" | sort -u)
if [ "$(wc -l <<<"$fields")" -lt 40 ]; then
    echo "FAIL entry points: only $(wc -l <<<"$fields") function-pointer fields read from Open MPI's headers"
    exit 1
fi
alt=$(paste -sd'|' <<<"$fields")
sources=("$top"/ompi/mca/osc/virt/*.cc "$top"/ompi/mca/osc/virt/*.h "$top"/opal/mca/btl/vmshm/*.cc \
         "$top"/opal/mca/btl/vmshm/*.h "$top"/common/*.cc "$top"/common/*.h)
# stores into a field: ".f = x", "p->f = x", "s.f = x" (not ==)
stores=$(grep -nE "(\.|->)($alt)[[:space:]]*=[^=]" "${sources[@]}")
# callback registrations: the callback is the last argument on the line
calls=$(grep -nE "(opal_progress_(register|unregister|register_lp)|opal_infosubscribe_subscribe)[[:space:]]*\(" "${sources[@]}")
n=0 bad=0
while IFS= read -r line; do
    [ -n "$line" ] || continue
    n=$((n + 1))
    rhs=$(sed -E "s/.*(\.|->)($alt)[[:space:]]*=[[:space:]]*//" <<<"${line#*:*:}")
    case $rhs in
        OV_ENTRY\(*|nullptr*|NULL*) ;;
        *) echo "FAIL entry point not wrapped: ${line#$top/}"; bad=$((bad + 1)) ;;
    esac
done <<<"$stores"
while IFS= read -r line; do
    [ -n "$line" ] || continue
    n=$((n + 1))
    grep -qE "OV_ENTRY\([a-z_0-9:]+\)\)[;,]?[[:space:]]*$" <<<"$line" ||
        { echo "FAIL callback not wrapped: ${line#$top/}"; bad=$((bad + 1)); }
done <<<"$calls"
if [ "$n" -lt 20 ]; then
    echo "FAIL entry points: only $n table stores found (patterns out of date?)"
    exit 1
fi
if [ "$bad" = 0 ]; then
    echo "PASS entry points: all $n function pointers handed to Open MPI are OV_ENTRY wrappers" \
         "($(wc -l <<<"$fields") fields from ${#headers[@]} Open MPI headers)"
    exit 0
fi
echo "FAIL entry points: $bad of $n not wrapped in OV_ENTRY (common/ov_entry.h)"
exit 1
