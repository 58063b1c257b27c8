#!/usr/bin/env node
// Reads `go test -json` output, prints the test output (as `go test -v` would) and writes a JUnit
// XML report with one <testcase> per top-level test. When go exited non-zero and no test failed
// (a build error, a go.mod problem), the report gets one failing case with go's stderr.
//   node scripts/go-test-junit.js <go-test.json> <junit.xml> <go exit status> <go stderr file>
//   node scripts/go-test-junit.js --fail <message> <junit.xml>     (the test could not even start)
'use strict';
const fs = require('fs');

const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
function write(file, cases, failed, skipped) {
  fs.writeFileSync(file, [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="go-smoke" tests="${cases.length}" failures="${failed}" errors="0" skipped="${skipped}">`,
    ...cases,
    '</testsuite>',
    '',
  ].join('\n'));
}
const failCase = (name, text) => `  <testcase classname="go-smoke" name="${esc(name)}"><failure message="failed">${esc(text)}</failure></testcase>`;

if (process.argv[2] === '--fail') {
  const [, , , message, output] = process.argv;
  write(output, [failCase('go test', message)], 1, 0);
  process.exit(0);
}

const [input, output, statusArg = '0', stderrFile] = process.argv.slice(2);
const text = fs.existsSync(input) ? fs.readFileSync(input, 'utf8') : '';
const events = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
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
const all = [...tests.values()];
const cases = all.map((t) => (t.result === 'pass' || t.result === 'skip')
  ? `  <testcase classname="go-smoke" name="${esc(t.name)}" time="${t.elapsed}">${t.result === 'skip' ? '<skipped/>' : ''}</testcase>`
  : failCase(t.name, t.output));
let failed = all.filter((t) => t.result !== 'pass' && t.result !== 'skip').length;
if (Number(statusArg) !== 0 && failed === 0) {
  const stderr = stderrFile && fs.existsSync(stderrFile) ? fs.readFileSync(stderrFile, 'utf8') : '';
  const buildOutput = events.filter((e) => e.Action === 'build-output').map((e) => e.Output).join('');
  cases.push(failCase('go test', `go test exited ${statusArg}: ${buildOutput}${stderr}`.trim()));
  failed = 1;
}
write(output, cases, failed, all.filter((t) => t.result === 'skip').length);
