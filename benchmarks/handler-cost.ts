/**
 * Section 4, handler cost: the size of each bundled handler (what the package ships and Lambda
 * loads) and its module load time in fresh Node processes, beside loading the bare AWS SDK v3
 * clients it bundles (from node_modules, as a handler using the runtime's SDK would) and an empty
 * Node process. The targets take turns, run after run, so that drift in the machine's load spreads
 * over all of them.
 */
import { spawnSync } from 'child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { median, nowMs, progress } from './lib/stats';

export interface LoadTarget {
  readonly key: string;
  readonly label: string;
  /** Modules to require, in order; none = an empty process. */
  readonly modules: string[];
  /** The bundle file, for its size. */
  readonly bundle?: string;
  /** What it is compared with. */
  readonly baseline?: string;
}

export interface LoadRow {
  readonly key: string;
  readonly label: string;
  readonly baseline?: string;
  readonly bundleBytes?: number;
  readonly bundleGzipBytes?: number;
  /** Time inside the process from before the first require to after the last, medians, ms. */
  readonly requireMedianMs: number;
  /** Spawn to exit, as the parent sees it, median, ms. */
  readonly processMedianMs: number;
  readonly runs: number;
}

export interface HandlerCostResult {
  readonly runs: number;
  /** Size of the published EC2 client code (node_modules/@aws-sdk/client-ec2/dist-cjs/index.js), for context. */
  readonly sdkEc2Bytes?: number;
  /** When the oldest measured bundle was written. */
  readonly bundlesBuiltAt: string;
  /** Handler sources (lambda/, src/private/) changed after that: the bundles do not contain them. */
  readonly newerSources: string[];
  readonly rows: LoadRow[];
}

export function loadTargets(repoRoot: string): LoadTarget[] {
  const ami = path.join(repoRoot, 'assets', 'lambda', 'shared-ami.lambda', 'index.js');
  const wsi = path.join(repoRoot, 'assets', 'lambda', 'shared-workspace-image.lambda', 'index.js');
  return [
    { key: 'node', label: 'empty Node process', modules: [] },
    { key: 'ami-bundle', label: 'SharedAmi handler bundle', modules: [ami], bundle: ami, baseline: 'ami-sdk' },
    { key: 'ami-sdk', label: 'bare `@aws-sdk/client-ec2` + `@aws-sdk/client-kms`', modules: ['@aws-sdk/client-ec2', '@aws-sdk/client-kms'] },
    { key: 'wsi-bundle', label: 'SharedWorkspaceImage handler bundle', modules: [wsi], bundle: wsi, baseline: 'wsi-sdk' },
    { key: 'wsi-sdk', label: 'bare `@aws-sdk/client-workspaces`', modules: ['@aws-sdk/client-workspaces'] },
  ];
}

/** One fresh process: returns [require time inside it, spawn-to-exit time], ms. */
function loadOnce(repoRoot: string, target: LoadTarget): [number, number] {
  const code = target.modules.length === 0
    ? 'process.stdout.write("0")'
    : `const t=process.hrtime.bigint();${target.modules.map((m) => `require(${JSON.stringify(m)});`).join('')}`
      + 'process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))';
  const start = nowMs();
  const out = spawnSync(process.execPath, ['-e', code], { cwd: repoRoot, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 });
  const wall = nowMs() - start;
  if (out.status !== 0) throw new Error(`loading ${target.label} failed (exit ${out.status}): ${out.stderr}`);
  return [Number(out.stdout), wall];
}

export function runHandlerCost(repoRoot: string, runs: number): HandlerCostResult {
  const targets = loadTargets(repoRoot);
  for (const t of targets) {
    if (t.bundle && !existsSync(t.bundle)) throw new Error(`${t.bundle} does not exist: run "npx projen bundle" first`);
  }
  for (const t of targets) loadOnce(repoRoot, t); // warm the file cache
  const samples = new Map<string, Array<[number, number]>>(targets.map((t) => [t.key, []]));
  for (let r = 0; r < runs; r++) {
    for (const t of targets) samples.get(t.key)!.push(loadOnce(repoRoot, t));
  }
  const rows = targets.map((t): LoadRow => {
    const s = samples.get(t.key)!;
    return {
      key: t.key,
      label: t.label,
      baseline: t.baseline,
      bundleBytes: t.bundle ? statSync(t.bundle).size : undefined,
      bundleGzipBytes: t.bundle ? gzipSync(readFileSync(t.bundle), { level: 9 }).length : undefined,
      requireMedianMs: median(s.map((x) => x[0])),
      processMedianMs: median(s.map((x) => x[1])),
      runs,
    };
  });
  for (const row of rows) progress(`load ${row.key}: require ${row.requireMedianMs.toFixed(1)} ms, process ${row.processMedianMs.toFixed(1)} ms (median of ${runs})`);
  const ec2 = path.join(repoRoot, 'node_modules', '@aws-sdk', 'client-ec2', 'dist-cjs', 'index.js');
  const builtAt = Math.min(...targets.filter((t) => t.bundle).map((t) => statSync(t.bundle!).mtimeMs));
  const newerSources = [...sources(path.join(repoRoot, 'lambda')), ...sources(path.join(repoRoot, 'src', 'private'))]
    .filter((f) => statSync(f).mtimeMs > builtAt).map((f) => path.relative(repoRoot, f));
  return {
    runs, rows, sdkEc2Bytes: existsSync(ec2) ? statSync(ec2).size : undefined, bundlesBuiltAt: new Date(builtAt).toISOString(), newerSources,
  };
}

function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}
