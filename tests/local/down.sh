#!/usr/bin/env bash
# Stops the sandbox, the gateway and ministack (ministack's state is in memory: everything is gone).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/sandbox.sh" stop
"$here/gateway.sh" stop
"$here/ministack.sh" stop
