#!/usr/bin/env bash
# Builds the fuzz targets and runs each of them (README.md in this folder).
#
#   tests/fuzz/run.sh [SECONDS]        smoke run: SECONDS per target (default 20); CI
#   tests/fuzz/run.sh --long [CAP]     10 million executions per target (-runs=10000000),
#                                      each stopped after CAP seconds if given
#
# Environment:
#   FUZZ_TARGETS            targets to run, space-separated (default: all)
#   FUZZ_TARGET_DIR         cargo target dir of the fuzz build (default: tests/fuzz/target)
#   FUZZ_WORK_DIR           where each target's corpus grows and logs go
#                           (default: tests/fuzz/.run; the committed seeds stay untouched)
#   FUZZ_CODEGEN_UNITS      codegen units of the fuzz build (default 16: a shorter build
#                           on 2 cores for a slightly slower target)
#   CARGO_FUZZ_ROOT         where cargo-fuzz is installed if missing (default ~/.cargo)
#
# Exits non-zero if a target crashes (panic, failed property), hangs (-timeout), leaks,
# or runs out of memory (-rss_limit_mb); the input that did it is kept under
# tests/fuzz/artifacts/<target>/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS="fitbit_webhook polar_webhook google_health_webhook google_health_signature google_health_keyset connect_link oauth_callback sap_batch"

# Longest input per target: 64 KiB for webhook and $batch bodies (what a provider or SAP
# sends per request is far below that), less where the input is a header or a query.
max_len() {
  case "$1" in
    fitbit_webhook | google_health_webhook | sap_batch) echo 65536 ;;
    google_health_signature | google_health_keyset) echo 16384 ;;
    oauth_callback) echo 8192 ;;
    connect_link) echo 1024 ;;
    *) echo 4096 ;;
  esac
}

mode=smoke
seconds=20
cap=0
case "${1:-}" in
  --long)
    mode=long
    cap="${2:-0}"
    ;;
  "") ;;
  -h | --help)
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) seconds="$1" ;;
esac
[[ "$seconds" =~ ^[0-9]+$ && "$cap" =~ ^[0-9]+$ ]] || {
  echo "usage: $0 [SECONDS] | --long [CAP-SECONDS]" >&2
  exit 2
}

targets="${FUZZ_TARGETS:-$ALL_TARGETS}"
target_dir="${FUZZ_TARGET_DIR:-$here/target}"
work="${FUZZ_WORK_DIR:-$here/.run}"
cgu="${FUZZ_CODEGEN_UNITS:-16}"

log() { printf '%s\n' "$*" >&2; }

# Tooling: the nightly toolchain (libFuzzer needs -Zsanitizer and sanitizer coverage) and
# cargo-fuzz at a pinned version, installed with cargo if missing.
if ! cargo +nightly --version >/dev/null 2>&1; then
  if ! command -v rustup >/dev/null; then
    log "error: the nightly toolchain is missing, and rustup is not here to install it"
    exit 2
  fi
  log "==> installing the nightly toolchain with rustup"
  rustup toolchain install nightly --profile minimal >&2
fi
fuzz_root="${CARGO_FUZZ_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
export PATH="$fuzz_root/bin:$PATH"
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "==> installing cargo-fuzz $CARGO_FUZZ_VERSION into $fuzz_root"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$fuzz_root" --quiet
fi

log "==> building the fuzz targets ($target_dir)"
build_start=$(date +%s)
(cd "$root" && cargo +nightly fuzz build --fuzz-dir "$here" --target-dir "$target_dir" \
  --codegen-units "$cgu")
build_seconds=$(($(date +%s) - build_start))
log "    built in ${build_seconds} s"
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

mkdir -p "$work/logs"
failed=0
summary=()
for t in $targets; do
  corpus="$work/corpus/$t"
  artifacts="$here/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  flags=(-max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/")
  if [ "$mode" = long ]; then
    flags+=(-runs=10000000 -max_total_time="$cap")
    if [ "$cap" -gt 0 ]; then
      log "==> $t: 10,000,000 executions, at most $cap s"
    else
      log "==> $t: 10,000,000 executions"
    fi
  else
    flags+=(-max_total_time="$seconds")
    log "==> $t: ${seconds} s"
  fi
  logfile="$work/logs/$t.log"
  start=$(date +%s)
  set +e
  # New inputs go to the work corpus; the committed seeds are read, never written.
  "$bin_dir/$t" "${flags[@]}" "$corpus" "$here/corpus/$t" >"$logfile" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logfile" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logfile" | tail -n1)
  corp=$(grep -Eo 'corp: [0-9]+/[0-9.]+[a-zA-Z]*' "$logfile" | tail -n1 | cut -d' ' -f2)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    failed=1
    if grep -q 'ERROR: libFuzzer: timeout' "$logfile"; then
      result=timeout
    elif grep -q 'detected memory leaks' "$logfile"; then
      result=leak
    elif grep -q 'out-of-memory' "$logfile"; then
      result=out-of-memory
    else
      result=crash
    fi
    log "---- $t: $result (exit $rc), last lines of $logfile:"
    tail -n 40 "$logfile" >&2
    log "---- input kept in $artifacts/; reproduce: $bin_dir/$t <that file>"
  fi
  summary+=("$(printf '%-24s %12s %10s %12s %6ss  %s' "$t" "${execs:-?}" "${rate:-?}" \
    "${corp:-?}" "$elapsed" "$result")")
done

printf '\n%-24s %12s %10s %12s %7s  %s\n' target executions exec/s corpus time result
printf '%s\n' "${summary[@]}"
printf 'build: %s s; mode: %s\n' "$build_seconds" "$mode"
exit "$failed"
