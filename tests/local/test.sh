#!/usr/bin/env bash
# All tests, on a fresh machine: installs the local tooling, checks formatting, lints the
# code and the template, builds the functions with cargo-lambda, deploys the SAM template to
# the local emulator, starts the sandboxes and the local gateway, runs every test, and
# stops what it started.
#   tests/local/test.sh [extra cargo test args]
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "tooling (.venv: ministack, SAM translator, cfn-lint, cargo-lambda)"
"$here/bootstrap.sh"

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# cfn-lint on the template as written and after the SAM transform.
"$FB_VENV/bin/python" "$here/lint_template.py"
# Least privilege and log hygiene of the transformed template (IAM, log groups, access log).
"$FB_VENV/bin/python" "$here/check_iam.py"

step "build the functions (cargo lambda build --release)"
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
