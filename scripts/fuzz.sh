#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded
# time on its seed corpus (fuzz/seeds/<name>/). A crash fails the run.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
ls fuzz/fuzz_*.c >/dev/null 2>&1 || { echo "fuzz: no targets"; exit 0; }
scripts/build.sh fuzz
for src in fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  seeds="fuzz/seeds/${name#fuzz_}"
  work="build-fuzz/corpus-${name#fuzz_}"
  mkdir -p "$work"
  args=("$work")
  [ -d "$seeds" ] && args+=("$seeds")
  echo "fuzz: $name for ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 build-fuzz/"$name" -max_total_time="$secs" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
        "${args[@]}" >build-fuzz/"$name".log 2>&1; then
    tail -50 build-fuzz/"$name".log >&2
    echo "fuzz: $name found a failure (see build-fuzz/$name.log)" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+|Done)' build-fuzz/"$name".log | tail -1
done
