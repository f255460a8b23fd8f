"""Reads infra/template.yaml for the local tooling: functions, their crates, their routes.

Shared by deploy.py (which function zip goes where) and gateway.py (which route invokes
which function). Run directly to print what it finds:
    .venv/bin/python tests/local/fbtemplate.py
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
LOCAL = ROOT / ".local"
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
class Function:
    logical_id: str
    crate: str | None
    routes: list[Route] = field(default_factory=list)


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
        for ev in events.values():
            if ev.get("Type") != "HttpApi":
                continue
            p = ev.get("Properties") or {}
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
    if STACK_JSON.exists() and os.environ.get("SHOW_STACK"):
        print(json.dumps({k: v for k, v in load_stack_json().items() if k != "connectLinkKey"}, indent=2))
