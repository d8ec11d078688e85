# Shared by scripts/nats.sh and scripts/mosquitto.sh: a test server started
# in the background with a pid file, waited for until it answers, stopped
# with SIGTERM then SIGKILL. The caller sets pidfile, logfile, port,
# start_timeout and svc_proc (a word its command line contains) and defines
# say() and die().

svc_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the pid of the running server; a stale pid file is removed.
svc_running_pid() {
  local pid cmdline=""
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  fi
  if [[ "$cmdline" == *"$svc_proc"* ]]; then
    echo "$pid"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

# svc_wait_ready PID CHECK...: waits until the port is open and CHECK
# succeeds; on exit or timeout shows the log's end and fails.
svc_wait_ready() {
  local pid=$1 deadline=$((SECONDS + start_timeout))
  shift
  until svc_port_open "$port" && "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      tail -n 30 "$logfile" >&2 || true
      die "$svc_proc exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$logfile" >&2 || true
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      die "$svc_proc not ready after ${start_timeout}s (log: $logfile)"
    fi
    sleep 0.1
  done
}

svc_stop() {
  local pid waited=0
  if ! pid="$(svc_running_pid)"; then
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

svc_status() {
  local pid
  if pid="$(svc_running_pid)"; then
    say "running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  say "not running"
  return 1
}

svc_main() {
  case "${1:-}" in
    start) cmd_start ;;
    stop) svc_stop ;;
    status) svc_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
  esac
}
