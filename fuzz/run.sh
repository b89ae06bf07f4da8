#!/usr/bin/env bash
# fuzz/run.sh TARGET|all SECONDS: builds the fuzz harness, instruments the libraries under test with SharpFuzz and
# runs AFL++ on TARGET (or on every target, one after the other) for SECONDS each. Prints one line per target,
# "NAME executions=N paths=N crashes=N hangs=N stability=S", from AFL's fuzzer_stats; exits 1 on any crash or hang.
# Findings stay in fuzz/out/findings/TARGET/default/{crashes,hangs}; replay one with
#   dotnet fuzz/out/inst/Virtio.Fuzz.dll --replay TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(ring blk net mmio analyze vhost-user vhost-user-fds)
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: fuzz/run.sh ${targets[*]// /|}|all SECONDS" >&2
  exit 2
fi
if [ "$1" = all ]; then
  selected=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $1 "* ]]; then
  selected=("$1")
else
  echo "fuzz/run.sh: unknown target '$1' (${targets[*]})" >&2
  exit 2
fi
seconds=$2

command -v afl-fuzz >/dev/null || { echo "fuzz/run.sh: afl-fuzz not found (apt-get install afl++)" >&2; exit 3; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

out=fuzz/out
mkdir -p "$out"
dotnet tool restore >/dev/null
dotnet build fuzz/Virtio.Fuzz/Virtio.Fuzz.csproj -c Release -warnaserror -o "$out/bin" >"$out/build.log" 2>&1 \
  || { cat "$out/build.log"; exit 1; }
# Instrument a fresh copy: SharpFuzz rewrites the assemblies in place. The driver side (Virtio.Driver) only sets the
# scene, so it stays uninstrumented and its branches do not count as new paths.
rm -rf "$out/inst"
cp -r "$out/bin" "$out/inst"
for lib in Virtio.Core Virtio.Devices Virtio.Diagnostics Virtio.VhostUser; do
  dotnet tool run sharpfuzz "$out/inst/$lib.dll" >/dev/null
done

# AFL++ on a shared build machine: no CPU binding, no core-pattern or frequency checks, no UI; the harness is a
# .NET program started through `dotnet` (no AFL instrumentation in the binary itself).
export AFL_SKIP_BIN_CHECK=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
status=0
for target in "${selected[@]}"; do
  findings="$out/findings/$target"
  rm -rf "$findings"
  mkdir -p "$findings"
  dict=()
  [ -f "fuzz/dictionaries/$target.dict" ] && dict=(-x "fuzz/dictionaries/$target.dict")
  afl-fuzz -i "fuzz/corpus/$target" -o "$findings" -t 5000 -m none -V "$seconds" "${dict[@]}" \
    -- dotnet "$out/inst/Virtio.Fuzz.dll" "$target" >"$findings.log" 2>&1 || true
  stats="$findings/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "$target executions=0 paths=0 crashes=? hangs=? (afl-fuzz did not start: see $findings.log)"
    tail -n 20 "$findings.log" >&2
    status=1
    continue
  fi
  stat() { sed -n "s/^$1 *: *//p" "$stats" | head -n 1; }
  crashes=$(stat saved_crashes); hangs=$(stat saved_hangs)
  echo "$target executions=$(stat execs_done) paths=$(stat corpus_count) crashes=${crashes:-0} hangs=${hangs:-0} stability=$(stat stability) execs_per_sec=$(stat execs_per_sec)"
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    status=1
  fi
done
exit $status
