#!/usr/bin/env bash
# Installs moto's server into a project-local virtualenv (.venv), once per requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
req=test/emulator/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "installing moto (the local AWS) into .venv from PyPI: about 20 s, once"
python3 -m venv .venv
.venv/bin/pip install --quiet --no-compile --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "moto installed into .venv ($(.venv/bin/python -c 'import moto; print(moto.__version__)'))"
