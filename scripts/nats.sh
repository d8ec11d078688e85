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

running_pid() {
  local pid cmdline=""
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  fi
  if [[ "$cmdline" == *nats-server* ]]; then
    echo "$pid"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  command -v nats-server >/dev/null 2>&1 || die "nats-server is not installed (apt-get install nats-server)"
  for p in "$port" "$mport"; do
    port_open "$p" && die "port $p on 127.0.0.1 is already in use (set SLUICE_NATS_PORT)"
  done
  rm -rf "$dir"
  mkdir -p "$dir/store"
  setsid nats-server -a 127.0.0.1 -p "$port" -m "$mport" -js -sd "$dir/store" \
    -n sluice-test >"$logfile" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  local deadline=$((SECONDS + start_timeout))
  until port_open "$port" && healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      tail -n 30 "$logfile" >&2 || true
      die "nats-server exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$logfile" >&2 || true
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      die "nats-server not ready after ${start_timeout}s (log: $logfile)"
    fi
    sleep 0.1
  done
  say "started (pid $pid) on 127.0.0.1:$port with JetStream (store: $dir/store)"
}

cmd_stop() {
  local pid waited=0
  if ! pid="$(running_pid)"; then
    say "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 100 ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    say "running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  say "not running"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
