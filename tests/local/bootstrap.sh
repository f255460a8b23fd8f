#!/usr/bin/env bash
# Installs the project's local tooling into ./.venv (idempotent, fast when already there):
# requirements.txt into .venv itself, requirements-sam.txt (the SAM CLI, whose exact boto3
# pin conflicts with ministack's exact botocore pin) into .venv/sam, linked as .venv/bin/sam.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv"

# install VENV REQUIREMENTS: pip install unless the stamp says this file is installed.
install() {
  local env="$1" req="$2" stamp want
  stamp="$env/.requirements.sha256"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$env/bin/python" ]; then
    python3 -m venv "$env"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$env/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
  fi
}

install "$venv" "$root/tests/local/requirements.txt"
install "$venv/sam" "$root/tests/local/requirements-sam.txt"
ln -sfn ../sam/bin/sam "$venv/bin/sam"
