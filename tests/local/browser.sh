#!/usr/bin/env bash
# The connect flow in a real browser (headless Chromium through chromedriver) against the
# deployed local stack: connects in one profile, refuses the consent URL in another, shows
# a used link's page (tests/local/browser.py says what it checks). Installs Debian's
# chromium and chromium-driver if they are missing, builds and deploys like with_stack.sh,
# starts what is not running and stops what it started.
#   tests/local/browser.sh [--screenshots DIR]   # e.g. --screenshots docs/images
# The stack is deployed with the sandbox's consent pages at localhost instead of 127.0.0.1,
# another site than the gateway's, so the redirect back to the callback is cross-site as
# on AWS; a stack that was already running is deployed again as before at the end.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"
start=$(date +%s)

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  fb_log "installing chromium and chromium-driver"
  apt_get=(apt-get)
  [ "$(id -u)" -eq 0 ] || apt_get=(sudo apt-get)
  "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq chromium chromium-driver >/dev/null
fi

"$here/bootstrap.sh"
"$here/build.sh"
started=()
for service in ministack sandbox gateway; do
  if ! "$here/$service.sh" status >/dev/null 2>&1; then started+=("$service"); fi
done
cleanup() {
  local rc=$? s
  if [ ${#started[@]} -eq 0 ] || [ "${started[0]}" != ministack ]; then
    # The emulator was running before: leave the stack deployed as deploy.py does by default.
    "$FB_VENV/bin/python" "$here/deploy.py" >/dev/null || rc=1
  fi
  for s in "${started[@]}"; do "$here/$s.sh" stop || true; done
  fb_log "browser.sh: $(( $(date +%s) - start )) s"
  exit "$rc"
}
trap cleanup EXIT
"$here/ministack.sh" start
consent="${SANDBOX_URL/127.0.0.1/localhost}"
"$FB_VENV/bin/python" "$here/deploy.py" \
  --parameter "FitbitAuthorizeUrl=$consent/oauth2/authorize" \
  --parameter "GoogleOAuthAuthorizeUrl=$consent/o/oauth2/v2/auth"
"$here/sandbox.sh" start
"$here/gateway.sh" start
"$FB_VENV/bin/python" "$here/browser.py" "$@"
