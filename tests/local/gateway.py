#!/usr/bin/env python3
"""Local stand-in for the API Gateway HTTP API in front of the functions.

    .venv/bin/python tests/local/gateway.py [--port 9080]      (usually via gateway.sh)

ministack creates the HttpApi of the SAM template but ignores its OpenAPI body, so the API
has no routes (every request answers 404). This server plays the HTTP API instead: routes
come from the HttpApi events in infra/template.yaml, function names from .local/stack.json
(written by deploy.py; both re-read when they change). Each request becomes an API Gateway
payload format 2.0 event, is sent to the function with the Lambda Invoke API of ministack,
and the function's 2.0 response becomes the HTTP response, redirects and Set-Cookie
included (a redirect is returned, never followed). Request bodies arrive as the raw bytes
(Content-Length or chunked): as text for textual content types when they are UTF-8, else
base64 with isBase64Encoded=true; header values (Content-Type, X-Fitbit-Signature, ...) are
passed unchanged, names lower-cased.

Throttling as API Gateway does it: a token bucket per route key (burst = bucket size,
rate = tokens per second), the route's own RouteSettings or else the stage's
DefaultRouteSettings, read from the template after the SAM transform with the parameter
values of the deploy (stack.json's `parameters` over the template's defaults; the same
reading tests/local/check_limits.py holds the template to). An empty bucket answers 429
{"message":"Too Many Requests"} before any function is invoked; a path that matches no
route answers 404 without touching a bucket. Not played: the account-level throttle per
Region (10,000 requests per second), far above any local run. A function at its reserved
concurrency (the emulator throttles the Invoke) answers 500, as API Gateway answers an
integration it could not invoke.

GET /_local_gateway/health answers 200 with the route table and each route's throttle
(not an API Gateway feature).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402
from check_limits import effective_throttles  # noqa: E402
from lint_template import transformed  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError  # noqa: E402

HEALTH_PATH = "/_local_gateway/health"
MAX_BODY = 10 * 1024 * 1024  # HTTP API payload limit
# Request content types an HTTP API hands to Lambda as text; every other body (form posts
# included) arrives base64-encoded with isBase64Encoded=true.
TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}", flush=True)


def body_is_text(content_type: str | None, body: bytes) -> bool:
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if not (ct.startswith("text/") or ct in TEXT_TYPES or ct.endswith("+json") or ct.endswith("+xml")):
        return False
    try:
        body.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# The OAuth routes' query values a function must never log (states, codes, link
# signatures, customer ids), kept for tests/local/scan_logs.py. Only the local gateway
# sees them: API Gateway's access log leaves the query out.
OAUTH_VALUES = fbtemplate.LOCAL / "oauth-query-values.txt"
OAUTH_SECRET_PARAMS = {"state", "code", "sig", "ref", "legacy"}


def remember_oauth_values(raw_path: str, raw_query: str) -> None:
    if not raw_path.startswith(("/connect/", "/oauth/callback/")) or not raw_query:
        return
    values = [v for k, v in parse_qsl(raw_query) if k in OAUTH_SECRET_PARAMS and len(v) >= 8]
    if values:
        with OAUTH_VALUES.open("a", encoding="utf-8") as f:
            f.writelines(v.replace("\n", " ") + "\n" for v in values)


def http_api_event(*, method: str, route_key: str, raw_path: str, raw_query: str = "",
                   headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                   path_params: dict | None = None, source_ip: str = "127.0.0.1",
                   port: int = 9080, protocol: str = "HTTP/1.1", api_id: str = "local",
                   account_id: str = "000000000000", request_id: str | None = None,
                   now: float | None = None) -> dict:
    """An API Gateway HTTP API payload format 2.0 event, as API Gateway builds it: header
    names lower-cased and repeated headers joined with commas, Cookie headers moved to
    `cookies`, repeated query parameters joined with commas, optional keys left out when
    empty, and a body that is not text base64-encoded with isBase64Encoded=true."""
    out_headers: dict[str, str] = {}
    cookies: list[str] = []
    for k, v in headers or []:
        name = k.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in v.split(";") if c.strip())
            continue
        out_headers[name] = f"{out_headers[name]},{v}" if name in out_headers else v
    out_headers.setdefault("x-forwarded-for", source_ip)
    out_headers.setdefault("x-forwarded-proto", "http")
    out_headers.setdefault("x-forwarded-port", str(port))
    out_headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
    host = out_headers.get("host", f"127.0.0.1:{port}")

    query: dict[str, str] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v

    now = time.time() if now is None else now
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": out_headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": out_headers.get("user-agent", ""),
            },
            "requestId": request_id or base64.b64encode(secrets.token_bytes(10)).decode(),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        if body_is_text(out_headers.get("content-type"), body):
            event["body"] = body.decode("utf-8")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


class CompiledRoute:
    def __init__(self, route: fbtemplate.Route):
        self.route = route
        self.method = route.method
        self.path = route.path
        self.params: list[str] = []
        self.greedy = False
        self.literal_segments = 0
        if route.path == "$default":
            self.regex = None
            return
        parts = []
        for seg in route.path.strip("/").split("/"):
            m = re.fullmatch(r"\{([^}+]+)(\+?)\}", seg)
            if m:
                self.params.append(m.group(1))
                if m.group(2):
                    self.greedy = True
                    parts.append("(.+)")
                else:
                    parts.append("([^/]+)")
            else:
                self.literal_segments += 1
                parts.append(re.escape(seg))
        self.regex = re.compile("/" + "/".join(parts) if parts else "/")

    def match(self, method: str, path: str) -> dict | None:
        if self.regex is None:
            return {}
        if self.method not in ("ANY", method):
            return None
        m = self.regex.fullmatch(path)
        if not m:
            return None
        return {name: unquote(v) for name, v in zip(self.params, m.groups())}

    def rank(self) -> tuple:
        # Most specific first: no $default, no greedy variable, more literal segments,
        # more segments, a method over ANY.
        return (self.regex is not None, not self.greedy, self.literal_segments,
                self.path.count("/"), self.method != "ANY")


class TokenBucket:
    """API Gateway's throttle for one route key: `burst` tokens at most, refilled at `rate`
    per second, one per request; starts full."""

    __slots__ = ("rate", "burst", "tokens", "stamp", "lock")

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.stamp = self.burst, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class Registry:
    """Routes, their throttles and function names, reloaded when the template or stack.json
    changes."""

    def __init__(self, template: Path, stack_json: Path, region: str = "us-east-1"):
        self.template = template
        self.stack_json = stack_json
        self.region = region
        self._lock = threading.Lock()
        self._stamp = None
        self.routes: list[CompiledRoute] = []
        self.functions: dict[str, str] = {}
        self.stack: dict = {}
        # route key -> bucket (None: no throttle applies), and the limits it was made with.
        self.buckets: dict[str, TokenBucket | None] = {}
        self.throttles: dict[str, dict | None] = {}

    def _mtimes(self):
        return tuple(p.stat().st_mtime_ns if p.exists() else None
                     for p in (self.template, self.stack_json))

    def refresh(self) -> None:
        stamp = self._mtimes()
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            template = fbtemplate.load_template(self.template)
            routes = [CompiledRoute(r) for r in fbtemplate.routes(template)]
            routes.sort(key=lambda r: r.rank(), reverse=True)
            stack = json.loads(self.stack_json.read_text()) if self.stack_json.exists() else {}
            throttles = effective_throttles(transformed(template, self.region), template,
                                            stack.get("parameters") or {})
            buckets = {}
            for r in routes:
                key = r.route.route_key
                limits = throttles.get(key)
                if limits is None:
                    buckets[key] = None
                elif self.throttles.get(key) == limits and self.buckets.get(key) is not None:
                    buckets[key] = self.buckets[key]  # unchanged: keep its state
                else:
                    buckets[key] = TokenBucket(limits["rate"], limits["burst"])
            self.routes = routes
            self.stack = stack
            self.functions = {lid: f["name"] for lid, f in (stack.get("functions") or {}).items()}
            self.throttles = {r.route.route_key: throttles.get(r.route.route_key) for r in routes}
            self.buckets = buckets
            self._stamp = stamp
            log(f"routes: {', '.join(r.route.route_key + ' -> ' + r.route.function for r in routes)}")
            log("throttles: " + ", ".join(
                f"{key} {t['rate']:g}/s burst {t['burst']:g} ({t['source']})" if t else f"{key} none"
                for key, t in self.throttles.items()))

    def match(self, method: str, path: str):
        for r in self.routes:
            params = r.match(method, path)
            if params is not None:
                return r, params
        return None, None


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, registry: Registry, lambda_client, account_id: str):
        super().__init__(addr, Handler)
        self.registry = registry
        self.lambda_client = lambda_client
        self.account_id = account_id


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fitbridge-local-gateway"
    server: Gateway
    # TCP_NODELAY: the headers and the body go out in two writes, and with Nagle's algorithm
    # the body waited for the client's delayed ACK of the headers (~40 ms on Linux) on every
    # keep-alive request, capping one connection at ~22 requests per second.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # access log is written by _handle
        pass

    # Every method goes through the same path; HTTP APIs route on method + path.
    def do_GET(self): self._handle()
    def do_POST(self): self._handle()
    def do_PUT(self): self._handle()
    def do_PATCH(self): self._handle()
    def do_DELETE(self): self._handle()
    def do_HEAD(self): self._handle()
    def do_OPTIONS(self): self._handle()

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        names = {k.lower() for k, _ in headers}
        for k, v in headers:
            if k.lower() in ("content-length", "connection", "transfer-encoding", "date"):
                continue
            self.send_header(k, v)
        if "content-type" not in names and body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Date", formatdate(usegmt=True))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, request_id: str) -> int:
        self._send(status, [("Content-Type", "application/json"), ("apigw-requestid", request_id)],
                   json.dumps({"message": message}).encode())
        return status

    def _handle(self) -> None:
        t0 = time.time()
        request_id = base64.b64encode(secrets.token_bytes(10)).decode()  # API GW style id
        raw_path, _, raw_query = self.path.partition("?")
        try:
            body = self._read_body()
        except ValueError as e:  # too large, or a malformed chunked body
            self.close_connection = True
            too_large = "large" in str(e)
            status = self._error(413 if too_large else 400,
                                 "Request Entity Too Large" if too_large else "Bad Request", request_id)
            log(f"{self.command} {raw_path} {status} ({e})")
            return
        target = "-"
        try:
            if raw_path == HEALTH_PATH:
                reg = self.server.registry
                reg.refresh()
                status = 200
                self._send(200, [("Content-Type", "application/json")], json.dumps({
                    "routes": {r.route.route_key: reg.functions.get(r.route.function, None)
                               for r in reg.routes},
                    "throttles": reg.throttles,
                    "stack": reg.stack.get("stackName"),
                }).encode())
                return
            remember_oauth_values(raw_path, raw_query)
            status, target = self._proxy(raw_path, raw_query, body, request_id)
        except Exception as e:  # never leave a client without an answer
            log(f"internal error: {e!r}")
            status = self._error(500, "Internal Server Error", request_id)
        finally:
            if raw_path != HEALTH_PATH:
                log(f"{self.command} {self.path} -> {status} {target} "
                    f"{(time.time() - t0) * 1000:.0f} ms")

    def _read_body(self) -> bytes:
        """The request body as raw bytes: Content-Length, or Transfer-Encoding: chunked
        (decoded; API Gateway hands the function the whole body either way)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError(f"bad chunk size line {line[:40]!r}") from None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields, ignored
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _proxy(self, raw_path: str, raw_query: str, body: bytes, request_id: str):
        reg = self.server.registry
        reg.refresh()
        method = self.command
        route, path_params = reg.match(method, raw_path)
        if route is None:
            return self._error(404, "Not Found", request_id), "-"
        bucket = reg.buckets.get(route.route.route_key)
        if bucket is not None and not bucket.take():
            return self._error(429, "Too Many Requests", request_id), "throttled"
        function = reg.functions.get(route.route.function)
        if not function:
            log(f"no deployed function for {route.route.function} (run deploy.py)")
            return self._error(500, "Internal Server Error", request_id), route.route.function

        event = self._event(route, path_params, raw_path, raw_query, body, request_id)
        try:
            resp = self.server.lambda_client.invoke(
                FunctionName=function, InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(), LogType="Tail")
        except ReadTimeoutError:
            return self._error(503, "Service Unavailable", request_id), function
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "TooManyRequestsException":
                log(f"invoke {function} throttled by Lambda (reserved concurrency): {e}")
                return self._error(500, "Internal Server Error", request_id), function
            log(f"invoke {function} failed: {e}")
            return self._error(502, "Bad Gateway (Lambda Invoke failed; is ministack up?)", request_id), function
        except BotoCoreError as e:
            log(f"invoke {function} failed: {e}")
            return self._error(502, "Bad Gateway (Lambda Invoke failed; is ministack up?)", request_id), function
        payload = resp["Payload"].read()
        if resp.get("FunctionError"):
            tail = base64.b64decode(resp.get("LogResult") or b"").decode(errors="replace")
            log(f"{function} failed ({resp['FunctionError']}): {payload[:500]!r}\n{tail}")
            return self._error(500, "Internal Server Error", request_id), function
        return self._respond(payload, request_id, function), function

    def _event(self, route: CompiledRoute, path_params: dict, raw_path: str, raw_query: str,
               body: bytes, request_id: str) -> dict:
        reg = self.server.registry
        return http_api_event(
            method=self.command,
            route_key=route.route.route_key,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=body,
            path_params=path_params,
            source_ip=self.client_address[0],
            port=self.server.server_address[1],
            protocol=self.request_version,
            api_id=(reg.stack.get("apis") or {}).get(route.route.api, "local"),
            account_id=self.server.account_id,
            request_id=request_id,
        )

    def _respond(self, payload: bytes, request_id: str, function: str) -> int:
        try:
            result = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            log(f"{function} returned a payload that is not JSON")
            return self._error(500, "Internal Server Error", request_id)

        headers: list[tuple[str, str]] = []
        if not (isinstance(result, dict) and "statusCode" in result):
            # Format 2.0 without statusCode: the payload itself is the JSON body.
            body = payload if not isinstance(result, str) else result.encode()
            headers.append(("Content-Type", "application/json"))
            headers.append(("apigw-requestid", request_id))
            self._send(200, headers, body)
            return 200

        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            log(f"{function} returned a bad statusCode {result.get('statusCode')!r}")
            return self._error(500, "Internal Server Error", request_id)
        for k, v in (result.get("headers") or {}).items():
            headers.append((str(k), str(v)))
        if result.get("multiValueHeaders"):
            log(f"warning: {function} returned multiValueHeaders, which HTTP APIs ignore "
                "(use headers and cookies)")
        for c in result.get("cookies") or []:
            headers.append(("Set-Cookie", str(c)))
        headers.append(("apigw-requestid", request_id))

        raw = result.get("body")
        if raw is None:
            body = b""
        elif result.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw)
            except (ValueError, TypeError):
                log(f"{function} returned isBase64Encoded with a body that is not base64")
                return self._error(500, "Internal Server Error", request_id)
        elif isinstance(raw, str):
            body = raw.encode("utf-8")
        else:
            body = json.dumps(raw).encode()
        self._send(status, headers, body)
        return status


def main() -> None:
    ap = argparse.ArgumentParser(description="local API Gateway HTTP API (payload 2.0) shim")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT_LOCAL", "9080")))
    ap.add_argument("--template", type=Path, default=fbtemplate.TEMPLATE)
    ap.add_argument("--stack-json", type=Path, default=fbtemplate.STACK_JSON)
    args = ap.parse_args()

    registry = Registry(args.template, args.stack_json, os.environ.get("FB_REGION", "us-east-1"))
    registry.refresh()
    stack = registry.stack
    endpoint = stack.get("endpoint") or f"http://127.0.0.1:{os.environ.get('MINISTACK_PORT', '4566')}"
    region = stack.get("region") or os.environ.get("FB_REGION", "us-east-1")
    lambda_client = boto3.client(
        "lambda", endpoint_url=endpoint, region_name=region,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"},  # never re-invoke
                      read_timeout=35, connect_timeout=5, max_pool_connections=64))
    server = Gateway((args.host, args.port), registry, lambda_client, stack.get("accountId", "000000000000"))
    log(f"gateway listening on http://{args.host}:{args.port} -> Lambda at {endpoint} ({region})")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
