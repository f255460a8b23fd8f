#!/usr/bin/env bash
# The local demo, on a fresh machine: installs the tooling, builds the functions, deploys
# the SAM template to the local emulator, starts the sandboxes and the local gateway, then
# connects a sandbox person through the deployed functions and prints what landed in the
# SAP Marketing Cloud sandbox.
#   tests/local/demo.sh          # stops everything at the end
#   tests/local/demo.sh --keep   # leaves the stack running to explore (tests/local/down.sh)
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"

keep=false
[ "${1:-}" = "--keep" ] && keep=true
fb_prerequisites
"$here/bootstrap.sh"
"$here/build.sh"
if ! $keep; then
  trap '"$here/sandbox.sh" stop; "$here/gateway.sh" stop; "$here/ministack.sh" stop' EXIT
fi
"$here/ministack.sh" start
"$FB_VENV/bin/python" "$here/deploy.py"
"$here/gateway.sh" start
"$here/sandbox.sh" start
cargo run --quiet -p fitbridge-integration --bin demo
