#!/usr/bin/env bash
# CPU engines on the GPU machine for one query (called by bench/gpu/run.sh):
#   cpu_peers.sh QUERY FILE DATADIR
# sluice on all CPU cores when `sluice query` exists, DuckDB (wheel brought
# along in .whl/) and pyarrow on the same file.
set -uo pipefail
q=$1 f=$2 d=$3
here="$(cd "$(dirname "$0")" && pwd)"
if "$SLUICE" query --help >/dev/null 2>&1 && [ -f "$here/sql/$q.sql" ]; then
  sql=$(sed "s|@FILE@|$f|" "$here/sql/$q.sql")
  t0=$(date +%s.%N)
  if "$SLUICE" query "$sql" --output "$d/$q.sluice_cpu.parquet" >/dev/null 2>>"$d/cpu.err"; then
    t1=$(date +%s.%N)
    echo "{\"query\":\"$q\",\"engine\":\"sluice cpu ($(nproc) cores)\",\"mode\":\"end-to-end\",\"bytes\":$(stat -c %s "$f"),\"seconds\":$(echo "$t1 - $t0" | bc)}"
  fi
fi
python3 "$here/peers.py" "$q" "$f" "$d" ${SLUICE_GPU_PEERS:-duckdb pyarrow}
