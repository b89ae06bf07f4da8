#!/usr/bin/env bash
# The real-peer proof of `virtio serve net`: QEMU 7.2 (TCG) guests running Debian's kernel and a busybox initramfs,
# their Linux virtio_net drivers on this project's virtio-net data path served over vhost-user (guest RAM shared over
# memfd).
#   default            two guests ping each other: guest A's NIC is `-netdev vhost-user` to `serve net --backend
#                      stream:SOCK --pcap F`, whose stream connects to guest B's own `-netdev stream,server=on` (QEMU
#                      7.2's stream netdev: a 4-byte big-endian length, then the frame). ARP and ICMP echo cross our
#                      device between two real virtio_net drivers; tshark finds the echo request and reply in the pcap.
#   --queue-pairs 2    one guest, -smp 2, `-netdev vhost-user,queues=2` and `virtio-net-pci,mq=on`, on the loopback
#                      backend; it sends from each vCPU (taskset), and serve's stats must show both pairs carried frames.
#   --fault SPEC       (CI targets the ring: drop-kick:N:tx, drop-call:N:rx) drop-kick:N: one guest on the loopback backend floods pings (a static ARP entry: no wait for
#                      replies); a lost tx kick fills the ring and Linux's virtnet_tx_timeout logs "TX timeout on queue"
#                      on the console. drop-call:N: one guest that only receives, from the generator backend; a lost rx
#                      interrupt stops its rx counter for good. Either way serve's watchdog must log the verdict.
# Needs qemu-system-x86, busybox-static, cpio, Debian's linux-image ($KERNEL_CACHE, /boot, or apt-get download), and
# tshark for the default mode. Exit: 0 passed, 1 failed, 3 skipped (a package is missing).
# Usage: tests/qemu/vhost-user-net.sh [--queue-pairs 1|2] [--fault drop-kick:N[:tx]|drop-call:N[:rx]] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=1; fault=; keep=
while [ $# -gt 0 ]; do
  case $1 in
    --queue-pairs) pairs=$2; shift 2 ;;
    --fault) fault=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--queue-pairs 1|2] [--fault drop-kick:N[:tx]|drop-call:N[:rx]] [--keep]" >&2; exit 2 ;;
  esac
done
case ${fault%%:*} in
  '') expect= ;;
  drop-kick) expect=device-missed-kick ;;
  drop-call) expect=driver-missed-notification ;;
  *) echo "unknown fault $fault" >&2; exit 2 ;;
esac
two_guests=; [ "$pairs" = 1 ] && [ -z "$fault" ] && two_guests=1
log() { echo "vhost-user-net: $*"; }

. "$(dirname "$0")/lib.sh"
tools="qemu-system-x86_64 busybox cpio gzip"; [ -n "$two_guests" ] && tools="$tools tshark"
qemu_require $tools 2> >(sed 's/^/vhost-user-net: skipped: /' >&2) || exit 3

work=$(mktemp -d)
serve_pid=; a_pid=; b_pid=
cleanup() {
  for p in $a_pid $b_pid $serve_pid; do kill "$p" 2>/dev/null || true; done
  if [ -n "$keep" ]; then log "work directory $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

stack="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
{ qemu_kernel "$work" && qemu_initrd "$work" $stack; } 2> >(sed 's/^/vhost-user-net: skipped: /' >&2) || exit 3

# guest_initrd NAME IP WORKLOAD: WORK/NAME.gz, an initramfs that brings eth0 up as IP/24 and runs WORKLOAD.
guest_initrd() {
  { qemu_init_start $stack; cat <<INIT; } >"$work/initrd/init"
ip link set lo up
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 # no router solicitations: the guest sends only what the workload sends
ip addr add $2/24 dev eth0
ip link set eth0 up
echo "guest: eth0 up: \$(cat /sys/class/net/eth0/address) $2/24, \$(ls /sys/class/net/eth0/queues | grep -c tx) tx queue(s)"
$3
INIT
  qemu_pack "$work"
  mv "$work/initrd.gz" "$work/$1.gz"
}

if [ -n "$two_guests" ]; then
  guest_initrd b 10.0.3.2 'while true; do sleep 60; done'
  guest_initrd a 10.0.3.1 '
for i in $(seq 1 120); do ping -c 1 -W 2 10.0.3.2 >/dev/null 2>&1 && break; done
if ping -c 3 -W 10 10.0.3.2; then echo "guest: ping 10.0.3.2 answered"; else echo "guest: ping 10.0.3.2 FAILED"; fi
poweroff -f'
  backend="stream:$work/net.sock"
elif [ -z "$fault" ]; then
  # Frames sent from each vCPU go out on that vCPU'"'"'s tx queue (XPS) and come back on the same pair (loopback).
  guest_initrd a 10.0.3.1 '
arp -s 10.0.3.2 52:54:00:00:03:99
taskset 1 ping -c 20 -i 0.05 -W 1 10.0.3.2 >/dev/null 2>&1
taskset 2 ping -c 20 -i 0.05 -W 1 10.0.3.2 >/dev/null 2>&1
echo "guest: sent from both vCPUs; tx packets per queue: $(for q in /sys/class/net/eth0/queues/tx-*; do cat $q/../../statistics/tx_packets; done | head -n 1)"
poweroff -f'
  backend=loopback
elif [ "$expect" = device-missed-kick ]; then
  # A flood to an address that never answers (a static ARP entry: nothing waits for replies), then the guest keeps
  # printing its counters until the script stops it.
  guest_initrd a 10.0.3.1 '
arp -s 10.0.3.2 52:54:00:00:03:99
echo "guest: flood started"
for i in 1 2 3 4; do ping -q -i 0.01 -s 1000 -w 120 10.0.3.2 >/dev/null 2>&1 & done
while true; do echo "guest: rx_packets $(cat /sys/class/net/eth0/statistics/rx_packets) tx_packets $(cat /sys/class/net/eth0/statistics/tx_packets)"; sleep 2; done'
  backend=loopback
else
  # Receive only, from the generator: with vectors=0 every queue shares one interrupt line, so a tx interrupt would
  # run the rx callback too and hide the lost rx interrupt; this guest sends nothing.
  guest_initrd a 10.0.3.1 '
while true; do echo "guest: rx_packets $(cat /sys/class/net/eth0/statistics/rx_packets) tx_packets $(cat /sys/class/net/eth0/statistics/tx_packets)"; sleep 2; done'
  backend=generator
fi

b_qemu=()
if [ -n "$two_guests" ]; then
  # Guest B: QEMU's own stream netdev listens; serve net connects to it.
  qemu-system-x86_64 -machine pc -accel tcg -m 256 -smp 1 -no-reboot -display none -nodefaults \
    -kernel "$kernel" -initrd "$work/b.gz" -append "console=ttyS0 panic=-1 quiet" \
    -serial "file:$work/b-console.log" \
    -netdev "stream,id=n0,server=on,addr.type=unix,addr.path=$work/net.sock" \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:00:03:02,romfile= >"$work/b-qemu.log" 2>&1 &
  b_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/net.sock" ] && break; sleep 0.1; done
  [ -S "$work/net.sock" ] || { cat "$work/b-qemu.log"; log "QEMU's -netdev stream,server=on did not listen"; exit 1; }
fi

virtio=(dotnet "$root/src/Virtio.Cli/bin/Release/net10.0/virtio.dll")
[ -f "${virtio[1]}" ] || virtio=(dotnet run -c Release --project "$root/src/Virtio.Cli" --)
"${virtio[@]}" serve net --socket "$work/vhost.sock" --backend "$backend" --queue-pairs "$pairs" --once --stats \
  ${two_guests:+--pcap "$work/a.pcap"} ${fault:+--fault "$fault" --stall-timeout 5} >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 300); do [ -S "$work/vhost.sock" ] && break; sleep 0.1; done
[ -S "$work/vhost.sock" ] || { cat "$work/serve.log"; log "virtio serve net did not listen"; exit 1; }

mq=; [ "$pairs" -gt 1 ] && mq=,mq=on
# vectors=0: QEMU 7.2 (Debian 1:7.2+dfsg-7+deb12u18) dies with SIGSEGV, no message, when the guest's virtio_net
# probes a vhost-user virtio-net-pci with MSI-X (after the first SET_VRING_ENABLEs, before SET_MEM_TABLE). Without
# MSI-X every queue shares the INTx line: serve's per-pair counters, not the guest's interrupts, show both pairs work.
a_qemu=(qemu-system-x86_64 -machine pc -accel tcg -m 256 -smp "$pairs" -no-reboot -display none -nodefaults
  -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem
  -kernel "$kernel" -initrd "$work/a.gz" -append "console=ttyS0 panic=-1 quiet"
  -serial "file:$work/a-console.log"
  -chardev "socket,id=c0,path=$work/vhost.sock"
  -netdev "vhost-user,id=n0,chardev=c0,queues=$pairs"
  -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:03:01,romfile=,vectors=0${mq}")
start=$(date +%s)
if [ -z "$fault" ]; then
  timeout "${GUEST_TIMEOUT:-300}" "${a_qemu[@]}" >"$work/a-qemu.log" 2>&1 || log "QEMU (guest A) exited with $?"
else
  # The hang: wait for the watchdog's verdict (and, for a lost kick, the guest's TX timeout), then stop QEMU.
  "${a_qemu[@]}" >"$work/a-qemu.log" 2>&1 &
  a_pid=$!
  for _ in $(seq 1 "${GUEST_TIMEOUT:-300}"); do
    if grep -q 'no progress for' "$work/serve.log" 2>/dev/null; then
      [ "$expect" = device-missed-kick ] && ! grep -q 'TX timeout on queue' "$work/a-console.log" || break
    fi
    kill -0 "$a_pid" 2>/dev/null || break
    sleep 1
  done
  sleep 6 # two more counter lines from the guest: rx must not move with a lost rx interrupt
  kill "$a_pid" 2>/dev/null || true
  wait "$a_pid" 2>/dev/null || true
  a_pid=
fi
log "guest A ran $(( $(date +%s) - start )) s"
for _ in $(seq 1 300); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
kill -TERM "$serve_pid" 2>/dev/null || true
wait "$serve_pid" || true
serve_pid=
[ -n "$b_pid" ] && { kill "$b_pid" 2>/dev/null || true; wait "$b_pid" 2>/dev/null || true; b_pid=; }

echo "--- guest A console ---"; grep -a '^guest:\|TX timeout\|virtio_net' "$work/a-console.log" | tail -n 20 || tail -n 20 "$work/a-console.log" || true
[ -n "$two_guests" ] && { echo "--- guest B console ---"; grep -a '^guest:' "$work/b-console.log" || tail -n 10 "$work/b-console.log" || true; }
echo "--- qemu A ---"; cat "$work/a-qemu.log"
echo "--- serve net (tail) ---"; grep -v 'virtio serve net: tx' "$work/serve.log" | tail -n 12; grep 'virtio serve net: tx' "$work/serve.log" | tail -n 1

status=0
final=$(grep 'virtio serve net: tx' "$work/serve.log" | tail -n 1)
if [ -n "$fault" ]; then
  grep -q "injecting $fault" "$work/serve.log" || { log "FAIL: the server did not inject $fault"; status=1; }
  echo "--- watchdog ---"; grep -A12 'no progress for' "$work/serve.log" | head -n 30 || true
  grep -Eq "queue [0-9]+: $expect" "$work/serve.log" || { log "FAIL: the watchdog did not log the verdict $expect"; status=1; }
  if [ "$expect" = device-missed-kick ]; then
    grep -aq 'TX timeout on queue' "$work/a-console.log" || { log "FAIL: the guest did not log a TX timeout"; status=1; }
  else
    lines=$(grep -ac '^guest: rx_packets' "$work/a-console.log" || true)
    rx=$(grep -a '^guest: rx_packets' "$work/a-console.log" | tail -n 2 | awk '{ print $3 }' | uniq | wc -l)
    [ "${lines:-0}" -ge 2 ] && [ "$rx" = 1 ] || { log "FAIL: the guest's rx counter still moved after the lost interrupt ($lines counter lines)"; status=1; }
    grep -a '^guest: rx_packets' "$work/a-console.log" | tail -n 2
  fi
  [ $status -eq 0 ] && log "passed: $fault hung the guest's traffic and the watchdog said $expect"
  exit $status
fi
if [ -n "$two_guests" ]; then
  grep -aq '^guest: ping 10.0.3.2 answered' "$work/a-console.log" || { log "FAIL: guest A's ping to guest B was not answered"; status=1; }
  requests=$(tshark -r "$work/a.pcap" -Y 'icmp.type == 8 && ip.src == 10.0.3.1 && ip.dst == 10.0.3.2' 2>/dev/null | wc -l)
  replies=$(tshark -r "$work/a.pcap" -Y 'icmp.type == 0 && ip.src == 10.0.3.2 && ip.dst == 10.0.3.1' 2>/dev/null | wc -l)
  arps=$(tshark -r "$work/a.pcap" -Y 'arp' 2>/dev/null | wc -l)
  log "the capture holds $requests echo request(s), $replies echo reply(ies), $arps ARP frame(s)"
  [ "$requests" -ge 3 ] && [ "$replies" -ge 3 ] && [ "$arps" -ge 2 ] || { log "FAIL: the capture lacks the ARP exchange or the echoes"; status=1; }
  [ $status -eq 0 ] && log "passed: two Linux guests pinged each other through serve net ($final)"
else
  grep -aq "^guest: eth0 up: .*, $pairs tx queue(s)" "$work/a-console.log" || { log "FAIL: the guest does not use $pairs queue pairs"; status=1; }
  for q in $(seq 0 $((pairs - 1))); do
    tx=$(sed -n "s/.*pair $q: tx \([0-9]*\) rx \([0-9]*\).*/\1 \2/p" <<<"$final")
    read -r t r <<<"${tx:-0 0}"
    [ "${t:-0}" -gt 0 ] && [ "${r:-0}" -gt 0 ] || { log "FAIL: queue pair $q carried tx ${t:-0} rx ${r:-0} frames"; status=1; }
  done
  [ $status -eq 0 ] && log "passed: $pairs queue pairs each carried frames ($final)"
fi
exit $status
