#!/usr/bin/env bash
# Freshness on the local stack (not part of the default test run): N signed notifications
# spread over a minute for M people through the deployed webhook, the emulator's queue and
# the deployed worker into the SAP sandbox; prints webhook accepted -> interaction stored
# (p50/p99/max) with the queue wait apart (tests/integration/src/bin/freshness.rs).
# Installs, builds, deploys and starts what is not running; stops what it started.
#   tests/local/freshness.sh [--notifications 200] [--people 20]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec tests/local/with_stack.sh --deployed cargo run --release --quiet -p fitbridge-integration --bin freshness -- "$@"
