#!/usr/bin/env bash
# Builds, tests and benchmarks the CUDA backend in one call on a GPU machine.
#   bench/gpu/run.sh [GB]        (default 4: the size of each benchmark file)
# Needs nvcc and a sluice binary ($SLUICE, default build/sluice). Steps:
#  1. build libsluice_cuda.so (scripts/cuda-build.sh), unless $SLUICE_CUDA_LIB
#     names one built already;
#  2. correctness: Q1-Q6 on small clean and messy logs, through `sluice
#     query --device gpu` and `--device cpu` and the raw device plans
#     (`sluice bench-device`), each checked against the pure-Python oracle
#     (bench/gpu/oracle.py); then the SQL oracle suites (tests/py/
#     test_sql_queries.py and test_device_sql.py, DuckDB as the oracle) with
#     SLUICE_DEVICE=auto, counting the queries that ran on the GPU
#     (SLUICE_GPU_SKIP_SUITE=1 skips them);
#  3. benchmark: Q1-Q6 on GB-sized files, end to end (file in the page cache
#     -> zstd Parquet) on the GPU and on all CPU cores, device-only (input
#     resident on the GPU), and the CPU peers installed there
#     (SLUICE_GPU_CHECK_ONLY=1 stops before this step).
# Results go to $OUT (or ./gpu-results) as JSON Lines (trace.log: where the
# warm runs spend their time); a table at the end. bench/gpu/pack.sh packs a
# binary built elsewhere with the sources for a machine without a toolchain.
set -euo pipefail
cd "$(dirname "$0")/../.."
gb="${1:-4}"
SLUICE="$(realpath "${SLUICE:-build/sluice}")"
export SLUICE
res="${OUT:-gpu-results}"
data="${SLUICE_GPU_DATA:-/tmp/sluice-gpu}"
mkdir -p "$res" "$data"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
env | grep '^SLUICE_CUDA_' || true   # backend options (bench/gpu/ab.sh)
if [ -n "${SLUICE_CUDA_LIB:-}" ] && [ -f "$SLUICE_CUDA_LIB" ]; then
  echo "using the prebuilt $SLUICE_CUDA_LIB"   # e.g. packed by bench/gpu/pack.sh
else
  scripts/cuda-build.sh build-cuda
  export SLUICE_CUDA_LIB="$PWD/build-cuda/libsluice_cuda.so"
fi
py=python3
sqlq() { sed "s|@FILE@|$2|" "bench/gpu/sql/$1.sql"; }

echo "== correctness: Q1-Q6, GPU and CPU against the oracle"
"$SLUICE" gen --rows 300000 --seed 7 -o "$data/small.jsonl"
"$SLUICE" gen --rows 300000 --seed 8 --messy -o "$data/messy.jsonl"
"$SLUICE" gen --rows 300000 --seed 9 --kind article -o "$data/small_article.jsonl"
fail=0
check() { # query data result label
  if $py bench/gpu/oracle.py check "$1" "$2" "$3" >"$3.check" 2>&1; then
    echo "$4 $1 $(basename "$2"): $(cat "$3.check")"
  else
    echo "$4 $1 $(basename "$2"): MISMATCH"; head -5 "$3.check"; fail=1
  fi
}
for f in small messy small_article; do
  qs="q1 q2 q3 q4 q5"; [ $f = small_article ] && qs=q6
  for q in $qs; do
    for dev in gpu cpu; do
      "$SLUICE" query --device $dev --skip-bad-lines --no-progress "$(sqlq $q "$data/$f.jsonl")" \
        --output "$data/$f.$q.$dev.jsonl" 2>>"$res/correctness.log" || { echo "$dev $q $f: FAILED"; fail=1; }
      check $q "$data/$f.jsonl" "$data/$f.$q.$dev.jsonl" "sluice query --device $dev"
    done
    "$SLUICE" bench-device --file "$data/$f.jsonl" --query $q --output "$data/$f.$q.plan.jsonl" 2>>"$res/correctness.log"
    check $q "$data/$f.jsonl" "$data/$f.$q.plan.jsonl" "bench-device plan"
  done
done

echo "== SQL oracle suite (DuckDB oracle) with SLUICE_DEVICE=auto"
if [ "${SLUICE_GPU_SKIP_SUITE:-0}" = 1 ]; then
  echo "skipped (SLUICE_GPU_SKIP_SUITE=1)"
elif [ -f tests/py/test_sql_queries.py ]; then
  rm -f "$res/sql_suite_devices.log"
  SLUICE_BIN="$SLUICE" SLUICE_BUILD="$(dirname "$SLUICE")" SLUICE_DEVICE=auto \
  SLUICE_DEVICE_LOG="$res/sql_suite_devices.log" \
    $py -m pytest -q -rf -p no:cacheprovider tests/py/test_sql_queries.py tests/py/test_device_sql.py \
    > "$res/sql_suite.log" 2>&1 || fail=1
  tail -3 "$res/sql_suite.log"; grep '^FAILED' "$res/sql_suite.log" | cut -c1-300 | head -30 || true
  echo "queries run on the GPU: $(grep -c '^gpu' "$res/sql_suite_devices.log" || true) of $(wc -l < "$res/sql_suite_devices.log")"
  grep -v '^gpu' "$res/sql_suite_devices.log" | cut -f1 | sort | uniq -c | sort -rn | head -8
fi
echo "== a function with spec.device gpu (per-batch SQL on the GPU)"
fn="$data/fn"; rm -rf "$fn"; mkdir -p "$fn"
cat > "$fn/f.yaml" <<YAML
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: gpu-fn}
spec:
  runtime: sql
  device: gpu
  sql:
    query: SELECT service, count(*) AS n, sum(bytes) AS bytes FROM events GROUP BY service
  input:
    schema: "service: utf8, bytes: int64"
  triggers:
    web:
      kind: http
      numWorkers: 4
      batch: {maxEvents: 1000000, maxBytes: 64MiB, maxWait: 200ms}
      attributes: {host: 127.0.0.1, port: 18901, maxRequestBodySize: 256MiB}
  sinks:
    out: {kind: parquet, attributes: {path: $fn/out, rollInterval: 1s}}
YAML
"$SLUICE" run "$fn/f.yaml" > "$fn/run.log" 2>&1 &
fpid=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:18901/ready >/dev/null 2>&1 && break; sleep 0.2; done
"$SLUICE" invoke --url http://127.0.0.1:18901/ --file "$data/small.jsonl" || fail=1
curl -s http://127.0.0.1:18901/metrics | grep -E '^sluice_device' | tee "$res/fn_metrics.txt"
kill -TERM $fpid; wait $fpid || fail=1
got=$("$SLUICE" query --device cpu --format csv --no-progress "SELECT sum(n), sum(bytes) FROM '$fn/out/**/*.parquet'" | tail -1)
want=$($py -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(f'{len(r)},{sum(x[\"bytes\"] for x in r)}')" "$data/small.jsonl")
echo "function on the GPU: parquet sum(n),sum(bytes) = $got; input = $want"
[ "$got" = "$want" ] && grep -q 'sluice_device_batches_total{device="gpu"} [1-9]' "$res/fn_metrics.txt" || { echo "function on the GPU: MISMATCH"; fail=1; }
grep -m2 -E 'GPU|device' "$fn/run.log" || true

[ $fail = 0 ] && echo "correctness: every GPU result equals the oracle" || echo "correctness: FAILURES above"

if [ "${SLUICE_GPU_CHECK_ONLY:-0}" = 1 ]; then exit $fail; fi
echo "== benchmark (${gb} GB files)"
if [ ! -s "$data/logs.jsonl" ]; then
  per=$(( gb * 1000 / 8 ))
  for i in 0 1 2 3 4 5 6 7; do "$SLUICE" gen --bytes ${per}M --seed $((100+i)) -o "$data/logs.$i" & done; wait
  for i in 0 1 2 3 4 5 6 7; do "$SLUICE" gen --bytes ${per}M --seed $((200+i)) --kind article -o "$data/art.$i" & done; wait
  cat "$data"/logs.? > "$data/logs.jsonl"; rm -f "$data"/logs.?
  cat "$data"/art.? > "$data/article.jsonl"; rm -f "$data"/art.?
fi
# Into the page cache with large reads, the same state for every engine: a
# file written in small pieces (cat writes 128 KiB) keeps the small page-cache
# folios it was written into, and on this kernel (6.18) reading or mapping
# small folios costs about twice the CPU time of large ones. So the files are
# flushed, dropped from the cache and read back with 8 MiB reads.
recache() {
  $py -c 'import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
  for f in "$@"; do dd if="$f" of=/dev/null bs=8M status=none; done
}
recache "$data/logs.jsonl" "$data/article.jsonl"
: > "$res/bench.jsonl"
timed() { # query engine mode file -- command...
  local q=$1 eng=$2 mode=$3 f=$4; shift 5
  local t0 t1; t0=$(date +%s.%N)
  if "$@" >/dev/null 2>>"$res/bench.err"; then
    t1=$(date +%s.%N)
    echo "{\"query\":\"$q\",\"engine\":\"$eng\",\"mode\":\"$mode\",\"bytes\":$(stat -c %s "$f"),\"seconds\":$($py -c "print($t1-$t0)")}" >> "$res/bench.jsonl"
  else
    echo "{\"query\":\"$q\",\"engine\":\"$eng\",\"mode\":\"$mode\",\"bytes\":$(stat -c %s "$f"),\"seconds\":0,\"error\":true}" >> "$res/bench.jsonl"
  fi
}
for q in q1 q2 q3 q4 q5 q6; do
  f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
  timed $q "sluice gpu (one command)" end-to-end "$f" -- "$SLUICE" query --device gpu --no-progress "$(sqlq $q "$f")" --output "$data/$q.gpu.parquet"
  # Warm: the same plan in a process whose GPU context is already up (as in
  # a running function), file in the page cache -> zstd Parquet result.
  SLUICE_TRACE=1 "$SLUICE" bench-device --file "$f" --query $q --parquet "$data/$q.warm.parquet" 2>&1 >/dev/null | \
    tee -a "$res/trace.log" | grep '^{' | \
    $py -c "import json,sys; r=json.loads(sys.stdin.read()); r['engine']='sluice gpu (warm)'; print(json.dumps(r))" >> "$res/bench.jsonl"
  "$SLUICE" bench-device --file "$f" --query $q --resident 5 2>&1 >/dev/null | grep '^{' | \
    $py -c "import json,sys; r=json.loads(sys.stdin.read()); r['engine']='sluice gpu'; print(json.dumps(r))" >> "$res/bench.jsonl"
  timed $q "sluice cpu ($(nproc) cores)" end-to-end "$f" -- "$SLUICE" query --device cpu --no-progress "$(sqlq $q "$f")" --output "$data/$q.cpu.parquet"
  $py bench/gpu/peers.py $q "$f" "$data" ${SLUICE_GPU_PEERS:-duckdb pyarrow} >> "$res/bench.jsonl" 2>>"$res/bench.err" || true
done
$py - "$res/bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{'query':6} {'engine':26} {'mode':12} {'GB':>6} {'seconds':>9} {'GB/s':>8}  vs best CPU peer")
best = {}
for r in rows:
    if r.get("engine") in ("duckdb", "pyarrow", "pandas", "polars") and not r.get("error"):
        best[r["query"]] = min(best.get(r["query"], 1e9), r["seconds"])
for r in rows:
    s = r["seconds"]
    if r.get("error") or not s:
        print(f"{r['query']:6} {r['engine']:26} {r.get('mode',''):12}  failed: {str(r.get('error'))[:60]}")
        continue
    ratio = f"{best[r['query']]/s:7.1f}x" if r["query"] in best else ""
    print(f"{r['query']:6} {r['engine']:26} {r.get('mode',''):12} {r['bytes']/1e9:6.2f} {s:9.3f} {r['bytes']/s/1e9:8.2f}  {ratio}")
PY
