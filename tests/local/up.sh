#!/usr/bin/env bash
# Brings the whole local stack up: [build] -> ministack -> deploy -> gateway -> check.
#   tests/local/up.sh [--build] [deploy.py options...]
#   tests/local/up.sh --sam [deploy_sam.py options...]   # sam build + sam deploy instead
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
deployer="$here/deploy.py"
case "${1:-}" in
  --build)
    shift
    "$here/build.sh"
    ;;
  --sam)
    shift
    deployer="$here/deploy_sam.py"  # builds with `sam build` itself (--no-build: reuse it)
    ;;
esac
"$here/ministack.sh" start
"$FB_VENV/bin/python" "$deployer" "$@"
"$here/gateway.sh" start
"$here/sandbox.sh" start
"$FB_VENV/bin/python" "$here/check.py"
fb_log "API: http://127.0.0.1:$GATEWAY_PORT_LOCAL  (e.g. $FB_VENV/bin/python $here/sign_link.py --ref C-1042)"
