#!/usr/bin/env node
// Reads `go test -json` output, prints the test output (as `go test -v` would) and writes a JUnit
// XML report with one <testcase> per top-level test.
//   node scripts/go-test-junit.js <go-test.json> <junit.xml>
'use strict';
const fs = require('fs');

const [input, output] = process.argv.slice(2);
const events = fs.readFileSync(input, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const tests = new Map();
for (const e of events) {
  if (e.Action === 'output' || e.Action === 'build-output') process.stdout.write(e.Output);
  if (!e.Test || e.Test.includes('/')) continue;
  const t = tests.get(e.Test) ?? { name: e.Test, output: '', result: undefined, elapsed: 0 };
  if (e.Action === 'output') t.output += e.Output;
  if (['pass', 'fail', 'skip'].includes(e.Action)) {
    t.result = e.Action;
    t.elapsed = e.Elapsed ?? 0;
  }
  tests.set(e.Test, t);
}
// A package that fails to build reports no test: count it as one failure.
const buildFailed = events.some((e) => e.Action === 'fail' && !e.Test) && tests.size === 0;
const all = [...tests.values()];
const failed = all.filter((t) => t.result !== 'pass' && t.result !== 'skip').length + (buildFailed ? 1 : 0);
const skipped = all.filter((t) => t.result === 'skip').length;
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const cases = all.map((t) => `  <testcase classname="go-smoke" name="${esc(t.name)}" time="${t.elapsed}">` +
  (t.result === 'skip' ? '<skipped/>' : t.result === 'pass' ? '' : `<failure message="failed">${esc(t.output)}</failure>`) +
  '</testcase>');
if (buildFailed) cases.push('  <testcase classname="go-smoke" name="build"><failure message="the package did not build"/></testcase>');
fs.writeFileSync(output, [
  '<?xml version="1.0" encoding="UTF-8"?>',
  `<testsuite name="go-smoke" tests="${cases.length}" failures="${failed}" errors="0" skipped="${skipped}">`,
  ...cases,
  '</testsuite>',
  '',
].join('\n'));
