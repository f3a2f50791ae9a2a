#!/bin/sh
# fuzz-build.sh OUT "FLAGS" "LIBS" SRC... — build one libFuzzer target with
# clang; says "fuzz: SKIPPED: ..." and succeeds when clang cannot fuzz here.
out=$1 flags=$2 libs=$3
shift 3
cxx=
for c in clang++-14 clang++; do
    if command -v $c >/dev/null 2>&1; then cxx=$c; break; fi
done
if test -z "$cxx"; then
    echo "fuzz: SKIPPED: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)"; exit 0
fi
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' > "$out-probe.cc"
if ! $cxx -fsanitize=fuzzer "$out-probe.cc" -o "$out-probe" >/dev/null 2>&1; then
    rm -f "$out-probe.cc" "$out-probe"
    echo "fuzz: SKIPPED: $cxx cannot link libFuzzer (apt-get install libclang-rt-14-dev)"; exit 0
fi
rm -f "$out-probe.cc" "$out-probe"
echo "  CXX      $out ($cxx)"
exec $cxx $flags "$@" -o "$out" $libs
