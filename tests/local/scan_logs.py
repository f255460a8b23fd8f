#!/usr/bin/env python3
"""Searches every log line the deployed functions wrote for every secret value the run
handed out: the tokens, authorization codes and PKCE verifiers the provider sandboxes
issued or received, every value of the stack's secrets (client secrets, the SAP password,
the link key, webhook keys), and the OAuth routes' states, codes, link signatures and
customer ids the local gateway saw. Exits 1 if any is found (saying which kind, in which
function — never the value).

    .venv/bin/python tests/local/scan_logs.py [--since SECONDS]

Run with the stack up, after the tests (test.sh does), at whatever log level the stack was
deployed with (the local stack is deployed at `trace`, the most a deployment can ask for).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402
from gateway import OAUTH_VALUES  # noqa: E402

import boto3  # noqa: E402

# Shorter values are words, not secrets (and would match by chance).
MIN_LEN = 8


def client(service: str, stack: dict):
    return boto3.client(service, endpoint_url=stack["endpoint"], region_name=stack["region"],
                        aws_access_key_id="test", aws_secret_access_key="test")


# A secret's fields that hold secrets (its ids, user names and URLs may be logged).
SECRET_FIELDS = ("secret", "password", "key", "token", "authorization")


def secret_leaves(value, name: str = "") -> list[str]:
    """The string leaves of a JSON value whose field name says they are secret."""
    if isinstance(value, str):
        return [value] if any(w in name.lower() for w in SECRET_FIELDS) else []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secret_leaves(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in secret_leaves(v, name)]
    return []


def forbidden(stack: dict, sandbox: str) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    with urllib.request.urlopen(f"{sandbox.rstrip('/')}/_admin/issued-secrets", timeout=10) as r:
        kinds["sandbox-issued token, code or verifier"] = set(json.load(r))
    sm = client("secretsmanager", stack)
    secret_values: set[str] = set()
    for page in sm.get_paginator("list_secrets").paginate():
        for secret in page.get("SecretList", []):
            try:
                text = sm.get_secret_value(SecretId=secret["ARN"]).get("SecretString") or ""
            except sm.exceptions.ResourceNotFoundException:
                continue
            try:
                secret_values.update(secret_leaves(json.loads(text)))
            except ValueError:
                secret_values.add(text)
    kinds["secret value"] = secret_values
    if OAUTH_VALUES.exists():
        kinds["OAuth state, code, link signature or customer id"] = set(
            OAUTH_VALUES.read_text(encoding="utf-8").split("\n"))
    return {k: {v for v in vs if len(v) >= MIN_LEN} for k, vs in kinds.items()}


def log_lines(stack: dict, since: float) -> dict[str, list[str]]:
    logs = client("logs", stack)
    start = int((time.time() - since) * 1000)
    lines: dict[str, list[str]] = {}
    for lid, f in stack["functions"].items():
        kwargs = {"logGroupName": f["logGroup"], "startTime": start}
        found = []
        try:
            while True:
                page = logs.filter_log_events(**kwargs)
                found.extend(e["message"] for e in page.get("events", []))
                token = page.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
        except logs.exceptions.ResourceNotFoundException:
            pass
        lines[lid] = found
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--since", type=float, default=6 * 3600, help="seconds back (default 6 h)")
    args = ap.parse_args()
    stack = fbtemplate.load_stack_json()
    sandbox = os.environ.get("SANDBOX_URL", "http://127.0.0.1:9090")
    values = forbidden(stack, sandbox)
    lines = log_lines(stack, args.since)
    total = sum(len(v) for v in lines.values())
    hits = []
    for kind, vs in values.items():
        for lid, ls in lines.items():
            n = sum(1 for line in ls for v in vs if v in line)
            if n:
                hits.append(f"{kind}: {n} line(s) of {lid}")
    counts = ", ".join(f"{len(vs)} {kind}" for kind, vs in values.items())
    print(f"scanned {total} log lines of {len(lines)} functions for {counts}: "
          f"{len(hits) and 'FOUND' or '0 found'}")
    for h in hits:
        print(f"  {h}")
    if total == 0:
        sys.exit("no log lines to scan: is the stack up and did the tests run?")
    if hits:
        sys.exit(1)


if __name__ == "__main__":
    main()
