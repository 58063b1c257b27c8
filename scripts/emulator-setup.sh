#!/usr/bin/env bash
# Installs moto's server into a project-local virtualenv (.venv), once per requirements change: from
# the install cache (scripts/install-cache.sh) when this machine has built the same one before,
# otherwise from PyPI, saving it there. Run what it installs as `.venv/bin/python -m ...`: a linked
# virtualenv's console scripts still name the folder it was built in.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-cache.sh
req=test/emulator/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! python=$(command -v python3); then
  echo "python3 not found: the local AWS (moto) needs Python 3.10 or newer with venv (README, \"You need\")" >&2
  exit 1
fi
key=$(install_cache_key "$req" "=$(readlink -f "$python")" "=$("$python" --version 2>&1)" \
  "=$(uname -sm)" "=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'not glibc')")
if install_cache_restore venv "$key" .venv && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "moto: linked from the install cache ($(install_cache_dir)), as pip made it for these requirements"
  exit 0
fi
echo "installing moto (the local AWS) into .venv from PyPI: about 10 s, once"
# Never `python -m venv` over a tree another clone may share: it rewrites pyvenv.cfg in place.
rm -rf .venv
"$python" -m venv .venv
.venv/bin/python -m pip install --quiet --no-compile --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "moto installed into .venv ($(.venv/bin/python -c 'import moto; print(moto.__version__)'))"
install_cache_save venv "$key" .venv
