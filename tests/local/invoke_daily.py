#!/usr/bin/env python3
"""Runs the daily sync now, as its schedule would: invokes the deployed DailySyncFunction
through the Lambda Invoke API with the payload the schedule delivers, and prints the result
and the function's log tail. For a ScheduleV2 event (EventBridge Scheduler) that is the
event's Input with Scheduler's context attributes filled in (schedule ARN, scheduled time,
execution id); for a Schedule event (EventBridge rule), a "Scheduled Event" with the rule's
ARN in resources.

    .venv/bin/python tests/local/invoke_daily.py                      # time = now
    .venv/bin/python tests/local/invoke_daily.py --time 2026-11-21T02:15:00Z
    .venv/bin/python tests/local/invoke_daily.py --async              # InvocationType=Event, like EventBridge
    .venv/bin/python tests/local/invoke_daily.py --print-event        # only print the event

EventBridge and Scheduler invoke asynchronously; the default here is a synchronous invoke
so the result (and an error) can be printed. Exits non-zero when the function fails.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402


def scheduled_event(*, account: str, region: str, rule_arn: str, at: datetime,
                    event_id: str | None = None) -> dict:
    """What EventBridge delivers for a schedule rule (version "0", detail {})."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--function", default="DailySyncFunction",
                    help="logical id of the scheduled function (default DailySyncFunction)")
    ap.add_argument("--time", type=parse_time, default=None,
                    help="the event's time (ISO 8601, default now); the function derives "
                         "'yesterday' per person from it")
    ap.add_argument("--async", dest="asynchronous", action="store_true",
                    help="InvocationType=Event (fire and forget, as EventBridge does)")
    ap.add_argument("--print-event", action="store_true", help="print the event, do not invoke")
    args = ap.parse_args()

    st = fbtemplate.load_stack_json()
    rec = st["functions"].get(args.function)
    if rec is None:
        sys.exit(f"error: no {args.function} in {fbtemplate.STACK_JSON}; deployed: {', '.join(st['functions'])}")
    fn = fbtemplate.functions(fbtemplate.load_template()).get(args.function)
    if fn is None or not fn.schedules:
        sys.exit(f"error: {args.function} has no Schedule or ScheduleV2 event in {fbtemplate.TEMPLATE}")

    client_kwargs = dict(endpoint_url=st["endpoint"], region_name=st["region"],
                         aws_access_key_id="test", aws_secret_access_key="test")
    sch = fn.schedules[0]
    at = args.time or datetime.now(timezone.utc)
    account = st.get("accountId", "000000000000")
    if sch.is_scheduler:
        schedule = (st.get("schedules") or {}).get(sch.rule_logical_id)
        if not schedule:
            sys.exit(f"error: schedule {sch.rule_logical_id} is not in {fbtemplate.STACK_JSON} (redeploy)")
        variables = {"AWS::AccountId": account, "AWS::Region": st["region"],
                     "AWS::StackName": st["stackName"], "AWS::Partition": "aws",
                     "AWS::URLSuffix": "amazonaws.com"}
        payload = fbtemplate.scheduler_input(
            sch, variables, schedule_arn=schedule["arn"], execution_id=str(uuid.uuid4()),
            scheduled_time=at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        event = json.loads(payload) if payload is not None else {}
    else:
        rule_name = (st.get("resources") or {}).get(sch.rule_logical_id, {}).get("physicalId")
        if not rule_name:
            sys.exit(f"error: rule {sch.rule_logical_id} is not in the stack (redeploy)")
        rule_arn = boto3.client("events", **client_kwargs).describe_rule(Name=rule_name)["Arn"]
        event = scheduled_event(account=account, region=st["region"], rule_arn=rule_arn, at=at)
    print(json.dumps(event, indent=2), flush=True)
    if args.print_event:
        return

    # The function may run up to its timeout (900 s); never retry an invoke.
    lam = boto3.client("lambda", **client_kwargs,
                       config=Config(read_timeout=960, retries={"max_attempts": 1, "mode": "standard"}))
    t0 = time.time()
    if args.asynchronous:
        resp = lam.invoke(FunctionName=rec["name"], InvocationType="Event", Payload=json.dumps(event).encode())
        print(f"queued: HTTP {resp['StatusCode']} (see tests/local/logs.py {rec['crate']})")
        return
    resp = lam.invoke(FunctionName=rec["name"], InvocationType="RequestResponse",
                      Payload=json.dumps(event).encode(), LogType="Tail")
    payload = resp["Payload"].read().decode(errors="replace")
    tail = base64.b64decode(resp.get("LogResult") or b"").decode(errors="replace")
    print(f"--- {rec['name']}: HTTP {resp['StatusCode']}, {time.time() - t0:.1f} s"
          + (f", FunctionError={resp['FunctionError']}" if resp.get("FunctionError") else ""))
    print(f"--- result\n{payload}")
    if tail.strip():
        print(f"--- log tail\n{tail.rstrip()}")
    sys.exit(1 if resp.get("FunctionError") else 0)


if __name__ == "__main__":
    main()
