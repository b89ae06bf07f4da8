#!/usr/bin/env bash
# A real QEMU peer for the stream backend: boots Debian's kernel with a busybox initramfs under QEMU (TCG, no KVM
# needed), its virtio-net NIC on `-netdev stream` (QEMU 7.2's client: a 4-byte big-endian length, then the frame)
# connected to `virtio ping --listen`, which resolves the guest with ARP and pings it from our virtio-net device.
# Needs qemu-system-x86, linux-image-amd64, busybox-static and cpio (Debian 12). Exit status: virtio ping's.
# Usage: tests/qemu/ping-guest.sh [--keep]   (--keep leaves the work directory with the console log and a pcap)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
keep=${1:-}

. "$(dirname "$0")/lib.sh"
qemu_require qemu-system-x86_64 busybox cpio gzip 2> >(sed 's/^/ping-guest: /' >&2) || exit 3

work=$(mktemp -d)
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  if [ "$keep" = "--keep" ]; then echo "ping-guest: work directory $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The initramfs: busybox, the virtio-net driver stack as modules (Debian builds them as modules), an init that
# brings eth0 up as 10.0.2.15/24 and then waits to be killed.
stack="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
{ qemu_kernel "$work" && qemu_initrd "$work" $stack; } 2> >(sed 's/^/ping-guest: /' >&2) || exit 3
{ qemu_init_start $stack; cat <<INIT; } >"$work/initrd/init"
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
echo "guest: eth0 is up: \$(cat /sys/class/net/eth0/address) 10.0.2.15/24, features \$(cat /sys/class/net/eth0/device/features 2>/dev/null)"
while true; do sleep 60; done
INIT
qemu_pack "$work"

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
