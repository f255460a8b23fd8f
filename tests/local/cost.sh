#!/usr/bin/env bash
# The cost benchmark (not part of the default test run): the standard day of a person of
# each provider (5 notifications, an access token that dies early and one refresh, the daily
# job) through the real handlers against the local emulator, every AWS request counted by a
# metering proxy; prints requests per person-day and dollars per 1,000 people per month.
#   tests/local/cost.sh [--people N]   (N per provider, default 20)
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"

"$here/bootstrap.sh"
"$here/build.sh"
started=()
for service in ministack sandbox gateway; do
  if ! "$here/$service.sh" status >/dev/null 2>&1; then started+=("$service"); fi
done
cleanup() {
  local s
  for s in "${started[@]}"; do "$here/$s.sh" stop || true; done
}
trap cleanup EXIT
"$here/ministack.sh" start
"$FB_VENV/bin/python" "$here/deploy.py"
cargo run --release --quiet -p fitbridge-integration --bin cost -- "$@"
