#!/bin/bash
# vmshm-vm-bw.sh — 1 MiB osu_bw of btl vmshm in vm mode across two namespace
# guests (vm-emul-backend.sh: the guests as VMs) against vader with both
# ranks in one guest and vmshm in container mode (the guests' own backend,
# segment by fd), interleaved: each repetition runs every configuration
# once, in turn; medians per configuration at the end.
#   usage: bench/vmshm-vm-bw.sh [REPS] [SIZE]      (default 5, 1048576)
#   VMSHM_VM_CONFIGS: extra vm-mode configurations, ';'-separated lists of
#   mpirun arguments, e.g. "--mca btl_vmshm_max_send_size 16384"
# Guests: those up in $OMPI_VIRT_GUESTS_STATE (tools/ompi-virt guests up 2).
# Output: one line per run ("CONFIG MB/s"), then "median CONFIG MB/s (n=N)"
# and the ratio of every vmshm configuration to vader.
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
: "${OMPI_VIRT_BUILDDIR:=$TOP/build}"
export OMPI_VIRT_BUILDDIR
: "${OMPI_VIRT_GUESTS_STATE:=/run/ompi-virt-guests}"
export OMPI_VIRT_GUESTS_STATE
REPS=${1:-5} SIZE=${2:-1048576}
OMPI_VIRT_PRIVATE_BACKEND=0 . "$TOP/test/mpi/component-env.sh" || exit 1
TOOL=$TOP/tools/ompi-virt
BW=$OMPI_VIRT_BUILDDIR/bench/osu_bw
vmdir=$(sed -n 's/^DIR=//p' "$OMPI_VIRT_GUESTS_STATE/config" 2>/dev/null)/vm-emul-bench
read -r uri bpid <<<"$("$TOP/test/mpi/vm-emul-backend.sh" start "$vmdir")" || exit 1
[ -n "${bpid:-}" ] || exit 1
trap '"$TOP/test/mpi/vm-emul-backend.sh" stop "$vmdir" "$bpid"; rm -f "$vmdir.log"' EXIT

declare -a names=(vader vmshm-container vmshm-vm) args=("" "" "")
IFS=';' read -r -a extra <<<"${VMSHM_VM_CONFIGS:-}"
for e in "${extra[@]}"; do [ -n "$e" ] && names+=("vmshm-vm $e") && args+=("$e"); done
declare -A runs

one() { # NAME ARGS: prints MB/s of SIZE or "fail"
    local out
    if [ "$1" = vader ]; then
        out=$(timeout 120 "$TOOL" guests mpirun -- -np 2 --host vg1:2 --mca pml ob1 --mca btl vader,self \
            "$BW" -m "$SIZE:$SIZE" 2>&1)
    elif [ "$1" = vmshm-container ]; then
        out=$(timeout 120 "$TOOL" guests mpirun -- -np 2 --host vg1,vg2 --mca pml ob1 --mca btl vmshm,self,tcp \
            --mca btl_vmshm_verbose 1 "$BW" -m "$SIZE:$SIZE" 2>&1)
    else
        # shellcheck disable=SC2086
        out=$(timeout 120 "$TOOL" guests mpirun -- -np 2 --host vg1,vg2 --mca pml ob1 --mca btl vmshm,self,tcp \
            -x OMPI_VIRT_URI="$uri" -x OMPI_VIRT_VM_PCI_BASE="$vmdir" --mca btl_vmshm_verbose 1 $2 \
            "$TOP/test/mpi/vm-emul-env.sh" "$BW" -m "$SIZE:$SIZE" 2>&1)
    fi
    awk -v s="$SIZE" '$1 == s {print $2; f=1} END {if (!f) print "fail"}' <<<"$out"
    grep -q "no module" <<<"$out" && echo "  (vmshm had no module: $(grep -m1 'no module' <<<"$out"))" >&2
}

for r in $(seq "$REPS"); do
    for i in "${!names[@]}"; do
        v=$(one "${names[$i]}" "${args[$i]}")
        echo "${names[$i]} $v"
        [ "$v" != fail ] && runs[$i]+="$v "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "nan"}'; }
vader=$(median <<<"${runs[0]:-}")
for i in "${!names[@]}"; do
    m=$(median <<<"${runs[$i]:-}")
    n=$(wc -w <<<"${runs[$i]:-}")
    echo "median ${names[$i]} $m MB/s (n=$n)$( [ "$i" -gt 0 ] && awk -v a="$m" -v b="$vader" 'BEGIN{if (b > 0) printf ", %.2fx vader", a/b}')"
done
