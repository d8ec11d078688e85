#!/usr/bin/env bash
# Builds librdkafka's own consume benchmark, examples/rdkafka_performance.c,
# for the Kafka benchmark's second consume-only ceiling (bench/kafka_bench.py).
#
#   scripts/kafka-perftool.sh LIBRDKAFKA_SOURCE
#
# Debian ships the example's source (librdkafka-dev) but not the binary, and
# the example needs librdkafka's internal headers and the config.h that its
# ./configure writes. So this takes a librdkafka source tree (a git clone of
# github.com/confluentinc/librdkafka, or an unpacked release), checks out the
# tag of the installed library (pkg-config), configures it and compiles only
# the example, linked against Debian's librdkafka -- the same library sluice
# uses. Nothing is copied into this repository. The binary goes to
# .cache/kafka/rdkafka_performance-VERSION; prints its path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:?usage: $0 LIBRDKAFKA_SOURCE (a librdkafka git clone or release tree)}"
ver="$(pkg-config --modversion rdkafka)"
out="$root/.cache/kafka/rdkafka_performance-$ver"
if [ -x "$out" ]; then echo "$out"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work" "$work.log"' EXIT
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" rev-parse -q --verify "refs/tags/v$ver" >/dev/null ||
    { echo "kafka-perftool: $src has no tag v$ver (the installed librdkafka)" >&2; exit 1; }
  git -C "$src" archive "v$ver" | tar -x -C "$work"
else
  grep -q "RD_KAFKA_VERSION 0x$(printf '%02x%02x%02x' ${ver//./ })" "$src/src/rdkafka.h" ||
    { echo "kafka-perftool: $src is not librdkafka $ver (the installed one)" >&2; exit 1; }
  cp -r "$src/." "$work"
fi
(cd "$work" && ./configure --disable-ssl --disable-gssapi --disable-zstd \
   --disable-lz4-ext --disable-curl >"$work.log" 2>&1) ||
  { tail -20 "$work.log" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cc -O2 -I"$work" -I"$work/src" -o "$out.tmp" "$work/examples/rdkafka_performance.c" \
  $(pkg-config --libs rdkafka) -lm -lpthread
mv "$out.tmp" "$out"
echo "$out"
