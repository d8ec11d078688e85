#!/usr/bin/env bash
# Runs the threaded paths under ThreadSanitizer (build-tsan): the C unit
# tests, parallel queries and Parquet writes through the CLI, and the
# runtime's integration tests (HTTP, Cron, files, NATS, MQTT triggers,
# workers, batching, sinks, windows) with the TSan binary. Any report fails.
# Kafka is left out: Debian's librdkafka starts its threads with C11
# thrd_create, which TSan does not intercept (the process crashes in TSan's
# allocator), so its paths are covered by the ASan build and valgrind.
#   scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/port.sh
scripts/build.sh tsan
logs=$(mktemp -d); tmp=$(mktemp -d); trap 'rm -rf "$logs" "$tmp"' EXIT
# Reports go to files (one a process) instead of failing each process, so
# the tests run to their end and every report is shown.
export TSAN_OPTIONS="halt_on_error=0 exitcode=0 second_deadlock_stack=1 log_path=$logs/tsan"

echo "tsan: unit tests"
(cd build-tsan && ctest --output-on-failure -j2 --timeout 900 >"$tmp/ctest.log" 2>&1) ||
  { cat "$tmp/ctest.log"; exit 1; }

echo "tsan: parallel queries and Parquet writes"
t=build-tsan/sluice
build/sluice gen --bytes 16M --seed 3 -o "$tmp/logs.jsonl" >/dev/null
for q in \
  "SELECT service, status, count(*) AS n, avg(latency_ms) AS l FROM '$tmp/logs.jsonl' GROUP BY ALL" \
  "SELECT user_id, count(*) AS n, sum(bytes) AS b FROM '$tmp/logs.jsonl' GROUP BY user_id" \
  "SELECT date_trunc('minute', ts) AS m, region, quantile_cont(latency_ms, 0.9) AS p90, count(DISTINCT user_id) AS u FROM '$tmp/logs.jsonl' GROUP BY 1, 2 ORDER BY 1" \
  "SELECT * FROM '$tmp/logs.jsonl'"; do
  "$t" query --threads 4 --no-progress "$q" --output "$tmp/out.parquet" >/dev/null
done
"$t" query --threads 4 --no-progress "SELECT count(*) FROM '$tmp/out.parquet'" >/dev/null

echo "tsan: the default function under concurrent posts (workers, windows)"
port=$(free_port) || { echo "tsan: no free port found" >&2; exit 1; }
head -n 40000 "$tmp/logs.jsonl" | split -l 2500 - "$tmp/part."
(cd "$tmp" && exec "$OLDPWD/$t" run --port "$port" --out fn-out 2>fn.log) &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
# Posts race each other, so a part whose minute was already emitted is
# answered 400 (late records, by design): only the races matter here.
posts=()
for f in "$tmp"/part.*; do
  { build/sluice invoke --url "http://127.0.0.1:$port/" --file "$f" >/dev/null || true; } &
  posts+=($!)
done
for p in "${posts[@]}"; do wait "$p"; done
kill -TERM "$pid"
wait "$pid" || { cat "$tmp/fn.log" >&2; echo "tsan: the function failed" >&2; exit 1; }

echo "tsan: runtime integration tests"
SLUICE_LIB="$PWD/build/libsluice.so" SLUICE_BIN="$PWD/build-tsan/sluice" \
  SLUICE_BUILD="$PWD/build-tsan" SLUICE_TOOLS="$PWD/build/sluice" .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/py/test_runtime.py tests/py/test_runtime_more.py tests/py/test_spec_sql.py \
  tests/py/test_nats.py tests/py/test_mqtt.py

if ls "$logs"/tsan* >/dev/null 2>&1; then
  cat "$logs"/tsan* >&2
  echo "tsan: $(cat "$logs"/tsan* | grep -c 'WARNING: ThreadSanitizer') reports" >&2
  exit 1
fi
echo "tsan: no reports"
