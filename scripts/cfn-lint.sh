#!/usr/bin/env bash
# cfn-lint (from PyPI, into the project's .venv) over every synthesized template: the example app
# (synthesized into .example-out/cfn-lint, kept so that the paths in a finding exist) and the integ
# snapshots. Errors fail; other warnings are printed. W3005 is not checked: every occurrence is
# aws-cdk-lib's own DependsOn from a Lambda function to its role, beside the GetAtt that already
# orders them, which no app can change.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/emulator-setup.sh
.venv/bin/python -m pip install --quiet --no-compile --disable-pip-version-check 'cfn-lint==1.58.0'
out=.example-out/cfn-lint
rm -rf "$out"
npx ts-node --transpile-only --project example/tsconfig.json -e "require('./example/golden-image-app').goldenImageApp({
  goldenAmiId: 'ami-0123456789abcdef0', baseAmiId: 'ami-0fedcba9876543210', desktopImageId: 'wsi-0123abcde', version: 1, outdir: '$out',
}).synth()"
templates=("$out"/*.template.json test/integ/*.snapshot/*.template.json)
set +e
# cfn-lint's own entry point, through .venv's python (see scripts/emulator-setup.sh).
.venv/bin/python -c 'import sys; from cfnlint.runner import main; sys.exit(main())' --ignore-checks W3005 -- "${templates[@]}"
rc=$?
set -e
# cfn-lint's exit code is a bit field: 2 = errors, 4 = warnings, 8 = informational.
if (( rc & 2 )) || (( rc & 1 )); then
  echo "cfn-lint: errors in ${#templates[@]} templates" >&2
  exit 1
fi
echo "cfn-lint: ${#templates[@]} templates, 0 errors"
