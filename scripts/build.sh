#!/usr/bin/env bash
# Configures and builds one flavour of sluice into its own folder.
#   scripts/build.sh [release|asan|tsan|fuzz]   (default release)
# Quiet when up to date; compiler errors are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
case "$flavour" in
  release) dir=build; args=() ;;
  asan) dir=build-asan; args=(-DSLUICE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
  tsan) dir=build-tsan; args=(-DSLUICE_TSAN=ON -DSLUICE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  fuzz) dir=build-fuzz; args=(-DSLUICE_FUZZ=ON -DSLUICE_SANITIZE=ON -DSLUICE_TESTS=OFF
                              -DSLUICE_CUDA=OFF -DCMAKE_C_COMPILER=clang
                              -DCMAKE_BUILD_TYPE=Debug) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, asan, tsan, fuzz)" >&2; exit 2 ;;
esac
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
fi
log=$(mktemp)
if ! ninja -C "$dir" >"$log" 2>&1; then
  grep -v '^\[' "$log" >&2
  rm -f "$log"
  echo "build.sh: the $flavour build failed" >&2
  exit 1
fi
rm -f "$log"
