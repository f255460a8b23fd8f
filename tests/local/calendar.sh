#!/usr/bin/env bash
# A command on another day: the CI command (.ci/run) by default, or any other, with the
# stack (the emulator and the functions it runs, the sandboxes, the gateway) and every
# test and demo binary on the machine's clock moved to DATE (libfaketime), to show that
# nothing depends on today's date:
#   tests/local/calendar.sh 2027-03-01                      # .ci/run at 08:00 UTC
#   tests/local/calendar.sh 2026-12-31 23:30:00             # late on a year's last day
#   tests/local/calendar.sh 2027-03-02 09:00:00 tests/local/demo.sh
# Native binaries run under libfaketime, the Python daemons shift their own wall clock
# (tests/local/fakeclock/).
# The compiler and the build scripts stay on the real clock (rustc deadlocks at start
# under libfaketime, and no build depends on the date). Installs faketime if missing.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

day="${1:?usage: tests/local/calendar.sh YYYY-MM-DD [HH:MM:SS] [COMMAND...]}"
time_of_day="${2:-08:00:00}"
shift $(($# >= 2 ? 2 : 1))
[ $# -gt 0 ] || set -- "$FB_ROOT/.ci/run"
if [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ]; then
  fb_log "installing faketime"
  apt-get install -y faketime >/dev/null || fb_die "libfaketime is missing and could not be installed"
fi
target="$(date -u -d "$day $time_of_day" +%s)" || fb_die "not a date: $day $time_of_day"
FB_CLOCK_OFFSET=$((target - $(date -u +%s)))
[ "$FB_CLOCK_OFFSET" -ge 0 ] && FB_CLOCK_OFFSET="+$FB_CLOCK_OFFSET"
export FB_CLOCK_OFFSET
# Test, benchmark and demo binaries run through this (cargo's runner; build scripts do not).
runner="$(mktemp)"
trap 'rm -f "$runner"' EXIT
{
  echo '#!/bin/sh'
  fb_clock_env | sed 's/^/export /'
  echo 'exec "$@"'
} >"$runner"
chmod +x "$runner"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$runner"
fb_log "running $* at $day $time_of_day UTC (offset ${FB_CLOCK_OFFSET}s)"
"$@"
