#!/usr/bin/env bash
# The real-peer proof of `virtio serve blk`: QEMU 7.2 (TCG) boots Debian's kernel with a busybox initramfs, its guest
# RAM shared over memfd, a vhost-user-blk-pci disk backed by our server over a Unix socket. The guest's Linux
# virtio_blk driver writes a 4 MiB random pattern with O_DIRECT (with --queues 2: two halves at once, one per vCPU),
# drops its caches, reads it back with O_DIRECT and compares; then this script checks the image file holds the
# pattern (its md5 against the guest's) and, with two queues, that both rings carried requests.
# Needs qemu-system-x86, busybox-static, cpio and Debian's linux-image (found in $KERNEL_CACHE, /boot, or
# downloaded with apt-get download). Exit: 0 passed, 1 failed, 3 skipped (a package is missing).
# With --fault SPEC (drop-kick:N, drop-call:N, stall-backend:N) the guest instead writes 4 KiB blocks one at a time
# (dd oflag=direct, queue depth 1: every kick and every interrupt is awaited), the server injects the fault, and the
# check is the hang: the guest's writes must not finish, and the server's watchdog must log the expected verdict.
# With --server qsd the same guest runs against qemu-storage-daemon's vhost-user-blk export (the reference back-end);
# --reference runs ours, then the same guest against qemu-storage-daemon, and prints both guest times side by side.
# With --kill, reconnect without losing I/O (INFLIGHT_SHMFD): QEMU connects with reconnect=1; the first server stalls
# one request of the guest's 4 MiB write (stall-backend, so that a request is surely in flight) and is killed with
# SIGKILL while it holds it; a second server starts on the same socket and image, QEMU reconnects and hands it the
# inflight region, the held request is resubmitted, and the guest's verify must still pass.
# Usage: tests/qemu/vhost-user-blk.sh [--queues 1|2] [--fault SPEC | --kill] [--server virtio|qsd] [--reference] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
queues=1; keep=; fault=; server=virtio; reference=; kill=
while [ $# -gt 0 ]; do
  case $1 in
    --queues) queues=$2; shift 2 ;;
    --fault) fault=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --server) server=$2; shift 2 ;;
    --reference) reference=1; shift ;;
    --kill) kill=1; shift ;;
    *) echo "usage: $0 [--queues 1|2] [--fault drop-kick:N|drop-call:N|stall-backend:N | --kill] [--server virtio|qsd] [--reference] [--keep]" >&2; exit 2 ;;
  esac
done
case ${fault%%:*} in
  '') expect= ;;
  drop-kick) expect=device-missed-kick ;;
  drop-call) expect=driver-missed-notification ;;
  stall-backend) expect=device-stuck ;;
  *) echo "unknown fault $fault" >&2; exit 2 ;;
esac
case $server in virtio|qsd) ;; *) echo "unknown server $server" >&2; exit 2 ;; esac
[ "$server" = qsd ] && [ -n "$fault$kill" ] && { echo "--fault and --kill need --server virtio" >&2; exit 2; }
[ -n "$fault" ] && [ -n "$kill" ] && { echo "--fault and --kill do not mix" >&2; exit 2; }
log() { echo "vhost-user-blk: $*"; }

. "$(dirname "$0")/lib.sh"
qemu_require qemu-system-x86_64 busybox cpio gzip md5sum 2> >(sed 's/^/vhost-user-blk: skipped: /' >&2) || exit 3
if [ "$server" = qsd ] || [ -n "$reference" ]; then
  command -v qemu-storage-daemon >/dev/null || { echo "vhost-user-blk: skipped: qemu-storage-daemon not found" >&2; exit 3; }
fi

work=$(mktemp -d)
serve_pid=
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  if [ -n "$keep" ]; then log "work directory $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

stack="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk"
{ qemu_kernel "$work" && qemu_initrd "$work" $stack; } 2> >(sed 's/^/vhost-user-blk: skipped: /' >&2) || exit 3

# The guest: 4 MiB of random data to /dev/vda with O_DIRECT (one writer per queue), caches dropped, read back with
# O_DIRECT, compared. Every line this script checks starts with "guest:".
if [ "$queues" -gt 1 ]; then
  write='taskset 1 dd if=/pattern of=/dev/vda bs=64k count=32 oflag=direct 2>/dev/null & taskset 2 dd if=/pattern of=/dev/vda bs=64k skip=32 seek=32 count=32 oflag=direct 2>/dev/null & wait'
else
  write='dd if=/pattern of=/dev/vda bs=64k count=64 oflag=direct 2>/dev/null'
fi
if [ -n "$fault" ]; then
  cat >"$work/initrd/workload" <<'WORK'
echo "guest: qd1 writes started"
for i in $(seq 1 1000); do dd if=/dev/zero of=/dev/vda bs=4k count=1 seek=$i oflag=direct 2>/dev/null; done
echo "guest: qd1 writes finished"
sleep 3600
WORK
else
  cat >"$work/initrd/workload" <<'WORK'
dd if=/dev/urandom of=/pattern bs=64k count=64 2>/dev/null
echo "guest: pattern md5 $(md5sum /pattern | cut -d' ' -f1)"
WORK
  echo "$write" >>"$work/initrd/workload"
  cat >>"$work/initrd/workload" <<'WORK'
sync
echo 3 > /proc/sys/vm/drop_caches
dd if=/dev/vda of=/readback bs=64k count=64 iflag=direct 2>/dev/null
if cmp /pattern /readback; then echo "guest: vhost-user-blk verified 4 MiB"; else echo "guest: vhost-user-blk MISMATCH"; fi
WORK
fi
{ qemu_init_start $stack; cat <<INIT; } >"$work/initrd/init"
for i in \$(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.1; done
echo "guest: vda has \$(ls /sys/block/vda/mq | wc -l) queue(s), \$(cat /sys/block/vda/size) sectors"
sh /workload
poweroff -f
INIT
qemu_pack "$work"

truncate -s 64M "$work/disk.img"
if [ "$server" = qsd ]; then
  # The pid file is written once the export listens (its socket appears before that, at bind).
  qemu-storage-daemon --pidfile "$work/qsd.pid" --blockdev "driver=file,node-name=disk,filename=$work/disk.img,cache.direct=off" \
    --export "type=vhost-user-blk,id=e0,node-name=disk,addr.type=unix,addr.path=$work/blk.sock,writable=on,num-queues=$queues" \
    >"$work/serve.log" 2>&1 &
else
  virtio=(dotnet "$root/src/Virtio.Cli/bin/Release/net10.0/virtio.dll")
  [ -f "${virtio[1]}" ] || virtio=(dotnet run -c Release --project "$root/src/Virtio.Cli" --)
  if [ -n "$kill" ]; then
    # The first server lives until killed: it holds the KILL_AT-th request (in the middle of the 4 MiB write) forever.
    "${virtio[@]}" serve blk --socket "$work/blk.sock" --image "$work/disk.img" --num-queues "$queues" \
      --fault "stall-backend:${KILL_AT:-40}" --stall-timeout 2 >"$work/serve-killed.log" 2>&1 &
  else
    "${virtio[@]}" serve blk --socket "$work/blk.sock" --image "$work/disk.img" --num-queues "$queues" --once \
      ${fault:+--fault "$fault" --stall-timeout 5} >"$work/serve.log" 2>&1 &
  fi
fi
serve_pid=$!
ready="$work/blk.sock"; [ "$server" = qsd ] && ready="$work/qsd.pid"
for _ in $(seq 1 300); do [ -e "$ready" ] && break; sleep 0.1; done
[ -S "$work/blk.sock" ] && [ -e "$ready" ] || { cat "$work"/serve*.log; log "virtio serve blk did not listen"; exit 1; }

start=$(date +%s%3N)
qemu=(qemu-system-x86_64 -machine pc -accel tcg -m 512 -smp "$queues" -no-reboot -display none -nodefaults
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
  -kernel "$kernel" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 quiet"
  -serial "file:$work/console.log"
  -chardev "socket,id=c0,path=$work/blk.sock${kill:+,reconnect=1}"
  -device "vhost-user-blk-pci,chardev=c0,num-queues=$queues")
if [ -n "$kill" ]; then
  # Reconnect: wait until the first server holds a request of the write (its watchdog sees the queue stuck), kill it
  # with SIGKILL (no clean-up of any kind), start a second one on the same socket and image, and let QEMU reconnect.
  timeout "${GUEST_TIMEOUT:-300}" "${qemu[@]}" >"$work/qemu.log" 2>&1 &
  qemu_pid=$!
  for _ in $(seq 1 "${GUEST_TIMEOUT:-300}"); do
    grep -q 'no progress for' "$work/serve-killed.log" 2>/dev/null && break
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 1
  done
  grep -q 'no progress for' "$work/serve-killed.log" || { cat "$work/serve-killed.log"; log "FAIL: the first server never held a request"; exit 1; }
  kill -KILL "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  log "killed the first server (SIGKILL) holding a request; starting a second one on the same socket and image"
  "${virtio[@]}" serve blk --socket "$work/blk.sock" --image "$work/disk.img" --num-queues "$queues" --once >"$work/serve.log" 2>&1 &
  serve_pid=$!
  wait "$qemu_pid" || log "QEMU exited with $?"
  qemu_pid=
elif [ -z "$fault" ]; then
  timeout "${GUEST_TIMEOUT:-300}" "${qemu[@]}" >"$work/qemu.log" 2>&1 || log "QEMU exited with $?"
else
  # The hang: wait for the watchdog's verdict (or the guest finishing, which would mean no hang), then stop QEMU.
  "${qemu[@]}" >"$work/qemu.log" 2>&1 &
  qemu_pid=$!
  for _ in $(seq 1 "${GUEST_TIMEOUT:-300}"); do
    grep -q 'virtio_queue_stalled\|no progress for' "$work/serve.log" 2>/dev/null && break
    grep -q '^guest: qd1 writes finished' "$work/console.log" 2>/dev/null && break
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 1
  done
  sleep 10 # the guest is given time to finish, which it must not
  kill "$qemu_pid" 2>/dev/null || true
  wait "$qemu_pid" 2>/dev/null || true
fi
guest_ms=$(( $(date +%s%3N) - start ))
log "guest ran $guest_ms ms against $server"
# Ours ends by itself after its one connection (--once); qemu-storage-daemon serves until told to stop.
[ "$server" = qsd ] || for _ in $(seq 1 300); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
kill -TERM "$serve_pid" 2>/dev/null || true
wait "$serve_pid" || true
serve_pid=

echo "--- guest console ---"; grep '^guest:' "$work/console.log" || tail -n 20 "$work/console.log" || true
echo "--- qemu ---"; cat "$work/qemu.log"
echo "--- $server server (tail) ---"; tail -n 15 "$work/serve.log"

status=0
if [ -n "$fault" ]; then
  grep -q '^guest: qd1 writes started' "$work/console.log" || { log "FAIL: the guest never started its writes"; status=1; }
  grep -q '^guest: qd1 writes finished' "$work/console.log" && { log "FAIL: the guest's writes finished despite $fault"; status=1; }
  grep -q "injecting $fault" "$work/serve.log" || { log "FAIL: the server did not inject $fault"; status=1; }
  echo "--- watchdog ---"; grep -A12 'no progress for' "$work/serve.log" | head -n 30 || true
  grep -Eq "queue [0-9]+: $expect" "$work/serve.log" || { log "FAIL: the watchdog did not log the verdict $expect"; status=1; }
  [ $status -eq 0 ] && log "passed: $fault hung the guest and the watchdog said $expect"
  exit $status
fi
grep -q '^guest: vhost-user-blk verified 4 MiB' "$work/console.log" || { log "FAIL: the guest did not verify its data"; status=1; }
guest_md5=$(sed -n 's/^guest: pattern md5 \([0-9a-f]*\).*/\1/p' "$work/console.log" | tr -d '\r')
image_md5=$(head -c 4194304 "$work/disk.img" | md5sum | cut -d' ' -f1)
[ -n "$guest_md5" ] && [ "$guest_md5" = "$image_md5" ] || { log "FAIL: the image holds md5 $image_md5, the guest wrote ${guest_md5:-nothing}"; status=1; }
grep -q "^guest: vda has $queues queue(s)" "$work/console.log" || { log "FAIL: the guest does not see $queues queue(s)"; status=1; }
# The guest's last session on each ring (a driver probe resets the device once before) must have carried requests.
[ "$server" = qsd ] || for q in $(seq 0 $((queues - 1))); do
  served=$(grep -o "ring $q stopped at last_avail_idx [0-9]*" "$work/serve.log" | tail -n 1 | awk '{ print $NF }')
  [ "${served:-0}" -ge 8 ] || { log "FAIL: ring $q carried ${served:-no} request(s) in the guest's last session"; status=1; }
done
if [ -n "$kill" ]; then
  echo "--- killed server (tail) ---"; tail -n 8 "$work/serve-killed.log"
  grep -q 'injecting stall-backend' "$work/serve-killed.log" || { log "FAIL: the first server did not hold a request"; status=1; }
  grep -q 'resubmits [1-9][0-9]* request' "$work/serve.log" || { log "FAIL: the second server resubmitted nothing from the inflight region"; status=1; }
  [ $status -eq 0 ] && log "passed: reconnect after SIGKILL, $(grep -o 'resubmits [0-9]* request(s)' "$work/serve.log" | head -n 1) from the inflight region, nothing lost"
fi
[ $status -eq 0 ] && log "passed: $queues queue(s) against $server, image md5 $image_md5"
if [ $status -eq 0 ] && [ -n "$reference" ]; then
  # The reference: the same guest, the same workload, against qemu-storage-daemon, in the same sitting.
  echo "--- reference: qemu-storage-daemon ---"
  reference_out=$(bash "$0" --queues "$queues" --server qsd) || { echo "$reference_out"; log "FAIL: the guest did not verify against qemu-storage-daemon"; exit 1; }
  grep '^vhost-user-blk: passed' <<<"$reference_out"
  qsd_ms=$(sed -n 's/^vhost-user-blk: guest ran \([0-9]*\) ms.*/\1/p' <<<"$reference_out")
  log "guest time (boot, 4 MiB write, read back), $queues queue(s): virtio serve blk $guest_ms ms, qemu-storage-daemon ${qsd_ms:-?} ms"
fi
exit $status
