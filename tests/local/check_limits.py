#!/usr/bin/env python3
"""Holds infra/template.yaml to its request limits, read as CloudFormation sees it after the
SAM transform. Exits non-zero on any finding.

    .venv/bin/python tests/local/check_limits.py [--template PATH]
    .venv/bin/python tests/local/check_limits.py --self-test     # also: every broken copy fails
    .venv/bin/python tests/local/check_limits.py --write-variant shared-route OUT.json

Rules, for every HTTP API stage of the stack:
  - every route has a finite throttle: its own RouteSettings (burst and rate) or the stage's
    DefaultRouteSettings; a value is a positive literal or a Number parameter with a
    positive default, MinValue >= 1 and a MaxValue (no deploy can lift or zero it);
  - every webhook route (a path under /webhooks/) has RouteSettings of its own: a token
    bucket per provider, so a flood at one provider's URL cannot refuse another's genuine
    deliveries. No webhook route has a path parameter (one generic /webhooks/{provider}
    route is one bucket for every provider, the finding this rule exists for);
  - every RouteSettings key names a route of the API (AWS refuses the stage otherwise);
  - no function URL (a public endpoint no API Gateway throttle covers);
  - every function behind a webhook route has ReservedConcurrentExecutions >= 1 (a floor
    and a ceiling of its own: a flood cannot take the account's concurrency from the
    worker, nor anything else starve the webhook), and at least what its routes' limits
    can drive (their rates' sum x WEBHOOK_P99_SECONDS): else the reservation, which all
    its routes share, becomes the bottleneck the route throttles were meant to remove;
  - alarms on the webhook routes' 429 share and 4xx share exist: metric filters on the
    stage's access log count the webhook requests, their 4xx and their 429 answers, and an
    alarm divides each by the requests (metric math, a share rather than a count). The
    filters are run against access-log lines rendered from the stage's own Format, so a
    renamed field or a pattern that matches nothing fails here, not silently in production.

--self-test checks the real template passes and that each broken copy (VARIANTS: the
throttle, a route's own settings, the reserved concurrency or an alarm removed, the old
shared route layout, ...) fails with the finding it is about.

The local gateway (gateway.py) enforces the throttles effective_throttles() reads here.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402
from check_iam import as_list, ref_of, render  # noqa: E402
from lint_template import transformed  # noqa: E402

WEBHOOK_PREFIX = "/webhooks/"
# What a webhook invocation is planned to take at the 99th percentile (the handler's own
# work is well under a millisecond; one SQS SendMessageBatch and, rarely, a cold start or a
# keyset fetch make the rest). Reserved concurrency below the route limits' total rate
# times this makes the reservation, which every webhook route shares, the bottleneck: a
# flood on one provider's route would then fail the other's deliveries with 5xx.
WEBHOOK_P99_SECONDS = 0.1
# API Gateway's account-level throttle per Region (default quota): a route limit above it
# is no limit at all.
ACCOUNT_RATE, ACCOUNT_BURST = 10000, 5000
ANY_METHOD = "x-amazon-apigateway-any-method"


# --- reading the transformed template ---------------------------------------------------

def api_routes(resources: dict) -> dict[str, list[tuple[str, str | None]]]:
    """HTTP API logical id -> [(route key, logical id of the function it invokes)], from the
    OpenAPI body SAM writes and from AWS::ApiGatewayV2::Route resources."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for lid, res in resources.items():
        if res.get("Type") != "AWS::ApiGatewayV2::Api":
            continue
        props = res.get("Properties") or {}
        if props.get("ProtocolType", "HTTP") != "HTTP" and "Body" not in props:
            continue
        routes = out.setdefault(lid, [])
        for path, methods in ((props.get("Body") or {}).get("paths") or {}).items():
            for method, op in (methods or {}).items():
                if not isinstance(op, dict) or "x-amazon-apigateway-integration" not in op:
                    continue
                key = "$default" if path == "$default" else \
                    f"{'ANY' if method == ANY_METHOD else method.upper()} {path}"
                uri = render(op["x-amazon-apigateway-integration"].get("uri"))
                m = re.search(r"\$\{(\w+)\.Arn\}", uri)
                routes.append((key, m.group(1) if m else None))
    for res in resources.values():
        if res.get("Type") == "AWS::ApiGatewayV2::Route":
            p = res.get("Properties") or {}
            out.setdefault(ref_of(p.get("ApiId")), []).append((render(p.get("RouteKey")), None))
    return out


def stages(resources: dict) -> dict[str, tuple[str, dict]]:
    """Stage logical id -> (API logical id, properties)."""
    return {lid: (ref_of((res.get("Properties") or {}).get("ApiId")), res.get("Properties") or {})
            for lid, res in resources.items() if res.get("Type") == "AWS::ApiGatewayV2::Stage"}


def number(value, template: dict, params: dict[str, str] | None = None):
    """(value as a float or None, problem or None) of a literal or a Ref to a parameter, with
    the deployed parameter values `params` over the template's defaults."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), (None if value > 0 else f"{value} is not positive")
    if isinstance(value, str):
        try:
            v = float(value)
        except ValueError:
            return None, f"{value!r} is not a number"
        return v, (None if v > 0 else f"{value} is not positive")
    name = ref_of(value)
    spec = ((template.get("Parameters") or {}).get(name)) if isinstance(value, dict) and "Ref" in value else None
    if spec is None:
        return None, f"{render(value)} is neither a number nor a template parameter"
    if params and name in params:
        raw = params[name]
    elif "Default" in spec:
        raw = spec["Default"]
    else:
        return None, f"parameter {name} has no default"
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return None, f"parameter {name} = {raw!r} is not a number"
    if spec.get("Type") != "Number":
        return v, f"parameter {name} is not of Type Number"
    if float(spec.get("MinValue", 0)) < 1:
        return v, f"parameter {name} has no MinValue >= 1 (a deploy could set 0)"
    if "MaxValue" not in spec:
        return v, f"parameter {name} has no MaxValue (a deploy could lift the limit)"
    return v, (None if v > 0 else f"parameter {name} = {raw} is not positive")


def throttle(settings: dict | None, template: dict, params: dict[str, str] | None = None):
    """((rate, burst), problems) of a RouteSettings/DefaultRouteSettings entry; (None, ...)
    when it sets no throttle at all."""
    settings = settings or {}
    if "ThrottlingRateLimit" not in settings and "ThrottlingBurstLimit" not in settings:
        return None, []
    problems = []
    rate, p1 = number(settings.get("ThrottlingRateLimit"), template, params) \
        if "ThrottlingRateLimit" in settings else (None, "no ThrottlingRateLimit")
    burst, p2 = number(settings.get("ThrottlingBurstLimit"), template, params) \
        if "ThrottlingBurstLimit" in settings else (None, "no ThrottlingBurstLimit")
    problems += [p for p in (p1, p2) if p]
    if rate is not None and rate > ACCOUNT_RATE:
        problems.append(f"rate {rate:g}/s is above the account's {ACCOUNT_RATE}/s")
    if burst is not None and burst > ACCOUNT_BURST:
        problems.append(f"burst {burst:g} is above the account's {ACCOUNT_BURST}")
    return (rate, burst), problems


def effective_throttles(out: dict, template: dict, params: dict[str, str] | None = None) -> dict:
    """route key -> {"rate", "burst", "source": "route" | "stage default"} for every route of
    every HTTP API stage (None where no throttle applies): what API Gateway enforces, a
    token bucket per route key. The local gateway enforces these. `out` is the transformed
    template, `template` the one written (its Parameters), `params` the deployed values."""
    resources = out.get("Resources") or {}
    routes = api_routes(resources)
    result: dict[str, dict | None] = {}
    for _, (api, props) in stages(resources).items():
        default, _ = throttle(props.get("DefaultRouteSettings"), template, params)
        own = props.get("RouteSettings") or {}
        for key, _fn in routes.get(api, []):
            limits, _ = throttle(own.get(key), template, params)
            if limits and None not in limits:
                result[key] = {"rate": limits[0], "burst": limits[1], "source": "route"}
            elif default and None not in default:
                result[key] = {"rate": default[0], "burst": default[1], "source": "stage default"}
            else:
                result[key] = None
    return result


# --- CloudWatch Logs JSON filter patterns (the subset the template uses) ------------------

_TOKEN = re.compile(r'\s*(\(|\)|&&|\|\||\$\.[\w.]+|!=|=|"(?:[^"\\]|\\.)*"|[^\s()&|"=!]+)')


def filter_matcher(pattern: str):
    """A function (dict) -> bool for a JSON filter pattern `{ ... }` made of
    `$.field = "value"` / `!=` terms (a value may end in `*`), `&&`, `||` and parentheses.
    Anything else raises ValueError."""
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not a JSON filter pattern: {pattern!r}")
    tokens, pos, body = [], 0, text[1:-1]
    while pos < len(body.rstrip()):
        m = _TOKEN.match(body, pos)
        if not m:
            raise ValueError(f"cannot read {body[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()

    def expr(i):
        left, i = term(i)
        while i < len(tokens) and tokens[i] in ("&&", "||"):
            op = tokens[i]
            right, i = term(i + 1)
            left = (lambda a, b: lambda e: a(e) and b(e))(left, right) if op == "&&" else \
                (lambda a, b: lambda e: a(e) or b(e))(left, right)
        return left, i

    def term(i):
        if tokens[i] == "(":
            inner, i = expr(i + 1)
            if tokens[i] != ")":
                raise ValueError("unbalanced parentheses")
            return inner, i + 1
        field, op, value = tokens[i], tokens[i + 1], tokens[i + 2]
        if not field.startswith("$.") or op not in ("=", "!="):
            raise ValueError(f"unsupported term {field} {op} {value}")
        value = value[1:-1] if value.startswith('"') else value
        rx = re.compile(re.escape(value).replace(r"\*", ".*") + r"\Z", re.S)
        path = field[2:].split(".")

        def get(e):
            for part in path:
                e = e.get(part) if isinstance(e, dict) else None
            return e

        if op == "=":
            return (lambda e: get(e) is not None and bool(rx.match(str(get(e))))), i + 3
        return (lambda e: get(e) is None or not rx.match(str(get(e)))), i + 3

    fn, end = expr(0)
    if end != len(tokens):
        raise ValueError(f"unexpected {tokens[end]!r}")
    return fn


def access_log_line(fmt: str, route_key: str, status: int) -> dict:
    """An access-log line as API Gateway writes it with this Format (JSON): the request's
    routeKey and status filled in, every other $context variable a placeholder."""
    values = {"$context.routeKey": route_key, "$context.status": str(status)}
    text = re.sub(r"\$context\.[\w.]+", lambda m: values.get(m.group(0), "-"), fmt)
    return json.loads(text)


# --- the rules ----------------------------------------------------------------------------

def findings(template: dict, region: str = "us-east-1") -> tuple[list[str], list[str]]:
    """(passes, failures) of the rules for a template as written (a dict)."""
    passes, failures = [], []
    ok, fail = passes.append, failures.append
    try:
        out = transformed(template, region)
    except Exception as e:  # the translator's InvalidDocumentException lists every cause
        causes = getattr(e, "causes", None) or [e]
        return passes, ["SAM transform: " + "; ".join(str(c) for c in causes)]
    resources = out.get("Resources") or {}
    routes = api_routes(resources)
    webhook_functions: set[str] = set()
    access_logs: list[tuple[str, str, str, list[str]]] = []  # (stage, log group, format, webhook keys)

    if not stages(resources):
        fail("no HTTP API stage: nothing throttles the public routes")
    for stage, (api, props) in stages(resources).items():
        default, problems = throttle(props.get("DefaultRouteSettings"), template)
        for p in problems:
            fail(f"{stage} DefaultRouteSettings: {p}")
        own = props.get("RouteSettings") or {}
        keys = {key for key, _ in routes.get(api, [])}
        for key in sorted(set(own) - keys):
            fail(f"{stage} RouteSettings {key!r}: no such route (AWS refuses the stage)")
        webhook_keys = []
        for key, fn in sorted(routes.get(api, [])):
            path = key.split(" ", 1)[-1]
            limits, problems = throttle(own.get(key), template)
            for p in problems:
                fail(f"{stage} {key}: {p}")
            if path.startswith(WEBHOOK_PREFIX):
                webhook_keys.append(key)
                if fn:
                    webhook_functions.add(fn)
                if "{" in path:
                    fail(f"{stage} {key}: a webhook route with a path parameter is one throttle "
                         "bucket for every provider; give each provider its own route")
                if limits is None:
                    fail(f"{stage} {key}: a webhook route without RouteSettings of its own "
                         "shares the stage default with the other routes' floods")
                elif not problems:
                    ok(f"{stage} {key}: own throttle {limits[0]:g}/s, burst {limits[1]:g}")
            elif limits is not None:
                if not problems:
                    ok(f"{stage} {key}: own throttle {limits[0]:g}/s, burst {limits[1]:g}")
            elif default is None:
                fail(f"{stage} {key}: no throttle (no RouteSettings, no DefaultRouteSettings)")
            elif None not in default:
                ok(f"{stage} {key}: stage default throttle {default[0]:g}/s, burst {default[1]:g}")
        settings = props.get("AccessLogSettings") or {}
        if webhook_keys:
            group = ref_of(settings.get("DestinationArn"))
            if not group or not settings.get("Format"):
                fail(f"{stage}: no access log, so no count of the webhook routes' 4xx and 429")
            else:
                access_logs.append((stage, group, settings["Format"], webhook_keys))

    for lid, res in resources.items():
        if res.get("Type") == "AWS::Lambda::Url":
            fail(f"{lid}: a function URL is a public endpoint without any throttle; serve it "
                 "through the HTTP API")
    if not webhook_functions:
        fail("no webhook route invokes a function of the stack")
    for fn in sorted(webhook_functions):
        props = (resources.get(fn) or {}).get("Properties") or {}
        if "ReservedConcurrentExecutions" not in props:
            fail(f"{fn}: no ReservedConcurrentExecutions (a flood can take the account's "
                 "concurrency, and the account can starve the webhook)")
            continue
        value, problem = number(props["ReservedConcurrentExecutions"], template)
        if problem and value is None:
            fail(f"{fn}: ReservedConcurrentExecutions {problem}")
        elif value is not None and value < 1:
            fail(f"{fn}: ReservedConcurrentExecutions {value:g} disables the function")
        elif problem and "MaxValue" not in problem:
            fail(f"{fn}: ReservedConcurrentExecutions {problem}")
        else:
            drive = sum(t["rate"] for key, t in effective_throttles(out, template).items()
                        if t and any(k == key and f == fn for keys in routes.values()
                                     for k, f in keys))
            need = drive * WEBHOOK_P99_SECONDS
            if value < need:
                fail(f"{fn}: reserved concurrency {value:g} is below what its routes' limits "
                     f"drive ({drive:g}/s x {WEBHOOK_P99_SECONDS:g} s = {need:g}): the "
                     "reservation they share would refuse deliveries the routes let through")
            else:
                ok(f"{fn}: reserved concurrency {value:g} (its routes' limits drive "
                   f"{drive:g}/s x {WEBHOOK_P99_SECONDS:g} s = {need:g})")

    for stage, group, fmt, webhook_keys in access_logs:
        alarm_rules(resources, stage, group, fmt, webhook_keys, routes, ok, fail)
    return passes, failures


def alarm_rules(resources, stage, group, fmt, webhook_keys, routes, ok, fail) -> None:
    try:
        samples = []  # (line, is_webhook, status)
        other_keys = [k for keys in routes.values() for k, _ in keys if k not in webhook_keys]
        for key in webhook_keys:
            for status in (200, 201, 204, 400, 401, 403, 404, 429, 500, 503):
                samples.append((access_log_line(fmt, key, status), True, status))
        for key in other_keys + ["-"]:
            for status in (302, 404, 429, 500):
                samples.append((access_log_line(fmt, key, status), False, status))
    except ValueError as e:
        fail(f"{stage}: the access log Format is not JSON ({e})")
        return
    wanted = {
        "requests": lambda web, status: web,
        "4xx": lambda web, status: web and 400 <= status < 500,
        "429": lambda web, status: web and status == 429,
    }
    metric_of: dict[str, set[tuple[str, str]]] = {k: set() for k in wanted}
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Logs::MetricFilter":
            continue
        p = res.get("Properties") or {}
        if ref_of(p.get("LogGroupName")) != group:
            continue
        try:
            match = filter_matcher(render(p.get("FilterPattern")))
        except ValueError as e:
            fail(f"{lid}: filter pattern not understood here ({e})")
            continue
        hits = [(web, status) for line, web, status in samples if match(line)]
        for kind, want in wanted.items():
            if set(hits) == {(web, status) for _, web, status in samples if want(web, status)}:
                for t in as_list(p.get("MetricTransformations")):
                    if str(t.get("MetricValue")) == "1":
                        metric_of[kind].add((render(t.get("MetricNamespace")), render(t.get("MetricName"))))
    for kind, metrics in metric_of.items():
        if metrics:
            ok(f"{stage}: webhook {kind} counted from the access log as "
               f"{', '.join(sorted(n for _, n in metrics))}")
        else:
            fail(f"{stage}: no metric filter on {group} counts exactly the webhook routes' {kind} "
                 "(checked against access-log lines in the stage's Format)")
    for kind in ("429", "4xx"):
        alarms = share_alarms(resources, metric_of[kind], metric_of["requests"])
        if alarms:
            ok(f"webhook {kind} share alarm: {', '.join(alarms)}")
        else:
            fail(f"no alarm on the share of webhook requests answered {kind} (metric math: the "
                 f"{kind} count divided by the webhook requests)")


def share_alarms(resources: dict, numerators: set, denominators: set) -> list[str]:
    """Alarms whose returned expression divides a numerator metric by a denominator metric."""
    found = []
    for lid, res in resources.items():
        if res.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        metrics = as_list((res.get("Properties") or {}).get("Metrics"))
        ids = {}
        for m in metrics:
            stat = (m.get("MetricStat") or {}).get("Metric") or {}
            if stat:
                ids[m.get("Id")] = (render(stat.get("Namespace")), render(stat.get("MetricName")))
        for m in metrics:
            expr = render(m.get("Expression")) if m.get("Expression") else ""
            if not expr or m.get("ReturnData") is False:
                continue
            for num in [i for i, metric in ids.items() if metric in numerators]:
                for den in [i for i, metric in ids.items() if metric in denominators]:
                    if re.search(rf"\b{re.escape(num)}\s*/\s*{re.escape(den)}\b", expr):
                        found.append(lid)
    return sorted(set(found))


# --- broken copies ------------------------------------------------------------------------

def _webhook_function(tpl: dict) -> str:
    for lid, fn in fbtemplate.functions(tpl).items():
        if any(r.path.startswith(WEBHOOK_PREFIX) for r in fn.routes):
            return lid
    raise SystemExit("no function with a /webhooks/ route in the template")


def _http_api(tpl: dict) -> dict:
    for res in tpl["Resources"].values():
        if res.get("Type") == "AWS::Serverless::HttpApi":
            return res.setdefault("Properties", {})
    raise SystemExit("no AWS::Serverless::HttpApi in the template")


def _shared_route(tpl):
    """The layout the security review found: one /webhooks/{provider} route per method for
    every provider, throttled by the stage default only."""
    fn = tpl["Resources"][_webhook_function(tpl)]["Properties"]
    api = {"Ref": "HttpApi"}
    for ev in fn["Events"].values():
        if ev.get("Type") == "HttpApi":
            api = ev["Properties"].get("ApiId", api)
    fn["Events"] = {
        name: {"Type": "HttpApi", "Properties": {"ApiId": api, "Method": method,
                                                 "Path": "/webhooks/{provider}",
                                                 "PayloadFormatVersion": "2.0"}}
        for name, method in (("Verify", "GET"), ("Notify", "POST"))}
    _http_api(tpl).pop("RouteSettings", None)


def _drop_alarm(metric: str):
    def mutate(tpl):
        for lid in [lid for lid, r in tpl["Resources"].items()
                    if r.get("Type") == "AWS::CloudWatch::Alarm" and metric in json.dumps(r)]:
            del tpl["Resources"][lid]
    return mutate


def _count_not_share(tpl):
    for r in tpl["Resources"].values():
        if r.get("Type") == "AWS::CloudWatch::Alarm" and "WebhookThrottled" in json.dumps(r):
            props = r["Properties"]
            props.pop("Metrics")
            props.update({"Namespace": {"Fn::Sub": "fitbridge/${AWS::StackName}"},
                          "MetricName": "WebhookThrottled", "Statistic": "Sum", "Period": 300})


def _log_field_renamed(tpl):
    settings = _http_api(tpl)["AccessLogSettings"]
    settings["Format"] = settings["Format"].replace('"status":', '"httpStatus":')


def _new_provider(tpl):
    fn = tpl["Resources"][_webhook_function(tpl)]["Properties"]
    # A provider the template does not serve yet (Polar's route is in it now).
    fn["Events"]["GarminNotify"] = {"Type": "HttpApi", "Properties": {
        "ApiId": {"Ref": "HttpApi"}, "Method": "POST", "Path": "/webhooks/garmin",
        "PayloadFormatVersion": "2.0"}}


def _first_route_setting(tpl):
    return next(iter(_http_api(tpl)["RouteSettings"].values()))


# name -> (what it breaks, mutation of the template as written, text a finding must contain)
VARIANTS = {
    "shared-route": ("the old layout: one /webhooks/{provider} route for both providers",
                     _shared_route, "path parameter"),
    "no-route-settings": ("the webhook routes' own throttles removed",
                          lambda t: _http_api(t).pop("RouteSettings"), "without RouteSettings"),
    "no-default-throttle": ("the stage default throttle removed (the OAuth routes)",
                            lambda t: _http_api(t).pop("DefaultRouteSettings"), "no throttle"),
    "rate-only": ("a route setting without its burst limit",
                  lambda t: _first_route_setting(t).pop("ThrottlingBurstLimit"),
                  "no ThrottlingBurstLimit"),
    "unbounded-parameter": ("a throttle parameter without a MaxValue",
                            lambda t: t["Parameters"]["ApiThrottlingRateLimit"].pop("MaxValue"),
                            "no MaxValue"),
    "stale-route-setting": ("route settings for a route that does not exist",
                            lambda t: _http_api(t)["RouteSettings"].update(
                                {"POST /webhooks/gone": {"ThrottlingBurstLimit": 1,
                                                         "ThrottlingRateLimit": 1}}),
                            "no such route"),
    "new-provider": ("a provider's webhook route added without its own throttle",
                     _new_provider, "POST /webhooks/garmin: a webhook route without"),
    "function-url": ("a public function URL beside the API",
                     lambda t: t["Resources"][_webhook_function(t)]["Properties"].update(
                         {"FunctionUrlConfig": {"AuthType": "NONE"}}),
                     "function URL"),
    "no-reserved-concurrency": ("the webhook's reserved concurrency removed",
                                lambda t: t["Resources"][_webhook_function(t)]["Properties"]
                                .pop("ReservedConcurrentExecutions"),
                                "no ReservedConcurrentExecutions"),
    "reservation-below-routes": ("reserved concurrency below what the route limits drive",
                                 lambda t: t["Parameters"]["WebhookReservedConcurrency"]
                                 .update({"Default": 5}),
                                 "below what its routes' limits drive"),
    "no-429-alarm": ("the webhook 429 alarm removed", _drop_alarm("WebhookThrottled"),
                     "answered 429"),
    "no-4xx-alarm": ("the webhook 4xx alarm removed", _drop_alarm("WebhookClientErrors"),
                     "answered 4xx"),
    "count-not-share": ("the 429 alarm on a count instead of a share", _count_not_share,
                        "answered 429"),
    "log-field-renamed": ("the access log's status field renamed (the filters match nothing)",
                          _log_field_renamed, "counts exactly"),
}


def variant(template: dict, name: str) -> dict:
    tpl = copy.deepcopy(template)
    VARIANTS[name][1](tpl)
    return tpl


def self_test(template: dict, region: str) -> bool:
    passes, failures = findings(template, region)
    good = not failures
    print(f"{'PASS' if good else 'FAIL'}  the template: {len(passes)} checks, "
          f"{len(failures)} finding(s)", flush=True)
    for f in failures:
        print(f"        {f}", flush=True)
    for name, (what, _, expect) in VARIANTS.items():
        _, broken = findings(variant(template, name), region)
        caught = any(expect in f for f in broken)
        good = good and caught
        first = next((f for f in broken if expect in f), broken[0] if broken else "no finding")
        print(f"{'PASS' if caught else 'FAIL'}  broken copy {name} ({what}) fails: {first}",
              flush=True)
    return good


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", type=Path, default=fbtemplate.TEMPLATE)
    ap.add_argument("--region", default=os.environ.get("FB_REGION", "us-east-1"))
    ap.add_argument("--self-test", action="store_true",
                    help="also check that every broken copy of the template fails")
    ap.add_argument("--write-variant", nargs=2, metavar=("NAME", "OUT"),
                    help=f"write a broken copy (JSON) instead: {', '.join(VARIANTS)}")
    args = ap.parse_args()

    template = fbtemplate.load_template(args.template)
    if args.write_variant:
        name, path = args.write_variant
        if name not in VARIANTS:
            sys.exit(f"error: no variant {name!r}; one of {', '.join(VARIANTS)}")
        Path(path).write_text(json.dumps(variant(template, name), indent=1) + "\n")
        return
    if args.self_test:
        sys.exit(0 if self_test(template, args.region) else 1)
    passes, failures = findings(template, args.region)
    for p in passes:
        print(f"PASS  {p}", flush=True)
    for f in failures:
        print(f"FAIL  {f}", flush=True)
    if failures:
        print(f"\n{len(failures)} finding(s) in {args.template}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
