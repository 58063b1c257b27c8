#!/usr/bin/env bash
# The main job, from a fresh clone: installs npm packages and moto (project-local .venv), then
# synthesizes the example golden-image app and plays its shares create -> update -> delete
# against a local moto server, printing who can use which image after each step.
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
npm install --no-audit --no-fund --loglevel=error
npx projen demo
