#!/usr/bin/env python3
"""Deploys infra/template.yaml to the local ministack emulator, like `sam package` +
`sam deploy` would to AWS.

    .venv/bin/python tests/local/deploy.py [--artifacts-dir DIR] [--stack-name NAME]

Expects ministack running (tests/local/ministack.sh start) and the function zips built
(tests/local/build.sh -> target/lambda/<crate>/bootstrap.zip). Then:
  1. uploads each zip to an S3 bucket of the emulator under a content-addressed key and
     points the function's CodeUri at it (crate = Metadata.BuildProperties.Binary, or the
     functions/<crate> CodeUri path). A function whose crate does not exist in the
     workspace yet gets a placeholder that fails every invocation (loud warning; marked
     "placeholder" in stack.json; --no-placeholders refuses instead);
  2. creates or updates the stack (SAM transform, CAPABILITY_IAM + AUTO_EXPAND) with the
     local parameter overrides, and waits for it;
  3. checks each SQS trigger's event source mapping against the template (Enabled, batch
     size, batching window, ReportBatchItemFailures, MaximumConcurrency), after repairing
     what ministack's CloudFormation stores wrongly (a MaximumConcurrency from a template
     parameter is stored as a string, which stops ministack's SQS poller for every queue);
     creates each ScheduleV2 event's schedule through the emulator's EventBridge Scheduler
     API (its CloudFormation cannot; see EMULATED_EVENT_TYPES);
  4. puts the sandbox credentials into the four secrets (the connect-link key is random
     per deploy unless --connect-link-key / FB_CONNECT_LINK_KEY gives one);
  5. makes sure every function runs the uploaded code, and recycles warm execution
     environments so the new secrets are read (UpdateFunctionCode with the same object);
  6. writes .local/stack.json (outputs, function names, queues, event source mappings, API
     id, endpoint, region and the connect-link key) for the tests, the gateway and the demo.
Nothing secret is printed. Ports and state dir follow MINISTACK_PORT, GATEWAY_PORT_LOCAL,
SANDBOX_URL and FB_LOCAL_DIR.
"""
from __future__ import annotations

import argparse
import base64
import copy
import fcntl
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ROOT = fbtemplate.ROOT
LOCAL = fbtemplate.LOCAL

MINISTACK_PORT = os.environ.get("MINISTACK_PORT", "4566")
ENDPOINT = os.environ.get("FB_ENDPOINT", f"http://127.0.0.1:{MINISTACK_PORT}")
REGION = os.environ.get("FB_REGION", "us-east-1")
SANDBOX_URL = os.environ.get("SANDBOX_URL", "http://127.0.0.1:9090").rstrip("/")
GATEWAY_URL = f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT_LOCAL', '9080')}"
BUCKET = "fitbridge-local-artifacts"
DEFAULT_STACK = "fitbridge-local"

# The sandbox's (tests/sandbox) credentials. Not secrets: fixed test values.
FITBIT_CREDENTIALS = {
    "client_id": "23SBOX",
    "client_secret": "sandbox-client-secret",
    "subscriber_verification_code": "sandbox-verify-code",
}
GOOGLE_HEALTH_CREDENTIALS = {
    "client_id": "123456789012-fitbridge.apps.googleusercontent.com",
    "client_secret": "GOCSPX-sandbox-client-secret",
    # What the local subscriber is registered with (the demo creates it with the admin CLI).
    "webhook_authorization": "Bearer sandbox-webhook-authorization",
}
POLAR_CREDENTIALS = {
    "client_id": "d52d533a-3c71-4141-aea6-3402519678aa",
    "client_secret": "polar-sandbox-client-secret",
    # What events/webhook-polar-*.json are signed with. `fitbridge-admin polar webhook
    # create` against the sandbox replaces it with the key the sandbox's webhook signs with.
    "webhook_signature_key": "sandbox-polar-webhook-signature-key",
}
SAP_CREDENTIALS = {"username": "FITBRIDGE_COMM", "password": "sandbox-sap-password"}

TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
TERMINAL_BAD = {
    "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_COMPLETE", "DELETE_FAILED",
    "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=120),
    )


def check_emulator() -> None:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_ministack/health", timeout=3) as r:
            r.read()
    except OSError as e:
        sys.exit(f"error: ministack is not answering on {ENDPOINT} ({e}); "
                 "run tests/local/ministack.sh start")


def sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


# Deployed for a function whose crate is not in the workspace yet, so the template can
# gain functions before their code exists. Fails every invocation, saying why.
PLACEHOLDER_BOOTSTRAP = """#!/usr/bin/env python3
# fitbridge deploy.py placeholder: the crate of this function is not built.
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
msg = "placeholder: crate @CRATE@ is not in the workspace yet (deployed by tests/local/deploy.py)"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        r.read()
    body = json.dumps({"errorType": "NotBuilt", "errorMessage": msg})
    print(json.dumps({"level": "ERROR", "message": msg}), flush=True)
    urllib.request.urlopen(urllib.request.Request(api + rid + "/error", data=body.encode(), method="POST")).read()
"""


def workspace_crates() -> set[str]:
    """Package names of functions/*/Cargo.toml (what build.sh builds)."""
    names = set()
    for manifest in (ROOT / "functions").glob("*/Cargo.toml"):
        for line in manifest.read_text().splitlines():
            k, sep, v = line.partition("=")
            if sep and k.strip() == "name":
                names.add(v.strip().strip('"'))
                break
    return names


def placeholder_zip(crate: str) -> Path:
    """A deterministic zip (stable content-addressed key) with the placeholder bootstrap."""
    path = LOCAL / "placeholders" / crate / "bootstrap.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    code = PLACEHOLDER_BOOTSTRAP.replace("@CRATE@", crate)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, code)
    return path


def upload_artifacts(s3, fns: dict[str, fbtemplate.Function], artifacts: Path,
                     placeholders: bool = True) -> dict[str, dict]:
    """Upload each function's zip; returns logical id -> {crate, zip, bucket, key, sha256}."""
    try:
        s3.head_bucket(Bucket=BUCKET)
    except ClientError:
        s3.create_bucket(Bucket=BUCKET)
    out: dict[str, dict] = {}
    missing = []
    crates = workspace_crates()
    for logical_id, fn in fns.items():
        if not fn.crate:
            sys.exit(f"error: cannot tell the crate of {logical_id}: give it "
                     "Metadata.BuildProperties.Binary or a CodeUri of functions/<crate>")
        zip_path = artifacts / fn.crate / "bootstrap.zip"
        placeholder = False
        if not zip_path.is_file():
            if not placeholders or fn.crate in crates:
                missing.append(str(zip_path))
                continue
            zip_path = placeholder_zip(fn.crate)
            placeholder = True
            log(f"  WARNING: {logical_id}: crate {fn.crate!r} is not in the workspace "
                "(functions/*/Cargo.toml): deploying a placeholder that fails every invocation")
        digest = sha256_file(zip_path)
        key = f"{fn.crate}/{digest.hex()}.zip"  # content-addressed, as sam package does
        try:
            s3.head_object(Bucket=BUCKET, Key=key)
        except ClientError:
            s3.upload_file(str(zip_path), BUCKET, key)
        out[logical_id] = {
            "crate": fn.crate, "zip": str(zip_path), "bucket": BUCKET, "key": key,
            "sha256": base64.b64encode(digest).decode(),
            "bytes": zip_path.stat().st_size,
            "placeholder": placeholder,
        }
        log(f"  {logical_id}: s3://{BUCKET}/{key} ({zip_path.stat().st_size // 1024} KiB)")
    if missing:
        sys.exit("error: missing function zips (run tests/local/build.sh):\n  " + "\n  ".join(missing))
    return out


# Function event types ministack's CloudFormation cannot deploy. packaged_template() drops
# them from the template the emulator gets (everything else deploys as written), and
# deploy.py does their job through the emulator's own API instead:
# - ScheduleV2: SAM turns it into an AWS::Scheduler::Schedule and the IAM role Scheduler
#   assumes. ministack's CloudFormation has no AWS::Scheduler::Schedule provisioner and
#   refuses the whole template ("Unrecognized resource types"). Its EventBridge Scheduler
#   API does run schedules, so scheduler_schedules() creates each one there, with the
#   template's expression, state, input, retry policy and dead-letter queue. (The role is
#   not needed: the emulator does not enforce IAM.)
EMULATED_EVENT_TYPES = {"ScheduleV2"}


def alarm_on_a_query(resource: dict) -> bool:
    """An alarm on a metric math or Metrics Insights expression (`Metrics`) rather than one
    metric: ministack's CloudFormation refuses it ("Properties.Metrics (metric math) is not
    supported") and with it the whole stack. Nothing publishes metrics there anyway (no
    alarm can fire locally), so such alarms are left out of the emulator's template;
    cfn-lint checks them as written."""
    return resource.get("Type") == "AWS::CloudWatch::Alarm" and "Metrics" in (
        resource.get("Properties") or {})


def packaged_template(template: dict, artifacts: dict[str, dict]) -> dict:
    """The template with each function's CodeUri pointing at its uploaded zip, without what
    the emulator's CloudFormation refuses (emulator_template)."""
    tpl = copy.deepcopy(template)
    for logical_id, art in artifacts.items():
        res = tpl["Resources"][logical_id]
        uri = f"s3://{art['bucket']}/{art['key']}"
        if res["Type"] == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = uri
        else:
            res.setdefault("Properties", {})["Code"] = {"S3Bucket": art["bucket"], "S3Key": art["key"]}
    return emulator_template(tpl)


def emulator_template(template: dict) -> dict:
    """The template without what ministack's CloudFormation refuses: alarms on a query and
    the events in EMULATED_EVENT_TYPES (also used by deploy_sam.py on `sam build`'s output)."""
    tpl = copy.deepcopy(template)
    for logical_id in [lid for lid, res in tpl["Resources"].items() if alarm_on_a_query(res)]:
        log(f"  {logical_id}: an alarm on a query; the emulator's CloudFormation has none")
        del tpl["Resources"][logical_id]
    for logical_id, res in tpl["Resources"].items():
        events = (res.get("Properties") or {}).get("Events") or {}
        for name in [n for n, ev in events.items() if ev.get("Type") in EMULATED_EVENT_TYPES]:
            log(f"  {logical_id} {name}: {events[name]['Type']} not deployed by the emulator's "
                "CloudFormation; created through its API after the stack")
            del events[name]
    return tpl


def scheduler_schedules(scheduler, lam, template: dict, fns: dict[str, fbtemplate.Function],
                        stack_name: str, physical: dict[str, str], queue_info: dict[str, dict],
                        params: dict[str, str]) -> dict[str, dict]:
    """Creates (or updates) in the emulator's EventBridge Scheduler what each ScheduleV2 event
    of the template makes on AWS. Returns logical id (<function><event>) -> record.

    ministack passes a target's Input through verbatim, without Scheduler's context
    attributes: the schedule ARN is filled in here, the scheduled time (a different one for
    every run) is left out (the daily function reads the clock, not the event's time), and
    the execution id is fixed. invoke_daily.py sends the full payload."""
    out = {}
    account = "000000000000"
    variables = {"AWS::AccountId": account, "AWS::Region": REGION, "AWS::StackName": stack_name,
                 "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
    for lid, fn in fns.items():
        for sch in fn.schedules:
            if not sch.is_scheduler:
                continue
            p = sch.properties
            name = f"{stack_name}-{sch.rule_logical_id}"[:64]
            arn = f"arn:aws:scheduler:{REGION}:{account}:schedule/default/{name}"
            target = {
                "Arn": lam.get_function_configuration(FunctionName=physical[lid])["FunctionArn"],
                "RoleArn": f"arn:aws:iam::{account}:role/{stack_name}-scheduler",
            }
            payload = fbtemplate.scheduler_input(sch, variables, schedule_arn=arn,
                                                 execution_id=f"{name}-local",
                                                 scheduled_time=None)
            if payload is not None:
                target["Input"] = payload
            retry = p.get("RetryPolicy")
            if retry:
                target["RetryPolicy"] = {k: int(fbtemplate.resolve(v, template, params))
                                         for k, v in retry.items()}
            dlq = (p.get("DeadLetterConfig") or {}).get("Arn")
            if dlq is not None:
                queue = dlq.get("Fn::GetAtt", [None])[0] if isinstance(dlq, dict) else None
                if queue not in queue_info:
                    sys.exit(f"error: {lid} {sch.event}: dead-letter queue {dlq!r} is not a queue of the stack")
                target["DeadLetterConfig"] = {"Arn": queue_info[queue]["arn"]}
            spec = {
                "Name": name,
                "ScheduleExpression": str(fbtemplate.resolve(sch.schedule, template, params)),
                "ScheduleExpressionTimezone": str(p.get("ScheduleExpressionTimezone", "UTC")),
                "FlexibleTimeWindow": p.get("FlexibleTimeWindow") or {"Mode": "OFF"},
                "State": str(fbtemplate.resolve(p.get("State", "ENABLED"), template, params)),
                "Target": target,
            }
            try:
                scheduler.create_schedule(**spec)
                verb = "created"
            except scheduler.exceptions.ConflictException:
                scheduler.update_schedule(**spec)
                verb = "updated"
            got = scheduler.get_schedule(Name=name)
            log(f"  {lid} {sch.event}: schedule {name} {verb} "
                f"({got['ScheduleExpression']}, {got['State']})")
            out[sch.rule_logical_id] = {
                "function": lid, "event": sch.event, "name": name, "arn": got.get("Arn", arn),
                "expression": got["ScheduleExpression"], "state": got["State"],
                "deadLetterArn": (target.get("DeadLetterConfig") or {}).get("Arn"),
            }
    return out


def stack_status(cfn, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def failure_events(cfn, name: str, since: float) -> list[str]:
    lines = []
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return lines
    for ev in reversed(events):
        ts = ev.get("Timestamp")
        if ts is not None and ts.timestamp() < since - 5:
            continue
        status = ev.get("ResourceStatus", "")
        if "FAILED" in status or "ROLLBACK" in status:
            lines.append(f"  {ev.get('LogicalResourceId')} {ev.get('ResourceType')} {status}: "
                         f"{ev.get('ResourceStatusReason', '')}")
    return lines


def wait_stack(cfn, name: str, since: float, timeout: float = 600) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = stack_status(cfn, name)
        if status in TERMINAL_OK:
            return status
        if status is None or status in TERMINAL_BAD:
            log(f"stack {name}: {status}")
            for line in failure_events(cfn, name, since):
                log(line)
            sys.exit(1)
        time.sleep(0.5)
    sys.exit(f"error: stack {name} not complete after {timeout:.0f} s")


def deploy_stack(cfn, s3, name: str, template: dict, params: dict[str, str]) -> str:
    body = json.dumps(template)
    kwargs = {
        "StackName": name,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": "project", "Value": "fitbridge"}, {"Key": "env", "Value": "local"}],
    }
    if len(body) > 51200:  # CloudFormation's TemplateBody limit: go through S3 like sam does
        key = f"templates/{hashlib.sha256(body.encode()).hexdigest()}.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        kwargs["TemplateURL"] = f"{ENDPOINT}/{BUCKET}/{key}"
    else:
        kwargs["TemplateBody"] = body

    status = stack_status(cfn, name)
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"):
        log(f"stack {name} is {status}: deleting it first")
        cfn.delete_stack(StackName=name)
        for _ in range(240):
            if stack_status(cfn, name) in (None, "DELETE_COMPLETE"):
                break
            time.sleep(0.5)
        status = None
    since = time.time()
    if status is None or status == "DELETE_COMPLETE":
        log(f"creating stack {name}")
        cfn.create_stack(**kwargs, OnFailure="ROLLBACK")
        return wait_stack(cfn, name, since)
    if status.endswith("_IN_PROGRESS"):
        log(f"stack {name} is {status}: waiting for it first")
        wait_stack(cfn, name, since)
    log(f"updating stack {name}")
    try:
        cfn.update_stack(**kwargs)
    except ClientError as e:
        if "No updates are to be performed" in str(e):
            log("  no stack changes")
            return "UPDATE_COMPLETE"
        raise
    return wait_stack(cfn, name, since)


def queues(sqs, types: dict[str, str], physical: dict[str, str]) -> dict[str, dict]:
    """Every AWS::SQS::Queue of the stack: logical id -> url, arn, fifo, visibility, redrive."""
    out = {}
    for lid, rtype in sorted(types.items()):
        if rtype != "AWS::SQS::Queue" or not physical.get(lid):
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=physical[lid], AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else None
        out[lid] = {
            "url": physical[lid],
            "arn": attrs["QueueArn"],
            "fifo": attrs.get("FifoQueue") == "true",
            "visibilityTimeout": int(attrs.get("VisibilityTimeout", 30)),
            "retentionSeconds": int(attrs.get("MessageRetentionPeriod", 345600)),
            "redrive": redrive and {"deadLetterTargetArn": redrive.get("deadLetterTargetArn"),
                                    "maxReceiveCount": int(redrive.get("maxReceiveCount", 0))},
        }
    return out


def _raw_mapping(uuid: str) -> dict:
    """The mapping as ministack serves it (boto3 would coerce "10" to 10 and hide the bug)."""
    with urllib.request.urlopen(f"{ENDPOINT}/2015-03-31/event-source-mappings/{uuid}", timeout=10) as r:
        return json.loads(r.read())


def _as_int(v) -> int | None:
    return None if v is None else int(v)


def event_source_mappings(lam, template: dict, fns: dict[str, fbtemplate.Function],
                          physical: dict[str, str], queue_info: dict[str, dict],
                          params: dict[str, str], repair: bool = True):
    """Checks the mapping of every SQS trigger in the template against what the template asks
    for. Returns (logical id of the function -> [mapping record], [problem]). With repair,
    first rewrites numbers ministack's CloudFormation stored as strings (a MaximumConcurrency
    from a parameter arrives as "10", and ministack's poller then fails on every pass, for
    every SQS mapping, with "'>=' not supported between instances of 'int' and 'str'")."""
    found: dict[str, list[dict]] = {}
    problems: list[str] = []
    for lid, fn in fns.items():
        for trig in fn.sqs:
            want = {
                "batchSize": int(fbtemplate.resolve(trig.batch_size, template, params)),
                "batchingWindow": int(fbtemplate.resolve(trig.batching_window, template, params)),
                "responseTypes": sorted(trig.response_types),
                "maximumConcurrency": _as_int(fbtemplate.resolve(trig.maximum_concurrency, template, params)),
                "enabled": str(fbtemplate.resolve(trig.enabled, template, params)).lower() != "false",
            }
            name = f"{lid} {trig.event}"
            uuid = physical.get(trig.mapping_logical_id)
            queue = queue_info.get(trig.queue or "")
            if not uuid:
                problems.append(f"{name}: no event source mapping {trig.mapping_logical_id} in the stack")
                continue
            if repair:
                raw = _raw_mapping(uuid)
                raw_conc = (raw.get("ScalingConfig") or {}).get("MaximumConcurrency")
                fix = {}
                if isinstance(raw.get("BatchSize"), str):
                    fix["BatchSize"] = int(raw["BatchSize"])
                if isinstance(raw.get("MaximumBatchingWindowInSeconds"), str):
                    fix["MaximumBatchingWindowInSeconds"] = int(raw["MaximumBatchingWindowInSeconds"])
                if isinstance(raw_conc, str):
                    fix["ScalingConfig"] = {"MaximumConcurrency": int(raw_conc)}
                if fix:
                    lam.update_event_source_mapping(UUID=uuid, **fix)
                    log(f"  {name}: repaired ministack's string-typed {', '.join(sorted(fix))}")
            m = lam.get_event_source_mapping(UUID=uuid)
            got = {
                "batchSize": m.get("BatchSize"),
                "batchingWindow": m.get("MaximumBatchingWindowInSeconds", 0),
                "responseTypes": sorted(m.get("FunctionResponseTypes") or []),
                "maximumConcurrency": (m.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                "enabled": m.get("State") == "Enabled",
            }
            if repair:  # after a repair the raw types must be numbers
                raw = _raw_mapping(uuid)
                if not isinstance((raw.get("ScalingConfig") or {}).get("MaximumConcurrency", 0), int):
                    problems.append(f"{name}: MaximumConcurrency is still not a number")
            for k, v in want.items():
                if got[k] != v:
                    problems.append(f"{name}: {k} is {got[k]!r}, the template says {v!r}")
            if queue and m.get("EventSourceArn") != queue["arn"]:
                problems.append(f"{name}: reads {m.get('EventSourceArn')}, expected {queue['arn']}")
            if physical.get(lid) and not m.get("FunctionArn", "").split(":")[6:7] == [physical[lid]]:
                problems.append(f"{name}: invokes {m.get('FunctionArn')}, expected {physical[lid]}")
            found.setdefault(lid, []).append({
                "uuid": uuid, "event": trig.event, "queue": trig.queue,
                "queueArn": m.get("EventSourceArn"), "state": m.get("State"), **got,
            })
    return found, problems


def table_index_problems(ddb, template: dict, physical: dict[str, str]) -> list[str]:
    """Each DynamoDB table's global secondary indexes as the template declares them (name,
    keys, projection): the daily job scans the Directory index, and an emulator table
    created before an index was in the template would not have it."""
    problems = []
    for lid, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::DynamoDB::Table":
            continue
        want = {i["IndexName"]: i for i in (res.get("Properties") or {}).get("GlobalSecondaryIndexes") or []}
        table = ddb.describe_table(TableName=physical[lid])["Table"]
        have = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes") or []}
        for name, index in want.items():
            got = have.get(name)
            if got is None:
                problems.append(f"{lid}: no index {name} (a table from an older deploy: "
                                f"tests/local/down.sh, then deploy again)")
                continue
            if got.get("KeySchema") != index["KeySchema"]:
                problems.append(f"{lid}/{name}: keys {got.get('KeySchema')}, template {index['KeySchema']}")
            want_p, got_p = index["Projection"], got.get("Projection") or {}
            if (got_p.get("ProjectionType") != want_p["ProjectionType"]
                    or sorted(got_p.get("NonKeyAttributes") or []) != sorted(want_p.get("NonKeyAttributes") or [])):
                problems.append(f"{lid}/{name}: projection {got_p}, template {want_p}")
            log(f"  {lid}: index {name} ({got.get('IndexStatus', '?')}), projection "
                f"{got_p.get('ProjectionType')} {sorted(got_p.get('NonKeyAttributes') or [])}")
        for name in set(have) - set(want):
            problems.append(f"{lid}: index {name} is not in the template")
    return problems


def wait_function_ready(lam, name: str, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while True:
        cfg = lam.get_function_configuration(FunctionName=name)
        if cfg.get("State") == "Active" and cfg.get("LastUpdateStatus") in (None, "Successful"):
            return cfg
        if cfg.get("LastUpdateStatus") == "Failed" or cfg.get("State") == "Failed":
            sys.exit(f"error: function {name}: {cfg.get('LastUpdateStatusReason') or cfg.get('StateReason')}")
        if time.time() > deadline:
            sys.exit(f"error: function {name} not ready after {timeout:.0f} s")
        time.sleep(0.2)


def store_secrets(sm, outputs: dict[str, str], connect_key: str) -> None:
    """The sandbox credentials and the connect-link key into the stack's five secrets (values
    never printed)."""
    values = {
        "FitbitSecretArn": FITBIT_CREDENTIALS,
        "GoogleHealthSecretArn": GOOGLE_HEALTH_CREDENTIALS,
        "PolarSecretArn": POLAR_CREDENTIALS,
        "SapSecretArn": SAP_CREDENTIALS,
        "ConnectLinkSecretArn": {"key": connect_key},
    }
    for output, value in values.items():
        if output not in outputs:
            sys.exit(f"error: stack output {output} missing")
        sm.put_secret_value(SecretId=outputs[output], SecretString=json.dumps(value))
    log("secrets: sandbox credentials and a fresh connect-link key stored")


def write_state(state: dict, output: Path | None, stack_name: str) -> Path:
    """Writes stack.json (mode 0600: it holds the connect-link key) atomically; default
    .local/stack.json, or .local/stack-<name>.json for another stack name."""
    target = output or (fbtemplate.STACK_JSON if stack_name == DEFAULT_STACK
                        else LOCAL / f"stack-{stack_name}.json")
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(tmp, target)
    return target


def write_lambda_env(lam, functions: dict[str, dict], path: Path | None = None) -> Path:
    """Writes .local/lambda.env for `cargo lambda watch --env-file`: the environment of every
    deployed function (one file for all of them; a name two functions give different values
    keeps the first, with a warning), the emulator as AWS_ENDPOINT_URL and its dummy
    credentials. Holds no secret values: the functions read those from Secrets Manager."""
    env: dict[str, str] = {}
    for lid, rec in sorted(functions.items()):
        cfg = lam.get_function_configuration(FunctionName=rec["name"])
        for k, v in sorted(((cfg.get("Environment") or {}).get("Variables") or {}).items()):
            if k in env and env[k] != v:
                log(f"  lambda.env: {lid} sets {k} differently; keeping the first value")
                continue
            env[k] = v
    env.update({"AWS_ENDPOINT_URL": ENDPOINT, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    target = path or LOCAL / "lambda.env"
    lines = ["# The local stack's function environment, for `cargo lambda watch --env-file`.",
             "# Written by tests/local/deploy.py / deploy_sam.py after each deploy."]
    lines += [f"{k}={v}" for k, v in env.items()]
    target.write_text("\n".join(lines) + "\n")
    return target


def local_parameters(public_base_url: str, sandbox: str, log_level: str) -> dict[str, str]:
    """The template parameters of the local stack: x86_64, every provider and SAP endpoint at
    the sandbox (samconfig.toml's `local` env holds the same for the default ports)."""
    sandbox = sandbox.rstrip("/")
    return {
        "Architecture": "x86_64",
        "PublicBaseUrl": public_base_url.rstrip("/"),
        "FitbitAuthorizeUrl": f"{sandbox}/oauth2/authorize",
        "FitbitApiBaseUrl": sandbox,
        "GoogleOAuthAuthorizeUrl": f"{sandbox}/o/oauth2/v2/auth",
        "GoogleOAuthTokenUrl": f"{sandbox}/token",
        "GoogleOAuthRevokeUrl": f"{sandbox}/revoke",
        "GoogleOpenIdUserinfoUrl": f"{sandbox}/v1/userinfo",
        "GoogleHealthApiBaseUrl": sandbox,
        "GoogleHealthKeysetUrl": f"{sandbox}/google-health/webhook-keyset.json",
        # The sandbox serves Polar's three hosts under its own root (tests/sandbox/src/polar.rs).
        "PolarAuthorizeUrl": f"{sandbox}/oauth2/authorization",
        "PolarTokenUrl": f"{sandbox}/v2/oauth2/token",
        "PolarApiBaseUrl": sandbox,
        "SapBaseUrl": sandbox,
        "LogLevel": log_level,
        # No backfill on connect: the end-to-end tests and the demo follow single notified
        # days, which a month of backfilled days would drown. The demo backfills its
        # campaign-signal people with `fitbridge-admin people backfill` instead, and the
        # backfill on connect is tested on in-memory ports.
        "BackfillDays": os.environ.get("FB_BACKFILL_DAYS", "0"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack-name", default=DEFAULT_STACK)
    ap.add_argument("--template", type=Path, default=fbtemplate.TEMPLATE)
    ap.add_argument("--artifacts-dir", type=Path,
                    default=ROOT / (os.environ.get("CARGO_TARGET_DIR") or "target") / "lambda",
                    help="directory holding <crate>/bootstrap.zip (default target/lambda, "
                         "or $CARGO_TARGET_DIR/lambda)")
    ap.add_argument("--public-base-url", default=GATEWAY_URL)
    ap.add_argument("--sandbox-url", default=SANDBOX_URL)
    # The most a deployment can ask for: the tests' log scan (scan_logs.py) then covers
    # every line any level would write.
    ap.add_argument("--log-level", default=os.environ.get("FB_LOG_LEVEL", "trace"))
    ap.add_argument("--connect-link-key", default=os.environ.get("FB_CONNECT_LINK_KEY"),
                    help="connect-link HMAC key to store (default: random per deploy)")
    ap.add_argument("--output", type=Path,
                    help="state file (default .local/stack.json, or .local/stack-<name>.json "
                         "for another --stack-name)")
    ap.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                    help="extra/overriding template parameter (repeatable)")
    ap.add_argument("--no-placeholders", action="store_true",
                    default=bool(os.environ.get("FB_NO_PLACEHOLDERS")),
                    help="refuse to deploy when a function's crate is not in the workspace "
                         "(default: deploy a failing placeholder for it)")
    args = ap.parse_args()

    LOCAL.mkdir(exist_ok=True)
    lock = open(LOCAL / "deploy.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one deploy at a time

    t0 = time.time()
    check_emulator()
    template = fbtemplate.load_template(args.template)
    fns = fbtemplate.functions(template)
    if not fns:
        sys.exit("error: no functions in the template")

    s3, cfn, lam, sm, sqs, scheduler = (client(s) for s in
                                        ("s3", "cloudformation", "lambda", "secretsmanager", "sqs",
                                         "scheduler"))

    log(f"uploading {len(fns)} function package(s) to s3://{BUCKET}")
    artifacts = upload_artifacts(s3, fns, args.artifacts_dir.resolve(),
                                 placeholders=not args.no_placeholders)
    t_upload = time.time()

    sandbox = args.sandbox_url.rstrip("/")
    params = local_parameters(args.public_base_url, sandbox, args.log_level)
    for kv in args.parameter:
        k, sep, v = kv.partition("=")
        if not sep:
            sys.exit(f"error: --parameter wants KEY=VALUE, got {kv!r}")
        params[k] = v
    deploy_stack(cfn, s3, args.stack_name, packaged_template(template, artifacts), params)
    t_stack = time.time()

    stack = cfn.describe_stacks(StackName=args.stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = cfn.describe_stack_resources(StackName=args.stack_name)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    types = {r["LogicalResourceId"]: r.get("ResourceType") for r in resources}

    index_problems = table_index_problems(client("dynamodb"), template, physical)
    if index_problems:
        sys.exit("error: the table differs from the template:\n  " + "\n  ".join(index_problems))
    queue_info = queues(sqs, types, physical)
    mappings, problems = event_source_mappings(lam, template, fns, physical, queue_info, params)
    for lid, ms in mappings.items():
        for m in ms:
            log(f"  {lid} <- {m['queue']}: {m['state']}, batch {m['batchSize']}, window "
                f"{m['batchingWindow']} s, {'/'.join(m['responseTypes']) or 'no partial batch'}, "
                f"max concurrency {m['maximumConcurrency'] or '-'}")
    if problems:
        sys.exit("error: event source mappings differ from the template:\n  " + "\n  ".join(problems))
    schedules = scheduler_schedules(scheduler, lam, template, fns, args.stack_name, physical,
                                    queue_info, params)
    t_esm = time.time()

    # Sandbox credentials into the secrets (values never printed).
    connect_key = args.connect_link_key or secrets.token_urlsafe(48)
    store_secrets(sm, outputs, connect_key)

    # Every function must run the uploaded code. A stack update changes the code when the
    # content-addressed key changes; UpdateFunctionCode regardless also starts a fresh
    # execution environment, so no warm process keeps old code or cached secrets.
    # All updates first, then the waits: each function takes ~0.5 s to become ready again.
    functions_out = {}
    stale_code = {}
    for logical_id, art in artifacts.items():
        name = physical.get(logical_id)
        if not name:
            sys.exit(f"error: no physical function for {logical_id}")
        before = lam.get_function_configuration(FunctionName=name)
        stale_code[logical_id] = before.get("CodeSha256") != art["sha256"]
        lam.update_function_code(FunctionName=name, S3Bucket=art["bucket"], S3Key=art["key"])
    for logical_id, art in artifacts.items():
        name = physical[logical_id]
        stale = stale_code[logical_id]
        cfg = wait_function_ready(lam, name)
        if cfg.get("CodeSha256") != art["sha256"]:
            sys.exit(f"error: {name} runs code {cfg.get('CodeSha256')}, expected {art['sha256']}")
        log(f"  {logical_id} -> {name}: code {art['sha256'][:12]}… "
            f"({'refreshed, the stack left old code' if stale else 'matches'})")
        functions_out[logical_id] = {
            "name": name,
            "arn": cfg["FunctionArn"],
            "crate": art["crate"],
            "codeSha256": art["sha256"],
            "s3": f"s3://{art['bucket']}/{art['key']}",
            "logGroup": (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}",
            "routes": [r.route_key for r in fns[logical_id].routes],
            "eventSourceMappings": mappings.get(logical_id, []),
            "placeholder": art["placeholder"],
        }
    t_code = time.time()

    apis = {lid: pid for lid, pid in physical.items() if types.get(lid) == "AWS::ApiGatewayV2::Api"}
    state = {
        "stackName": args.stack_name,
        "stackStatus": stack_status(cfn, args.stack_name),
        "region": REGION,
        "endpoint": ENDPOINT,
        "accountId": "000000000000",
        "gatewayUrl": GATEWAY_URL,
        "sandboxUrl": sandbox,
        "parameters": params,
        "outputs": outputs,
        "apis": apis,
        "functions": functions_out,
        "queues": queue_info,
        # EventBridge Scheduler schedules (ScheduleV2 events), created outside the stack.
        "schedules": schedules,
        "resources": {lid: {"type": types[lid], "physicalId": pid} for lid, pid in physical.items()},
        "connectLinkKey": connect_key,
        "deployedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target = write_state(state, args.output, args.stack_name)

    log(f"wrote {target}")
    log(f"wrote {write_lambda_env(lam, functions_out)}")
    log(f"deploy took {time.time() - t0:.1f} s (upload {t_upload - t0:.1f} s, "
        f"stack {t_stack - t_upload:.1f} s, event source mappings {t_esm - t_stack:.1f} s, "
        f"secrets+code {t_code - t_esm:.1f} s)")


if __name__ == "__main__":
    main()
