/**
 * The main job (README's first command runs it after installing): the demo, run as a user runs
 * it, in a process of its own with its own moto. It must end with every image as declared after
 * each step, exit 0, and keep every line within 100 columns.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const REPO = path.join(__dirname, '..', '..');

test('the demo plays create, update and delete, and every verdict line says "as declared"', () => {
  const run = spawnSync(process.execPath, [
    require.resolve('ts-node/dist/bin.js'), '--transpile-only', '--project', 'example/tsconfig.json', 'example/demo.ts',
  ], { cwd: REPO, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, encoding: 'utf8', timeout: 120_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  const lines = run.stdout.split('\n');
  expect(lines.filter((line) => line.length > 100)).toEqual([]);
  // Three images, a verdict each after Create, Update and Delete.
  const verdicts = lines.filter((line) => /^ {2}(golden AMI|base AMI|desktop image) /.test(line));
  expect(verdicts).toHaveLength(9);
  expect(verdicts.filter((line) => !line.includes('  as declared  '))).toEqual([]);
  expect(lines.filter((line) => line.startsWith('== '))).toEqual([
    '== before: only the console shares',
    '== after Create (app v1)',
    '== after Update (app v2)',
    '== after Delete: only the console shares remain (verdict per image)',
  ]);
});
