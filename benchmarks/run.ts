/**
 * The benchmark command: measures, side by side in one run, and writes BENCHMARKS.md with
 * the figures, the command that reproduces them and the machine they ran on. It prints figures and
 * asserts nothing about speed.
 *
 *   npx ts-node --transpile-only --project benchmarks/tsconfig.json benchmarks/run.ts [options]
 *
 * Options:
 *   --quick              fewer repetitions and smaller N (a smoke run; figures are not the published ones)
 *   --only=a,b           sections to run: synth, calls, concurrency, cost (default: all)
 *   --out=FILE           where to write the report (default: BENCHMARKS.md at the repo root, full runs only)
 *   --json=FILE          also write the raw figures as JSON
 *
 * Needs the bundled handlers (`npx projen bundle`) and moto in .venv (`npx projen emulator:setup`).
 */
import { writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EmulatorContext, runAwsCalls } from './aws-calls';
import { runConcurrency } from './concurrency';
import { runHandlerCost } from './handler-cost';
import { machineInfo } from './lib/machine';
import { startLatencyProxy } from './lib/proxy';
import { nowMs, progress } from './lib/stats';
import { BenchmarkResults, renderReport } from './report';
import { runSynthScale } from './synth-scale';
import { ec2Client, motoEnvironment, startMoto } from '../test/emulator/moto';
import { buildWorkspaceHost, workspacesClient } from '../test/emulator/workspaces-fixture';

const REPO_ROOT = path.resolve(__dirname, '..');
const SECTIONS = ['synth', 'calls', 'concurrency', 'cost'] as const;
type Section = typeof SECTIONS[number];

export const COMMAND = 'npx ts-node --transpile-only --project benchmarks/tsconfig.json benchmarks/run.ts';

interface Options {
  readonly quick: boolean;
  readonly sections: Set<Section>;
  readonly out?: string;
  readonly json?: string;
}

function parseArgs(argv: string[]): Options {
  let quick = false;
  let sections = new Set<Section>(SECTIONS);
  let out: string | undefined;
  let json: string | undefined;
  for (const arg of argv) {
    const [flag, value] = arg.split(/=(.*)/s, 2);
    if (flag === '--quick') {quick = true;} else if (flag === '--only' && value) {
      const picked = value.split(',').map((s) => s.trim());
      const unknown = picked.filter((s) => !(SECTIONS as readonly string[]).includes(s));
      if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}: choose from ${SECTIONS.join(', ')}`);
      sections = new Set(picked as Section[]);
    } else if (flag === '--out' && value) {out = path.resolve(value);} else if (flag === '--json' && value) {json = path.resolve(value);} else {throw new Error(`unknown argument ${arg} (see the header of benchmarks/run.ts)`);}
  }
  // A partial or quick run never overwrites the published report unless asked to.
  const full = !quick && sections.size === SECTIONS.length;
  return { quick, sections, out: out ?? (full ? path.join(REPO_ROOT, 'BENCHMARKS.md') : undefined), json };
}

/** Sizes and repetitions; the full set keeps the whole run near 10 minutes on 2 cores. */
function plan(quick: boolean) {
  return quick ? {
    synthCounts: [1, 10, 100],
    synthRepetitions: () => 1,
    amiCounts: [1, 10, 100],
    workspacesCounts: [1, 10, 25],
    concurrency: [{ accounts: 10, latencyMs: 50, ratePerSecond: 0, burst: 5 }, { accounts: 25, latencyMs: 50, ratePerSecond: 50, burst: 5 }],
    oursRepetitions: 1,
    sequentialRepetitions: 1,
    loadRuns: 5,
  } : {
    synthCounts: [1, 10, 100, 500],
    synthRepetitions: (n: number) => (n >= 100 ? 3 : 5),
    amiCounts: [1, 10, 100, 1000],
    workspacesCounts: [1, 10, 100, 200],
    concurrency: [
      { accounts: 50, latencyMs: 50, ratePerSecond: 0, burst: 5 },
      { accounts: 200, latencyMs: 50, ratePerSecond: 0, burst: 5 },
      { accounts: 50, latencyMs: 50, ratePerSecond: 50, burst: 5 },
      { accounts: 200, latencyMs: 50, ratePerSecond: 50, burst: 5 },
      // A longer latency shows how much of the gap to the bound is fixed cost (reads, moto's own time).
      { accounts: 200, latencyMs: 200, ratePerSecond: 0, burst: 5, sequentialRepetitions: 1 },
    ],
    oursRepetitions: 5,
    sequentialRepetitions: 3,
    loadRuns: 21,
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const sizes = plan(options.quick);
  const started = nowMs();
  const machine = machineInfo(REPO_ROOT);
  progress(`machine: ${machine.cpuModel}, ${machine.nproc} CPUs, ${machine.memoryGiB.toFixed(1)} GiB, Node ${machine.node}, load ${machine.loadAverage}`);
  const results: BenchmarkResults = { machine, quick: options.quick, command: COMMAND, sectionsMs: {} };

  // Handler cost first: fresh processes are the figures most sensitive to other load (moto, synth).
  if (options.sections.has('cost')) {
    const t = nowMs();
    progress('section 4: handler cost');
    results.cost = runHandlerCost(REPO_ROOT, sizes.loadRuns);
    results.sectionsMs.cost = nowMs() - t;
  }
  if (options.sections.has('synth')) {
    const t = nowMs();
    progress('section 1: synth scale');
    results.synth = runSynthScale({ counts: sizes.synthCounts, repetitions: sizes.synthRepetitions });
    results.sectionsMs.synth = nowMs() - t;
  }
  if (options.sections.has('calls') || options.sections.has('concurrency')) {
    progress('starting moto and the latency proxy');
    const moto = await startMoto();
    let proxy: Awaited<ReturnType<typeof startLatencyProxy>> | undefined;
    const ec2 = ec2Client(moto);
    const workspaces = workspacesClient(moto);
    try {
      proxy = await startLatencyProxy(moto.endpoint, REPO_ROOT);
      // The handlers' own SDK clients read the endpoint from the environment: every handler call
      // goes through the proxy; setup and read-back use the direct clients above.
      Object.assign(process.env, motoEnvironment(moto), { AWS_ENDPOINT_URL: proxy.endpoint, SHARED_IMAGES_QUIET: '1' });
      const host = await buildWorkspaceHost(moto, ec2, workspaces);
      const ctx: EmulatorContext = { moto, proxy, ec2, workspaces, host };
      if (options.sections.has('calls')) {
        const t = nowMs();
        progress('section 2: AWS calls');
        results.calls = await runAwsCalls(ctx, { amiCounts: sizes.amiCounts, workspacesCounts: sizes.workspacesCounts });
        results.sectionsMs.calls = nowMs() - t;
      }
      if (options.sections.has('concurrency')) {
        const t = nowMs();
        progress('section 3: WorkSpaces concurrency');
        results.concurrency = await runConcurrency(ctx, {
          scenarios: sizes.concurrency, oursRepetitions: sizes.oursRepetitions, sequentialRepetitions: sizes.sequentialRepetitions,
        });
        results.sectionsMs.concurrency = nowMs() - t;
      }
    } finally {
      ec2.destroy();
      workspaces.destroy();
      await proxy?.stop();
      await moto.stop();
    }
  }
  results.totalMs = nowMs() - started;
  results.loadAtEnd = os.loadavg().map((l) => l.toFixed(2)).join(' / ');

  const report = renderReport(results);
  process.stdout.write(`${report}\n`);
  if (options.out) {
    writeFileSync(options.out, `${report}\n`);
    progress(`wrote ${path.relative(process.cwd(), options.out) || options.out}`);
  }
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(results, undefined, 1)}\n`);
    progress(`wrote ${options.json}`);
  }
  progress(`done in ${(results.totalMs / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
