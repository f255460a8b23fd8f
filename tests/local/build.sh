#!/usr/bin/env bash
# Builds the Lambda functions for the local emulator: x86_64 binaries of the
# `local-stack` profile (release semantics, built faster: Cargo.toml says why; set
# FB_LAMBDA_PROFILE=release for production's) zipped as target/lambda/<crate>/bootstrap.zip
# (what deploy.py uploads; under $CARGO_TARGET_DIR when that is set).
#   tests/local/build.sh            # every crate under functions/
#   tests/local/build.sh oauth ...  # only these crates
# (Production builds go through `sam build`, which uses the template's
# BuildMethod: rust-cargolambda for the Architecture of the stack.)
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
fb_require_venv
[ -x "$FB_VENV/bin/cargo-lambda" ] || fb_die "cargo-lambda missing from $FB_VENV; run tests/local/bootstrap.sh"
export PATH="$FB_VENV/bin:$PATH"

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
  for manifest in "$FB_ROOT"/functions/*/Cargo.toml; do
    [ -f "$manifest" ] || continue
    name="$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n1)"
    [ -n "$name" ] && crates+=("$name")
  done
fi
[ ${#crates[@]} -gt 0 ] || fb_die "no function crates found under functions/"

args=()
for c in "${crates[@]}"; do args+=(-p "$c"); done

cd "$FB_ROOT"
profile="${FB_LAMBDA_PROFILE:-local-stack}"
fb_log "building ${crates[*]} (profile $profile, x86_64, zip)"
start=$(date +%s)
cargo lambda build --profile "$profile" --output-format zip --x86-64 "${args[@]}"
target_dir="${CARGO_TARGET_DIR:-$FB_ROOT/target}"
case "$target_dir" in /*) ;; *) target_dir="$FB_ROOT/$target_dir" ;; esac
for c in "${crates[@]}"; do
  zip="$target_dir/lambda/$c/bootstrap.zip"
  [ -f "$zip" ] || fb_die "expected $zip after the build"
  fb_log "  $zip ($(du -h "$zip" | cut -f1))"
done
fb_log "build took $(( $(date +%s) - start )) s"
