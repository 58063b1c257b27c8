#!/usr/bin/env bash
# Go smoke test of the jsii-pacmak-built Go module in dist/go (test/go-smoke, `go test`), with
# aws-cdk-go from the Go module proxy. Two of aws-cdk-go's dependencies are refused by the proxy
# this project reaches (HTTP 403): cloud-assembly-schema-go and awscdk-asset-node-proxy-agent-go.
# Both are jsii modules generated from npm packages, so they are generated here the same way, with
# jsii-pacmak, from the npm packages in node_modules (the versions test/go-smoke/go.mod requires),
# and test/go-smoke/go.mod points at them. The checksum database is not reachable either:
# test/go-smoke/go.sum pins every module downloaded, and go may not change it (-mod=readonly).
# Writes test-reports/go-smoke.xml (JUnit) whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-reports
report=test-reports/go-smoke.xml
fail() {
  echo "$1" >&2
  node scripts/go-test-junit.js --fail "$1" "$report"
  exit 1
}
[ -f dist/go/cdksharedimages/go.mod ] || fail "no Go module in dist/go: run npx projen package:go first"
command -v go >/dev/null || fail "go not found: the Go smoke test needs Go 1.25 or newer on PATH"

deps=test/go-smoke/.deps
rm -rf "$deps"
while read -r pkg module; do
  version=$(node -p "require('./node_modules/@aws-cdk/$pkg/package.json').version")
  required=$(awk -v m="$module" '$1 == m { print $2 }' test/go-smoke/go.mod | head -1)
  [ "v$version" = "$required" ] ||
    fail "node_modules/@aws-cdk/$pkg is $version but test/go-smoke/go.mod requires $module $required: align them"
  npx jsii-pacmak --target go --code-only -o "$deps/$pkg" "node_modules/@aws-cdk/$pkg" >/dev/null
done <<'LIST'
cloud-assembly-schema github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v53
asset-node-proxy-agent-v6 github.com/cdklabs/awscdk-asset-node-proxy-agent-go/nodeproxyagentv6/v2
LIST

cd test/go-smoke
export GOFLAGS="-mod=readonly ${GOFLAGS:-}" GOSUMDB=off GOTOOLCHAIN=local
status=0
go test -count=1 -json ./... > ../../test-reports/go-smoke.json 2> ../../test-reports/go-smoke.stderr || status=$?
cat ../../test-reports/go-smoke.stderr >&2
# Prints what `go test -v` would and writes the JUnit report; a failure go reported outside any
# test (a build error, a go.mod problem) becomes a failing case of its own.
node ../../scripts/go-test-junit.js ../../test-reports/go-smoke.json "../../$report" "$status" ../../test-reports/go-smoke.stderr
exit $status
