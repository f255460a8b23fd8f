#!/usr/bin/env python3
"""Signed connect links for the local stack (what the company's app would hand out).

    .venv/bin/python tests/local/sign_link.py --ref C-1042             # URL via the gateway
    .venv/bin/python tests/local/sign_link.py --ref C-1042 --event     # HTTP API v2 event
    .venv/bin/python tests/local/sign_link.py --write-events           # regenerate events/*.json
                                                                       # (with sample_events.py)

The key is the connect-link key of the last deploy (.local/stack.json) unless --key is
given. Signature (shared/src/domain/link.rs):
    sig = base64url_nopad(HMAC-SHA256(key,
        "v2\\n" + provider + "\\n" + ref + "\\n" + legacy + "\\n" + issued + "\\n" + expires))
(an absent ref or legacy id is the empty string; a link lives at most 90 days from issued).

--write-events writes the sample events of events/ with fixed values; the signed one is
signed with EXAMPLE_KEY, so it verifies only against a stack deployed with
`deploy.py --connect-link-key local-example-connect-link-key`, and only in the 90 days
after EXAMPLE_ISSUED: it shows the shape; `--event` makes a live one.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402
from gateway import http_api_event  # noqa: E402

EXAMPLE_KEY = "local-example-connect-link-key"
EXAMPLE_ISSUED = 1796601600  # 2026-12-07T00:00:00Z
EXAMPLE_EXPIRES = EXAMPLE_ISSUED + 90 * 86400
EVENTS = fbtemplate.ROOT / "events"


def sign(key: str, provider: str, customer_ref: str, legacy: str, issued: int,
         expires: int) -> str:
    msg = f"v2\n{provider}\n{customer_ref}\n{legacy}\n{issued}\n{expires}".encode()
    digest = hmac.new(key.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_query(key: str, provider: str, customer_ref: str, issued: int, expires: int) -> str:
    return urlencode({"ref": customer_ref, "issued": str(issued), "expires": str(expires),
                      "sig": sign(key, provider, customer_ref, "", issued, expires)})


SAMPLE_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
BROWSER_HEADERS = [
    ("Host", SAMPLE_HOST),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "de-DE,de;q=0.9,en;q=0.8"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("X-Forwarded-For", "203.0.113.10"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Proto", "https"),
]


def sample_event(route_key: str, path: str, query: str, provider: str, *,
                 cookies: str | None = None, request_id: str, now: float) -> dict:
    headers = list(BROWSER_HEADERS)
    if cookies:
        headers.append(("Cookie", cookies))
    ev = http_api_event(method="GET", route_key=route_key, raw_path=path, raw_query=query,
                        headers=headers, path_params={"provider": provider},
                        source_ip="203.0.113.10", port=443, protocol="HTTP/1.1",
                        api_id="a1b2c3d4e5", account_id="123456789012",
                        request_id=request_id, now=now)
    ev["headers"]["x-amzn-trace-id"] = "Root=1-67a0c0de-0123456789abcdef01234567"
    return ev


def write_events() -> None:
    now = 1795291200.0  # 2026-11-21T20:00:00Z
    connect = "GET /connect/{provider}"
    callback = "GET /oauth/callback/{provider}"
    # state and code look like what the oauth function and Fitbit produce; they only
    # complete a flow whose state the function stored itself.
    state = "Qm9ndXNTdGF0ZUZvckV4YW1wbGVPbmx5MDEyMzQ1Njc4OQ"
    # The browser binding the connect start set (43 base64url characters).
    browser = "__Host-fitbridge-connect=QnJvd3NlckJpbmRpbmdGb3JFeGFtcGxlT25seTAxMjM"
    events = {
        "connect-fitbit.json": sample_event(
            connect, "/connect/fitbit", "", "fitbit", request_id="Xk2GajXLoAMEbVw=", now=now),
        "connect-fitbit-signed-ref.json": sample_event(
            connect, "/connect/fitbit", link_query(EXAMPLE_KEY, "fitbit", "C-1042", EXAMPLE_ISSUED, EXAMPLE_EXPIRES),
            "fitbit", request_id="Xk2GbiMpoAMEbPQ=", now=now),
        "oauth-callback-fitbit.json": sample_event(
            callback, "/oauth/callback/fitbit",
            urlencode({"code": "4f7a9c1e2b3d4a5f6e7d8c9b0a1f2e3d4c5b6a79", "state": state}),
            "fitbit", cookies=browser, request_id="Xk2GcjBJoAMEbQg=", now=now + 20),
        "oauth-callback-fitbit-denied.json": sample_event(
            callback, "/oauth/callback/fitbit",
            urlencode({"error": "access_denied", "error_description": "The user denied the request.",
                       "state": state}),
            "fitbit", cookies=browser, request_id="Xk2GdhTNoAMEbRA=", now=now + 20),
        "connect-google-health.json": sample_event(
            connect, "/connect/google-health",
            link_query(EXAMPLE_KEY, "google-health", "C-1042", EXAMPLE_ISSUED, EXAMPLE_EXPIRES),
            "google-health", request_id="Xk2GekVQoAMEbSg=", now=now),
        "oauth-callback-google-health.json": sample_event(
            callback, "/oauth/callback/google-health",
            urlencode({"code": "4/0AVGzR1Bexample-sandbox-code", "state": state,
                       "scope": "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"}),
            "google-health", cookies=browser, request_id="Xk2GflWSoAMEbTw=", now=now + 20),
        "connect-polar.json": sample_event(
            connect, "/connect/polar",
            link_query(EXAMPLE_KEY, "polar", "C-1042", EXAMPLE_ISSUED, EXAMPLE_EXPIRES),
            "polar", request_id="Xk2GgmXToAMEbUx=", now=now),
        # Polar's callback carries only code and state (no PKCE, no scope).
        "oauth-callback-polar.json": sample_event(
            callback, "/oauth/callback/polar",
            urlencode({"code": "b5d8e1c4a7f0", "state": state}),
            "polar", cookies=browser, request_id="Xk2GhnYUoAMEbVy=", now=now + 20),
    }
    EVENTS.mkdir(exist_ok=True)
    for name, ev in events.items():
        (EVENTS / name).write_text(json.dumps(ev, indent=2) + "\n")
        print(f"wrote events/{name}", file=sys.stderr)
    import sample_events  # the webhook, queue and schedule events

    sample_events.write_events()


def main() -> None:
    ap = argparse.ArgumentParser(description="signed connect links for the local stack")
    ap.add_argument("--ref", help="customer id to carry (signed)")
    ap.add_argument("--provider", default="fitbit")
    ap.add_argument("--ttl", type=int, default=900, help="seconds until the link expires")
    ap.add_argument("--key", help="HMAC key (default: the last deploy's, from .local/stack.json)")
    ap.add_argument("--base-url", help="default: the gateway URL of the last deploy")
    ap.add_argument("--event", action="store_true", help="print an HTTP API v2 event instead of a URL")
    ap.add_argument("--write-events", action="store_true", help="regenerate events/*.json")
    args = ap.parse_args()

    if args.write_events:
        write_events()
        return
    stack = fbtemplate.load_stack_json() if fbtemplate.STACK_JSON.exists() else {}
    base = (args.base_url or stack.get("gatewayUrl") or "http://127.0.0.1:9080").rstrip("/")
    path = f"/connect/{args.provider}"
    query = ""
    if args.ref:
        key = args.key or stack.get("connectLinkKey")
        if not key:
            sys.exit("error: no key: deploy first or pass --key")
        now = int(time.time())
        query = link_query(key, args.provider, args.ref, now, now + args.ttl)
    if args.event:
        host = base.split("://", 1)[-1]
        ev = http_api_event(method="GET", route_key="GET /connect/{provider}", raw_path=path,
                            raw_query=query, headers=[("Host", host), ("User-Agent", "sign_link.py")],
                            path_params={"provider": args.provider},
                            api_id=(stack.get("apis") or {}).get("HttpApi", "local"))
        print(json.dumps(ev, indent=2))
    else:
        print(f"{base}{path}" + (f"?{query}" if query else ""))


if __name__ == "__main__":
    main()
