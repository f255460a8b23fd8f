#!/usr/bin/env python3
"""Puts a work item on the deployed stack's WorkQueue, as the webhook or the daily sync
would (or any body on any queue of the stack), and prints its message id.

    .venv/bin/python tests/local/enqueue.py --user GGNJL9 --date 2026-11-20 --collections activities,sleep
    .venv/bin/python tests/local/enqueue.py --body '{"provider":"fitbit","user_id":"GGNJL9","task":"revoke"}'
    .venv/bin/python tests/local/enqueue.py --queue RetryQueue --group fitbit#GGNJL9 --body '{"work":{...},"observed_version":3}'

Watch what happens with `tests/local/logs.py worker -f`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402

import boto3  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queue", default="WorkQueue", help="logical id of the queue (default WorkQueue)")
    ap.add_argument("--user", default="GGNJL9", help="provider user id (default GGNJL9)")
    ap.add_argument("--provider", default="fitbit")
    ap.add_argument("--date", default="2026-11-20", help="the person's local day, yyyy-MM-dd")
    ap.add_argument("--collections", default="activities", help="comma-separated")
    ap.add_argument("--body", help="the message body as is (instead of a sync work item)")
    ap.add_argument("--delay", type=int, default=0, help="DelaySeconds (standard queues)")
    ap.add_argument("--group", help="MessageGroupId (FIFO queues; default provider#user)")
    args = ap.parse_args()

    st = fbtemplate.load_stack_json()
    queue = (st.get("queues") or {}).get(args.queue)
    if not queue:
        sys.exit(f"error: no queue {args.queue!r} in the stack; known: {', '.join(st.get('queues') or {})}")
    body = args.body or json.dumps({
        "provider": args.provider, "user_id": args.user, "task": "sync", "date": args.date,
        "collections": [c for c in args.collections.split(",") if c],
    }, separators=(",", ":"))
    kwargs = {"QueueUrl": queue["url"], "MessageBody": body}
    if queue.get("fifo"):
        kwargs["MessageGroupId"] = args.group or f"{args.provider}#{args.user}"
        kwargs["MessageDeduplicationId"] = hashlib.sha256(body.encode()).hexdigest()
    elif args.delay:
        kwargs["DelaySeconds"] = args.delay
    sqs = boto3.client("sqs", endpoint_url=st["endpoint"], region_name=st["region"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    resp = sqs.send_message(**kwargs)
    print(f"{args.queue}: {resp['MessageId']}  {body}")


if __name__ == "__main__":
    main()
