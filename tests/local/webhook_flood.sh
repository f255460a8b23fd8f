#!/usr/bin/env bash
# A bounded flood of forged webhook deliveries beside genuine ones (tests/integration's
# webhook_flood bench), twice against the deployed local stack: through the old layout (one
# /webhooks/{provider} route for both providers, the stage default throttle only, no
# reserved concurrency: check_limits.py's "shared-route" copy of the template) and through
# the template's own routes (one throttle per provider) with its reserved concurrency.
# Prints both side by side.
#   tests/local/webhook_flood.sh [SECONDS] [FORGED_RPS]        (default 30 s, 150 forged/s)
# Environment:
#   GENUINE_RPS=5             genuine deliveries per second and provider (sandbox-signed)
#   FLOOD_TARGET=google-health  where the forged ones go: google-health, fitbit or both
#   FLOOD_ARRIVALS=poisson    independent arrivals (exponential gaps), or "even" (a sender
#                             pacing itself, which takes nearly every refilled token)
#   FLOOD_PARAMETERS="K=V ..."  template parameters to deploy with (deploy.py --parameter),
#                             e.g. smaller route limits where the emulator cannot invoke
#                             the webhook as often as the defaults let through
#   FLOOD_OUT=DIR             where the JSON results and the table go (default: a temp dir)
# Starts what is not running (emulator, sandbox, gateway) and stops what it started; the
# gateway is restarted for each layout (it reads its routes and throttles at start), so a
# running one is restarted too and left on the template's layout. Follows MINISTACK_PORT,
# GATEWAY_PORT_LOCAL, SANDBOX_URL and FB_LOCAL_DIR (a second stack beside the default one).
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
here="$FB_ROOT/tests/local"
cd "$FB_ROOT"

seconds="${1:-30}"
forged_rps="${2:-150}"
genuine_rps="${GENUINE_RPS:-5}"
target="${FLOOD_TARGET:-google-health}"
arrivals="${FLOOD_ARRIVALS:-poisson}"
out="${FLOOD_OUT:-$(mktemp -d)}"
mkdir -p "$out"
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] && [ "$seconds" -le 600 ] ||
  fb_die "SECONDS must be 1..600 (a bounded run), got $seconds"

"$here/bootstrap.sh"
"$here/build.sh"
fb_log "==> building the bench (webhook_flood)"
cargo build --quiet -p fitbridge-integration --bin webhook_flood
bench="${CARGO_TARGET_DIR:-$FB_ROOT/target}/debug/webhook_flood"

started=()
for service in ministack sandbox gateway; do
  if ! "$here/$service.sh" status >/dev/null 2>&1; then started+=("$service"); fi
done
cleanup() {
  local s
  for s in "${started[@]}"; do "$here/$s.sh" stop || true; done
}
trap cleanup EXIT

params=()
for kv in ${FLOOD_PARAMETERS:-}; do params+=(--parameter "$kv"); done
"$here/ministack.sh" start
"$FB_VENV/bin/python" "$here/deploy.py" "${params[@]}"
"$here/sandbox.sh" start

# The old layout: the same stack and functions, the gateway routing and throttling as the
# template did before each provider had its own route, and no reserved concurrency.
"$FB_VENV/bin/python" "$here/check_limits.py" --write-variant shared-route "$out/shared-route.json"
template="${FB_TEMPLATE:-$FB_ROOT/infra/template.yaml}"

# The reserved concurrency of a template's functions, or none at all ("none", the old
# template had none): ministack's CloudFormation leaves ReservedConcurrentExecutions out,
# while its Lambda API enforces it (a throttled invoke, which the gateway answers 500 as
# API Gateway would).
reserve() {
  "$FB_VENV/bin/python" - "$1" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "tests/local")
import boto3
import fbtemplate
from check_limits import number
from lint_template import transformed
st = fbtemplate.load_stack_json()
lam = boto3.client("lambda", endpoint_url=st["endpoint"], region_name=st["region"],
                   aws_access_key_id="test", aws_secret_access_key="test")
tpl = None if sys.argv[1] == "none" else fbtemplate.load_template(Path(sys.argv[1]))
resources = transformed(tpl, st["region"])["Resources"] if tpl else {}
for lid, fn in st["functions"].items():
    value = ((resources.get(lid) or {}).get("Properties") or {}).get("ReservedConcurrentExecutions")
    if value is None:
        lam.delete_function_concurrency(FunctionName=fn["name"])
        print(f"{lid}: none")
        continue
    n = int(number(value, tpl, st.get("parameters"))[0])
    lam.put_function_concurrency(FunctionName=fn["name"], ReservedConcurrentExecutions=n)
    print(f"{lid}: {n}")
PY
}

run() {
  local label="$1" template="$2" reserved="$3"
  fb_log "==> $label: gateway on the ${template##*/} layout, reserved concurrency of ${reserved##*/}"
  reserve "$reserved" >"$out/$label-reserved.txt"
  "$here/gateway.sh" stop >/dev/null
  FB_TEMPLATE="$template" "$here/gateway.sh" start
  curl -sf "http://127.0.0.1:$GATEWAY_PORT_LOCAL/_local_gateway/health" >"$out/$label-gateway.json"
  "$bench" --seconds "$seconds" --forged-rps "$forged_rps" --genuine-rps "$genuine_rps" \
    --target "$target" --arrivals "$arrivals" --label "$label" --json "$out/$label.json"
}
run before "$out/shared-route.json" none
# Work the first run queued drains before the second starts.
sleep 10
run after "$template" "$template"

"$FB_VENV/bin/python" - "$out" <<'PY' | tee "$out/table.md"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = [json.loads((out / f"{label}.json").read_text()) for label in ("before", "after")]
limits = {label: json.loads((out / f"{label}-gateway.json").read_text())["throttles"]
          for label in ("before", "after")}
reserved = {label: dict(line.split(": ") for line in
                        (out / f"{label}-reserved.txt").read_text().splitlines())
            for label in ("before", "after")}
r = runs[0]
print(f"\n{r['seconds']:g} s, forged {r['forged_rps']:g}/s at {r['target']}, genuine "
      f"{r['genuine_rps']:g}/s per provider (sandbox-signed), {r['arrivals']} arrivals, "
      f"through {r['gateway']}\n")
for label in ("before", "after"):
    webhook = {k: v for k, v in limits[label].items() if "/webhooks/" in k}
    print(f"- {label}: " + "; ".join(
        f"`{k}` {v['rate']:g}/s burst {v['burst']:g} ({v['source']})" if v else f"`{k}` none"
        for k, v in sorted(webhook.items()))
        + f"; webhook reserved concurrency {reserved[label].get('WebhookFunction', '?')}")
print("\n| layout | stream | sent | 2xx | 429 | other 4xx | 5xx | no answer | accepted | p50 ms | p99 ms |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for run in runs:
    layout = "before: /webhooks/{provider}" if run["label"] == "before" else "after: a route per provider"
    for s in run["streams"]:
        ms = lambda v: "-" if v is None else f"{v:.0f}"
        print(f"| {layout} | {s['stream']} | {s['sent']} | {s['accepted']} | {s['throttled']} | "
              f"{s['client_error']} | {s['server_error']} | {s['no_answer']} | "
              f"{100 * s['accepted_share']:.1f}% | {ms(s['p50_ms'])} | {ms(s['p99_ms'])} |")
PY
fb_log "results: $out (before.json, after.json, table.md)"
