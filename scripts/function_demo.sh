#!/usr/bin/env bash
# The function half of the main job: starts `sluice run` with no spec (the
# built-in default function: HTTP trigger on 127.0.0.1, per-minute SQL
# aggregation, Parquet in ./out), feeds it generated logs over HTTP with
# `sluice invoke`, stops it with SIGTERM (a graceful drain) and shows the
# Parquet result with `sluice query`.
#   scripts/function_demo.sh [build-dir]      (default build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/port.sh"
bin="$root/${1:-build}/sluice"
work=$(mktemp -d /tmp/sluice-function-demo.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
port=$(free_port) || { echo "function_demo: no free port found" >&2; exit 1; }
"$bin" gen --rows 200000 --output logs.jsonl
"$bin" run --port "$port" --out out 2>run.log &
pid=$!
for _ in $(seq 100); do
  "$bin" invoke --url "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "== sluice run (default function) on 127.0.0.1:$port; posting 200000 log records in 20 requests"
split -l 10000 logs.jsonl part.
for f in part.*; do "$bin" invoke --url "http://127.0.0.1:$port/" --file "$f" | tail -1; done
kill -TERM "$pid"
wait "$pid"
echo "== drained; Parquet written:"
find out -name '*.parquet' | sort
echo "== per-minute aggregates (first 10 rows of the Parquet result):"
"$bin" query -f table "SELECT minute, service, level, requests, avg_latency_ms, bytes
  FROM 'out/date=*/*.parquet' ORDER BY minute, service, level LIMIT 10"
"$bin" query -f table "SELECT count(*) AS groups, sum(requests) AS records FROM 'out/date=*/*.parquet'"
