#!/usr/bin/env bash
# The whole test suite, from a fresh clone, layer by layer (CONTRIBUTING "Test layers"): installs
# npm packages and moto (project-local .venv), then
#   - `projen test`, the fast layer: bundle, type-check, construct and handler unit tests, eslint;
#   - `projen test:emulator`: the real handlers against a local moto made as strict as AWS;
#   - `projen integ`: the integration snapshots;
#   - the packaging checks: jsii-pacmak for every language, the Python wheel synthesized from
#     Python (pytest) and README's Python examples run, the Maven package synthesized from Java
#     (JUnit), the Go module compiled and synthesized from Go (go test), cfn-lint over every
#     synthesized template.
# SKIP_PACKAGING=1 skips the packaging checks for a quicker local run. The reliability run is the
# one layer left to CI (.ci/run), for its three minutes.
# Prints one closing line "tests: N passed, N failed, N skipped" over every JUnit report in
# test-reports/ (jest's two layers, the Python, Java and Go smoke tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
# Node 20 is end-of-life: jsii's banner for that has its own switch.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# Every tool's temporary files go into one folder, removed at the end: nothing is left in /tmp.
run_tmp=$(mktemp -d)
export TMPDIR=$run_tmp
# Every JVM (jsii-pacmak's Maven build and javadoc, the Java smoke test) makes /tmp/hsperfdata_<user>
# for its monitoring counters, whatever TMPDIR says, and leaves it empty: removed if this run made it.
jvm_perf=/tmp/hsperfdata_$(id -un)
jvm_perf_before=$([ -e "$jvm_perf" ] && echo yes || echo no)
summary() {
  rm -rf "$run_tmp"
  [ "$jvm_perf_before" = yes ] || rmdir "$jvm_perf" 2>/dev/null || true
  steps_summary
  node scripts/junit-summary.js test-reports/*.xml || true
}
trap summary EXIT
step "npm packages and moto: about 2 s from the install cache, 35 s the first time" install_dependencies
rm -f test-reports/*.xml
step "fast layer: bundle, type-check, construct and handler unit tests, eslint: about 2 min" projen_task test
step "emulator layer: the real handlers against the strict local AWS (moto): about 2 min" projen_task test:emulator
step "integration snapshots (integ-runner, no deployment): about 30 s" projen_task integ
if [ "${SKIP_PACKAGING:-}" != "1" ]; then
  step "jsii compile, docs check, jsii-pacmak for every language: about 1 min" projen_task ci:package
  step "Python smoke test (the wheel, aws-cdk-lib from PyPI, pytest): about 1 min" projen_task ci:python-smoke
  step "Java smoke test (Maven, JUnit): about 10 s" projen_task ci:java-smoke
  step "Go smoke test (go test): about 50 s the first time" projen_task ci:go-smoke
  step "cfn-lint over every synthesized template: about 10 s" projen_task ci:cfn-lint
fi
