# vm-image.sh — the guest kernel and initramfs of 'ompi-virt vm up'.
# Needs common.sh.
#
# Kernel: --kernel FILE (with --modules DIR, its /lib/modules/VERSION), else
# the host's /boot/vmlinuz-$(uname -r) when it and its modules are readable,
# else Debian's linux-image-amd64 fetched once with 'apt-get download' and
# kept in the cache directory (vm_cache_dir: $OMPI_VIRT_VM_CACHE, default
# /var/cache/ompi-virt-vm) as VERSION/vmlinuz plus the few modules the guest
# loads (VERSION/modules/*.ko); the ~70 MB package is deleted after.  The
# VM boots VERSION/vmlinux, the kernel uncompressed once (vm_extract_vmlinux),
# when that works.
#
# Initramfs: a static busybox, those modules in load order and /init
# (vm-init.sh).  The guest loads virtio-net/9p, mounts the host's root file
# system read-only over 9p and starts the launcher agent in it; it never
# runs the host's init or systemd.

# Modules the guest needs (each with its dependencies, found from the
# modules' own depends= field, so no depmod is needed): virtio PCI and net
# for its two NICs, 9p over virtio for the root file system.
VM_MODULES=(virtio_pci virtio_net 9pnet_virtio 9p)

vm_cache_dir() { echo "${OMPI_VIRT_VM_CACHE:-/var/cache/ompi-virt-vm}"; }

# vm_find_module DIR NAME: the file of module NAME under DIR (.ko, .ko.xz, .ko.zst)
vm_find_module() {
    find "$1" \( -name "$2.ko" -o -name "$2.ko.xz" -o -name "$2.ko.zst" \) -print -quit 2>/dev/null
}

# vm_module_deps FILE: the depends= list of a module file, one per line
vm_module_deps() {
    local f=$1
    case $f in
        *.xz) xz -dc -- "$f" ;;
        *.zst) zstd -qdc -- "$f" ;;
        *) cat -- "$f" ;;
    esac | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'
}

# vm_resolve_modules MODDIR OUTDIR: copy VM_MODULES and their dependencies
# (uncompressed) into OUTDIR and write OUTDIR/order, the load order.  A
# module MODDIR/modules.builtin lists is skipped.  Fails when one is neither.
vm_resolve_modules() {
    local moddir=$1 out=$2
    local -A done=()
    local order=()
    mkdir -p "$out" || return 1
    visit() {
        local m=$1 f d
        [ -z "${done[$m]:-}" ] || return 0
        done[$m]=1
        f=$(vm_find_module "$moddir" "$m")
        if [ -z "$f" ]; then
            [ -r "$moddir/modules.builtin" ] && grep -q "/$m.ko\$" "$moddir/modules.builtin" && return 0
            echo "module $m not found under $moddir" >&2
            return 1
        fi
        while read -r d; do visit "${d//-/_}" || return 1; done < <(vm_module_deps "$f")
        case $f in
            *.xz) xz -dc -- "$f" >"$out/$m.ko" ;;
            *.zst) zstd -qdc -- "$f" >"$out/$m.ko" ;;
            *) cp -- "$f" "$out/$m.ko" ;;
        esac || return 1
        order+=("$m")
    }
    local m
    for m in "${VM_MODULES[@]}"; do visit "$m" || return 1; done
    printf '%s\n' "${order[@]}" >"$out/order"
}

# vm_fetch_kernel: Debian's current kernel in the cache; prints its directory
# (VERSION/ with vmlinuz and modules/).  Serialised by a lock in the cache.
vm_fetch_kernel() {
    local cache pkg ver tmp deb
    cache=$(vm_cache_dir)
    mkdir -p -- "$cache" || die "cannot create the kernel cache $cache (set OMPI_VIRT_VM_CACHE)"
    exec 8>"$cache/.lock" && flock -w 600 8 || die "cannot lock $cache/.lock"
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$pkg" ]; then
        # apt knows no index (no 'apt-get update' yet): take what the cache has
        ver=$(ls -1 "$cache" 2>/dev/null | while read -r v; do [ -f "$cache/$v/complete" ] && echo "$v"; done | sort -V | tail -n1)
        [ -n "$ver" ] || die "no guest kernel: apt-cache knows no linux-image-amd64 (run 'apt-get update'), none is cached in $cache, and /boot has none; or pass --kernel"
        echo "$cache/$ver"
        exec 8>&-
        return 0
    fi
    ver=${pkg#linux-image-}
    if [ ! -f "$cache/$ver/complete" ]; then
        info "fetching the guest kernel: apt-get download $pkg (~70 MB, once; cached in $cache/$ver)"
        tmp=$(mktemp -d "$cache/.fetch-XXXXXX") || die "cannot write $cache"
        # _apt cannot write a root-only directory; a world-readable temp dir keeps apt's sandbox
        chmod 755 "$tmp"
        if ! (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>"$tmp/apt.err"); then
            cat "$tmp/apt.err" >&2; rm -rf -- "$tmp"
            die "cannot download $pkg from Debian's archive"
        fi
        deb=$(ls "$tmp"/*.deb | head -n1)
        dpkg-deb -x "$deb" "$tmp/x" || { rm -rf -- "$tmp"; die "cannot unpack $deb"; }
        rm -rf -- "${cache:?}/$ver"
        mkdir -p "$cache/$ver"
        cp "$tmp/x/boot/vmlinuz-$ver" "$cache/$ver/vmlinuz" &&
            vm_resolve_modules "$tmp/x/lib/modules/$ver" "$cache/$ver/modules" ||
            { rm -rf -- "$tmp" "${cache:?}/$ver"; die "the package $pkg lacks a kernel or modules the guest needs"; }
        rm -rf -- "$tmp"
        touch "$cache/$ver/complete"
    fi
    exec 8>&-
    echo "$cache/$ver"
}

# vm_extract_vmlinux VMLINUZ OUT: the uncompressed kernel inside a bzImage
# (xz, zstd or gzip payload) as OUT, if it is an ELF file QEMU can boot
# directly (it has the PVH entry note, Xen note type 0x12).  Under TCG this
# saves the guest decompressing the kernel, a third of its boot.  Written
# atomically; fails (and writes nothing) otherwise.
vm_extract_vmlinux() {
    local in=$1 out=$2 magic off tool tmp
    tmp=$(mktemp "$out.XXXXXX") || return 1
    for magic in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
        tool=${magic%%:*}
        command -v "$tool" >/dev/null 2>&1 || continue
        off=$(LC_ALL=C grep -aboP "${magic#*:}" "$in" 2>/dev/null | head -n1 | cut -d: -f1)
        [ -n "$off" ] || continue
        case $tool in
            xz) tail -c +$((off + 1)) "$in" | xz -dc --single-stream ;;
            zstd) tail -c +$((off + 1)) "$in" | zstd -qdc ;;
            gzip) tail -c +$((off + 1)) "$in" | gzip -dc ;;
        esac >"$tmp" 2>/dev/null
        if [ "$(head -c 4 "$tmp" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] &&
           readelf -n "$tmp" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
            mv -- "$tmp" "$out"
            return 0
        fi
    done
    rm -f -- "$tmp"
    return 1
}

# vm_kernel KERNEL MODDIR OUT: choose the kernel (see the top), copy its
# modules into OUT/modules; prints the kernel's path.
vm_kernel() {
    local kernel=$1 moddir=$2 out=$3 rel dir
    if [ -n "$kernel" ]; then
        [ -r "$kernel" ] || die "--kernel $kernel is not readable"
        [ -n "$moddir" ] || die "--kernel needs --modules DIR (its /lib/modules/VERSION)"
        vm_resolve_modules "$moddir" "$out/modules" || die "modules for $kernel missing under $moddir"
        echo "$kernel"; return 0
    fi
    rel=$(uname -r)
    if [ -r "/boot/vmlinuz-$rel" ] && [ -d "/lib/modules/$rel" ] &&
       vm_resolve_modules "/lib/modules/$rel" "$out/modules" 2>/dev/null; then
        echo "/boot/vmlinuz-$rel"; return 0
    fi
    rm -rf -- "$out/modules"
    dir=$(vm_fetch_kernel) || exit 1
    cp -r -- "$dir/modules" "$out/modules" || die "cannot copy $dir/modules"
    if [ -f "$dir/vmlinux" ] || vm_extract_vmlinux "$dir/vmlinuz" "$dir/vmlinux"; then
        echo "$dir/vmlinux"
    else
        echo "$dir/vmlinuz"
    fi
}

# vm_initramfs OUT: OUT/initrd.gz from a static busybox, OUT/modules and
# vm-init.sh as /init.  The per-VM settings go into a second archive
# (vm_config_archive) that QEMU's -initrd gets concatenated to this one.
vm_initramfs() {
    local out=$1 bb root
    bb=$(command -v busybox) || die "busybox not found; install it with: apt-get install -y busybox-static"
    if ldd "$bb" >/dev/null 2>&1; then
        die "$bb is dynamically linked; install the static one: apt-get install -y busybox-static"
    fi
    root=$out/initramfs
    rm -rf -- "$root"
    mkdir -p "$root"/{bin,proc,sys,dev,newroot,ov} || die "cannot write $root"
    cp -- "$bb" "$root/bin/busybox"
    cp -r -- "$out/modules" "$root/modules"
    cp -- "$OV_CLI_LIB/vm-init.sh" "$root/init" && chmod 755 "$root/init"
    (cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$out/initrd.gz" ||
        die "cannot build the initramfs"
    rm -rf -- "$root"
}

# vm_config_archive DIR FILE...: DIR/config.cpio.gz holding the FILEs (under
# DIR) as /ov/NAME, appended to the common initramfs for one VM.
vm_config_archive() {
    local dir=$1 bb f
    shift
    bb=$(command -v busybox)
    mkdir -p "$dir/cfg/ov"
    for f in "$@"; do cp -- "$dir/$f" "$dir/cfg/ov/$f"; done
    (cd "$dir/cfg" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$dir/config.cpio.gz"
    rm -rf -- "$dir/cfg"
}
