#!/usr/bin/env bash
# Go smoke test of the jsii-pacmak-built Go module in dist/go (test/go-smoke, `go test`), with
# aws-cdk-go from the Go module proxy. Two of aws-cdk-go's dependencies are refused by the proxy
# this project reaches (HTTP 403): cloud-assembly-schema-go and awscdk-asset-node-proxy-agent-go.
# Both are jsii modules generated from npm packages, so they are generated here the same way, with
# jsii-pacmak, from the npm packages in node_modules, and test/go-smoke/go.mod points at them.
# The checksum database is not reachable either: test/go-smoke/go.sum pins what was downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/go/cdksharedimages/go.mod ] || { echo "no Go module in dist/go: run npx projen package:go first" >&2; exit 1; }
command -v go >/dev/null || { echo "go not found: the Go smoke test needs Go 1.25 or newer" >&2; exit 1; }
deps=test/go-smoke/.deps
rm -rf "$deps"
for pkg in cloud-assembly-schema asset-node-proxy-agent-v6; do
  npx jsii-pacmak --target go --code-only -o "$deps/$pkg" "node_modules/@aws-cdk/$pkg" >/dev/null
done
mkdir -p test-reports
cd test/go-smoke
export GOFLAGS=-mod=mod GOSUMDB=off GOTOOLCHAIN=local
status=0
go test -count=1 -json ./... > ../../test-reports/go-smoke.json || status=$?
# Print what `go test -v` would, and write a JUnit report for the test command's closing line.
node ../../scripts/go-test-junit.js ../../test-reports/go-smoke.json ../../test-reports/go-smoke.xml
exit $status
