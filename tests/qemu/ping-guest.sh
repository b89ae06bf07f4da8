#!/usr/bin/env bash
# A real QEMU peer for the stream backend: boots Debian's kernel with a busybox initramfs under QEMU (TCG, no KVM
# needed), its virtio-net NIC on `-netdev stream` (QEMU 7.2's client: a 4-byte big-endian length, then the frame)
# connected to `virtio ping --listen`, which resolves the guest with ARP and pings it from our virtio-net device.
# Needs qemu-system-x86, linux-image-amd64, busybox-static and cpio (Debian 12). Exit status: virtio ping's.
# Usage: tests/qemu/ping-guest.sh [--keep]   (--keep leaves the work directory with the console log and a pcap)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
keep=${1:-}

for tool in qemu-system-x86_64 busybox cpio gzip; do
  command -v "$tool" >/dev/null || { echo "ping-guest: $tool not found" >&2; exit 3; }
done
# The initramfs has no libc: busybox must be the static build.
if ldd "$(command -v busybox)" >/dev/null 2>&1; then
  echo "ping-guest: $(command -v busybox) is dynamically linked; install busybox-static" >&2
  exit 3
fi

work=$(mktemp -d)
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  if [ "$keep" = "--keep" ]; then echo "ping-guest: work directory $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The guest kernel: an unpacked linux-image in $KERNEL_CACHE (.ci/run unpacks one for all the QEMU checks), the
# installed one, else Debian's linux-image unpacked here (no install, no initramfs build).
kernel=
[ -n "${KERNEL_CACHE:-}" ] && kernel=$(ls "$KERNEL_CACHE"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$kernel" ]; then
  modules=$KERNEL_CACHE/lib/modules/${kernel##*/vmlinuz-}
elif kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1) && [ -n "$kernel" ]; then
  modules=/lib/modules/${kernel#/boot/vmlinuz-}
else
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$package" ] || { echo "ping-guest: no kernel in /boot and no linux-image-amd64 package known to apt" >&2; exit 3; }
  (cd "$work" && apt-get download -qq "$package" >/dev/null 2>&1) || { echo "ping-guest: could not download $package" >&2; exit 3; }
  dpkg-deb -x "$work"/"$package"_*.deb "$work/kernel"
  kernel=$(ls "$work"/kernel/boot/vmlinuz-* | head -n 1)
  modules=$work/kernel/lib/modules/${kernel##*/vmlinuz-}
fi

# The initramfs: busybox, the virtio-net driver stack as modules (Debian builds them as modules), an init that
# brings eth0 up as 10.0.2.15/24 and then waits to be killed.
mkdir -p "$work/initrd/bin" "$work/initrd/lib/modules" "$work/initrd/proc" "$work/initrd/sys" "$work/initrd/dev"
cp "$(command -v busybox)" "$work/initrd/bin/busybox"
stack="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
for m in $stack; do
  ko=$(find "$modules" -name "$m.ko" | head -n 1)
  [ -n "$ko" ] || { echo "ping-guest: module $m not found under $modules" >&2; exit 3; }
  cp "$ko" "$work/initrd/lib/modules/"
done
cat >"$work/initrd/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $stack; do insmod /lib/modules/\$m.ko || echo "guest: insmod \$m failed"; done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
echo "guest: eth0 is up: \$(cat /sys/class/net/eth0/address) 10.0.2.15/24, features \$(cat /sys/class/net/eth0/device/features 2>/dev/null)"
while true; do sleep 60; done
INIT
chmod +x "$work/initrd/init"
(cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

# Our side listens; QEMU connects (server=off).
virtio=(dotnet "$root/src/Virtio.Cli/bin/Release/net10.0/virtio.dll")
[ -f "${virtio[1]}" ] || virtio=(dotnet run -c Release --project "$root/src/Virtio.Cli" --)
"${virtio[@]}" ping --listen "$work/net.sock" --timeout "${PING_TIMEOUT:-240}" --count 3 --pcap "$work/ping.pcap" &
ping_pid=$!
for _ in $(seq 1 300); do [ -S "$work/net.sock" ] && break; sleep 0.1; done
[ -S "$work/net.sock" ] || { echo "ping-guest: virtio ping did not listen" >&2; exit 1; }

qemu-system-x86_64 -machine pc -accel tcg -m 256 -smp 1 -no-reboot -display none -nodefaults \
  -kernel "$kernel" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
  -serial "file:$work/console.log" \
  -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$work/net.sock" \
  -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57,romfile= &
qemu_pid=$!

status=0
wait "$ping_pid" || status=$?
echo "--- guest console (tail) ---"
tail -n 5 "$work/console.log" 2>/dev/null || true
exit "$status"
