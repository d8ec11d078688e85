#!/usr/bin/env bash
# Installs what sluice needs to build and test, only when it is missing.
#   scripts/deps.sh          Debian packages + Python venv (.venv) + Kafka jars (.cache/kafka)
#   scripts/deps.sh build    Debian packages needed to build only
# Idempotent and quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"

BUILD_PKGS=(cmake ninja-build gcc clang pkg-config libcmocka-dev libzstd-dev libsnappy-dev
  zlib1g-dev liblz4-dev libyaml-dev libxxhash-dev librdkafka-dev libmicrohttpd-dev libnats-dev libmosquitto-dev)
TEST_PKGS=(python3-venv valgrind libtsan2 clang-format openjdk-17-jre-headless maven libclang-rt-14-dev nats-server mosquitto mosquitto-clients wrk nginx kcat)

missing=()
want=("${BUILD_PKGS[@]}")
[ "$what" = build ] || want+=("${TEST_PKGS[@]}")
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# A JRE from any source will do for Kafka.
if command -v java >/dev/null 2>&1; then
  tmp=(); for p in "${missing[@]:-}"; do [ "$p" = openjdk-17-jre-headless ] || tmp+=("$p"); done
  missing=("${tmp[@]:-}")
fi
if [ -n "${missing[*]:-}" ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$what" = build ] && exit 0

# Python test tools in a repo-local virtualenv that git ignores.
PY_PKGS=(pytest pyarrow duckdb pandas polars kubernetes-validate)
if [ ! -x .venv/bin/python ]; then
  echo "deps: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import pytest, pyarrow, duckdb, pandas, polars, kubernetes_validate' 2>/dev/null; then
  echo "deps: installing Python test tools: ${PY_PKGS[*]}"
  .venv/bin/pip install -q --disable-pip-version-check "${PY_PKGS[@]}"
fi

# Apache Kafka broker jars from Maven Central (KRaft mode; no ZooKeeper).
scripts/kafka-fetch.sh
