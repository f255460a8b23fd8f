#!/usr/bin/env python3
"""Deploys infra/template.yaml to the local ministack emulator with the SAM CLI itself:
`sam build` + `sam deploy` (samconfig.toml's `local` env, AWS_ENDPOINT_URL at the emulator),
then only what the emulator still needs after a deploy.

    .venv/bin/python tests/local/deploy_sam.py [--no-build] [--stack-name NAME]

Expects ministack running (tests/local/ministack.sh start). Then:
  1. `sam build --config-env local` (x86_64, rust-cargolambda) into .aws-sam/build, unless
     --no-build;
  2. writes .aws-sam/build/template.emulator.json: the built template without what
     ministack's CloudFormation refuses, and with it the whole stack (deploy.emulator_template:
     ScheduleV2 events — no AWS::Scheduler::Schedule provisioner — and alarms on a metric
     query). The real-AWS template is not changed;
  3. `sam deploy --config-env local` of that template against the emulator, with the local
     parameter overrides for this environment's ports (SANDBOX_URL, GATEWAY_PORT_LOCAL);
     `sam deploy` packages the code (its own managed S3 bucket, --resolve-s3) and creates or
     updates the stack through a change set;
  4. after the deploy, what the emulator needs and AWS does not: the repair of the SQS
     triggers' MaximumConcurrency (stored as a string when it comes from a parameter, which
     stops ministack's SQS poller for every queue) and the check of every trigger against
     the template; each ScheduleV2 schedule created through the emulator's Scheduler API;
  5. the sandbox credentials into the secrets (on AWS an operator puts the real ones), and a
     fresh execution environment for every function so none keeps old secrets;
  6. writes .local/stack.json (as deploy.py does) for check.py, the gateway and the tests,
     and .local/lambda.env for `cargo lambda watch --env-file`.
Ports and state dir follow MINISTACK_PORT, GATEWAY_PORT_LOCAL, SANDBOX_URL and FB_LOCAL_DIR.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402
import fbtemplate  # noqa: E402

ROOT = fbtemplate.ROOT
LOCAL = fbtemplate.LOCAL
BUILD_DIR = ROOT / ".aws-sam" / "build"
VENV_BIN = ROOT / ".venv" / "bin"
log = deploy.log


def sam_env() -> dict[str, str]:
    """The environment `sam` runs in: the emulator as every AWS endpoint, its dummy
    credentials, no telemetry, cargo-lambda of .venv on PATH."""
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": deploy.ENDPOINT,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": deploy.REGION,
        "AWS_REGION": deploy.REGION,
        "SAM_CLI_TELEMETRY": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    })
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def run(cmd: list[str], nice: bool = False) -> None:
    log("$ " + " ".join(cmd))
    what = f"sam {cmd[1]}"
    if nice:
        cmd = ["nice", "-n", "10", *cmd]
    rc = subprocess.run(cmd, cwd=ROOT, env=sam_env()).returncode
    if rc != 0:
        sys.exit(f"error: {what} exited with {rc}")


def recycle(lam, cfn, stack_name: str, physical: dict[str, str],
            fns: dict[str, fbtemplate.Function]) -> dict[str, dict]:
    """UpdateFunctionCode of every function with the object `sam deploy` packaged, so each
    starts a fresh execution environment (no warm process keeps the secrets of the previous
    deploy); returns logical id -> {s3 bucket, key}."""
    original = cfn.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    if isinstance(original, str):
        from samtranslator.yaml_helper import yaml_parse
        original = yaml_parse(original)
    code = {}
    for lid in fns:
        uri = (original["Resources"][lid].get("Properties") or {}).get("CodeUri")
        if not (isinstance(uri, str) and uri.startswith("s3://")):
            sys.exit(f"error: {lid}: the deployed template has no s3:// CodeUri ({uri!r})")
        bucket, _, key = uri[len("s3://"):].partition("/")
        code[lid] = {"bucket": bucket, "key": key}
        lam.update_function_code(FunctionName=physical[lid], S3Bucket=bucket, S3Key=key)
    return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack-name", default=deploy.DEFAULT_STACK)
    ap.add_argument("--no-build", action="store_true",
                    help="deploy the existing .aws-sam/build (skip `sam build`)")
    ap.add_argument("--public-base-url", default=deploy.GATEWAY_URL)
    ap.add_argument("--sandbox-url", default=deploy.SANDBOX_URL)
    ap.add_argument("--log-level", default=os.environ.get("FB_LOG_LEVEL", "debug"))
    ap.add_argument("--connect-link-key", default=os.environ.get("FB_CONNECT_LINK_KEY"),
                    help="connect-link HMAC key to store (default: random per deploy)")
    ap.add_argument("--output", type=Path, help="state file (default .local/stack.json)")
    ap.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                    help="extra/overriding template parameter (repeatable)")
    args = ap.parse_args()

    LOCAL.mkdir(parents=True, exist_ok=True)
    lock = open(LOCAL / "deploy.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one deploy at a time

    t0 = time.time()
    deploy.check_emulator()
    sandbox = args.sandbox_url.rstrip("/")
    params = deploy.local_parameters(args.public_base_url, sandbox, args.log_level)
    for kv in args.parameter:
        k, sep, v = kv.partition("=")
        if not sep:
            sys.exit(f"error: --parameter wants KEY=VALUE, got {kv!r}")
        params[k] = v
    bad = [f"{k}={v}" for k, v in params.items() if any(c.isspace() or c in "\"'" for c in v)]
    if bad:
        sys.exit(f"error: parameter values with spaces or quotes: {bad}")
    overrides = [f"{k}={v}" for k, v in params.items()]
    sam = str(VENV_BIN / "sam")

    if not args.no_build:
        # niced: five release builds, one cargo invocation per function.
        run([sam, "build", "--config-env", "local", "--parameter-overrides",
             f"Architecture={params['Architecture']}"], nice=True)
    t_build = time.time()

    built = BUILD_DIR / "template.yaml"
    if not built.is_file():
        sys.exit(f"error: no {built}; run without --no-build")
    emulated = BUILD_DIR / "template.emulator.json"  # beside it: CodeUri paths stay relative
    emulated.write_text(json.dumps(deploy.emulator_template(fbtemplate.load_template(built)),
                                   indent=1))

    cfn, lam, sm, sqs, scheduler = (deploy.client(s) for s in
                                    ("cloudformation", "lambda", "secretsmanager", "sqs", "scheduler"))
    status = deploy.stack_status(cfn, args.stack_name)
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"):
        log(f"stack {args.stack_name} is {status}: deleting it first")
        cfn.delete_stack(StackName=args.stack_name)
        for _ in range(240):
            if deploy.stack_status(cfn, args.stack_name) in (None, "DELETE_COMPLETE"):
                break
            time.sleep(0.5)
    run([sam, "deploy", "--config-file", str(ROOT / "samconfig.toml"), "--config-env", "local",
         "--template-file", str(emulated),
         "--stack-name", args.stack_name, "--region", deploy.REGION,
         "--no-confirm-changeset", "--no-fail-on-empty-changeset",
         "--parameter-overrides", " ".join(overrides)])
    t_deploy = time.time()

    # What the emulator needs after the deploy (see the docstring).
    template = fbtemplate.load_template()
    fns = fbtemplate.functions(template)
    stack = cfn.describe_stacks(StackName=args.stack_name)["Stacks"][0]
    if stack["StackStatus"] not in deploy.TERMINAL_OK:
        sys.exit(f"error: stack {args.stack_name} is {stack['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = cfn.describe_stack_resources(StackName=args.stack_name)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    types = {r["LogicalResourceId"]: r.get("ResourceType") for r in resources}
    queue_info = deploy.queues(sqs, types, physical)
    mappings, problems = deploy.event_source_mappings(lam, template, fns, physical, queue_info,
                                                      params)
    for lid, ms in mappings.items():
        for m in ms:
            log(f"  {lid} <- {m['queue']}: {m['state']}, batch {m['batchSize']}, window "
                f"{m['batchingWindow']} s, {'/'.join(m['responseTypes']) or 'no partial batch'}, "
                f"max concurrency {m['maximumConcurrency'] or '-'}")
    if problems:
        sys.exit("error: event source mappings differ from the template:\n  " + "\n  ".join(problems))
    schedules = deploy.scheduler_schedules(scheduler, lam, template, fns, args.stack_name,
                                           physical, queue_info, params)

    connect_key = args.connect_link_key or secrets.token_urlsafe(48)
    deploy.store_secrets(sm, outputs, connect_key)
    code = recycle(lam, cfn, args.stack_name, physical, fns)
    functions_out = {}
    for lid, fn in fns.items():
        name = physical[lid]
        cfg = deploy.wait_function_ready(lam, name)
        log(f"  {lid} -> {name}: code {cfg['CodeSha256'][:12]}… (fresh execution environment)")
        functions_out[lid] = {
            "name": name,
            "arn": cfg["FunctionArn"],
            "crate": fn.crate,
            "codeSha256": cfg["CodeSha256"],
            "s3": f"s3://{code[lid]['bucket']}/{code[lid]['key']}",
            "logGroup": (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}",
            "routes": [r.route_key for r in fn.routes],
            "eventSourceMappings": mappings.get(lid, []),
            "placeholder": False,
        }
    t_post = time.time()

    state = {
        "stackName": args.stack_name,
        "stackStatus": deploy.stack_status(cfn, args.stack_name),
        "deployedWith": "sam",
        "region": deploy.REGION,
        "endpoint": deploy.ENDPOINT,
        "accountId": "000000000000",
        "gatewayUrl": deploy.GATEWAY_URL,
        "sandboxUrl": sandbox,
        "parameters": params,
        "outputs": outputs,
        "apis": {lid: pid for lid, pid in physical.items() if types.get(lid) == "AWS::ApiGatewayV2::Api"},
        "functions": functions_out,
        "queues": queue_info,
        "schedules": schedules,
        "resources": {lid: {"type": types[lid], "physicalId": pid} for lid, pid in physical.items()},
        "connectLinkKey": connect_key,
        "deployedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target = deploy.write_state(state, args.output, args.stack_name)
    log(f"wrote {target}")
    log(f"wrote {deploy.write_lambda_env(lam, functions_out)}")
    log(f"deploy_sam took {time.time() - t0:.1f} s (sam build {t_build - t0:.1f} s, "
        f"sam deploy {t_deploy - t_build:.1f} s, after the deploy {t_post - t_deploy:.1f} s)")


if __name__ == "__main__":
    main()
