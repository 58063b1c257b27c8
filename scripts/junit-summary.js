#!/usr/bin/env node
// Prints the closing line of a test run from jest-junit's report: "tests: N passed, N failed, N skipped".
const fs = require('fs');
const file = process.argv[2] ?? 'test-reports/junit.xml';
if (!fs.existsSync(file)) {
  console.log('tests: 0 passed, 0 failed (no report: the suite stopped before jest ran)');
  process.exit(0);
}
const xml = fs.readFileSync(file, 'utf8');
const m = /<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"[^>]*\berrors="(\d+)"/.exec(xml);
const skipped = (xml.match(/<skipped\s*\/>/g) ?? []).length;
if (!m) {
  console.log('tests: 0 passed, 0 failed (unreadable report)');
  process.exit(0);
}
const [total, failures, errors] = m.slice(1).map(Number);
const failed = failures + errors;
console.log(`tests: ${total - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
