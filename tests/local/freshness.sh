#!/usr/bin/env bash
# Freshness on the local stack (not part of the default test run): N signed notifications
# spread over a minute for M people through the deployed webhook, the emulator's queue and
# the deployed worker into the SAP sandbox; prints webhook accepted -> interaction stored
# (p50/p99/max) with the queue wait apart (tests/integration/src/bin/freshness.rs).
# Installs, builds, deploys and starts what is not running; stops what it started.
#   tests/local/freshness.sh [--notifications 200] [--people 20]
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
"$here/gateway.sh" start
"$here/sandbox.sh" start
cargo run --release --quiet -p fitbridge-integration --bin freshness -- "$@"
