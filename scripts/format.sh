#!/usr/bin/env bash
# Applies .clang-format to the C sources (or, with --check, lists the files
# that differ and fails).
#   scripts/format.sh [--check]
set -euo pipefail
case "${1:-}" in
  ""|--check) ;;
  -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "format: unknown option '$1' (scripts/format.sh [--check])" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
cf=$(command -v clang-format || command -v clang-format-14 || true)
[ -n "$cf" ] || { echo "format: clang-format is not installed (scripts/deps.sh)" >&2; exit 1; }
files=$(git ls-files '*.c' '*.h' '*.cu')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in $files; do
    "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "format: $f"; bad=1; }
  done
  exit $bad
fi
"$cf" -i $files
