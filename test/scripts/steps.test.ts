/**
 * What the README commands print around the tools they run: scripts/steps.sh (a line per step,
 * projen's banners shortened to 100 columns, the step summary) and scripts/junit-summary.js (the
 * closing line summed over every runner's JUnit report). `npx` is a stand-in on PATH.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const REPO = path.join(__dirname, '..', '..');
const LONG_COMMAND = `esbuild --bundle lambda/shared-ami.lambda.ts --target="node24" --platform="node" ${'--external:x '.repeat(25)}`;

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'steps-'));
  fs.mkdirSync(path.join(root, 'bin'));
  fs.writeFileSync(path.join(root, 'bin', 'npx'), `#!/usr/bin/env bash
echo '👾 test » bundle | ${LONG_COMMAND}'
echo 'esbuild says: done'
echo '👾 test | echo "a | b"'
exit "\${FAKE_EXIT:-0}"
`, { mode: 0o755 });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function steps(script: string, exit = 0) {
  return spawnSync('bash', ['-c', `source "${REPO}/scripts/steps.sh"; ${script}`], {
    env: { ...process.env, PATH: `${path.join(root, 'bin')}:${process.env.PATH}`, FAKE_EXIT: String(exit), LC_ALL: 'C.UTF-8' },
    encoding: 'utf8',
  });
}

test('a step announces itself with the seconds elapsed; a projen banner becomes one line of at most 100 columns', () => {
  const run = steps('step "fast layer: about 2 min" projen_task test');
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines[0]).toBe('[  0s] fast layer: about 2 min');
  expect(lines[1]).toMatch(/^\[ {2}0s\] {3}test » bundle: esbuild --bundle lambda\/shared-ami\.lambda\.ts .*\.\.\.$/);
  expect([...lines[1]]).toHaveLength(100);
  expect(lines[2]).toBe('esbuild says: done');
  // A banner whose command holds a quoted " | " is left as it is rather than cut in the wrong place.
  expect(lines[3]).toBe('👾 test | echo "a | b"');
});

test('the summary gives each step\'s time and outcome', () => {
  const run = steps('step "passes" projen_task test; step "fails" projen_task test || true; steps_summary', 1);
  const summary = run.stdout.trimEnd().split('\n').slice(-3);
  expect(summary[0]).toMatch(/^== \d+ s in all$/);
  expect(summary[1]).toMatch(/^ +\d+s {2}FAILED {2}passes$/);
  expect(summary[2]).toMatch(/^ +\d+s {2}FAILED {2}fails$/);
  const ok = steps('step "passes" projen_task test; steps_summary').stdout.trimEnd().split('\n');
  expect(ok[ok.length - 1]).toMatch(/^ +\d+s {2}ok {6}passes$/);
});

test('the closing line sums every JUnit report (jest-junit and pytest layouts) and comes last', () => {
  fs.writeFileSync(path.join(root, 'junit.xml'), '<?xml version="1.0"?>\n<testsuites name="jest" tests="5" failures="1">'
    + '<testsuite name="a" tests="3" failures="1" errors="0" skipped="1"></testsuite>'
    + '<testsuite name="b" tests="2" failures="0" errors="0" skipped="0"></testsuite></testsuites>');
  fs.writeFileSync(path.join(root, 'python-smoke.xml'), '<testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="4"></testsuite></testsuites>');
  const out = execFileSync('node', [path.join(REPO, 'scripts', 'junit-summary.js'), path.join(root, 'junit.xml'), path.join(root, 'python-smoke.xml')], { encoding: 'utf8' });
  expect(out.trimEnd().split('\n')).toEqual([
    '  junit.xml: 3 passed, 1 failed, 1 skipped',
    '  python-smoke.xml: 3 passed, 1 failed, 0 skipped',
    'tests: 6 passed, 2 failed, 1 skipped',
  ]);
});
