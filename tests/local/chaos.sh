#!/usr/bin/env bash
# The chaos run (long; not part of the default test run): 10,000 notifications for 200
# people of the three providers through the real webhook, worker and token-refresh handlers,
# against the local emulator and the sandboxes, with faults injected at random; prints what
# SAP should hold against what it holds, per seed.
#   tests/local/chaos.sh [--notifications N] [--people N] [--workers N] [SEED ...]   (seeds 1 2 3 by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec tests/local/with_stack.sh cargo run --release --quiet -p fitbridge-integration --bin chaos -- "$@"
