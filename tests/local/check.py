#!/usr/bin/env python3
"""Checks the local stack after deploy.py: resources, secrets, code, queues, SQS event source
mappings, schedules, and that every route of the template reaches its function through the
gateway (plus the webhook's verification answers). Prints one line per check (PASS, FAIL or
SKIP) and exits non-zero when one fails. Secret values are compared, never printed.

    .venv/bin/python tests/local/check.py [--no-gateway]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402
import fbtemplate  # noqa: E402

failures = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global failures
    failures += 0 if ok else 1
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
    return ok


def skip(name: str, why: str) -> None:
    print(f"SKIP  {name}  ({why})", flush=True)


def start_count(logs, group: str) -> int:
    try:
        events = logs.filter_log_events(logGroupName=group, filterPattern="START")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return sum(1 for e in events if e["message"].startswith("START RequestId"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-gateway", action="store_true", help="skip the route checks")
    args = ap.parse_args()

    deploy.check_emulator()
    st = fbtemplate.load_stack_json()
    out = st["outputs"]
    cfn, ddb, kms, sm, lam, logs, sqs, events = (
        deploy.client(s) for s in ("cloudformation", "dynamodb", "kms", "secretsmanager", "lambda",
                                   "logs", "sqs", "events"))

    status = deploy.stack_status(cfn, st["stackName"])
    check("stack", status in deploy.TERMINAL_OK, f"{st['stackName']} {status}")

    t = ddb.describe_table(TableName=out["TableName"])["Table"]
    keys = {k["AttributeName"]: k["KeyType"] for k in t["KeySchema"]}
    check("table", t["TableStatus"] == "ACTIVE" and keys == {"pk": "HASH", "sk": "RANGE"},
          f"{t['TableName']} {t['TableStatus']} {keys}")

    meta = kms.describe_key(KeyId=out["DataKeyArn"])["KeyMetadata"]
    rotation = kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]
    check("kms key", meta["KeyState"] == "Enabled" and meta["KeyManager"] == "CUSTOMER" and rotation,
          f"{meta['KeyState']}, rotation {rotation}")

    expected = {
        "FitbitSecretArn": deploy.FITBIT_CREDENTIALS,
        "SapSecretArn": deploy.SAP_CREDENTIALS,
        "ConnectLinkSecretArn": {"key": st["connectLinkKey"]},
    }
    for output, want in expected.items():
        got = json.loads(sm.get_secret_value(SecretId=out[output])["SecretString"])
        check(f"secret {output[:-3]}", got == want, f"keys {sorted(got)}")

    template = fbtemplate.load_template()
    params = st.get("parameters") or {}
    fns = fbtemplate.functions(template)
    for lid, fn in fns.items():
        rec = st["functions"].get(lid)
        if not check(f"function {lid} deployed", rec is not None):
            continue
        cfg = lam.get_function_configuration(FunctionName=rec["name"])
        env = (cfg.get("Environment") or {}).get("Variables", {})
        check(f"function {lid} code", cfg["CodeSha256"] == rec["codeSha256"] and cfg["State"] == "Active",
              f"{rec['crate']} {cfg['CodeSha256'][:12]}… {cfg['State']}")
        if rec.get("placeholder"):
            skip(f"function {lid} is real code", f"placeholder: crate {rec['crate']} is not built yet")
        check(f"function {lid} env", env.get("TABLE_NAME") == out["TableName"],
              ", ".join(sorted(env)))

    # Queues as the template declares them (visibility, FIFO, redrive to the right DLQ).
    resources = template.get("Resources") or {}
    queue_info = st.get("queues") or {}
    for qid, res in resources.items():
        if res.get("Type") != "AWS::SQS::Queue":
            continue
        props = res.get("Properties") or {}
        phys = (st.get("resources") or {}).get(qid, {}).get("physicalId")
        if not check(f"queue {qid}", bool(phys), str(phys)):
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=phys, AttributeNames=["All"])["Attributes"]
        want_vis = int(fbtemplate.resolve(props.get("VisibilityTimeout", 30), template, params))
        want_fifo = str(props.get("FifoQueue", False)).lower() == "true"
        detail = [f"visibility {attrs.get('VisibilityTimeout')} s", "FIFO" if want_fifo else "standard"]
        ok = int(attrs.get("VisibilityTimeout", 30)) == want_vis and \
            (attrs.get("FifoQueue") == "true") == want_fifo
        redrive = props.get("RedrivePolicy")
        if redrive:
            got = json.loads(attrs.get("RedrivePolicy") or "{}")
            target = redrive.get("deadLetterTargetArn", {}).get("Fn::GetAtt", [None])[0]
            want_max = int(fbtemplate.resolve(redrive.get("maxReceiveCount"), template, params))
            target_arn = (queue_info.get(target) or {}).get("arn")
            ok = ok and got.get("deadLetterTargetArn") == target_arn and \
                int(got.get("maxReceiveCount", 0)) == want_max
            detail.append(f"redrive to {target} after {got.get('maxReceiveCount')}")
        check(f"queue {qid} settings", ok, ", ".join(detail))

    # SQS triggers: the mapping exists, is Enabled and matches the template.
    physical = {lid: r.get("physicalId") for lid, r in (st.get("resources") or {}).items()}
    mappings, problems = deploy.event_source_mappings(
        lam, template, fns, physical, queue_info, params, repair=False)
    for lid, ms in mappings.items():
        for m in ms:
            mine = [p for p in problems if p.startswith(f"{lid} {m['event']}:")]
            check(f"event source {m['queue']} -> {lid}", not mine and m["state"] == "Enabled",
                  "; ".join(mine) or f"{m['state']}, batch {m['batchSize']}, "
                  f"{'/'.join(m['responseTypes']) or 'whole-batch'}, "
                  f"max concurrency {m['maximumConcurrency'] or '-'}")
    for p in problems:
        if not any(p.startswith(f"{lid} {m['event']}:") for lid, ms in mappings.items() for m in ms):
            check("event source mapping", False, p)

    # Schedules: the EventBridge rule (Schedule) or the EventBridge Scheduler schedule
    # (ScheduleV2, which deploy.py creates through the emulator's API) exists, is enabled,
    # and targets the function; a schedule's dead-letter queue is the template's.
    scheduler = deploy.client("scheduler")
    for lid, fn in fns.items():
        for sch in fn.schedules:
            if sch.is_scheduler:
                check_scheduler_schedule(scheduler, st, template, params, lid, sch)
                continue
            rule = physical.get(sch.rule_logical_id)
            if not check(f"schedule {sch.rule_logical_id}", bool(rule), str(rule)):
                continue
            r = events.describe_rule(Name=rule)
            targets = events.list_targets_by_rule(Rule=rule)["Targets"]
            want = fbtemplate.resolve(sch.schedule, template, params)
            fn_arn = (st["functions"].get(lid) or {}).get("arn")
            check(f"schedule {sch.rule_logical_id} -> {lid}",
                  r.get("State") == "ENABLED" and r.get("ScheduleExpression") == want
                  and any(t["Arn"] == fn_arn for t in targets),
                  f"{r.get('ScheduleExpression')} {r.get('State')}")

    if args.no_gateway:
        sys.exit(1 if failures else 0)

    gw = urlsplit(st["gatewayUrl"])
    try:
        conn = http.client.HTTPConnection(gw.hostname, gw.port, timeout=5)
        conn.request("GET", "/_local_gateway/health")
        health = json.loads(conn.getresponse().read())
    except OSError as e:
        check("gateway", False, f"{st['gatewayUrl']}: {e} (tests/local/gateway.sh start)")
        sys.exit(1)
    for lid, fn in fns.items():
        for route in fn.routes:
            name = health["routes"].get(route.route_key)
            check(f"gateway route {route.route_key}", name == st["functions"][lid]["name"], str(name))
            method = "GET" if route.method == "ANY" else route.method
            path = re.sub(r"\{[^}]+\}", "fitbit", route.path) if route.path != "$default" else "/"
            before = start_count(logs, st["functions"][lid]["logGroup"])
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection(gw.hostname, gw.port, timeout=30)
            conn.request(method, path)
            resp = conn.getresponse()
            resp.read()
            ms = (time.perf_counter() - t0) * 1000
            after = start_count(logs, st["functions"][lid]["logGroup"])
            # The gateway's own answers (no route, invoke failure, function error) are 404/5xx;
            # anything the function returned shows up as one more invocation in its log.
            check(f"{method} {path} reaches {lid}", after > before,
                  f"HTTP {resp.status}, {ms:.0f} ms, location={resp.getheader('location', '-')[:60]}")
    webhook_checks(st, gw, logs)
    sys.exit(1 if failures else 0)


def check_scheduler_schedule(scheduler, st: dict, template: dict, params: dict, lid: str,
                             sch: fbtemplate.ScheduleTrigger) -> None:
    rec = (st.get("schedules") or {}).get(sch.rule_logical_id)
    if not check(f"schedule {sch.rule_logical_id}", rec is not None,
                 rec["name"] if rec else "not in stack.json (redeploy)"):
        return
    got = scheduler.get_schedule(Name=rec["name"])
    target = got.get("Target") or {}
    p = sch.properties
    want_state = str(fbtemplate.resolve(p.get("State", "ENABLED"), template, params))
    want_expr = str(fbtemplate.resolve(sch.schedule, template, params))
    dlq = (p.get("DeadLetterConfig") or {}).get("Arn")
    dlq_queue = dlq.get("Fn::GetAtt", [None])[0] if isinstance(dlq, dict) else None
    want_dlq = ((st.get("queues") or {}).get(dlq_queue) or {}).get("arn")
    want_retry = {k: int(fbtemplate.resolve(v, template, params))
                  for k, v in (p.get("RetryPolicy") or {}).items()}
    got_retry = {k: int(v) for k, v in (target.get("RetryPolicy") or {}).items()}
    fn_arn = (st["functions"].get(lid) or {}).get("arn")
    check(f"schedule {sch.rule_logical_id} -> {lid}",
          got.get("State") == want_state and got.get("ScheduleExpression") == want_expr
          and target.get("Arn") == fn_arn
          and (target.get("DeadLetterConfig") or {}).get("Arn") == want_dlq
          and got_retry == want_retry,
          f"{got.get('ScheduleExpression')} {got.get('State')}, dead letters to "
          f"{dlq_queue or '-'}, retry {got_retry or '-'}")


def request(gw, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection(gw.hostname, gw.port, timeout=30)
    conn.request(method, path, body=body or None, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def webhook_checks(st: dict, gw, logs) -> None:
    """The providers' subscriber protocols through the gateway: Fitbit's wrong verification
    code and badly signed notification answer 404, the right code 204; Google's
    verification probe answers 201 with the registered authorization and 401 without, an
    unsigned notification 401; Polar's PING answers 200 unsigned, a forged delivery 403.
    Nothing is enqueued."""
    rec = st["functions"].get("WebhookFunction")
    if rec is None:
        skip("webhook", "no WebhookFunction in the stack")
        return
    if rec.get("placeholder"):
        skip("webhook", f"placeholder: crate {rec['crate']} is not built yet")
        return
    code = deploy.FITBIT_CREDENTIALS["subscriber_verification_code"]
    body = json.dumps([{"collectionType": "activities", "date": "2026-11-20", "ownerId": "GGNJL9",
                        "ownerType": "user", "subscriptionId": "GGNJL9-activities"}]).encode()
    good = base64.b64encode(hmac.new(
        (deploy.FITBIT_CREDENTIALS["client_secret"] + "&").encode(), body, hashlib.sha1).digest()).decode()
    wrong_sig = base64.b64encode(hashlib.sha1(body).digest()).decode()  # right shape, wrong key
    assert wrong_sig != good
    google_auth = deploy.GOOGLE_HEALTH_CREDENTIALS["webhook_authorization"]
    probe = json.dumps({"type": "verification"}).encode()
    json_type = {"Content-Type": "application/json"}
    polar_ping = json.dumps({"timestamp": "2026-11-21T19:58:00Z", "event": "PING"}).encode()
    polar_body = json.dumps({"event": "ACTIVITY_SUMMARY", "user_id": 2278517, "date": "2026-11-20",
                             "timestamp": "2026-11-21T19:58:12Z"}).encode()
    polar_forged = hmac.new(b"not-the-key", polar_body, hashlib.sha256).hexdigest()
    # (method, path, body, headers, expected status, label)
    cases = [
        ("GET", "/webhooks/fitbit?" + urlencode({"verify": "wrong"}), b"", {}, 404,
         "?verify=wrong"),
        ("GET", "/webhooks/fitbit?" + urlencode({"verify": code}), b"", {}, 204, "?verify=<code>"),
        ("POST", "/webhooks/fitbit", body, {**json_type, "X-Fitbit-Signature": wrong_sig}, 404,
         " (bad signature)"),
        # Google's verification probes: 201 with the registered authorization, 401 without.
        ("POST", "/webhooks/google-health", probe, {**json_type, "Authorization": google_auth},
         201, " (verification, authorized)"),
        ("POST", "/webhooks/google-health", probe, json_type, 401, " (verification, no authorization)"),
        ("POST", "/webhooks/google-health", body, {**json_type, "Authorization": google_auth}, 401,
         " (unsigned notification)"),
        # Polar's PING comes before anyone holds the key; a delivery signed with another key.
        ("POST", "/webhooks/polar", polar_ping, {**json_type, "Polar-Webhook-Event": "PING"}, 200,
         " (PING, unsigned)"),
        ("POST", "/webhooks/polar", polar_body,
         {**json_type, "Polar-Webhook-Event": "ACTIVITY_SUMMARY", "Polar-Webhook-Signature": polar_forged},
         403, " (forged signature)"),
    ]
    for method, path, data, headers, want, label in cases:
        before = start_count(logs, rec["logGroup"])
        status = request(gw, method, path, data, headers)
        reached = start_count(logs, rec["logGroup"]) > before
        check(f"webhook {method} {path.split('?')[0]}{label} -> {want}", status == want and reached,
              f"HTTP {status}" + ("" if reached else ", did not reach the function"))


if __name__ == "__main__":
    main()
