#!/usr/bin/env bash
# Builds, tests and benchmarks the CUDA backend in one call on a GPU machine.
#   bench/gpu/run.sh [GB]        (default 4: the size of each benchmark file)
# Needs nvcc and a sluice binary ($SLUICE, default build/sluice). Steps:
#  1. build libsluice_cuda.so (scripts/cuda-build.sh);
#  2. correctness: Q1-Q6 on small clean and messy files, GPU result vs the
#     pure-Python oracle (bench/gpu/oracle.py), and vs `sluice query` on the
#     CPU when that command exists;
#  3. benchmark: Q1-Q6 on GB-sized files, end to end (file in the page cache
#     -> result) and device-only (input resident on the GPU), plus the CPU
#     engine and the CPU peers installed there; a table at the end.
# Results go to $OUT (or ./gpu-results) as JSON Lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
gb="${1:-4}"
SLUICE="${SLUICE:-build/sluice}"
res="${OUT:-gpu-results}"
data="${SLUICE_GPU_DATA:-/tmp/sluice-gpu}"
mkdir -p "$res" "$data"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
scripts/cuda-build.sh build-cuda
export SLUICE_CUDA_LIB="$PWD/build-cuda/libsluice_cuda.so"
py=python3

echo "== correctness"
"$SLUICE" gen --rows 300000 --seed 7 -o "$data/small.jsonl"
"$SLUICE" gen --rows 300000 --seed 8 --messy -o "$data/messy.jsonl"
"$SLUICE" gen --rows 300000 --seed 9 --kind article -o "$data/small_article.jsonl"
fail=0
for f in small messy; do
  for q in q1 q2 q3 q4 q5; do
    "$SLUICE" bench-device --file "$data/$f.jsonl" --query $q --output "$data/$f.$q.gpu.jsonl" 2>>"$res/correctness.log"
    $py bench/gpu/oracle.py check $q "$data/$f.jsonl" "$data/$f.$q.gpu.jsonl" || fail=1
  done
done
"$SLUICE" bench-device --file "$data/small_article.jsonl" --query q6 --output "$data/a.q6.gpu.jsonl" 2>>"$res/correctness.log"
$py bench/gpu/oracle.py check q6 "$data/small_article.jsonl" "$data/a.q6.gpu.jsonl" || fail=1
[ $fail = 0 ] && echo "correctness: all GPU results equal the oracle" || echo "correctness: MISMATCHES (see above)"

echo "== benchmark (${gb} GB files)"
if [ ! -s "$data/logs.jsonl" ]; then
  # Several generators in parallel, concatenated: different seeds, same shape.
  per=$(( gb * 1000 / 8 ))
  for i in 0 1 2 3 4 5 6 7; do "$SLUICE" gen --bytes ${per}M --seed $((100+i)) -o "$data/logs.$i" & done; wait
  for i in 0 1 2 3 4 5 6 7; do "$SLUICE" gen --bytes ${per}M --seed $((200+i)) --kind article -o "$data/art.$i" & done; wait
  cat "$data"/logs.? > "$data/logs.jsonl"; rm -f "$data"/logs.?
  cat "$data"/art.? > "$data/article.jsonl"; rm -f "$data"/art.?
fi
cat "$data/logs.jsonl" "$data/article.jsonl" > /dev/null   # into the page cache
: > "$res/bench.jsonl"
for q in q1 q2 q3 q4 q5 q6; do
  f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
  "$SLUICE" bench-device --file "$f" --query $q --output "$data/$q.e2e.jsonl" --parquet "$data/$q.gpu.parquet" 2>>"$res/bench.jsonl"
  "$SLUICE" bench-device --file "$f" --query $q --resident 5 --output "$data/$q.dev.jsonl" 2>>"$res/bench.jsonl"
  if [ -x bench/gpu/cpu_peers.sh ]; then bench/gpu/cpu_peers.sh $q "$f" "$data" >>"$res/bench.jsonl" 2>>"$res/peers.log" || true; fi
done
$py - "$res/bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{'query':6} {'engine':28} {'mode':12} {'GB':>6} {'seconds':>9} {'GB/s':>8} {'groups':>8}")
for r in rows:
    eng = r.get("engine") or ("sluice gpu" if "device" in r else "?")
    print(f"{r['query']:6} {eng:28} {r.get('mode',''):12} {r['bytes']/1e9:6.2f} {r['seconds']:9.3f} {r['bytes']/r['seconds']/1e9:8.2f} {r.get('groups',''):>8}")
PY
