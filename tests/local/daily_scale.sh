#!/usr/bin/env bash
# The daily job at scale (not part of the default test run): loads a fresh table shaped
# like the deployed one with N connections and their import ledger, runs the daily use
# case with the real DynamoDB adapter against it, and prints the wall time and the read
# units (tests/integration/src/bin/daily_scale.rs says exactly what each figure includes).
#   tests/local/daily_scale.sh [--people 100000] [--ledger 10] [--threads 8] [--segments 8]
#                              [--old-scan] [--sqs]
# The emulator holds everything in memory, about 2 KB per item: 1.1 million items need
# about 2.5 GB free (`free -g`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# The dev profile, shared with the tests: every figure is the emulator's and the store's,
# not our code's (the in-memory `bench daily` times that: 90 ms for 100,000 people).
exec tests/local/with_stack.sh cargo run --quiet -p fitbridge-integration --bin daily_scale -- "$@"
