#!/usr/bin/env bash
# Runs a few CLI commands under valgrind memcheck; any error or leak fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }
vg build/sluice gen --rows 2000 --messy --output "$tmp/logs.jsonl"
vg build/sluice demo --rows 2000 --output-dir "$tmp" >/dev/null
[ -x tests/cli/valgrind-extra.sh ] && tests/cli/valgrind-extra.sh "$tmp"
echo "valgrind: clean"
