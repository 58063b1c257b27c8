/**
 * The install cache of the README commands (scripts/install-cache.sh, used by scripts/steps.sh and
 * scripts/emulator-setup.sh), run by bash in throw-away projects. `npm` and `python3` are stand-ins
 * on PATH that log each call and build a small tree, so each case shows which installs really ran
 * and what the clone got.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const REPO = path.join(__dirname, '..', '..');
const SCRIPTS = ['install-cache.sh', 'steps.sh', 'emulator-setup.sh'];

const FAKE_NPM = `#!/usr/bin/env bash
echo "npm $*" >> "$INSTALL_LOG"
case "$1" in
  --version) echo 10.9.0 ;;
  ci|install)
    mkdir -p node_modules/left-pad
    echo "module.exports = '$(cat package-lock.json | tr -d '\\n"')';" > node_modules/left-pad/index.js
    echo '{}' > node_modules/.package-lock.json ;;
esac
`;

const FAKE_VENV_PYTHON = `#!/usr/bin/env bash
echo "venv-python $*" >> "$INSTALL_LOG"
case "$1 $2" in
  "-m pip") touch "$(dirname "$0")/../installed-by-pip" ;;
  "-c "*) echo 5.2.5 ;;
esac
`;

const FAKE_PYTHON3 = `#!/usr/bin/env bash
echo "python3 $*" >> "$INSTALL_LOG"
case "$1" in
  --version) echo "\${FAKE_PYTHON_VERSION:-Python 3.11.7}" ;;
  # As python -m venv does: pyvenv.cfg is written in place, over whatever is there.
  -m) mkdir -p "$3/bin" && cp "$FAKE_VENV_PYTHON" "$3/bin/python" && chmod +x "$3/bin/python" \
      && echo "built for $(grep -v '^#' test/emulator/requirements.txt)" > "$3/pyvenv.cfg" ;;
esac
`;

/** cp as usual, except that it fails when asked to read anything under $FAIL_CP_FROM (a failing disk). */
const FAKE_CP = `#!/usr/bin/env bash
if [ -n "\${FAIL_CP_FROM:-}" ]; then
  for arg in "$@"; do
    case "$arg" in "$FAIL_CP_FROM"*) echo "cp: cannot read $arg" >&2; exit 1 ;; esac
  done
fi
exec /bin/cp "$@"
`;

let root: string;
let cacheDir: string;
let bin: string;
let log: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'install-cache-'));
  cacheDir = path.join(root, 'cache');
  bin = path.join(root, 'bin');
  log = path.join(root, 'install.log');
  fs.mkdirSync(bin);
  const write = (file: string, text: string): void => { fs.writeFileSync(file, text, { mode: 0o755 }); };
  write(path.join(bin, 'npm'), FAKE_NPM);
  write(path.join(bin, 'python3'), FAKE_PYTHON3);
  write(path.join(bin, 'cp'), FAKE_CP);
  write(path.join(root, 'venv-python'), FAKE_VENV_PYTHON);
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** A fresh "clone": the real scripts beside a lockfile and a requirements file. */
function clone(name: string, lockfile = 'lock v1', requirements = 'moto==5.2.5'): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'test', 'emulator'), { recursive: true });
  for (const script of SCRIPTS) fs.copyFileSync(path.join(REPO, 'scripts', script), path.join(dir, 'scripts', script));
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "p" }\n');
  fs.writeFileSync(path.join(dir, 'package-lock.json'), `${lockfile}\n`);
  fs.writeFileSync(path.join(dir, 'test', 'emulator', 'requirements.txt'), `${requirements}\n`);
  return dir;
}

/**
 * Runs the README commands' install step in DIR, with their shell options, and returns the installs
 * it logged (it throws if the step fails). An env value of undefined removes that variable.
 */
function install(dir: string, env: Record<string, string | undefined> = {}): string[] {
  fs.writeFileSync(log, '');
  const merged: Record<string, string | undefined> = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    INSTALL_LOG: log,
    FAKE_VENV_PYTHON: path.join(root, 'venv-python'),
    SHARED_IMAGES_CACHE_DIR: cacheDir,
    SHARED_IMAGES_INSTALL_CACHE: 'on',
    NODE_ENV: undefined,
    ...env,
  };
  execFileSync('bash', ['-c', 'set -euo pipefail; source scripts/steps.sh; install_dependencies'], {
    cwd: dir,
    stdio: 'pipe',
    env: Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)) as NodeJS.ProcessEnv,
  });
  return fs.readFileSync(log, 'utf8').split('\n').filter((line) => /^(npm (ci|install)|python3 -m venv|venv-python -m pip)/.test(line))
    .sort(); // npm and moto install side by side: their lines interleave in any order.
}

const ALL_THREE = [expect.stringMatching(/^npm ci/), expect.stringMatching(/^python3 -m venv/), expect.stringMatching(/^venv-python -m pip/)];
const entries = (): string[] => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).sort() : []);
const read = (dir: string, file: string): string => fs.readFileSync(path.join(dir, file), 'utf8');

test('a first clone installs for real and saves both trees; a second clone takes them from the cache and runs no install', () => {
  const first = clone('first');
  expect(install(first)).toEqual([
    expect.stringMatching(/^npm ci --prefer-offline/),
    expect.stringMatching(/^python3 -m venv /),
    expect.stringMatching(/^venv-python -m pip install .*-r test\/emulator\/requirements.txt/),
  ]);
  expect(entries()).toEqual([expect.stringMatching(/^node_modules-[0-9a-f]{16}$/), expect.stringMatching(/^venv-[0-9a-f]{16}$/)]);

  const second = clone('second');
  expect(install(second)).toEqual([]);
  expect(read(second, 'node_modules/left-pad/index.js')).toEqual(read(first, 'node_modules/left-pad/index.js'));
  expect(fs.existsSync(path.join(second, '.venv', 'installed-by-pip'))).toBe(true);
  expect(read(second, '.venv/.requirements.sha256')).toEqual(read(first, '.venv/.requirements.sha256'));
  // The files are hard links to the cache entry's (CONTRIBUTING "Install cache"); the entry's own
  // completion mark stays in the cache.
  const [npmEntry] = entries();
  const inode = (file: string): number => fs.statSync(file).ino;
  expect(inode(path.join(second, 'node_modules/left-pad/index.js'))).toEqual(inode(path.join(cacheDir, npmEntry, 'left-pad/index.js')));
  expect(fs.existsSync(path.join(second, 'node_modules', '.install-cache-complete'))).toBe(false);
});

test('a later run in the same clone checks its tree with npm install, and leaves moto alone', () => {
  const dir = clone('dir');
  install(dir);
  expect(install(dir)).toEqual([expect.stringMatching(/^npm install --prefer-offline/)]);
});

test('a changed lockfile or requirements file is a miss, and only the two most recently used entries of a kind stay', () => {
  install(clone('v1', 'lock v1', 'moto==5.2.5'));
  expect(install(clone('v2', 'lock v2', 'moto==5.2.5'))).toEqual([expect.stringMatching(/^npm ci/)]);
  // v1 is used again, so v2's npm entry becomes the least recently used.
  expect(install(clone('v1-again', 'lock v1', 'moto==5.2.5'))).toEqual([]);
  expect(install(clone('v3', 'lock v3', 'moto==5.2.6'))).toEqual(ALL_THREE);
  const kinds = entries().map((entry) => entry.replace(/-[0-9a-f]{16}$/, ''));
  expect(kinds).toEqual(['node_modules', 'node_modules', 'venv', 'venv']);
  expect(install(clone('v1-third', 'lock v1', 'moto==5.2.6'))).toEqual([]);
  expect(install(clone('v2-again', 'lock v2', 'moto==5.2.6'))).toEqual([expect.stringMatching(/^npm ci/)]);
});

test('SHARED_IMAGES_INSTALL_CACHE=off neither reads nor writes the cache', () => {
  install(clone('warm'));
  const before = entries();
  expect(install(clone('ci', 'lock v1'), { SHARED_IMAGES_INSTALL_CACHE: 'off' })).toEqual(ALL_THREE);
  expect(install(clone('ci-new', 'lock v9'), { SHARED_IMAGES_INSTALL_CACHE: 'off' })).toContainEqual(expect.stringMatching(/^npm ci/));
  expect(entries()).toEqual(before);
});

test('npm\'s record of the installed tree is each tree\'s own copy; files replaced as npm and pip replace them leave the cache alone', () => {
  const first = clone('first');
  install(first);
  const original = read(first, 'node_modules/.package-lock.json');
  const second = clone('second');
  install(second);
  // npm rewrites its record in place, in the clone that saved the entry and in any other.
  fs.writeFileSync(path.join(first, 'node_modules', '.package-lock.json'), '{"changed": "first"}');
  fs.writeFileSync(path.join(second, 'node_modules', '.package-lock.json'), '{"changed": "second"}');
  // npm and pip replace a package's files: unlink, then write anew.
  const file = path.join(second, 'node_modules', 'left-pad', 'index.js');
  fs.unlinkSync(file);
  fs.writeFileSync(file, 'upgraded');
  const third = clone('third');
  expect(install(third)).toEqual([]);
  expect(read(third, 'node_modules/.package-lock.json')).toEqual(original);
  expect(read(third, 'node_modules/left-pad/index.js')).toEqual(read(first, 'node_modules/left-pad/index.js'));
  expect(read(third, 'node_modules/left-pad/index.js')).not.toEqual('upgraded');
});

test('an interrupted save (no completion mark) is never restored', () => {
  install(clone('first'));
  for (const entry of entries()) fs.rmSync(path.join(cacheDir, entry, '.install-cache-complete'));
  expect(install(clone('second'))).toEqual(ALL_THREE);
});

test('every other input of a key is a miss too: package.json, NODE_ENV, the Python interpreter', () => {
  install(clone('first'));
  expect(install(clone('python-3.12'), { FAKE_PYTHON_VERSION: 'Python 3.12.1' })).toEqual([
    expect.stringMatching(/^python3 -m venv/), expect.stringMatching(/^venv-python -m pip/),
  ]);
  const changedPackage = clone('changed-package');
  fs.writeFileSync(path.join(changedPackage, 'package.json'), '{ "name": "p", "version": "2" }\n');
  expect(install(changedPackage)).toEqual([expect.stringMatching(/^npm ci/)]);
  expect(install(clone('production'), { NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^npm ci/)]);
});

test('a restore that cannot make the tree leaves no part of it, and the clone installs for real', () => {
  const first = clone('first');
  install(first);
  const second = clone('second');
  expect(install(second, { FAIL_CP_FROM: cacheDir })).toEqual(ALL_THREE);
  expect(read(second, 'node_modules/left-pad/index.js')).toEqual(read(first, 'node_modules/left-pad/index.js'));
  expect(fs.readdirSync(second).filter((name) => name.includes('from-cache'))).toEqual([]);
});

test('a stale .venv is replaced from the cache, and rebuilding moto never writes into a tree another clone shares', () => {
  const first = clone('first', 'lock v1', 'moto==5.2.5');
  install(first);
  const built = read(first, '.venv/pyvenv.cfg');
  // The first clone moves to new requirements: its .venv, linked with the cache, is rebuilt.
  fs.writeFileSync(path.join(first, 'test', 'emulator', 'requirements.txt'), 'moto==5.2.6\n');
  expect(install(first)).toEqual([
    expect.stringMatching(/^npm install/), expect.stringMatching(/^python3 -m venv/), expect.stringMatching(/^venv-python -m pip/),
  ]);
  // A clone on the old requirements whose .venv is stale gets the old entry, as it was built.
  const second = clone('second', 'lock v1', 'moto==5.2.5');
  fs.mkdirSync(path.join(second, '.venv', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(second, '.venv', '.requirements.sha256'), 'stale\n');
  expect(install(second)).toEqual([]);
  expect(read(second, '.venv/pyvenv.cfg')).toEqual(built);
});

test('trouble with the cache folder never fails an install', () => {
  const blocker = path.join(root, 'a-file');
  fs.writeFileSync(blocker, '');
  expect(install(clone('unwritable'), { SHARED_IMAGES_CACHE_DIR: path.join(blocker, 'cache') })).toEqual(ALL_THREE);
  expect(install(clone('homeless'), { SHARED_IMAGES_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined, HOME: undefined })).toEqual(ALL_THREE);
  expect(entries()).toEqual([]);
});

test('a half-made entry over an hour old is removed by the next save; a recent one may still be in the making', () => {
  fs.mkdirSync(cacheDir, { recursive: true });
  const old = path.join(cacheDir, '.saving-node_modules-old123');
  const recent = path.join(cacheDir, '.saving-node_modules-new123');
  fs.mkdirSync(old);
  fs.mkdirSync(recent);
  const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
  fs.utimesSync(old, twoHoursAgo, twoHoursAgo);
  install(clone('first'));
  expect(fs.existsSync(old)).toBe(false);
  expect(fs.existsSync(recent)).toBe(true);
});
