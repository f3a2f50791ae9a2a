#!/bin/bash
# test/vm/smoke.sh — smoke test of the VM path with a real QEMU guest (TCG is
# enough; minutes, not seconds: not part of `make check`).
#
#   test/vm/smoke.sh [BUILD_DIR]        BUILD_DIR: a configured+built tree
#                                       (default: the current directory)
#
# Starts ompi-virt-backend --tcp --vm vm1=FILE,peer=127.0.0.1, boots a busybox
# initramfs with -device ivshmem-plain on FILE and QEMU user networking (the
# guest reaches the host's 127.0.0.1 as 10.0.2.2, so the backend sees peer
# 127.0.0.1), and checks inside the guest that
#   1. a 1af4:1110 device exists and its resource2 is the region size;
#   2. the BAR shows what the host wrote into FILE (busybox devmem);
#   3. ov_vm_probe (static, frontend library) attaches over TCP, finds the
#      BAR by scanning sysfs, and puts/gets through the backend.
#
# Needs qemu-system-x86_64, busybox (busybox-static), g++ with static libc and
# libstdc++, and a guest kernel with e1000 as a module or built in:
#   OV_VM_KERNEL=/path/vmlinuz  OV_VM_MODULES=/path/lib/modules/VERSION
# else /boot/vmlinuz-$(uname -r) and /lib/modules/$(uname -r); or
#   OV_VM_FETCH_KERNEL=1   downloads Debian's linux-image (apt-get download,
#                          ~70 MB) into $OV_VM_CACHE (/var/cache/ompi-virt-vm).
# OV_VM_KEEP=1 keeps the work directory (console.log, backend.log).
# Exit: 0 pass, 1 fail, 77 skipped (something missing).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
skip() { echo "vm smoke: SKIPPED: $*"; exit 77; }
work=
fail() {
    [ -n "$work" ] && [ -f "$work/console.log" ] && tail -25 "$work/console.log" | tr -d '\r'
    echo "vm smoke: FAILED: $*"
    exit 1
}

backend="$build/backend/ompi-virt-backend"
felib="$build/common/.libs/libompi_virt_frontend.a"
[ -x "$backend" ] && [ -f "$felib" ] || skip "no built backend/frontend under $build"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 (apt-get install qemu-system-x86)"
bb=$(command -v busybox) || skip "busybox (apt-get install busybox-static)"
ldd "$bb" >/dev/null 2>&1 && skip "$bb is dynamically linked (apt-get install busybox-static)"

kernel=${OV_VM_KERNEL:-}
mods=${OV_VM_MODULES:-}
if [ -z "$kernel" ] && [ -n "${OV_VM_FETCH_KERNEL:-}" ]; then
    cache=${OV_VM_CACHE:-/var/cache/ompi-virt-vm}
    mkdir -p "$cache" || fail "cannot create $cache"
    if ! ls "$cache"/kimg/boot/vmlinuz-* >/dev/null 2>&1; then
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
        [ -n "$pkg" ] || skip "no linux-image package known to apt"
        (cd "$cache" && apt-get download "$pkg" >/dev/null && dpkg-deb -x "$pkg"_*.deb kimg) ||
            skip "cannot download $pkg"
    fi
    kernel=$(ls "$cache"/kimg/boot/vmlinuz-* | head -1)
    mods=$(ls -d "$cache"/kimg/lib/modules/* | head -1)
fi
if [ -z "$kernel" ]; then
    kernel=/boot/vmlinuz-$(uname -r)
    mods=/lib/modules/$(uname -r)
fi
[ -r "$kernel" ] || skip "no guest kernel (set OV_VM_KERNEL, or OV_VM_FETCH_KERNEL=1)"

work=$(mktemp -d /tmp/ov-vm-smoke-XXXXXX)
bepid=
cleanup() {
    [ -n "$bepid" ] && kill "$bepid" 2>/dev/null && wait "$bepid" 2>/dev/null
    if [ -n "${OV_VM_KEEP:-}" ]; then echo "vm smoke: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- guest program and initramfs
g++ -std=c++17 -O2 -static -I"$src/common" "$here/ov_vm_probe.cc" "$felib" -o "$work/ov_vm_probe" ||
    skip "cannot link a static guest program (libc6-dev, libstdc++ static)"
root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev}
cp "$bb" "$root/bin/busybox"
cp "$work/ov_vm_probe" "$root/ov_vm_probe"
e1000=$(find "$mods" -name 'e1000.ko*' 2>/dev/null | head -1)
[ -n "$e1000" ] && cp "$e1000" "$root/e1000.ko"
cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
port=$(sed -n 's/.*ovport=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -f /e1000.ko ] && insmod /e1000.ko
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ] || continue
    bar=$(sed -n 3p $d/resource | cut -d' ' -f1)
    echo "OVVM ivshmem $d size=$(stat -c %s $d/resource2) enable=$(cat $d/enable) bar=$bar"
    echo "OVVM bar0 before attach $(devmem $bar 64)"
done
OMPI_VIRT_URI=tcp:10.0.2.2:$port OMPI_VIRT_GUEST=vm1 /ov_vm_probe
echo "OVVM probe exit $?"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"
[ "$(stat -c %s "$work/initrd.gz")" -gt 100000 ] || fail "initramfs not built"

# ---- backend and its region file (created and sized by the backend)
region="$work/vm1.region"
mb=4
"$backend" --dir "$work/be" --tcp tcp:127.0.0.1:0 --region-mb $mb --spin-us 50 \
    --vm "vm1=$region,peer=127.0.0.1" 2> "$work/backend.log" &
bepid=$!
for _ in $(seq 100); do grep -q "serving unix" "$work/backend.log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$work/backend.log")
[ -n "$port" ] && [ -f "$region" ] || { cat "$work/backend.log"; fail "backend did not start"; }
printf 'OVVMBAR!' | dd of="$region" conv=notrunc status=none # what the guest must see before attach

# ---- boot (bounded)
echo "vm smoke: booting $(basename "$kernel") under QEMU (backend tcp port $port)"
t0=$(date +%s)
timeout 300 qemu-system-x86_64 -machine pc -accel tcg -m 256 -smp 1 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet ovport=$port" \
    -object memory-backend-file,id=ovm,share=on,mem-path="$region",size=${mb}M \
    -device ivshmem-plain,memdev=ovm \
    -nic user,model=e1000 > "$work/console.log" 2>&1
qrc=$?
echo "vm smoke: guest ran $(( $(date +%s) - t0 )) s (qemu exit $qrc)"
grep -ao 'OVVM.*' "$work/console.log" | tr -d '\r'

size=$(( mb << 20 ))
grep -q "OVVM ivshmem .* size=$size " "$work/console.log" || fail "no ivshmem BAR of $size bytes in the guest"
grep -qi "OVVM bar0 before attach 0x215241424D56564F" "$work/console.log" ||
    fail "the BAR does not show the host file's bytes"
grep -q "OVVM probe OK" "$work/console.log" || { cat "$work/backend.log"; fail "frontend in the guest"; }
grep -q "region 1 for VM vm1 (127.0.0.1)" "$work/backend.log" || fail "backend did not serve vm1"
echo "vm smoke: PASSED"
