#!/usr/bin/env bash
# benchmarks/instructions/count.sh [virtio|cring] [bench ring options...]: instructions per buffer of the one-thread
# ring loop, counted on the code that really runs (docs/benchmarks.md "Counting instructions").
#
# Hardware counters are not available in this VM, and valgrind is no use for the .NET side: under valgrind the JIT's
# optimized compiles fail and fall back to MinOpts, without inlining (DOTNET_JitDisasmSummary shows it), so a
# cachegrind count measures other code than a normal run. Instead: start the loop on the FullOpts JIT
# (DOTNET_TieredCompilation=0, so the code does not change while counting), attach gdb, single-step 2400
# instructions and take the period of the instruction-pointer sequence. With --batch 1 (the default) one period is one
# buffer: add, kick decision, pop, fill, flush, notify decision, get. The same method gives cring 144 and ringbase 124,
# as cachegrind does for those C programs. Prints "period N" and N by JIT method (perf map), and writes the
# annotated period to $OUT/period.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-virtio}
[ $# -gt 0 ] && shift
OUT=${OUT:-/tmp/virtio-count}
STEPS=${STEPS:-2400}
mkdir -p "$OUT"
command -v gdb >/dev/null || { echo "count.sh: gdb not found" >&2; exit 3; }

case $what in
  virtio)
    dotnet build -c Release src/Virtio.Cli -v q -nologo >/dev/null
    DOTNET_TieredCompilation=0 DOTNET_PerfMapEnabled=1 \
      dotnet src/Virtio.Cli/bin/Release/net10.0/virtio.dll bench ring --threads 1 --buffers 4000000000 "$@" >"$OUT/run.txt" 2>&1 &
    ;;
  cring)
    cc -O2 -pthread benchmarks/cring/cring.c -o "$OUT/cring"
    "$OUT/cring" 1 4000000000 >"$OUT/run.txt" 2>&1 &
    ;;
  *) echo "usage: count.sh [virtio|cring] [bench ring options]" >&2; exit 2 ;;
esac
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep "${WAIT:-20}" # past start-up, JIT and warm-up: inside the measured loop

cat >"$OUT/step.gdb" <<GDB
set pagination off
set confirm off
set scheduler-locking step
python
import gdb
trace = []
for _ in range($STEPS):
    gdb.execute("stepi", to_string=True)
    trace.append(gdb.execute("x/i \$pc", to_string=True).strip().replace("=> ", ""))
open("$OUT/trace.txt", "w").write("\n".join(trace))
end
detach
quit
GDB
gdb -p "$pid" -batch -x "$OUT/step.gdb" >"$OUT/gdb.log" 2>&1

python3 - "$OUT/trace.txt" "/tmp/perf-$pid.map" "$OUT/period.txt" <<'PY'
import bisect, collections, os, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
pcs = [int(l.split()[0].rstrip(':'), 16) for l in lines]
n = len(pcs)
period = next((p for p in range(10, n // 3) if all(pcs[i] == pcs[i + p] for i in range(n - p - 600, n - p))), None)
if period is None:
    sys.exit("no period found: raise STEPS")
print("period", period)
ranges = []
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        parts = line.rstrip('\n').split(' ', 2)
        if len(parts) == 3:
            ranges.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
ranges.sort()
starts = [r[0] for r in ranges]
by = collections.Counter()
with open(sys.argv[3], "w") as out:
    for pc, text in zip(pcs[n - period:], lines[n - period:]):
        i = bisect.bisect_right(starts, pc) - 1
        name, offset = "native", 0
        if i >= 0 and pc < ranges[i][0] + ranges[i][1]:
            name, offset = ranges[i][2], pc - ranges[i][0]
        by[name] += 1
        out.write(f"{offset:5x} {name[:60]:60} {text.split(':', 1)[1].strip() if ':' in text else text}\n")
for name, count in by.most_common():
    print(f"{count:5d} {name[:150]}")
PY
