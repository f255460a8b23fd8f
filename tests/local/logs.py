#!/usr/bin/env python3
"""Prints a function's CloudWatch logs from ministack (what the function wrote to stdout or
stderr, between START/END/REPORT lines).

    .venv/bin/python tests/local/logs.py                 # every function, last 10 minutes
    .venv/bin/python tests/local/logs.py OAuthFunction --since 60 --follow
    .venv/bin/python tests/local/logs.py oauth --raw     # logical id or crate name

JSON lines are shown compactly as `LEVEL message {fields}` unless --raw.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402

import boto3  # noqa: E402


def pretty(message: str) -> str:
    text = message.rstrip("\n")
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if not isinstance(obj, dict):
        return text
    level = obj.pop("level", "")
    fields = obj.pop("fields", {}) if isinstance(obj.get("fields"), dict) else {}
    msg = fields.pop("message", obj.pop("message", ""))
    rest = {**fields, **obj}
    return f"{level:5} {msg}" + (f" {json.dumps(rest, ensure_ascii=False)}" if rest else "")


def main() -> None:
    ap = argparse.ArgumentParser(description="function logs from ministack")
    ap.add_argument("function", nargs="?", help="logical id or crate (default: all)")
    ap.add_argument("--since", type=float, default=600, help="seconds back (default 600)")
    ap.add_argument("--follow", "-f", action="store_true")
    ap.add_argument("--raw", action="store_true")
    args = ap.parse_args()

    stack = fbtemplate.load_stack_json()
    fns = stack["functions"]
    chosen = {lid: f for lid, f in fns.items()
              if args.function in (None, lid, f["crate"], f["name"])}
    if not chosen:
        sys.exit(f"error: no function {args.function!r}; known: {', '.join(fns)}")
    logs = boto3.client("logs", endpoint_url=stack["endpoint"], region_name=stack["region"],
                        aws_access_key_id="test", aws_secret_access_key="test")
    start = int((time.time() - args.since) * 1000)
    seen: set[str] = set()
    while True:
        for lid, f in chosen.items():
            kwargs = {"logGroupName": f["logGroup"], "startTime": start}
            events = []
            try:
                while True:
                    page = logs.filter_log_events(**kwargs)
                    events.extend(page.get("events", []))
                    if not page.get("nextToken") or page["nextToken"] == kwargs.get("nextToken"):
                        break
                    kwargs["nextToken"] = page["nextToken"]
            except logs.exceptions.ResourceNotFoundException:
                continue  # not invoked yet
            for ev in sorted(events, key=lambda e: e["timestamp"]):
                key = ev.get("eventId") or f"{ev['timestamp']}{ev['message']}"
                if key in seen:
                    continue
                seen.add(key)
                ts = time.strftime("%H:%M:%S", time.localtime(ev["timestamp"] / 1000))
                prefix = f"{ts} {lid}" if len(chosen) > 1 else ts
                print(f"{prefix} {ev['message'].rstrip() if args.raw else pretty(ev['message'])}", flush=True)
        if not args.follow:
            break
        time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
