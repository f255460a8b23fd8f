#!/usr/bin/env python3
"""Lints infra/template.yaml with cfn-lint twice: as written (SAM) and as CloudFormation
sees it after the SAM transform (what AWS and ministack deploy). Warnings count as
failures; exits non-zero on any finding.

    .venv/bin/python tests/local/lint_template.py [--template PATH] [--keep-transformed FILE]

The transform is aws-sam-translator's, the library `sam deploy` and ministack use, run
offline (managed policy names are not resolved through IAM; SAM's own policies are ARNs).
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fbtemplate  # noqa: E402

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def transformed(template: dict, region: str) -> dict:
    """The template after `sam package` (CodeUri -> S3, as deploy.py does) and the SAM
    transform."""
    from samtranslator.translator.transform import transform

    tpl = copy.deepcopy(template)
    for logical_id, fn in fbtemplate.functions(tpl).items():
        res = tpl["Resources"][logical_id]
        if res["Type"] == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = f"s3://fitbridge-artifacts/{fn.crate}/0.zip"
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    return transform(tpl, {}, SimpleNamespace(load=lambda: {}))


def lint(path: Path, label: str) -> bool:
    proc = subprocess.run([str(CFN_LINT), "--format", "parseable", "--", str(path)],
                          capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0 and not out:
        print(f"PASS  cfn-lint {label}", flush=True)
        return True
    print(f"FAIL  cfn-lint {label} (exit {proc.returncode})", flush=True)
    print(out, flush=True)
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", type=Path, default=fbtemplate.TEMPLATE)
    ap.add_argument("--region", default=os.environ.get("FB_REGION", "us-east-1"))
    ap.add_argument("--keep-transformed", type=Path, metavar="FILE",
                    help="also write the transformed template (JSON) here")
    args = ap.parse_args()

    ok = lint(args.template, f"{args.template.name} (SAM)")
    try:
        out = transformed(fbtemplate.load_template(args.template), args.region)
    except Exception as e:  # the translator's InvalidDocumentException lists every cause
        causes = getattr(e, "causes", None) or [e]
        print("FAIL  SAM transform: " + "; ".join(str(c) for c in causes), flush=True)
        sys.exit(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.transformed.json"
        path.write_text(json.dumps(out, indent=2))
        ok = lint(path, "after the SAM transform") and ok
    if args.keep_transformed:
        args.keep_transformed.write_text(json.dumps(out, indent=2) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
