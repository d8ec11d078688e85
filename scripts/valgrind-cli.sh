#!/usr/bin/env bash
# Runs the CLI's main paths under valgrind memcheck; any error or definite
# leak fails. Output of the commands themselves is discarded.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
vg() {
  echo "valgrind: sluice ${*:2:2} ..."
  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$@" >/dev/null 2>"$tmp/vg.err" || { cat "$tmp/vg.err" >&2; echo "valgrind: '$*' failed" >&2; exit 1; }
}
vg build/sluice gen --rows 2000 --messy --output "$tmp/logs.jsonl"
vg build/sluice demo --rows 2000 --output-dir "$tmp"
vg build/sluice query --threads 2 --skip-bad-lines --no-progress \
  "SELECT service, date_trunc('minute', ts) AS m, count(*), avg(latency_ms), approx_count_distinct(user_id) FROM '$tmp/logs.jsonl' GROUP BY ALL ORDER BY 3 DESC LIMIT 5"
vg build/sluice query --threads 2 --skip-bad-lines --no-progress \
  "SELECT geo.country, status, bytes FROM '$tmp/logs.jsonl' WHERE status >= 500" --output "$tmp/errors.parquet"
vg build/sluice query --no-progress "SELECT count(*), max(bytes) FROM '$tmp/errors.parquet'"
# Error paths too: the command fails (exit 1), valgrind must find nothing (99).
vg_err() {
  echo "valgrind: sluice ${*:2:2} ... (expected to fail)"
  local rc=0
  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$@" >/dev/null 2>"$tmp/vg.err" || rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 99 ]; then cat "$tmp/vg.err" >&2; echo "valgrind: '$*' gave $rc" >&2; exit 1; fi
}
vg_err build/sluice query --no-progress "SELECT nope FROM '$tmp/errors.parquet'"
vg_err build/sluice query --no-progress "SELECT count(*) FROM '$tmp/logs.jsonl'"
printf 'apiVersion: nuclio.io/v1\nkind: Function\nspec:\n  triggers:\n    web: {kind: http, attributes: {port: abc}}\n' > "$tmp/bad.yaml"
vg_err build/sluice check "$tmp/bad.yaml"
for spec in examples/functions/*.yaml; do vg build/sluice check "$spec"; done
echo "valgrind: clean"
