# shellcheck shell=bash
# Shared helpers for the local tooling scripts (sourced, not executed).
# Resolves the repository root from this file's location, so callers work from any cwd.

FB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FB_VENV="$FB_ROOT/.venv"
# State of the local stack (pid files, logs, stack.json). FB_LOCAL_DIR moves it, e.g. to run
# a second stack beside the default one (together with MINISTACK_PORT, GATEWAY_PORT_LOCAL
# and SANDBOX_URL); the Rust tests then read $FB_LOCAL_DIR/stack.json.
FB_LOCAL="${FB_LOCAL_DIR:-$FB_ROOT/.local}"
if [ -n "${FB_LOCAL_DIR:-}" ]; then
  case "$FB_LOCAL" in /*) ;; *) FB_LOCAL="$PWD/$FB_LOCAL" ;; esac
  FB_LOCAL_DIR="$FB_LOCAL"
  export FB_LOCAL_DIR
  : "${FITBRIDGE_STACK_FILE:=$FB_LOCAL/stack.json}"
  export FITBRIDGE_STACK_FILE
fi

# Endpoints of the local stack (override through the environment if a port is taken).
: "${MINISTACK_PORT:=4566}"
: "${GATEWAY_PORT_LOCAL:=9080}"
: "${SANDBOX_URL:=http://127.0.0.1:9090}"
: "${FB_REGION:=us-east-1}"
export MINISTACK_PORT GATEWAY_PORT_LOCAL SANDBOX_URL FB_REGION
FB_ENDPOINT="http://127.0.0.1:$MINISTACK_PORT"

fb_log() { printf '%s\n' "$*" >&2; }

# Another day on the stack's clock (tests/local/calendar.sh sets FB_CLOCK_OFFSET, in
# seconds): the environment that runs a process on the machine's clock moved by that
# offset, for the daemons the scripts start; empty without an offset. Native binaries get
# libfaketime (monotonic time left real); Python daemons shift their own wall clock
# (tests/local/fakeclock/sitecustomize.py says why) and hand libfaketime to what they run.
fb_clock_env() {
  [ -n "${FB_CLOCK_OFFSET:-}" ] || return 0
  printf '%s\n' \
    "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1" \
    "FAKETIME=${FB_CLOCK_OFFSET}s" \
    "DONT_FAKE_MONOTONIC=1"
}
fb_clock_env_python() {
  [ -n "${FB_CLOCK_OFFSET:-}" ] || return 0
  printf '%s\n' \
    "PYTHONPATH=$FB_ROOT/tests/local/fakeclock" \
    "FB_CLOCK_OFFSET=${FB_CLOCK_OFFSET}"
}
# fb_disk_report -> one line: the free space where the build goes, so that a run that ends
# out of disk says how close it came.
fb_disk_report() {
  local target="${CARGO_TARGET_DIR:-$FB_ROOT/target}" used
  mkdir -p "$target"
  used="$(du -sh "$target" 2>/dev/null | cut -f1)"
  fb_log "disk: $(df -h --output=avail "$target" | tail -n1 | tr -d ' ') free; target/ holds $used"
}

fb_die() { fb_log "error: $*"; exit 1; }

# What the quick start's commands need that they cannot install themselves, checked before
# anything long starts: the Rust toolchain (stable, and nightly for the fuzz build, which
# rustup installs here when it is missing), Python 3.11 or newer, and curl.
fb_prerequisites() {
  local fuzz="${1:-}"
  command -v cargo >/dev/null || fb_die "cargo is missing: install Rust with rustup (https://rustup.rs)"
  command -v curl >/dev/null || fb_die "curl is missing"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    fb_die "Python 3.11 or newer is needed as python3"
  if [ "$fuzz" = fuzz ] && ! cargo +nightly --version >/dev/null 2>&1; then
    command -v rustup >/dev/null ||
      fb_die "the fuzz smoke run needs the nightly toolchain, and rustup is not here to install it"
    fb_log "==> installing the nightly toolchain (for the fuzz build) with rustup"
    rustup toolchain install nightly --profile minimal >&2
  fi
}

fb_require_venv() {
  [ -x "$FB_VENV/bin/python" ] || fb_die "no $FB_VENV; run tests/local/bootstrap.sh first"
}

# fb_pid_alive PIDFILE MARKER -> prints the pid when the recorded process is alive and its
# command line contains MARKER (guards against a recycled pid).
fb_pid_alive() {
  local pidfile="$1" marker="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$marker" || return 1
  printf '%s\n' "$pid"
}

# fb_port_open PORT -> success when something accepts connections on 127.0.0.1:PORT.
fb_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# fb_stop_daemon NAME PIDFILE MARKER: SIGTERM the process group the daemon leads (it was
# started with setsid, so the group holds only it and its children, e.g. Lambda bootstrap
# processes), wait up to 10 s, then SIGKILL the group.
fb_stop_daemon() {
  local name="$1" pidfile="$2" marker="$3" pid i
  if ! pid="$(fb_pid_alive "$pidfile" "$marker")"; then
    rm -f "$pidfile"
    fb_log "$name: not running"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    fb_log "$name: still running after 10 s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  # Children that outlived the leader (same process group id as the leader's pid).
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  fb_log "$name: stopped (pid $pid)"
}

# fb_wait_healthy NAME PID PIDFILE LOGFILE SECONDS CHECK... -> waits until the command
# CHECK... succeeds; dies with the log's tail if the process exits or SECONDS pass.
fb_wait_healthy() {
  local name="$1" pid="$2" pidfile="$3" logfile="$4" secs="$5" i
  shift 5
  for i in $(seq 1 $((secs * 10))); do
    if "$@"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      tail -n 30 "$logfile" >&2 || true
      fb_die "$name exited during start-up (log: $logfile)"
    fi
    sleep 0.1
  done
  fb_die "$name not healthy after $secs s (log: $logfile)"
}
