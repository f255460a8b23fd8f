#!/usr/bin/env bash
# Runs the ministack AWS emulator from ./.venv in the background on 127.0.0.1:4566.
#   tests/local/ministack.sh start|stop|restart|status|logs
# start is idempotent (a healthy running instance is left alone); state is in memory, so
# stop/restart forgets every resource (run deploy.py again).
# Log: .local/ministack.log   pid: .local/ministack.pid
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

pidfile="$FB_LOCAL/ministack.pid"
logfile="$FB_LOCAL/ministack.log"
marker="$FB_VENV/bin/ministack"
health="$FB_ENDPOINT/_ministack/health"

healthy() { curl -sf -m 2 -o /dev/null "$health"; }

start() {
  fb_require_venv
  mkdir -p "$FB_LOCAL"
  local pid
  if pid="$(fb_pid_alive "$pidfile" "$marker")"; then
    if healthy; then fb_log "ministack: already running (pid $pid) on $FB_ENDPOINT"; return 0; fi
    fb_log "ministack: pid $pid is alive but not healthy yet; waiting"
  else
    rm -f "$pidfile"
    if fb_port_open "$MINISTACK_PORT"; then
      fb_die "port $MINISTACK_PORT is taken by a process this script did not start"
    fi
    {
      printf '\n=== %s ministack start ===\n' "$(date -u +%FT%TZ)"
    } >>"$logfile"
    # A clean environment: every Lambda function process inherits ministack's own
    # environment, so nothing from the caller's shell (AWS_PROFILE, RUST_LOG, ...) may leak
    # into the functions. AWS_ENDPOINT_URL is forced into every function by ministack.
    # AWS_LAMBDA_LOG_FORMAT=JSON mirrors what Lambda sets for LoggingConfig.LogFormat=JSON
    # (ministack does not set it). The IoT MQTT (8883) and SFTP listeners ignore BIND_HOST
    # and would listen on every interface: off.
    # shellcheck disable=SC2046
    setsid env -i $(fb_clock_env_python) \
      PATH="$FB_VENV/bin:/usr/local/bin:/usr/bin:/bin" \
      HOME="${HOME:-/root}" \
      LANG=C.UTF-8 \
      GATEWAY_PORT="$MINISTACK_PORT" \
      BIND_HOST=127.0.0.1 \
      LAMBDA_EXECUTOR=local \
      AWS_ENDPOINT_URL="$FB_ENDPOINT" \
      AWS_ACCESS_KEY_ID=test \
      AWS_SECRET_ACCESS_KEY=test \
      AWS_REGION="$FB_REGION" \
      AWS_DEFAULT_REGION="$FB_REGION" \
      MINISTACK_REGION="$FB_REGION" \
      AWS_LAMBDA_LOG_FORMAT=JSON \
      IOT_MTLS_ENABLED=0 \
      SFTP_ENABLED=0 \
      LOG_LEVEL="${MINISTACK_LOG_LEVEL:-INFO}" \
      "$FB_VENV/bin/ministack" >>"$logfile" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pidfile"
  fi
  fb_wait_healthy ministack "$pid" "$pidfile" "$logfile" 60 healthy
  fb_log "ministack: running (pid $pid) on $FB_ENDPOINT, log $logfile"
}

status() {
  local pid
  if pid="$(fb_pid_alive "$pidfile" "$marker")" && healthy; then
    echo "ministack: running (pid $pid) on $FB_ENDPOINT"
  elif [ -n "${pid:-}" ]; then
    echo "ministack: process $pid alive but unhealthy"; return 1
  else
    echo "ministack: stopped"; return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) fb_stop_daemon ministack "$pidfile" "$marker" ;;
  restart) fb_stop_daemon ministack "$pidfile" "$marker"; start ;;
  status) status ;;
  logs) tail -n "${2:-100}" "$logfile" ;;
  *) echo "usage: $0 start|stop|restart|status|logs [lines]" >&2; exit 2 ;;
esac
