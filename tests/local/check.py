#!/usr/bin/env python3
"""Checks the local stack after deploy.py: resources, secrets, code, and that every route of
the template reaches its function through the gateway. Prints one line per check and
exits non-zero when one fails. Secret values are compared, never printed.

    .venv/bin/python tests/local/check.py [--no-gateway]
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402
import fbtemplate  # noqa: E402

failures = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global failures
    failures += 0 if ok else 1
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
    return ok


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
    cfn, ddb, kms, sm, lam, logs = (deploy.client(s) for s in
                                    ("cloudformation", "dynamodb", "kms", "secretsmanager", "lambda", "logs"))

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
    fns = fbtemplate.functions(template)
    for lid, fn in fns.items():
        rec = st["functions"].get(lid)
        if not check(f"function {lid} deployed", rec is not None):
            continue
        cfg = lam.get_function_configuration(FunctionName=rec["name"])
        env = (cfg.get("Environment") or {}).get("Variables", {})
        check(f"function {lid} code", cfg["CodeSha256"] == rec["codeSha256"] and cfg["State"] == "Active",
              f"{rec['crate']} {cfg['CodeSha256'][:12]}… {cfg['State']}")
        check(f"function {lid} env", env.get("TABLE_NAME") == out["TableName"],
              ", ".join(sorted(env)))

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
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
