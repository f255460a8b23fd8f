#!/usr/bin/env python3
"""Writes the sample events of the pipeline to events/ (fixed values, reproducible):

    webhook-fitbit-verify.json                 GET /webhooks/fitbit?verify=<sandbox code>
    webhook-fitbit-notification.json           POST, JSON array body, X-Fitbit-Signature
    webhook-fitbit-notification-base64.json    the same body base64-encoded (isBase64Encoded)
    webhook-google-health-verification.json   POST {"type":"verification"} with the authorization
    webhook-google-health-notification-unsigned.json  a notification without its signature (401)
    webhook-polar-activity.json                a signed ACTIVITY_SUMMARY delivery (200, one work item)
    webhook-polar-ping.json                    Polar's unsigned PING (200, nothing queued)
    webhook-polar-forged.json                  the same delivery with a forged signature (4xx)
    sqs-work-batch.json                        WorkQueue batch of 2 work items
    sqs-retry.json                             RetryQueue (FIFO) record
    daily-sync-schedule.json                   EventBridge "Scheduled Event"

    .venv/bin/python tests/local/sample_events.py     (also run by sign_link.py --write-events)

The Fitbit signature is base64(HMAC-SHA1(key = client_secret + "&", raw body bytes)) with
the sandbox's client secret, Polar's hex(HMAC-SHA256(key = webhook_signature_key, raw body
bytes)) with the key deploy.py stores, so the notification events verify against a local
deploy (deploy.py stores the sandbox credentials) and `cargo lambda invoke --data-file`
works. A `polar webhook create` against the sandbox replaces the stored key with the
sandbox's own (random) one; the next deploy.py puts this one back.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402
from gateway import http_api_event  # noqa: E402
from invoke_daily import scheduled_event  # noqa: E402

EVENTS = fbtemplate.ROOT / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
NOW = 1795291200.0  # 2026-11-21T20:00:00Z

# The sandbox's credentials (tests/sandbox), as deploy.py stores them.
CLIENT_SECRET = "sandbox-client-secret"
VERIFY_CODE = "sandbox-verify-code"

WORK_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:fitbridge-WorkQueue-4Xf2kQ9yZ1aB"
RETRY_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:fitbridge-RetryQueue-7LmP3sD8vQ2c.fifo"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/fitbridge-DailySyncFunctionDaily-1QW2E3R4T5Y6"


def fitbit_signature(body: bytes, client_secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(f"{client_secret}&".encode(), body, hashlib.sha1).digest()).decode()


# What Fitbit POSTs: a JSON array, compact, one entry per (collection, date, owner).
NOTIFICATION_BODY = json.dumps([
    {"collectionType": "activities", "date": "2026-11-20", "ownerId": "GGNJL9",
     "ownerType": "user", "subscriptionId": "GGNJL9-activities"},
    {"collectionType": "sleep", "date": "2026-11-20", "ownerId": "GGNJL9",
     "ownerType": "user", "subscriptionId": "GGNJL9-sleep"},
], separators=(",", ":")).encode()

WEBHOOK_HEADERS = [
    ("Host", HOST),
    ("X-Forwarded-For", "198.51.100.23"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Proto", "https"),
]


def webhook_event(method: str, query: str = "", body: bytes = b"", extra_headers=(),
                  *, request_id: str, base64_body: bool = False, provider: str = "fitbit") -> dict:
    headers = list(WEBHOOK_HEADERS) + list(extra_headers)
    if body:
        headers.append(("Content-Length", str(len(body))))
    ev = http_api_event(method=method, route_key=f"{method} /webhooks/{{provider}}",
                        raw_path=f"/webhooks/{provider}", raw_query=query, headers=headers,
                        body=body, path_params={"provider": provider},
                        source_ip="198.51.100.23", port=443,
                        api_id=API_ID, account_id=ACCOUNT, request_id=request_id, now=NOW)
    ev["headers"]["x-amzn-trace-id"] = "Root=1-67a0c0de-0123456789abcdef01234567"
    if base64_body:  # API Gateway may deliver any body base64-encoded
        ev["body"] = base64.b64encode(body).decode("ascii")
        ev["isBase64Encoded"] = True
    return ev


def sqs_record(body: dict, *, message_id: str, queue_arn: str, sender: str, receive_count: int = 1,
               sent: float = NOW, fifo: bool = False) -> dict:
    """A record as Lambda's SQS poller delivers it (body serialised compactly, as serde does).
    FIFO records carry the group (provider#user id, as the worker sends them) and a
    deduplication id (SHA-256 of the body, as the worker sets it)."""
    text = json.dumps(body, separators=(",", ":"))
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(int(sent * 1000)),
        "SenderId": f"AROAEXAMPLEROLEID12345:{sender}",
        "ApproximateFirstReceiveTimestamp": str(int(sent * 1000) + 37),
    }
    if fifo:
        work = body["work"]
        attributes.update({
            "MessageGroupId": f"{work['provider']}#{work['user_id']}",
            "MessageDeduplicationId": hashlib.sha256(text.encode()).hexdigest(),
            "SequenceNumber": "18890123456789012345",
        })
    return {
        "messageId": message_id,
        "receiptHandle": base64.b64encode(hashlib.sha256(message_id.encode()).digest() * 3).decode(),
        "body": text,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def polar_signature(body: bytes, key: str | None = None) -> str:
    return hmac.new((key or POLAR_SIGNATURE_KEY).encode(), body, hashlib.sha256).hexdigest()


def work_item(user_id: str, date: str, collections: list[str]) -> dict:
    return {"provider": "fitbit", "user_id": user_id, "task": "sync", "date": date,
            "collections": collections}


# Google Health: the authorization deploy.py stores for the local subscriber, and what
# Google POSTs (one notification; intervals in civil time).
GOOGLE_AUTHORIZATION = "Bearer sandbox-webhook-authorization"
GOOGLE_VERIFICATION_BODY = json.dumps({"type": "verification"}, separators=(",", ":")).encode()
GOOGLE_NOTIFICATION_BODY = json.dumps({"data": {
    "version": "1", "clientProvidedSubscriptionName": "fitbridge",
    "healthUserId": "4417291730955318562", "operation": "UPSERT", "dataType": "steps",
    "intervals": [{"civilDateTimeInterval": {
        "start": {"date": {"year": 2026, "month": 11, "day": 20}, "time": {"hours": 7}},
        "end": {"date": {"year": 2026, "month": 11, "day": 20}, "time": {"hours": 8}}}}]}},
    separators=(",", ":")).encode()


# Polar: the signing key deploy.py stores as the secret's webhook_signature_key, and what
# Polar POSTs (compact JSON; the sandbox's default person).
POLAR_SIGNATURE_KEY = "sandbox-polar-webhook-signature-key"
POLAR_ACTIVITY_BODY = json.dumps({
    "event": "ACTIVITY_SUMMARY", "user_id": 2278517, "date": "2026-11-20",
    "timestamp": "2026-11-21T19:58:12Z",
    "url": "https://www.polaraccesslink.com/v3/users/activities/2026-11-20"},
    separators=(",", ":")).encode()
POLAR_PING_BODY = json.dumps({"timestamp": "2026-11-21T19:58:00Z", "event": "PING"},
                             separators=(",", ":")).encode()


def polar_headers(event: str, signature: str | None) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json"), ("Polar-Webhook-Event", event)]
    if signature is not None:
        headers.append(("Polar-Webhook-Signature", signature))
    return headers


def events() -> dict[str, dict]:
    sig = fitbit_signature(NOTIFICATION_BODY)
    google_headers = [("Content-Type", "application/json"), ("Authorization", GOOGLE_AUTHORIZATION)]
    notify_headers = [("Content-Type", "application/json"), ("X-Fitbit-Signature", sig)]
    return {
        "webhook-fitbit-verify.json": webhook_event(
            "GET", f"verify={VERIFY_CODE}", request_id="Xk3AaBcDoAMEbVw="),
        "webhook-fitbit-notification.json": webhook_event(
            "POST", body=NOTIFICATION_BODY, extra_headers=notify_headers,
            request_id="Xk3AbCdEoAMEbWx="),
        "webhook-fitbit-notification-base64.json": webhook_event(
            "POST", body=NOTIFICATION_BODY, extra_headers=notify_headers,
            request_id="Xk3AcDeFoAMEbXy=", base64_body=True),
        # Google's probe: 201 from a local deploy (the authorization matches deploy.py's).
        "webhook-google-health-verification.json": webhook_event(
            "POST", body=GOOGLE_VERIFICATION_BODY, extra_headers=google_headers,
            request_id="Xk3AdEfGoAMEbYz=", provider="google-health"),
        # A notification without Google's ECDSA signature (the signing key is Google's, or
        # the sandbox's own per run): the webhook refuses it with 401 and queues nothing.
        "webhook-google-health-notification-unsigned.json": webhook_event(
            "POST", body=GOOGLE_NOTIFICATION_BODY, extra_headers=google_headers,
            request_id="Xk3AeFgHoAMEbZa=", provider="google-health"),
        # Checked against the webhook by a unit test (shared/src/provider/polar/webhook.rs).
        "webhook-polar-activity.json": webhook_event(
            "POST", body=POLAR_ACTIVITY_BODY,
            extra_headers=polar_headers("ACTIVITY_SUMMARY", polar_signature(POLAR_ACTIVITY_BODY)),
            request_id="Xk3AhIjKoAMEbQp=", provider="polar"),
        # Sent before anyone holds the key: answered 200 whatever its signature.
        "webhook-polar-ping.json": webhook_event(
            "POST", body=POLAR_PING_BODY, extra_headers=polar_headers("PING", None),
            request_id="Xk3AiJkLoAMEbRq=", provider="polar"),
        # Signed with another key: refused with 4xx, nothing queued.
        "webhook-polar-forged.json": webhook_event(
            "POST", body=POLAR_ACTIVITY_BODY,
            extra_headers=polar_headers("ACTIVITY_SUMMARY",
                                        polar_signature(POLAR_ACTIVITY_BODY, "not-the-key")),
            request_id="Xk3AjKlMoAMEbSr=", provider="polar"),
        "sqs-work-batch.json": {"Records": [
            sqs_record(work_item("GGNJL9", "2026-11-20", ["activities"]),
                       message_id="5b4a4e8e-2f0c-4a53-9c3e-0d6a9f1b7c21", queue_arn=WORK_QUEUE_ARN,
                       sender="fitbridge-WebhookFunction-Ab12Cd34Ef56"),
            sqs_record(work_item("GGNJL9", "2026-11-20", ["sleep"]),
                       message_id="a1f3c6d2-8b7e-4f10-9d25-6e4c3b2a1f09", queue_arn=WORK_QUEUE_ARN,
                       sender="fitbridge-WebhookFunction-Ab12Cd34Ef56", receive_count=2, sent=NOW - 400),
        ]},
        "sqs-retry.json": {"Records": [
            sqs_record({"work": work_item("GGNJL9", "2026-11-20", ["activities"]), "observed_version": 3},
                       message_id="0c2d9e7a-5f41-4b8a-a6d3-91e2f4c5b7a8", queue_arn=RETRY_QUEUE_ARN,
                       sender="fitbridge-WorkerFunction-Gh78Ij90Kl12", fifo=True),
        ]},
        "daily-sync-schedule.json": scheduled_event(
            account=ACCOUNT, region=REGION, rule_arn=RULE_ARN,
            at=datetime(2026, 11, 21, 2, 15, tzinfo=timezone.utc),
            event_id="53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"),
    }


def write_events() -> None:
    EVENTS.mkdir(exist_ok=True)
    for name, ev in events().items():
        (EVENTS / name).write_text(json.dumps(ev, indent=2) + "\n")
        print(f"wrote events/{name}", file=sys.stderr)


if __name__ == "__main__":
    write_events()
