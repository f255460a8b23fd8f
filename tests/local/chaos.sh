#!/usr/bin/env bash
# The chaos run (long; not part of the default test run): 10,000 notifications for 200
# people of both providers through the real webhook, worker and token-refresh handlers,
# against the local emulator and the sandboxes, with faults injected at random; prints what
# SAP should hold against what it holds, per seed.
#   tests/local/chaos.sh [--notifications N] [--people N] [--workers N] [SEED ...]   (seeds 1 2 3 by default)
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
cargo run --release --quiet -p fitbridge-integration --bin chaos -- "$@"
