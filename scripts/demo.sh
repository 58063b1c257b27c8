#!/usr/bin/env bash
# The main job, from a fresh clone: installs npm packages and moto (project-local .venv), then
# synthesizes the example golden-image app and plays its shares create -> update -> delete
# against a local moto server, printing who can use which image after each step and, at the end,
# one verdict line per image (declared = actual, or what differs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
step "npm packages (npm install: about 40 s in a fresh clone, 1 s after)" \
  npm install --no-audit --no-fund --loglevel=error
step "the demo (moto into .venv: about 20 s the first time; bundle the handlers; then about 10 s)" \
  projen_task demo
