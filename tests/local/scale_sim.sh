#!/usr/bin/env bash
# One simulated day at scale (no stack needed): the real webhook, daily and sync use cases
# on in-memory ports and a virtual clock against quota-enforcing provider stand-ins
# (tests/integration/src/bin/scale_sim.rs says what is simulated and how it scales).
#   tests/local/scale_sim.sh [--people 50000] [--no-budget] [--no-pacing] [--batches 300]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec cargo run --quiet -p fitbridge-integration --bin scale_sim -- "$@"
