#!/usr/bin/env bash
# Runs the Fitbit + Google Health + Polar + SAP sandbox binary in the background on 127.0.0.1:9090, registered with
# the local gateway's callback URL and webhook, as the deployed functions expect.
#   tests/local/sandbox.sh start|stop|restart|status|logs
# Log: .local/sandbox.log   pid: .local/sandbox.pid
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

pidfile="$FB_LOCAL/sandbox.pid"
logfile="$FB_LOCAL/sandbox.log"
binary="${CARGO_TARGET_DIR:-$FB_ROOT/target}/debug/sandbox"
marker="$binary"
port="${SANDBOX_URL##*:}"
health="$SANDBOX_URL/_admin/sap/stats"

healthy() { curl -sf -m 2 -o /dev/null "$health"; }

start() {
  mkdir -p "$FB_LOCAL"
  local pid
  if pid="$(fb_pid_alive "$pidfile" "$marker")" && healthy; then
    fb_log "sandbox: already running (pid $pid) on $SANDBOX_URL"; return 0
  fi
  rm -f "$pidfile"
  fb_port_open "$port" && fb_die "port $port is taken by a process this script did not start"
  (cd "$FB_ROOT" && cargo build --quiet -p fitbridge-sandbox --bin sandbox)
  printf '\n=== %s sandbox start ===\n' "$(date -u +%FT%TZ)" >>"$logfile"
  gateway="http://127.0.0.1:$GATEWAY_PORT_LOCAL"
  # shellcheck disable=SC2046
  setsid env $(fb_clock_env) SANDBOX_ADDR="127.0.0.1:$port" \
    SANDBOX_REDIRECT_URI="$gateway/oauth/callback/fitbit" \
    SANDBOX_GOOGLE_REDIRECT_URI="$gateway/oauth/callback/google-health" \
    SANDBOX_POLAR_REDIRECT_URI="$gateway/oauth/callback/polar" \
    SANDBOX_SUBSCRIBER_URL="$gateway/webhooks/fitbit" \
    "$binary" >>"$logfile" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  fb_wait_healthy sandbox "$pid" "$pidfile" "$logfile" 10 healthy
  fb_log "sandbox: running (pid $pid) on $SANDBOX_URL, log $logfile"
}

case "${1:-}" in
  start) start ;;
  stop) fb_stop_daemon sandbox "$pidfile" "$marker" ;;
  restart) fb_stop_daemon sandbox "$pidfile" "$marker"; start ;;
  status) if pid="$(fb_pid_alive "$pidfile" "$marker")" && healthy; then echo "sandbox: running (pid $pid)"; else echo "sandbox: stopped"; exit 3; fi ;;
  logs) tail -n "${2:-100}" "$logfile" ;;
  *) echo "usage: $0 start|stop|restart|status|logs [lines]" >&2; exit 2 ;;
esac
