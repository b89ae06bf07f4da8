#!/usr/bin/env bash
# vhost-user net against DPDK, in one sitting: DPDK 22.11's dpdk-testpmd with its virtio-user PMD (net_virtio_user,
# a polling virtio driver) sends to and receives from
#   (a) this project's `virtio serve net --poll` (--backend discard: every frame copied out, counted, dropped;
#       --backend generator:SIZE: every rx buffer filled), and
#   (b) DPDK's own vhost PMD in a second testpmd (net_vhost0; rxonly consumes, txonly produces),
# both directions, 64 and 1518 bytes, and prints the driver's packets per second for each and the ratio ours/DPDK,
# then a markdown table to paste into docs/benchmarks.md.
# Both devices busy-poll their rings (DPDK's vhost PMD always does; serve net with --poll). Cores: the device's polling
# thread on core 1 (testpmd device: --main-lcore 0, forwarding lcore 1; serve net: taskset -c 1), the driver's
# forwarding lcore on core 0 (--main-lcore 1). The rate is the driver's (Tx-pps sending, Rx-pps receiving), the median
# of its once-a-second samples over the window.
# Installs nothing: skipped (exit 3) without dpdk-testpmd. Exit 0 when every run moved frames, 1 otherwise.
# Usage: benchmarks/dpdk/vhost-user-net.sh [--seconds S] [--sizes "64 1518"] [--devices "ours dpdk"]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=5; sizes="64 1518"; devices="ours dpdk"
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--sizes \"64 1518\"] [--devices \"ours dpdk\"]" >&2; exit 2 ;;
  esac
done
log() { echo "vhost-user-net-bench: $*" >&2; }
command -v dpdk-testpmd >/dev/null || { log "skipped: dpdk-testpmd not found (Debian: dpdk, librte-net-vhost23, librte-net-virtio23)"; exit 3; }
command -v taskset >/dev/null || { log "skipped: taskset not found (util-linux)"; exit 3; }

virtio=(dotnet "$root/src/Virtio.Cli/bin/Release/net10.0/virtio.dll")
[ -f "${virtio[1]}" ] || { log "build first: dotnet build -c Release src/Virtio.Cli"; exit 1; }

work=$(mktemp -d)
prefix="vun$$"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
  rm -rf "$work" /var/run/dpdk/"$prefix"-* "${XDG_RUNTIME_DIR:-/nonexistent}"/dpdk/"$prefix"-* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eal=(--no-huge -m 256 --no-pci)
testpmd_opts=(--nb-cores=1 --total-num-mbufs=32768 --stats-period 1)

# stop PID: SIGINT (testpmd prints its totals and exits; serve net stops its rings), SIGKILL after 5 s.
stop() {
  kill -INT "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# run DEVICE DIRECTION SIZE: prints the driver's median pps ("0" when nothing moved).
# DIRECTION tx: the driver sends (txonly), the device consumes; rx: the device produces, the driver receives.
run() {
  local device=$1 dir=$2 size=$3 sock="$work/$1-$2-$3.sock" run="$work/$1-$2-$3" dev drv
  if [ "$device" = ours ]; then
    local backend=discard; [ "$dir" = rx ] && backend="generator:$size"
    taskset -c 1 "${virtio[@]}" serve net --socket "$sock" --backend "$backend" --poll --once --log-level warning >"$run.dev.log" 2>&1 &
  else
    local mode=rxonly; [ "$dir" = rx ] && mode=txonly
    dpdk-testpmd -l 0,1 --main-lcore 0 "${eal[@]}" --file-prefix="$prefix-dev" --vdev "net_vhost0,iface=$sock,queues=1" \
      -- --forward-mode=$mode --txpkts="$size" "${testpmd_opts[@]}" </dev/null >"$run.dev.log" 2>&1 &
  fi
  dev=$!; pids+=("$dev")
  for _ in $(seq 1 600); do [ -S "$sock" ] && break; kill -0 "$dev" 2>/dev/null || break; sleep 0.1; done
  [ -S "$sock" ] || { log "$device did not listen on $sock:"; tail -n 5 "$run.dev.log" >&2; stop "$dev"; echo 0; return; }
  local fwd=txonly field=Tx-pps; [ "$dir" = rx ] && { fwd=rxonly; field=Rx-pps; }
  dpdk-testpmd -l 0,1 --main-lcore 1 "${eal[@]}" --file-prefix="$prefix-drv" \
    --vdev "net_virtio_user0,path=$sock,queues=1,in_order=0" \
    -- --forward-mode=$fwd --txpkts="$size" "${testpmd_opts[@]}" </dev/null >"$run.drv.log" 2>&1 &
  drv=$!; pids+=("$drv")
  # Wait for the first sample with frames moving, then measure the window.
  local moving=
  for _ in $(seq 1 600); do
    if grep -a "$field" "$run.drv.log" 2>/dev/null | awk '{ if ($2 > 0) found = 1 } END { exit !found }'; then moving=1; break; fi
    kill -0 "$drv" 2>/dev/null || break
    sleep 0.1
  done
  local skip; skip=$(grep -ac "$field" "$run.drv.log" || true)
  [ -n "$moving" ] && sleep "$seconds"
  stop "$drv"; stop "$dev"
  if [ -z "$moving" ]; then
    log "$device $dir ${size} B: no frames moved; driver log:"; grep -a 'Error\|error\|fail' "$run.drv.log" | tail -n 5 >&2 || true
    echo 0; return
  fi
  grep -a "$field" "$run.drv.log" | tail -n +"$((skip + 1))" | awk '{ print $2 }' | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'
}

declare -A pps
status=0
start=$(date +%s)
for size in $sizes; do
  for dir in tx rx; do
    for device in $devices; do
      pps[$device-$dir-$size]=$(run "$device" "$dir" "$size")
      log "$(printf '%-4s %s %5s B: %10s pps' "$device" "$dir" "$size" "${pps[$device-$dir-$size]}")"
      [ "${pps[$device-$dir-$size]}" -gt 0 ] || status=1
    done
  done
done
log "done in $(( $(date +%s) - start )) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"

mpps() { awk -v p="$1" 'BEGIN { printf "%.2f", p / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "| direction | frame bytes | \`virtio serve net --poll\` M pps | DPDK vhost PMD M pps | ours / DPDK |"
echo "| --- | ---: | ---: | ---: | ---: |"
for size in $sizes; do
  for dir in tx rx; do
    what="driver sends (discard / rxonly)"; [ "$dir" = rx ] && what="driver receives (generator / txonly)"
    o=${pps[ours-$dir-$size]:-0}; d=${pps[dpdk-$dir-$size]:-0}
    echo "| $what | $size | $(mpps "$o") | $(mpps "$d") | $(ratio "$o" "$d") |"
  done
done
exit $status
