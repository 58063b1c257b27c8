#!/usr/bin/env bash
# Installs the jsii-pacmak-built wheel (dist/python) into a fresh virtualenv with aws-cdk-lib from
# PyPI, and synthesizes stacks from Python code (test/python-smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=$(ls dist/python/*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "no wheel in dist/python: run npx projen package:python first" >&2; exit 1; }
cdk_version=$(node -p "require('./package.json').devDependencies['aws-cdk-lib']")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv=$work/venv
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" "aws-cdk-lib==$cdk_version" pytest
"$venv/bin/python" -m pytest -q --junitxml=test-reports/python-smoke.xml test/python-smoke
