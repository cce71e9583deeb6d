#!/bin/sh
# Build the harness's Debian 12 Vagrant box (provider libvirt) locally with debootstrap.
#
#   vagrant/box/build.sh OUTDIR
#
# Writes OUTDIR/{vmlinuz, initrd.img, harness-debian12.box (metadata.json, Vagrantfile, box.img)}. The VMs boot the
# kernel directly (no bootloader, no partition table: root=/dev/vda), so the rendered
# Vagrantfile points libvirt at OUTDIR/vmlinuz and OUTDIR/initrd.img.
# Only Debian's package mirror is used (the one this machine's apt uses); nothing else is
# downloaded. Clones must differ: empty machine-id, SSH host keys made at first boot, DHCP
# client id by MAC.
set -eu

OUT=${1:?usage: build.sh OUTDIR}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SIZE=${SIZE:-6G}
HERE=$(cd "$(dirname "$0")" && pwd)
PUBKEY=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub | head -n1)
PACKAGES="linux-image-amd64 systemd-sysv udev dbus openssh-server sudo ca-certificates
 iproute2 iputils-ping ethtool tcpdump kmod procps less
 lxd lxd-client dnsmasq-base openvswitch-switch bridge-utils nftables
 python3 python3-scapy busybox-static"

mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/build.XXXXXX")
ROOT="$WORK/rootfs"
cleanup() {
    for m in dev/pts dev proc sys; do umount "$ROOT/$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR"

mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
# no service may start inside the build chroot
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

echo "== packages"
chroot "$ROOT" apt-get update -q
DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y -q --no-install-recommends $PACKAGES
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/*

echo "== configuration"
cp -a "$ROOT/boot/vmlinuz-"* "$WORK/vmlinuz"
cp -a "$ROOT/boot/initrd.img-"* "$WORK/initrd.img"
chmod 644 "$WORK/vmlinuz" "$WORK/initrd.img"
echo "harness-box" > "$ROOT/etc/hostname"
echo "/dev/vda / ext4 defaults,noatime 0 1" > "$ROOT/etc/fstab"
: > "$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
# Vagrant's management NIC has a MAC 52:54:00:ff:00:NN (NN = host index) set by the rendered
# Vagrantfile: it is named mgmt0, so that the scenario's own NICs can take any name (eth0 too).
MACS=$(for i in $(seq 1 64); do printf '52:54:00:ff:00:%02x ' "$i"; done)
printf '[Match]\nMACAddress=%s\n\n[Link]\nName=mgmt0\n' "$MACS" \
    > "$ROOT/etc/systemd/network/10-mgmt.link"
cp "$HERE/files/10-mgmt.network" "$ROOT/etc/systemd/network/"
cp "$HERE/files/ssh-host-keys.service" "$ROOT/etc/systemd/system/"
cp "$HERE/files/99-harness.conf" "$ROOT/etc/sysctl.d/"
chroot "$ROOT" systemctl enable systemd-networkd.service ssh-host-keys.service
chroot "$ROOT" systemctl enable serial-getty@ttyS0.service
# Nothing waits for "online": Vagrant waits for the management address and SSH itself.
chroot "$ROOT" systemctl mask systemd-networkd-wait-online.service
rm -f "$ROOT"/etc/ssh/ssh_host_*
printf 'UseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\n' > "$ROOT/etc/ssh/sshd_config.d/harness.conf"

chroot "$ROOT" useradd -m -s /bin/bash -G sudo,lxd vagrant
echo "vagrant:vagrant" | chroot "$ROOT" chpasswd
echo "vagrant ALL=(ALL) NOPASSWD: ALL" > "$ROOT/etc/sudoers.d/vagrant"
chmod 440 "$ROOT/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$ROOT/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$PUBKEY" "$ROOT/home/vagrant/.ssh/authorized_keys"
rm -f "$ROOT/usr/sbin/policy-rc.d"
for m in dev/pts dev proc sys; do umount "$ROOT/$m"; done

echo "== disk image"
mkfs.ext4 -q -F -L root -d "$ROOT" "$WORK/box.raw" "$SIZE"
qemu-img convert -O qcow2 "$WORK/box.raw" "$WORK/box.img"
rm -f "$WORK/box.raw"
VSIZE=$(echo "$SIZE" | tr -d G)
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$VSIZE" \
    > "$WORK/metadata.json"
cp "$HERE/files/box.Vagrantfile" "$WORK/Vagrantfile"
tar -C "$WORK" -cf "$WORK/harness-debian12.box" metadata.json Vagrantfile box.img

for f in vmlinuz initrd.img harness-debian12.box; do mv "$WORK/$f" "$OUT/$f"; done
echo "== box ready in $OUT"
