#!/usr/bin/env bash
# `virtio diagnose` against a real QEMU 7.2 guest (TCG, Debian's kernel, a busybox initramfs), one boot for every
# case of issue 11: a two-queue virtio-blk disk on file -> blkdebug (node dbg) -> raw, and two virtio-net NICs on
# -netdev stream whose peers accept and never read. Each check prints "ok N - ..." or "not ok N - ...", after a
# "1..N" plan; exit 0 when all pass, 1 when one fails, 3 when the packages are missing (every check skipped).
# Needs qemu-system-x86, busybox-static, cpio, socat and Debian's linux-image ($KERNEL_CACHE, /boot, or apt-get download).
# Usage: tests/qemu/diagnose-guest.sh [--keep]   (--keep leaves the work directory: console log, replies, dumps)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
keep=${1:-}
plan=9
echo "1..$plan"

. "$(dirname "$0")/lib.sh"
qemu_require qemu-system-x86_64 busybox cpio gzip socat 2> >(sed 's/^/diagnose-guest: /' >&2) || exit 3

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  if [ "$keep" = "--keep" ]; then echo "diagnose-guest: work directory $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The initramfs: busybox, virtio-blk and virtio-net as modules, an init that runs the host's commands, one per
# line, from the second serial port (a pipe chardev), so the host decides when each case starts.
stack="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk"
{ qemu_kernel "$work" && qemu_initrd "$work" $stack; } 2> >(sed 's/^/diagnose-guest: /' >&2) || exit 3
{ qemu_init_start $stack; cat <<INIT; } >"$work/initrd/init"
# No IPv6: an idle link must carry no traffic (router solicitations, DAD).
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
ip link set lo up
echo "guest: ready"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
while read -r cmd; do echo "guest: run: \$cmd"; sh -c "\$cmd" </dev/null & done </dev/ttyS1
INIT
qemu_pack "$work"
truncate -s 64M "$work/disk.img"
mkfifo "$work/cmd.in" "$work/cmd.out"

# The stream peers: accept, never read (socat writes into a pipe nobody reads, so the socket fills and stays full).
for n in 0 1; do
  socat "UNIX-LISTEN:$work/net$n.sock" EXEC:"sleep 100000" >/dev/null 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do [ -S "$work/net0.sock" ] && [ -S "$work/net1.sock" ] && break; sleep 0.1; done

qemu-system-x86_64 -machine pc -accel tcg -m 256 -smp 2 -no-reboot -display none -nodefaults \
  -kernel "$kernel" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
  -serial "file:$work/console.log" -chardev "pipe,id=cmd,path=$work/cmd" -device isa-serial,chardev=cmd \
  -qmp "unix:$work/qmp.sock,server=on,wait=off" \
  -chardev "socket,id=ctl,path=$work/ctl.sock,server=on,wait=off" -mon chardev=ctl,mode=control \
  -blockdev "driver=file,node-name=file0,filename=$work/disk.img" -blockdev driver=blkdebug,node-name=dbg,image=file0 \
  -blockdev driver=raw,node-name=disk0,file=dbg -device virtio-blk-pci,id=vblk0,drive=disk0,num-queues=2,romfile= \
  -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$work/net0.sock" -device virtio-net-pci,id=net0,netdev=n0,mac=52:54:00:12:34:57,romfile= \
  -netdev "stream,id=n1,server=off,addr.type=unix,addr.path=$work/net1.sock" -device virtio-net-pci,id=net1,netdev=n1,mac=52:54:00:12:34:58,romfile= \
  >"$work/qemu.out" 2>&1 &
pids+=($!)

virtio=(dotnet "$root/src/Virtio.Cli/bin/Release/net10.0/virtio.dll")
[ -f "${virtio[1]}" ] || virtio=(dotnet run -c Release --project "$root/src/Virtio.Cli" --)
blk=/machine/peripheral/vblk0/virtio-backend
net0=/machine/peripheral/net0/virtio-backend
net1=/machine/peripheral/net1/virtio-backend

number=0; failed=0
check() { # check NAME CONDITION-STATUS [DETAIL-FILE]
  number=$((number + 1))
  if [ "$2" = 0 ]; then echo "ok $number - $1"; else
    echo "not ok $number - $1"; failed=$((failed + 1))
    [ -n "${3:-}" ] && [ -f "$3" ] && sed 's/^/#   /' "$3" | head -n 60
  fi
}
guest() { echo "$1" >"$work/cmd.in"; }
# guest_until MARKER COMMAND: send COMMAND (which prints "guest: MARKER" on the console) and wait for the marker,
# sending it again up to twice: once in a few runs a command line sent over the guest's second serial port never
# reached its shell while the guest was busy with I/O (seen in case 3); every command sent this way is safe to repeat.
guest_until() {
  for _ in 1 2 3; do
    guest "$2"
    for _ in $(seq 1 60); do grep -q "guest: $1" "$work/console.log" && return 0; sleep 0.5; done
  done
  return 1
}
# A command on the second QMP monitor (ctl.sock), so it never competes with diagnose for qmp.sock.
ctl() { printf '{"execute":"qmp_capabilities"}\n%s\n' "$1" | socat -t 5 - "UNIX-CONNECT:$work/ctl.sock" | tail -n 1; }
hmp() { ctl "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$/"/')}}"; }
diagnose() { "${virtio[@]}" diagnose --qmp "$work/qmp.sock" --interval 2 "$@"; }
# The verdict of queue Q of device PATH in diagnose's JSON lines.
verdict() { grep -F "\"devicePath\":\"$2\"" "$1" | grep -F "\"queueIndex\":$3," | grep -o '"verdict":"[a-z-]*"' | head -n 1 | cut -d'"' -f4; }
json_field() { grep -o "\"$2\": *[0-9]*" "$1" | head -n 1 | grep -o '[0-9]*$'; }
# pmemsave of the rings of a saved queue status, then virtio analyze on it; prints analyze's verdict.
offline() { # offline DIR NAME QUEUE
  local status=$1/$2-queue-$3-status.json desc avail used num start end
  desc=$(json_field "$status" vring-desc); used=$(json_field "$status" vring-used); num=$(json_field "$status" vring-num)
  start=$((desc & ~4095)); end=$(((used + 6 + 8 * num + 4095) & ~4095))
  ctl "{\"execute\":\"pmemsave\",\"arguments\":{\"val\":$start,\"size\":$((end - start)),\"filename\":\"$1/rings.bin\"}}" >/dev/null
  for _ in $(seq 1 50); do [ -s "$1/rings.bin" ] && break; sleep 0.1; done
  "${virtio[@]}" analyze --ram "$1/rings.bin" --ram-base "$start" --queue-status "$status" --virtio-status "$1/$2-virtio-status.json" --format json >"$1/analyze.json" 2>&1
  grep -o '"verdict": *"[a-z-]*"' "$1/analyze.json" | head -n 1 | cut -d'"' -f4
}

for _ in $(seq 1 240); do grep -q "guest: ready" "$work/console.log" 2>/dev/null && break; sleep 0.5; done
grep -q "guest: ready" "$work/console.log" || { echo "diagnose-guest: the guest did not boot"; tail -n 20 "$work/console.log" "$work/qemu.out"; exit 1; }

# Cases 1, 4, 5: blk after I/O and idle (both queues), net links up without traffic.
guest_until io-done "dd if=/dev/urandom of=/dev/vda bs=4096 count=64 oflag=direct 2>/dev/null; ip link set eth0 up; ip link set eth1 up; echo guest: io-done >/dev/console" || true
sleep 1
rc=0; diagnose --format json >"$work/idle.json" 2>&1 || rc=$?
idle_blk=$(verdict "$work/idle.json" "$blk" 0)/$(verdict "$work/idle.json" "$blk" 1)
check "case 1: virtio-blk idle after I/O is healthy, exit 0 (queues: $idle_blk, exit $rc)" "$([ "$rc" = 0 ] && [ "$idle_blk" = healthy/healthy ]; echo $?)" "$work/idle.json"
net1_all=$(verdict "$work/idle.json" "$net1" 0)/$(verdict "$work/idle.json" "$net1" 1)/$(verdict "$work/idle.json" "$net1" 2)
posted=$(grep -F "\"devicePath\":\"$net1\"" "$work/idle.json" | grep -F '"queueIndex":0,' | grep -o '"summary":"[^"]*"' | head -n 1)
check "case 4: virtio-net with a silent peer: every queue healthy ($net1_all), rx holding the posted buffers ($posted)" \
  "$([ "$net1_all" = healthy/healthy/healthy ] && grep -q 'buffer(s) posted' <<<"$posted"; echo $?)" "$work/idle.json"
queues=$(grep -cF "\"devicePath\":\"$blk\"" "$work/idle.json")
check "case 5: virtio-blk num-queues=2 with -smp 2: both queues diagnosed ($queues)" "$([ "$queues" = 2 ]; echo $?)" "$work/idle.json"

# Case 2: a write suspended in blkdebug while the guest writes one block at a time (queue depth 1).
hmp 'qemu-io dbg "break write_aio t1"' >/dev/null
guest 'i=0; while [ ! -e /tmp/stop ]; do dd if=/dev/zero of=/dev/vda bs=4096 count=1 seek=$((i % 1000)) oflag=direct 2>/dev/null; i=$((i + 1)); done'
for _ in $(seq 1 120); do grep -q "Suspended request 't1'" "$work/qemu.out" && break; sleep 0.5; done
mkdir -p "$work/case2"
rc=0; diagnose --path "$blk" --format json --save "$work/case2" >"$work/case2/diagnose.json" 2>&1 || rc=$?
{ diagnose --path "$blk"; echo "exit $?"; } >"$work/case2/diagnose.txt" 2>&1 # the text transcript, for --keep
stuck=""; for q in 0 1; do [ "$(verdict "$work/case2/diagnose.json" "$blk" $q)" = device-stuck ] && stuck=$q; done
candidates=$( [ -n "$stuck" ] && grep -F "\"queueIndex\":$stuck," "$work/case2/diagnose.json" | grep -o '"inFlightCandidates":\[{' | head -n 1)
check "case 2: a write held in blkdebug is device-stuck with candidates, exit 2 (queue ${stuck:-none}, exit $rc)" \
  "$([ "$rc" = 2 ] && [ -n "$stuck" ] && [ -n "$candidates" ]; echo $?)" "$work/case2/diagnose.json"
off=$( [ -n "$stuck" ] && offline "$work/case2" vblk0 "$stuck")
check "case 2 offline: virtio analyze on a pmemsave of the rings agrees (${off:-nothing})" "$([ "$off" = device-stuck ]; echo $?)" "$work/case2/analyze.json"

# Case 2, resumed; case 6: the same guest writing steadily.
hmp 'qemu-io dbg "resume t1"' >/dev/null
sleep 1
rc=0; diagnose --path "$blk" --format json >"$work/resumed.json" 2>&1 || rc=$?
resumed=$(verdict "$work/resumed.json" "$blk" 0)/$(verdict "$work/resumed.json" "$blk" 1)
check "case 2 resumed: healthy or progressing, exit 0 ($resumed, exit $rc)" \
  "$([ "$rc" = 0 ] && grep -Eq '^(healthy|progressing)/(healthy|progressing)$' <<<"$resumed"; echo $?)" "$work/resumed.json"
check "case 6: a guest under steady I/O is progressing, not a hang ($resumed)" "$(grep -q progressing <<<"$resumed"; echo $?)" "$work/resumed.json"
guest "touch /tmp/stop"

# Case 3: large pings to a static neighbour through a peer that never reads: QEMU holds a tx element.
# The guest adds packets until its tx ring is full (then virtio_net stops the queue): wait until nothing moves.
guest_until pinging "ip addr add 10.0.2.15/24 dev eth0 2>/dev/null; arp -s 10.0.2.2 52:54:00:12:34:56; echo guest: pinging >/dev/console; ping -s 8000 -i 0.01 10.0.2.2 >/dev/null 2>&1" || true
for _ in $(seq 1 30); do
  diagnose --path "$net0" --queue 1 --interval 1 >/dev/null 2>&1; [ $? = 2 ] && break
done
mkdir -p "$work/case3"
rc=0; diagnose --path "$net0" --format json --save "$work/case3" >"$work/case3/diagnose.json" 2>&1 || rc=$?
net0_all=$(verdict "$work/case3/diagnose.json" "$net0" 0)/$(verdict "$work/case3/diagnose.json" "$net0" 1)
check "case 3: a stream peer that never reads: rx healthy, tx device-stuck, exit 2 ($net0_all, exit $rc)" \
  "$([ "$rc" = 2 ] && [ "$net0_all" = healthy/device-stuck ]; echo $?)" "$work/case3/diagnose.json"
off=$(offline "$work/case3" net0 1)
check "case 3 offline: virtio analyze on a pmemsave of the tx ring agrees (${off:-nothing})" "$([ "$off" = device-stuck ]; echo $?)" "$work/case3/analyze.json"

[ "$number" = "$plan" ] || { echo "diagnose-guest: ran $number checks, planned $plan"; exit 1; }
[ "$failed" = 0 ]
