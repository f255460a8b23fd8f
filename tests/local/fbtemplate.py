"""Reads infra/template.yaml for the local tooling: functions, their crates, their routes,
their SQS triggers and schedules.

Shared by deploy.py (which function zip goes where, which event source mappings to expect),
gateway.py (which route invokes which function), check.py and invoke_daily.py. Run directly
to print what it finds:
    .venv/bin/python tests/local/fbtemplate.py
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# FB_TEMPLATE: another template for every tool (experiments); default infra/template.yaml.
TEMPLATE = Path(os.environ.get("FB_TEMPLATE") or ROOT / "infra" / "template.yaml").resolve()
# State dir of the local stack; FB_LOCAL_DIR moves it (see lib.sh).
LOCAL = Path(os.environ.get("FB_LOCAL_DIR") or ROOT / ".local").resolve()
STACK_JSON = LOCAL / "stack.json"

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
IMPLICIT_HTTP_API = "ServerlessHttpApi"  # SAM's logical id for HttpApi events without ApiId


@dataclass
class Route:
    method: str  # GET, POST, ..., ANY
    path: str  # /connect/{provider}, /{proxy+}, or "$default"
    function: str  # logical id of the function
    api: str  # logical id of the HttpApi
    payload_format: str = "2.0"

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass
class SqsTrigger:
    """An SQS event of a function (SAM creates an AWS::Lambda::EventSourceMapping named
    <function><event>). Values may be intrinsics ({"Ref": "Param"}); see resolve()."""
    event: str  # event name in the template
    function: str  # logical id of the function
    queue: str | None  # logical id of the queue (Queue: !GetAtt Q.Arn), else None
    batch_size: object = 10  # SAM's default for SQS
    batching_window: object = 0
    response_types: list = field(default_factory=list)
    maximum_concurrency: object = None
    enabled: object = True

    @property
    def mapping_logical_id(self) -> str:
        return f"{self.function}{self.event}"


@dataclass
class ScheduleTrigger:
    """A Schedule event (EventBridge rule <function><event>) or a ScheduleV2 event
    (EventBridge Scheduler schedule <function><event>)."""
    event: str
    function: str
    schedule: object
    kind: str = "Schedule"  # or "ScheduleV2"
    properties: dict = field(default_factory=dict)  # the event's Properties as written

    @property
    def rule_logical_id(self) -> str:
        return f"{self.function}{self.event}"

    @property
    def is_scheduler(self) -> bool:
        return self.kind == "ScheduleV2"


# EventBridge Scheduler's context attributes, which it fills into a target's Input.
SCHEDULER_CONTEXT = ("<aws.scheduler.schedule-arn>", "<aws.scheduler.scheduled-time>",
                     "<aws.scheduler.execution-id>", "<aws.scheduler.attempt-number>")


def sub(value, variables: dict[str, str]) -> str:
    """A literal or Fn::Sub string with the given ${...} variables (pseudo parameters,
    template parameters) filled in; any other ${...} is an error."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        value = value["Fn::Sub"]
        if isinstance(value, list):
            value, extra = value
            variables = {**variables, **{k: str(v) for k, v in extra.items()}}
    if not isinstance(value, str):
        raise ValueError(f"cannot render {value!r}")

    def one(m: re.Match) -> str:
        if m.group(1) not in variables:
            raise ValueError(f"cannot render ${{{m.group(1)}}}")
        return variables[m.group(1)]
    return re.sub(r"\$\{([^}!]+)\}", one, value)


def scheduler_input(trigger: ScheduleTrigger, variables: dict[str, str], *, schedule_arn: str,
                    execution_id: str | None, scheduled_time: str | None,
                    attempt: int = 1) -> str | None:
    """The payload EventBridge Scheduler delivers for a ScheduleV2 event: its Input with
    the template variables and Scheduler's context attributes filled in. A context
    attribute given as None removes the JSON member whose whole value it is (for an
    emulator that cannot fill it per invocation). None when the event has no Input."""
    raw = trigger.properties.get("Input")
    if raw is None:
        return None
    text = sub(raw, variables)
    values = dict(zip(SCHEDULER_CONTEXT, (schedule_arn, scheduled_time, execution_id, str(attempt))))
    doc = json.loads(text)

    def fill(v):
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()
                    if not (isinstance(x, str) and x in values and values[x] is None)}
        if isinstance(v, list):
            return [fill(x) for x in v if not (isinstance(x, str) and x in values and values[x] is None)]
        if isinstance(v, str):
            for attr, val in values.items():
                if val is not None:
                    v = v.replace(attr, val)
            return v
        return v
    return json.dumps(fill(doc), separators=(",", ":"))


@dataclass
class Function:
    logical_id: str
    crate: str | None
    routes: list[Route] = field(default_factory=list)
    sqs: list[SqsTrigger] = field(default_factory=list)
    schedules: list[ScheduleTrigger] = field(default_factory=list)


def load_template(path: Path = TEMPLATE) -> dict:
    """The template as a dict, short-form intrinsics (!Ref ...) expanded to long form."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def _crate_of(logical_id: str, resource: dict, globals_fn: dict) -> str | None:
    """Binary (= crate) of a function: Metadata.BuildProperties.Binary, else the last path
    element of a CodeUri like ../functions/<crate>."""
    binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
    if isinstance(binary, str) and binary:
        return binary
    props = resource.get("Properties") or {}
    code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
    if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
        m = re.search(r"(?:^|/)functions/([^/]+)/?$", code_uri)
        if m:
            return m.group(1)
    return None


def functions(template: dict) -> dict[str, Function]:
    globals_fn = ((template.get("Globals") or {}).get("Function")) or {}
    out: dict[str, Function] = {}
    for logical_id, res in (template.get("Resources") or {}).items():
        if res.get("Type") not in FUNCTION_TYPES:
            continue
        fn = Function(logical_id, _crate_of(logical_id, res, globals_fn))
        events = (res.get("Properties") or {}).get("Events") or {}
        for ev_name, ev in events.items():
            p = ev.get("Properties") or {}
            if ev.get("Type") == "SQS":
                queue = p.get("Queue")
                if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                    att = queue["Fn::GetAtt"]
                    queue = att[0] if isinstance(att, list) else str(att).split(".")[0]
                else:
                    queue = None
                fn.sqs.append(SqsTrigger(
                    ev_name, logical_id, queue,
                    batch_size=p.get("BatchSize", 10),
                    batching_window=p.get("MaximumBatchingWindowInSeconds", 0),
                    response_types=list(p.get("FunctionResponseTypes") or []),
                    maximum_concurrency=(p.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                    enabled=p.get("Enabled", True)))
                continue
            if ev.get("Type") in ("Schedule", "ScheduleV2"):
                fn.schedules.append(ScheduleTrigger(
                    ev_name, logical_id, p.get("Schedule", p.get("ScheduleExpression")),
                    kind=ev["Type"], properties=p))
                continue
            if ev.get("Type") != "HttpApi":
                continue
            api = p.get("ApiId", IMPLICIT_HTTP_API)
            if isinstance(api, dict) and "Ref" in api:
                api = api["Ref"]
            method = str(p.get("Method", "ANY")).upper()
            path = p.get("Path")
            if path is None:  # an HttpApi event without Path/Method is the $default route
                path, method = "$default", "ANY"
            if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                method = "ANY"
            fn.routes.append(Route(method, path, logical_id, str(api),
                                   str(p.get("PayloadFormatVersion", "2.0"))))
        out[logical_id] = fn
    return out


def resolve(value, template: dict, params: dict[str, str] | None = None):
    """A literal, or {"Ref": "<parameter>"} resolved against the given parameter values and
    the template's defaults (what CloudFormation passes). Anything else: returned as is."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if params and name in params:
            return params[name]
        spec = (template.get("Parameters") or {}).get(name)
        if spec is not None and "Default" in spec:
            return spec["Default"]
    return value


def routes(template: dict) -> list[Route]:
    return [r for fn in functions(template).values() for r in fn.routes]


def load_stack_json() -> dict:
    with open(STACK_JSON) as f:
        return json.load(f)


if __name__ == "__main__":
    tpl = load_template()
    for fn in functions(tpl).values():
        print(f"{fn.logical_id}: crate={fn.crate}")
        for r in fn.routes:
            print(f"  {r.route_key}  (api {r.api}, payload {r.payload_format})")
        for q in fn.sqs:
            print(f"  SQS {q.queue}: batch {resolve(q.batch_size, tpl)}, window "
                  f"{resolve(q.batching_window, tpl)} s, {q.response_types}, max concurrency "
                  f"{resolve(q.maximum_concurrency, tpl)}")
        for sch in fn.schedules:
            print(f"  {sch.kind} {resolve(sch.schedule, tpl)} ({sch.rule_logical_id})")
    if STACK_JSON.exists() and os.environ.get("SHOW_STACK"):
        print(json.dumps({k: v for k, v in load_stack_json().items() if k != "connectLinkKey"}, indent=2))
