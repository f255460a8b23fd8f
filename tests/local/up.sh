#!/usr/bin/env bash
# Brings the whole local stack up: [build] -> ministack -> deploy -> gateway -> check.
#   tests/local/up.sh [--build] [deploy.py options...]
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
if [ "${1:-}" = "--build" ]; then
  shift
  "$here/build.sh"
fi
"$here/ministack.sh" start
"$FB_VENV/bin/python" "$here/deploy.py" "$@"
"$here/gateway.sh" start
"$here/sandbox.sh" start
"$FB_VENV/bin/python" "$here/check.py"
fb_log "API: http://127.0.0.1:$GATEWAY_PORT_LOCAL  (e.g. $FB_VENV/bin/python $here/sign_link.py --ref C-1042)"
