#!/usr/bin/env node
// Prints the closing line of a test run from JUnit XML reports: "tests: N passed, N failed, N skipped",
// summed over every <testsuite> of every file given (jest-junit, pytest --junitxml, Maven Surefire),
// followed by one line per file.
//
//   node scripts/junit-summary.js test-reports/*.xml
const fs = require('fs');
const path = require('path');

const files = process.argv.slice(2).filter((f) => fs.existsSync(f));
if (files.length === 0) {
  console.log('tests: 0 passed, 0 failed (no report: the suite stopped before any test runner ran)');
  process.exit(0);
}

const attr = (tag, name) => Number((new RegExp(`\\b${name}="(\\d+)"`).exec(tag) ?? [])[1] ?? 0);
const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];
for (const file of files) {
  const xml = fs.readFileSync(file, 'utf8');
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const [tag] of xml.matchAll(/<testsuite\b[^>]*>/g)) {
    const failed = attr(tag, 'failures') + attr(tag, 'errors');
    const skipped = attr(tag, 'skipped');
    counts.failed += failed;
    counts.skipped += skipped;
    counts.passed += attr(tag, 'tests') - failed - skipped;
  }
  for (const k of Object.keys(totals)) totals[k] += counts[k];
  lines.push(`  ${path.basename(file)}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
}
for (const line of lines) console.log(line);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
