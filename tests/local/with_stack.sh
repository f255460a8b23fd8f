#!/usr/bin/env bash
# Runs a command against the deployed local stack: installs the tooling, builds the
# functions, starts the emulator and deploys the template if they are not up, runs the
# command, and stops what it started. For the long runs (chaos, cost) that use the
# emulator's AWS services but play the functions in-process; with --deployed also the
# local gateway and the sandboxes, for runs through the deployed functions (freshness).
#   tests/local/with_stack.sh [--deployed] COMMAND [ARG ...]
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"
deployed=false
if [ "${1:-}" = "--deployed" ]; then
  deployed=true
  shift
fi

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
if $deployed; then
  "$here/gateway.sh" start
  "$here/sandbox.sh" start
fi
"$@"
