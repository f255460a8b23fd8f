#!/usr/bin/env bash
# The CI command (.ci/run) with the machine's clock set to another day, to show that no
# test depends on today's date:
#   tests/local/calendar.sh 2027-03-01            # 08:00 UTC on the first of a month
#   tests/local/calendar.sh 2026-12-31 23:30:00   # late on the last day of a year
# Everything runs on the fake clock (libfaketime: the emulator, the deployed functions, the
# sandboxes, the tests) except the compiler: clippy-driver deadlocks at start under
# libfaketime, and compiling depends on no date. Installs faketime (Debian) if missing.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

day="${1:?usage: tests/local/calendar.sh YYYY-MM-DD [HH:MM:SS]}"
time_of_day="${2:-08:00:00}"
if ! command -v faketime >/dev/null 2>&1; then
  fb_log "installing faketime"
  apt-get install -y faketime >/dev/null || fb_die "faketime is missing and could not be installed"
fi
wrapper="$(mktemp)"
trap 'rm -f "$wrapper"' EXIT
printf '#!/bin/sh\nunset LD_PRELOAD\nexec "$@"\n' >"$wrapper"
chmod +x "$wrapper"
fb_log "running .ci/run at $day $time_of_day UTC"
RUSTC_WRAPPER="$wrapper" FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC \
  faketime "$day $time_of_day" "$FB_ROOT/.ci/run"
