#!/usr/bin/env bash
# The cost benchmark (not part of the default test run): the standard day of a person of
# each provider (5 notifications, an access token that dies early and one refresh, the daily
# job) through the real handlers against the local emulator, every AWS request counted by a
# metering proxy; prints requests per person-day and dollars per 1,000 people per month.
#   tests/local/cost.sh [--people N] [--history-months M]
#   (N per provider, default 20; M months of history each person has, default 12)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec tests/local/with_stack.sh cargo run --release --quiet -p fitbridge-integration --bin cost -- "$@"
