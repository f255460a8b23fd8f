#!/usr/bin/env python3
"""Holds infra/template.yaml to least privilege, read as CloudFormation sees it after the
SAM transform (the roles, policies and event source mappings SAM generates included).
Exits non-zero on any finding.

    .venv/bin/python tests/local/check_iam.py [--template PATH]

General rules, for every policy document of the stack (role inline policies, IAM policies,
managed policies, and the resource policies of keys, queues and topics):
  - no action with a wildcard (`*`, `service:*`, `service:Get*`), no NotAction;
  - no `Resource: "*"`, no NotResource;
  - no AWS managed policy on any role (SAM's AWSLambdaBasicExecutionRole and
    AWSLambdaSQSQueueExecutionRole grant on Resource "*");
  - a statement may break these rules only if ALLOWED names it, with the reason.
Rules of this stack, per function (the role its AWS::Lambda::Function runs with, and every
policy attached to that role):
  - DynamoDB: exactly the actions the function's code calls (EXPECTED, read off
    shared/src/wiring.rs and shared/src/store/dynamodb.rs), on exactly the resources it
    calls them on: the table, or one index of it by name (never index/*). Only the daily
    job may Scan, and only its Directory index (active connections, no token, no ledger);
    the webhook has no table access; the OAuth function may not Scan;
  - KMS: only on DataKey, only with a kms:ViaService condition;
  - Secrets Manager: GetSecretValue on exactly the secrets the function reads (EXPECTED);
  - SQS: only the stack's own queues; an SQS-triggered function holds exactly the event
    source's actions on its queue;
  - CloudWatch Logs: CreateLogStream/PutLogEvents on the function's own log group only.
Logging guards: every function has an explicit log group with the LogRetentionDays
retention, and the HTTP API's access log format is JSON without the path or query string
(OAuth codes and states travel in the query).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402
from lint_template import transformed  # noqa: E402

# Statements allowed to break the general rules: (logical id of the resource holding the
# policy, Sid) -> why. Keep it short; every entry must still match a statement.
# No X-Ray or CloudWatch PutMetricData entries: the functions are not traced, and their
# metrics travel in the logs (EMF), so nothing needs them.
ALLOWED = {
    ("TokenKey", "AccountRootAdministersTheKey"):
        "KMS key policy: Resource \"*\" in a key policy means this key; the root administers "
        "it but is not given its use, so no IAM policy can grant that.",
    ("TokenKey", "TokenHoldersSealAndOpen"):
        "KMS key policy: Resource \"*\" means this key; its use is given to the three roles "
        "that hold tokens by name, for data keys of the tokens' encryption context only.",
    ("DataKey", "AccountRootManagesKeyAndDelegatesToIam"):
        "KMS key policy: Resource \"*\" in a key policy means this key; kms:* for the "
        "account root is AWS's default key policy statement, which makes IAM policies "
        "(the roles' ViaService-conditioned grants) effective and keeps the key "
        "administrable.",
}

# What each function's code calls. DynamoDB: ConnectAttempts, ConnectionStore,
# ParkedWork, ... as wired in shared/src/wiring.rs, each trait method's calls in
# shared/src/store/dynamodb.rs. Secrets: the *_SECRET_ID its settings read.
EXPECTED = {
    # ConnectAttempts (states: put, conditional update, get; links: get, put, delete),
    # ConnectionStore (get, update; a migrated predecessor: delete + tombstone put),
    # ParkedWork (query, delete when requeued).
    "OAuthFunction": {
        "dynamodb": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"},
        "secrets": {"FitbitSecret", "GoogleHealthSecret", "PolarSecret", "SapSecret",
                    "ConnectLinkSecret"},
    },
    # Only the providers' secrets and the work queue.
    "WebhookFunction": {
        "dynamodb": set(),
        "secrets": {"FitbitSecret", "GoogleHealthSecret", "PolarSecret"},
    },
    # ConnectionStore (get, revoke = delete + put, tombstone, forget, flags), TokenStore,
    # ImportLedger (update; expire = query + update), FetchLog, ParkedWork (put).
    "WorkerFunction": {
        "dynamodb": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"},
        "secrets": {"FitbitSecret", "GoogleHealthSecret", "PolarSecret", "SapSecret"},
    },
    # TokenStore (get, leases, rotated tokens, status: update), ParkedWork (put). Polar's
    # secret too: Polar has no refresh tokens, but the refresh use case warms the
    # provider's credentials (Provider::prepare) before it judges the lease, and only then
    # learns that a Polar 401 means re-consent.
    "TokenRefreshFunction": {
        "dynamodb": {"GetItem", "PutItem", "UpdateItem"},
        "secrets": {"FitbitSecret", "GoogleHealthSecret", "PolarSecret"},
    },
    # ConnectionDirectory::scan_active: the sparse Directory index, never the table.
    "DailySyncFunction": {
        "dynamodb": {"Scan"},
        "dynamodb_resources": {"${Table.Arn}/index/Directory"},
        "secrets": set(),
    },
}
# Where a function's DynamoDB actions apply unless EXPECTED says otherwise.
TABLE_ONLY = {"Table.Arn"}
ONLY_SCANNER = "DailySyncFunction"
SQS_CONSUMER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility"}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
# Resource policies that are policy documents too (property holding the document).
RESOURCE_POLICIES = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
    "AWS::Logs::ResourcePolicy": "PolicyDocument",
}
# Access log variables that would write the raw path or the query string.
FORBIDDEN_LOG_VARIABLES = re.compile(r"\$context\.(path|requestOverride|request\b)|querystring|query",
                                     re.IGNORECASE)

failures: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)
    print(f"FAIL  {msg}", flush=True)


def ok(msg: str) -> None:
    print(f"PASS  {msg}", flush=True)


def as_list(v) -> list:
    return v if isinstance(v, list) else [] if v is None else [v]


def render(v) -> str:
    """A readable name for a (possibly intrinsic) value: GetAtt -> "Table.Arn",
    Ref -> "Table", Sub -> its string, Join -> the joined parts."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and len(v) == 1:
        (fn, arg), = v.items()
        if fn == "Fn::GetAtt":
            return ".".join(arg) if isinstance(arg, list) else str(arg)
        if fn == "Ref":
            return str(arg)
        if fn == "Fn::Sub":
            return arg[0] if isinstance(arg, list) else str(arg)
        if fn == "Fn::Join":
            return str(arg[0]).join(render(p) for p in arg[1])
    return json.dumps(v, sort_keys=True)


def ref_of(v) -> str | None:
    """The logical id a Ref or GetAtt points at."""
    if isinstance(v, dict) and len(v) == 1:
        (fn, arg), = v.items()
        if fn == "Ref":
            return arg
        if fn == "Fn::GetAtt":
            return arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
    return None


class Statement:
    def __init__(self, holder: str, where: str, index: int, st: dict):
        self.holder, self.where, self.st = holder, where, st
        self.sid = st.get("Sid") or f"#{index}"
        self.effect = st.get("Effect", "Allow")
        self.actions = [render(a) for a in as_list(st.get("Action"))]
        self.resources = as_list(st.get("Resource"))

    @property
    def name(self) -> str:
        return f"{self.holder} {self.where} {self.sid}"


def documents(resources: dict):
    """(holder logical id, where, policy document) of every policy document in the stack."""
    for lid, res in resources.items():
        rtype, props = res.get("Type"), res.get("Properties") or {}
        if rtype == "AWS::IAM::Role":
            for pol in props.get("Policies") or []:
                yield lid, f"policy {pol.get('PolicyName')}", pol.get("PolicyDocument") or {}
        elif rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield lid, "document", props.get("PolicyDocument") or {}
        elif rtype in RESOURCE_POLICIES:
            yield lid, RESOURCE_POLICIES[rtype], props.get(RESOURCE_POLICIES[rtype]) or {}


def statements(resources: dict) -> list[Statement]:
    out = []
    for lid, where, doc in documents(resources):
        for i, st in enumerate(as_list(doc.get("Statement"))):
            out.append(Statement(lid, where, i, st))
    return out


def general_rules(resources: dict, all_statements: list[Statement]) -> None:
    used = set()
    for s in all_statements:
        if s.effect != "Allow":
            continue
        problems = []
        if "NotAction" in s.st:
            problems.append("NotAction")
        if "NotResource" in s.st:
            problems.append("NotResource")
        wild = [a for a in s.actions if "*" in a]
        if wild:
            problems.append(f"wildcard action {', '.join(wild)}")
        if any(r == "*" for r in s.resources):
            problems.append('Resource "*"')
        if not problems:
            continue
        key = (s.holder, s.sid)
        if key in ALLOWED:
            used.add(key)
            ok(f"allowed: {s.name} ({'; '.join(problems)}): {ALLOWED[key][:60]}…")
            continue
        fail(f"{s.name}: {'; '.join(problems)}")
    for key in ALLOWED.keys() - used:
        fail(f"allow-list entry {key} matches no statement that needs it: remove it")
    for lid, res in resources.items():
        if res.get("Type") != "AWS::IAM::Role":
            continue
        for arn in as_list((res.get("Properties") or {}).get("ManagedPolicyArns")):
            text = render(arn)
            if ":iam::aws:policy/" in text:
                fail(f"{lid}: AWS managed policy {text}")
    if not failures:
        ok(f"no wildcard action or resource beyond the allow-list ({len(all_statements)} statements)")


def role_of_functions(resources: dict) -> dict[str, str]:
    out = {}
    for lid, res in resources.items():
        if res.get("Type") == "AWS::Lambda::Function":
            role = ref_of((res.get("Properties") or {}).get("Role"))
            if role:
                out[lid] = role
            else:
                fail(f"{lid}: no role of the stack")
    return out


def role_statements(resources: dict, all_statements: list[Statement], role: str) -> list[Statement]:
    """Every Allow statement in effect for a role: its inline policies, the IAM policies
    naming it, the managed policies of the template it attaches."""
    props = resources[role].get("Properties") or {}
    managed = {ref_of(a) for a in as_list(props.get("ManagedPolicyArns"))} - {None}
    attached = {lid for lid, res in resources.items()
                if res.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                and role in {ref_of(r) for r in as_list((res.get("Properties") or {}).get("Roles"))}}
    holders = {role} | managed | attached
    return [s for s in all_statements if s.holder in holders and s.effect == "Allow"]


def function_rules(resources: dict, all_statements: list[Statement]) -> None:
    roles = role_of_functions(resources)
    queues = {lid for lid, r in resources.items() if r.get("Type") == "AWS::SQS::Queue"}
    secrets = {lid for lid, r in resources.items() if r.get("Type") == "AWS::SecretsManager::Secret"}
    table = resources.get("Table", {}).get("Properties") or {}
    indexes = {f"${{Table.Arn}}/index/{i.get('IndexName')}"
               for i in (table.get("GlobalSecondaryIndexes") or []) + (table.get("LocalSecondaryIndexes") or [])}
    log_groups = {}
    for lid, r in resources.items():
        if r.get("Type") == "AWS::Logs::LogGroup":
            m = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", render((r.get("Properties") or {}).get("LogGroupName")))
            if m:
                log_groups[m.group(1)] = lid
    mappings: dict[str, list[str]] = {}
    for r in resources.values():
        if r.get("Type") == "AWS::Lambda::EventSourceMapping":
            p = r.get("Properties") or {}
            mappings.setdefault(ref_of(p.get("FunctionName")), []).append(ref_of(p.get("EventSourceArn")))

    if set(roles) != set(EXPECTED):
        fail(f"functions {sorted(roles)} differ from EXPECTED {sorted(EXPECTED)}: add the new "
             "function's calls to EXPECTED")
    shared = {r for r in roles.values() if list(roles.values()).count(r) > 1}
    if shared:
        fail(f"roles shared between functions: {sorted(shared)}")

    for fn, role in sorted(roles.items()):
        sts = role_statements(resources, all_statements, role)
        want = EXPECTED.get(fn, {"dynamodb": set(), "secrets": set()})
        problems = []
        by_service: dict[str, set[str]] = {}
        ddb_resources: set[str] = set()
        for s in sts:
            for a in s.actions:
                by_service.setdefault(a.split(":")[0], set()).add(a)
            services = {a.split(":")[0] for a in s.actions}
            names = [render(r) for r in s.resources]
            if "dynamodb" in services:
                ddb_resources.update(names)
                for r in names:
                    if r != "Table.Arn" and r not in indexes:
                        problems.append(f"{s.sid}: DynamoDB on {r} (neither the table nor one of its indexes by name)")
            if "kms" in services:
                if any(r != "DataKey.Arn" for r in names):
                    problems.append(f"{s.sid}: KMS on {names}")
                via = ((s.st.get("Condition") or {}).get("StringEquals") or {}).get("kms:ViaService")
                if not via or not all(re.fullmatch(r"(dynamodb|secretsmanager|sqs)\.\$\{AWS::Region\}\.amazonaws\.com",
                                                   render(v)) for v in as_list(via)):
                    problems.append(f"{s.sid}: KMS without a kms:ViaService condition")
            if "secretsmanager" in services:
                if set(s.actions) != {"secretsmanager:GetSecretValue"}:
                    problems.append(f"{s.sid}: Secrets Manager actions {s.actions}")
                bad = [r for r in s.resources if ref_of(r) not in secrets]
                if bad:
                    problems.append(f"{s.sid}: secrets outside the stack {bad}")
            if "sqs" in services:
                bad = [r for r in s.resources if ref_of(r) not in queues]
                if bad:
                    problems.append(f"{s.sid}: queues outside the stack {[render(b) for b in bad]}")
            if "logs" in services:
                own = log_groups.get(fn)
                if not set(s.actions) <= LOG_ACTIONS or [ref_of(r) for r in s.resources] != [own]:
                    problems.append(f"{s.sid}: logs {s.actions} on {names}, want its own log group {own}")
            other = services - {"dynamodb", "kms", "secretsmanager", "sqs", "logs"}
            if other:
                problems.append(f"{s.sid}: unexpected services {sorted(other)}")

        ddb = {a.split(":")[1] for a in by_service.get("dynamodb", set())}
        if ddb != want["dynamodb"]:
            problems.append(f"DynamoDB actions {sorted(ddb)}, the code calls {sorted(want['dynamodb'])}")
        if "Scan" in ddb and fn != ONLY_SCANNER:
            problems.append("may Scan: only the daily job scans")
        want_resources = want.get("dynamodb_resources", TABLE_ONLY) if want["dynamodb"] else set()
        if ddb_resources != want_resources:
            problems.append(f"DynamoDB on {sorted(ddb_resources)}, the code calls it on {sorted(want_resources)}")
        scans_table = any("dynamodb:Scan" in s.actions and "Table.Arn" in [render(r) for r in s.resources]
                          for s in sts)
        if scans_table:
            problems.append("may Scan the whole table (import ledger, tokens): only the Directory index")
        readable = {ref_of(r) for s in sts if "secretsmanager:GetSecretValue" in s.actions
                    for r in s.resources}
        if readable != want["secrets"]:
            problems.append(f"secrets {sorted(readable)}, the code reads {sorted(want['secrets'])}")
        if ddb and not by_service.get("kms"):
            problems.append("table access without its key (DataKey through DynamoDB)")
        if not ddb and by_service.get("kms"):
            problems.append("KMS without table access")
        if not LOG_ACTIONS <= by_service.get("logs", set()):
            problems.append("cannot write its log group")
        for queue in mappings.get(fn, []):
            granted = {a for s in sts for a in s.actions
                       if any(ref_of(r) == queue for r in s.resources) and a in SQS_CONSUMER_ACTIONS}
            if granted != SQS_CONSUMER_ACTIONS:
                problems.append(f"event source {queue}: {sorted(granted)}, needs {sorted(SQS_CONSUMER_ACTIONS)}")
        consumer_queues = {ref_of(r) for s in sts if set(s.actions) & (SQS_CONSUMER_ACTIONS - {"sqs:ChangeMessageVisibility"})
                           for r in s.resources}
        extra = consumer_queues - set(mappings.get(fn, []))
        if extra:
            problems.append(f"consumes queues it has no trigger on: {sorted(extra)}")

        if problems:
            for p in problems:
                fail(f"{fn} ({role}): {p}")
        else:
            ok(f"{fn} ({role}): DynamoDB {sorted(ddb) or 'none'}, secrets "
               f"{sorted(readable) or 'none'}, SQS {sorted(by_service.get('sqs', [])) or 'none'}")

    # Beyond the functions' roles: every other role's statements must still name
    # resources of the stack (SAM's scheduler role: invoke its function, send to its DLQ).
    for lid, res in resources.items():
        if res.get("Type") != "AWS::IAM::Role" or lid in roles.values():
            continue
        for s in role_statements(resources, all_statements, lid):
            outside = [render(r) for r in s.resources if ref_of(r) not in resources]
            if outside:
                fail(f"{lid} {s.sid}: resources outside the stack {outside}")
            else:
                ok(f"{lid} {s.sid}: {', '.join(s.actions)} on {', '.join(render(r) for r in s.resources)}")
        trust = as_list(((res.get("Properties") or {}).get("AssumeRolePolicyDocument") or {}).get("Statement"))
        for st in trust:
            principal = st.get("Principal") or {}
            if set(principal) != {"Service"}:
                fail(f"{lid}: trust policy principal {principal} (only AWS services may assume it)")


def logging_rules(resources: dict, template: dict) -> None:
    functions = [lid for lid, r in resources.items() if r.get("Type") == "AWS::Lambda::Function"]
    groups = {}
    for lid, r in resources.items():
        if r.get("Type") == "AWS::Logs::LogGroup":
            p = r.get("Properties") or {}
            groups[render(p.get("LogGroupName"))] = (lid, p)
    for fn in functions:
        entry = groups.get(f"/aws/lambda/${{{fn}}}")
        if entry is None:
            fail(f"{fn}: no explicit log group /aws/lambda/${{{fn}}}")
        elif ref_of(entry[1].get("RetentionInDays")) != "LogRetentionDays":
            fail(f"{fn}: log group {entry[0]} retention is not LogRetentionDays")
    if "LogRetentionDays" in (template.get("Parameters") or {}):
        ok(f"log groups of {len(functions)} functions, retention LogRetentionDays")

    for lid, r in resources.items():
        if r.get("Type") != "AWS::ApiGatewayV2::Stage":
            continue
        settings = (r.get("Properties") or {}).get("AccessLogSettings")
        if not settings:
            fail(f"{lid}: no access log")
            continue
        dest = ref_of(settings.get("DestinationArn"))
        dest_props = (resources.get(dest) or {}).get("Properties") or {}
        if ref_of(dest_props.get("RetentionInDays")) != "LogRetentionDays":
            fail(f"{lid}: access log group {dest} retention is not LogRetentionDays")
        fmt = settings.get("Format")
        try:
            fields = json.loads(fmt)
        except (TypeError, ValueError) as e:
            fail(f"{lid}: access log format is not JSON ({e})")
            continue
        leaks = {k: v for k, v in fields.items() if FORBIDDEN_LOG_VARIABLES.search(f"{k} {v}")}
        if leaks:
            fail(f"{lid}: access log writes the path or query string: {leaks}")
        elif "$context.requestId" not in fields.values():
            fail(f"{lid}: access log without $context.requestId")
        else:
            ok(f"{lid}: JSON access log to {dest} without path or query ({', '.join(fields)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", type=Path, default=fbtemplate.TEMPLATE)
    ap.add_argument("--region", default=os.environ.get("FB_REGION", "us-east-1"))
    args = ap.parse_args()

    template = fbtemplate.load_template(args.template)
    try:
        out = transformed(template, args.region)
    except Exception as e:  # the translator's InvalidDocumentException lists every cause
        causes = getattr(e, "causes", None) or [e]
        print("FAIL  SAM transform: " + "; ".join(str(c) for c in causes), flush=True)
        sys.exit(1)
    resources = out.get("Resources") or {}
    all_statements = statements(resources)
    general_rules(resources, all_statements)
    function_rules(resources, all_statements)
    logging_rules(resources, template)
    if failures:
        print(f"\n{len(failures)} finding(s) in {args.template}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
