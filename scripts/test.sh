#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs npm packages and moto (project-local .venv),
# then runs `projen test` (bundle, type-check, jest: construct + handler + emulator tests, eslint,
# integ snapshot verification), then the packaging checks: jsii-pacmak for every language, the
# Python wheel synthesized from Python (pytest) and README's Python examples run, the Maven package
# synthesized from Java (JUnit), the Go module compiled and synthesized from Go (go test), cfn-lint
# over every synthesized template.
# SKIP_PACKAGING=1 skips the packaging checks for a quicker local run.
# Prints one closing line "tests: N passed, N failed, N skipped" over every JUnit report in
# test-reports/ (jest, the Python, Java and Go smoke tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
# Node 20 is end-of-life: jsii's banner for that has its own switch.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# npm ci cannot be used: the lockfile made on this registry lacks some non-Linux optional packages.
npm install --no-audit --no-fund --loglevel=error
summary() {
  node scripts/junit-summary.js test-reports/*.xml || true
}
trap summary EXIT
rm -f test-reports/*.xml
npx projen test
if [ "${SKIP_PACKAGING:-}" != "1" ]; then
  npx projen ci:package
  npx projen ci:python-smoke
  npx projen ci:java-smoke
  npx projen ci:go-smoke
  npx projen ci:cfn-lint
fi
