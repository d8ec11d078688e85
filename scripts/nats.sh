#!/usr/bin/env bash
# A local nats-server (Debian package nats-server) with JetStream, for tests
# and benchmarks of the nats trigger.
#
#   scripts/nats.sh start    fresh data folder, start in the background, wait
#                            until the server answers with JetStream enabled
#                            (no-op if running)
#   scripts/nats.sh stop     SIGTERM, wait, SIGKILL after a timeout (no-op if stopped)
#   scripts/nats.sh status   prints running/not running; exit 0 if running, 1 if not
#
# Environment:
#   SLUICE_NATS_PORT           client port on 127.0.0.1 (default 14222)
#   SLUICE_NATS_MONITOR_PORT   HTTP monitoring port (default PORT+4000)
#   SLUICE_NATS_DIR            run folder: JetStream store, log, pid
#                              (default .cache/nats/run)
#   SLUICE_NATS_START_TIMEOUT  seconds to wait for readiness (default 20)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
port="${SLUICE_NATS_PORT:-14222}"
mport="${SLUICE_NATS_MONITOR_PORT:-$((port + 4000))}"
dir="${SLUICE_NATS_DIR:-$root/.cache/nats/run}"
start_timeout="${SLUICE_NATS_START_TIMEOUT:-20}"
pidfile="$dir/nats.pid"
logfile="$dir/nats.log"

say() { echo "nats: $*"; }
die() { echo "nats: error: $*" >&2; exit 1; }
svc_proc=nats-server
# shellcheck source=lib/service.sh
. "$root/scripts/lib/service.sh"

# GET /healthz?js-enabled-only=true on the monitoring port: 200 once
# JetStream is up.
healthy() {
  local resp
  resp="$( (exec 3<>"/dev/tcp/127.0.0.1/$mport" &&
    printf 'GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    timeout 2 cat <&3) 2>/dev/null || true)"
  [[ "$resp" == "HTTP/1."*" 200"* ]]
}

cmd_start() {
  local pid
  if pid="$(svc_running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  command -v nats-server >/dev/null 2>&1 || die "nats-server is not installed (apt-get install nats-server)"
  for p in "$port" "$mport"; do
    svc_port_open "$p" && die "port $p on 127.0.0.1 is already in use (set SLUICE_NATS_PORT)"
  done
  rm -rf "$dir"
  mkdir -p "$dir/store"
  setsid nats-server -a 127.0.0.1 -p "$port" -m "$mport" -js -sd "$dir/store" \
    -n sluice-test >"$logfile" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  svc_wait_ready "$pid" healthy
  say "started (pid $pid) on 127.0.0.1:$port with JetStream (store: $dir/store)"
}

svc_main "$@"
