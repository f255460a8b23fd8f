#!/usr/bin/env bash
# Runs tests/local/gateway.py (the local API Gateway HTTP API) in the background on
# 127.0.0.1:9080.
#   tests/local/gateway.sh start|stop|restart|status|logs
# start is idempotent. The gateway re-reads the template and .local/stack.json when they
# change, so a redeploy needs no restart.
# Log: .local/gateway.log   pid: .local/gateway.pid
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

pidfile="$FB_LOCAL/gateway.pid"
logfile="$FB_LOCAL/gateway.log"
script="$FB_ROOT/tests/local/gateway.py"
marker="$script"
health="http://127.0.0.1:$GATEWAY_PORT_LOCAL/_local_gateway/health"

healthy() { curl -sf -m 2 -o /dev/null "$health"; }

start() {
  fb_require_venv
  mkdir -p "$FB_LOCAL"
  [ -f "$FB_LOCAL/stack.json" ] || fb_log "gateway: warning: no .local/stack.json yet (run deploy.py); routes answer 500 until then"
  local pid
  if pid="$(fb_pid_alive "$pidfile" "$marker")"; then
    if healthy; then fb_log "gateway: already running (pid $pid) on port $GATEWAY_PORT_LOCAL"; return 0; fi
  else
    rm -f "$pidfile"
    if fb_port_open "$GATEWAY_PORT_LOCAL"; then
      fb_die "port $GATEWAY_PORT_LOCAL is taken by a process this script did not start"
    fi
    printf '\n=== %s gateway start ===\n' "$(date -u +%FT%TZ)" >>"$logfile"
    # shellcheck disable=SC2046
    setsid env -u AWS_PROFILE $(fb_clock_env_python) PYTHONUNBUFFERED=1 \
      "$FB_VENV/bin/python" "$script" --port "$GATEWAY_PORT_LOCAL" >>"$logfile" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pidfile"
  fi
  fb_wait_healthy gateway "$pid" "$pidfile" "$logfile" 20 healthy
  fb_log "gateway: running (pid $pid) on http://127.0.0.1:$GATEWAY_PORT_LOCAL, log $logfile"
}

status() {
  local pid
  if pid="$(fb_pid_alive "$pidfile" "$marker")" && healthy; then
    echo "gateway: running (pid $pid) on http://127.0.0.1:$GATEWAY_PORT_LOCAL"
  elif [ -n "${pid:-}" ]; then
    echo "gateway: process $pid alive but unhealthy"; return 1
  else
    echo "gateway: stopped"; return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) fb_stop_daemon gateway "$pidfile" "$marker" ;;
  restart) fb_stop_daemon gateway "$pidfile" "$marker"; start ;;
  status) status ;;
  logs) tail -n "${2:-100}" "$logfile" ;;
  *) echo "usage: $0 start|stop|restart|status|logs [lines]" >&2; exit 2 ;;
esac
