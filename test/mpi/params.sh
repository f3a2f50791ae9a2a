#!/bin/bash
# params.sh — `make check`: every MCA parameter that osc_virt.h documents
# (its " *   osc_virt_NAME (" lines) is registered, i.e. listed by
# `ompi_info --param osc virt --level 9` with the components of this tree.
set -u
here=$(cd "$(dirname "$0")" && pwd)
header=$here/../../ompi/mca/osc/virt/osc_virt.h
OMPI_VIRT_PRIVATE_BACKEND=0 . "$here/component-env.sh" || exit 1  # the tree's components, no backend
listed=$(timeout 60 ompi_info --param osc virt --level 9 --parsable |
    sed -n 's/^mca:osc:virt:param:\([a-z_]*\):value:.*/\1/p')
documented=$(sed -n 's/^ \*   \(osc_virt_[a-z_]*\) .*(.*default.*/\1/p' "$header")
if [ -z "$documented" ]; then
    echo "FAIL: no parameters documented in $header (pattern out of date?)"
    exit 1
fi
rc=0 pass=0 fail=0
for p in $documented; do
    if grep -qx "$p" <<<"$listed"; then
        pass=$((pass + 1))
    else
        echo "FAIL $p: documented in osc_virt.h, not registered (ompi_info does not list it)"
        fail=$((fail + 1)); rc=1
    fi
done
echo "$pass passed, $fail failed"
exit "$rc"
