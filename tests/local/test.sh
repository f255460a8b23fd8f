#!/usr/bin/env bash
# All tests, on a fresh machine with Rust (rustup), Python 3.11+ and curl: installs the
# nightly toolchain if missing (the fuzz smoke run needs it) and the local tooling, checks
# formatting, lints the code and the template, builds the functions with cargo-lambda,
# deploys the SAM template to the local emulator, starts the sandboxes and the local
# gateway, runs every test, and stops what it started.
#   tests/local/test.sh [extra cargo test args]
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"

# Each step says how long the run has taken so far, so a slow CI run shows where.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

# One full build, not an edited one: incremental state would add about 1.3 GB beside the
# test binaries, and the fuzz build after them needs several GB more of the same disk.
export CARGO_INCREMENTAL=0

step "prerequisites (Rust stable and nightly, Python 3.11+, curl)"
fb_prerequisites fuzz

fb_disk_report
step "tooling (.venv: ministack, SAM translator, cfn-lint, cargo-lambda)"
"$here/bootstrap.sh"

step "format, and lint a copy of the repository that has no sibling folders"
cargo fmt --all -- --check
# The repository stands alone: nothing may name what lies beside it...
if git grep -nE 'shared/(reference|hooks|ARCHITECTURE)' -- . ':!tests/local/test.sh'; then
  fb_die "the files above refer to folders outside the repository"
fi
# ...nor include it at build time: clippy builds every target from a copy of the tracked
# files in an otherwise empty folder (same target dir, so this costs no extra build).
standalone="$(mktemp -d)"
git ls-files -z --cached --others --exclude-standard |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$standalone"
(cd "$standalone" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FB_ROOT/target}" \
  cargo clippy --workspace --all-targets --quiet -- -D warnings)
rm -rf "$standalone"
# cfn-lint on the template as written and after the SAM transform.
"$FB_VENV/bin/python" "$here/lint_template.py"
# Least privilege and log hygiene of the transformed template (IAM, log groups, access log).
"$FB_VENV/bin/python" "$here/check_iam.py"
"$FB_VENV/bin/python" "$here/check_limits.py" --self-test

step "build the functions (cargo lambda build, profile local-stack)"
"$here/build.sh"

started=()
cleanup() {
  local s
  for s in "${started[@]}"; do "$here/$s.sh" stop || true; done
}
trap cleanup EXIT
for service in ministack sandbox gateway; do
  if ! "$here/$service.sh" status >/dev/null 2>&1; then started+=("$service"); fi
done

step "deploy infra/template.yaml to the local emulator"
"$here/ministack.sh" start
"$FB_VENV/bin/python" "$here/deploy.py"
"$here/gateway.sh" start
"$here/sandbox.sh" start
"$FB_VENV/bin/python" "$here/check.py"

step "tests"
cargo test --workspace --no-fail-fast "$@"

step "the deployed functions' logs (at trace) hold none of the secrets the run handed out"
"$FB_VENV/bin/python" "$here/scan_logs.py"

fb_disk_report
step "fuzz smoke: build the fuzz targets, run each for ${FUZZ_SECONDS:-10} s (long run: tests/fuzz/run.sh --long)"
"$FB_ROOT/tests/fuzz/run.sh" "${FUZZ_SECONDS:-10}"
step "done"
