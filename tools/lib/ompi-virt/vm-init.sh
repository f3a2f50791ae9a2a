#!/bin/busybox sh
# vm-init.sh — /init of an ompi-virt VM's initramfs (busybox sh; built by
# 'ompi-virt vm up', see vm-image.sh).  No systemd, no udev: it
#   1. loads the virtio/9p modules listed in /modules/order;
#   2. configures its two NICs, found by the MAC addresses /ov/config gives:
#      BR_MAC (the private bridge, BR_ADDR) for MPI, and CTL_MAC (QEMU user
#      networking, 10.0.2.15) that reaches only the backend and the host's
#      launcher (QEMU forwards them; see vm-up.sh);
#   3. mounts the host's root file system read-only over 9p (mount tag
#      hostroot) with private tmpfs on /tmp, /run and /dev/shm, the
#      directories SHARES names (tags share0, share1, ...) at their paths,
#      its own /etc/hosts, and the hostname NAME;
#   4. runs the launcher agent inside it: socat on 10.0.2.15:AGENT_PORT,
#      bound to the CTL NIC, one vm-session.sh per connection.
# Everything it says goes to the console as "ov-vm: ..."; the host waits for
# "ov-vm: agent ready".  If anything fails it powers the VM off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "ov-vm: $*" >/dev/console; }
die() { say "FAILED: $*"; sleep 1; poweroff -f; }

. /ov/config || die "no /ov/config"
for m in $(cat /modules/order); do
    insmod "/modules/$m.ko" || die "insmod $m"
done

ifname_of() {
    for d in /sys/class/net/*; do
        [ "$(cat "$d/address")" = "$1" ] && { echo "${d##*/}"; return 0; }
    done
    return 1
}
n=0
while ! br=$(ifname_of "$BR_MAC") || ! ctl=$(ifname_of "$CTL_MAC"); do
    n=$((n + 1)); [ $n -lt 100 ] || die "no NIC with MAC $BR_MAC and $CTL_MAC"
    sleep 0.1
done
ip link set lo up
ip link set "$br" up && ip addr add "$BR_ADDR" dev "$br" || die "bridge NIC $br"
ip link set "$ctl" up && ip addr add 10.0.2.15/24 dev "$ctl" || die "control NIC $ctl"

R=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $R ||
    die "9p root (mount tag hostroot)"
mount -t proc proc $R/proc && mount -t sysfs sys $R/sys && mount -t devtmpfs dev $R/dev ||
    die "proc/sys/dev in the root"
mkdir -p $R/dev/shm $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm && mount -t tmpfs -o mode=1777 tmp $R/tmp &&
    mount -t tmpfs -o mode=755 run $R/run || die "tmpfs in the root"
# the host directories 'vm up --share' named, at the same paths
i=0
IFS=:
for p in $SHARES; do
    mkdir -p "$R$p" && mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 "share$i" "$R$p" ||
        die "share $p (mount tag share$i)"
    i=$((i + 1))
done
unset IFS
mkdir -p $R/run/ompi-virt-vm
cp /ov/* $R/run/ompi-virt-vm/ && chmod 600 $R/run/ompi-virt-vm/token || die "agent settings"
mount --bind $R/run/ompi-virt-vm/hosts $R/etc/hosts || die "/etc/hosts"
hostname "$NAME"

say "agent ready on 10.0.2.15:$AGENT_PORT ($br $BR_ADDR)"
# pid 1 must not exit: restart the agent if it ever does
while :; do
    chroot $R /usr/bin/socat "TCP-LISTEN:$AGENT_PORT,bind=10.0.2.15,so-bindtodevice=$ctl,reuseaddr,fork" \
        "EXEC:/bin/bash $SESSION"
    say "agent exited ($?); restarting"
    sleep 1
done
