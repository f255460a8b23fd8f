#!/usr/bin/env bash
# Cold start of every function as Lambda measures it (init, first invocation, warm p50/p99,
# peak RSS, zip size): builds the release bootstraps and the harness (tests/coldstart), then
# runs the harness, which plays the Lambda Runtime API and a constant-time AWS endpoint.
# Needs neither the emulator nor the gateway nor the sandbox on their ports.
#   tests/local/coldstart.sh                         # all functions, 5 cold starts, 1,000 warm
#   tests/local/coldstart.sh --functions webhook --cold 10 --warm 5000
#   tests/local/coldstart.sh --strace /tmp/traces    # also: certificate files and connections
# Follows CARGO_TARGET_DIR. Prints a markdown table on stdout.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FB_ROOT"

crates=()
for manifest in "$FB_ROOT"/functions/*/Cargo.toml; do
  name="$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n1)"
  [ -n "$name" ] && crates+=(-p "$name")
done
# The functions on their own, as `cargo build --release -p <function>` builds them for
# Lambda: building the harness in the same invocation would unify its dependency features
# into theirs.
fb_log "building the functions (release)"
cargo build --release "${crates[@]}"
fb_log "building the harness (release)"
cargo build --release -p fitbridge-coldstart
target_dir="${CARGO_TARGET_DIR:-$FB_ROOT/target}"
exec "$target_dir/release/coldstart" --target-dir "$target_dir" "$@"
