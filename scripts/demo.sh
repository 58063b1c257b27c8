#!/usr/bin/env bash
# The main job, from a fresh clone: installs npm packages and moto (project-local .venv), then
# synthesizes the example golden-image app and plays its shares create -> update -> delete
# against a local moto server, printing who can use which image after each step and, at the end,
# one verdict line per image (declared = actual, or what differs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
step "npm packages and moto: about 2 s from the install cache, 35 s the first time" install_dependencies
step "bundle the handlers, then the demo (about 10 s)" projen_task demo
