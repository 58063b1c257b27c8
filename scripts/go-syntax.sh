#!/usr/bin/env bash
# The Go module jsii-pacmak generates cannot be compiled here (README "Languages"): parse every
# generated file with gofmt instead, which needs no module download (exit 2 on a syntax error).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v gofmt >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing Go (gofmt) from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
command -v gofmt >/dev/null || { echo "gofmt not found: install Go to syntax-check dist/go" >&2; exit 1; }
files=$(find dist/go -name '*.go' | wc -l)
[ "$files" -gt 0 ] || { echo "no Go files in dist/go: run npx projen package:go first" >&2; exit 1; }
gofmt -e -l dist/go >/dev/null
echo "dist/go: all $files generated files parse (gofmt); not compiled"
