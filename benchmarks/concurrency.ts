/**
 * Section 3, WorkSpaces concurrency: sharing one image with N accounts through the latency proxy
 * (a fixed latency per call, optionally a rate limit), timed three ways:
 *
 * - ours: the real handler's Create, end to end (onEvent, which reads the image and its current
 *   permissions and then shares, SHARE_CONCURRENCY calls in flight; then isComplete);
 * - a sequential loop: one UpdateWorkspaceImagePermission per account, one after the other (no reads),
 *   through the handler's own adapter and SDK client;
 * - the bound: accounts × latency ÷ concurrency, or accounts ÷ rate when throttled, whichever is larger.
 */
import { EmulatorContext, playWorkspaces } from './aws-calls';
import { accountIds, median, progress, timed } from './lib/stats';
import { SHARE_CONCURRENCY } from '../lambda/workspaces/plan';
import { MAX_ATTEMPTS, updateImagePermission } from '../lambda/workspaces/workspaces-adapter';
import * as ws from '../test/emulator/workspaces-fixture';

export interface ConcurrencyScenario {
  readonly accounts: number;
  readonly latencyMs: number;
  /** 0 = no throttling. */
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Overrides the sequential loop's repetitions for this scenario (a long loop may run once). */
  readonly sequentialRepetitions?: number;
}

export interface Timing {
  readonly samplesMs: number[];
  readonly medianMs: number;
  /** Calls the proxy throttled, median over the runs. */
  readonly throttled: number;
  /** HTTP requests, median over the runs. */
  readonly requests: number;
  /** Runs that failed (the error's first line); a failed run has no sample. */
  readonly failures: string[];
}

export interface ConcurrencyRow extends ConcurrencyScenario {
  readonly ours: Timing;
  readonly sequential: Timing;
  /** accounts × latency ÷ concurrency, or accounts ÷ rate if larger. */
  readonly boundMs: number;
  /** moto's own time per call behind the proxy (median) while the handler keeps several calls in flight. */
  readonly upstreamConcurrentMs: number;
  /** moto's own time per call (median) when calls come one at a time (the sequential loop). */
  readonly upstreamSoloMs: number;
}

export interface ConcurrencyResult {
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly rows: ConcurrencyRow[];
  readonly repetitions: { ours: number; sequential: number };
}

export interface ConcurrencyOptions {
  readonly scenarios: ConcurrencyScenario[];
  readonly oursRepetitions: number;
  readonly sequentialRepetitions: number;
}

export function boundMs(s: ConcurrencyScenario): number {
  const latencyBound = (s.accounts * s.latencyMs) / SHARE_CONCURRENCY;
  const rateBound = s.ratePerSecond > 0 ? (s.accounts / s.ratePerSecond) * 1000 : 0;
  return Math.max(latencyBound, rateBound);
}

async function measure(
  ctx: EmulatorContext, scenario: ConcurrencyScenario, runs: number, run: (imageId: string, accounts: string[]) => Promise<void>,
): Promise<Timing & { upstream: number[] }> {
  const samples: number[] = [];
  const throttled: number[] = [];
  const requests: number[] = [];
  const upstream: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < Math.max(1, runs); i++) {
    const imageId = await ws.createWorkspaceImage(ctx.workspaces, ctx.host); // direct to moto: no latency, not counted
    const accounts = accountIds(scenario.accounts);
    await ctx.proxy.configure({ latencyMs: scenario.latencyMs, ratePerSecond: scenario.ratePerSecond, burst: scenario.burst });
    await ctx.proxy.reset();
    try {
      const { ms } = await timed(() => run(imageId, accounts));
      const shared = await ws.sharedAccounts(ctx.workspaces, imageId);
      if (shared.length !== accounts.length) throw new Error(`${shared.length} of ${accounts.length} accounts shared afterwards`);
      samples.push(ms);
    } catch (err) {
      failures.push(String((err as Error).message ?? err).split('\n')[0].slice(0, 300));
    }
    const stats = await ctx.proxy.stats();
    throttled.push(stats.throttled);
    requests.push(stats.requests);
    upstream.push(stats.upstreamMs[0]);
  }
  await ctx.proxy.configure({ latencyMs: 0, ratePerSecond: 0 });
  return {
    samplesMs: samples,
    medianMs: samples.length ? median(samples) : NaN,
    throttled: median(throttled),
    requests: median(requests),
    failures,
    upstream,
  };
}

export async function runConcurrency(ctx: EmulatorContext, options: ConcurrencyOptions): Promise<ConcurrencyResult> {
  const rows: ConcurrencyRow[] = [];
  try {
    for (const scenario of options.scenarios) {
      const ours = await measure(ctx, scenario, options.oursRepetitions, async (imageId, accounts) => {
        await playWorkspaces(ws.createEvent({ imageId, accounts }));
      });
      const sequential = await measure(ctx, scenario, scenario.sequentialRepetitions ?? options.sequentialRepetitions, async (imageId, accounts) => {
        // The handler's own adapter and client (same endpoint, same retries): only the concurrency differs.
        for (const account of accounts) await updateImagePermission(imageId, account, true);
      });
      const { upstream: oursUpstream, ...oursTiming } = ours;
      const { upstream: sequentialUpstream, ...sequentialTiming } = sequential;
      const row: ConcurrencyRow = {
        ...scenario,
        ours: oursTiming,
        sequential: sequentialTiming,
        boundMs: boundMs(scenario),
        upstreamConcurrentMs: median(oursUpstream),
        upstreamSoloMs: median(sequentialUpstream),
      };
      rows.push(row);
      progress(`concurrency N=${scenario.accounts} latency=${scenario.latencyMs} rate=${scenario.ratePerSecond}: ours ${row.ours.medianMs.toFixed(0)} ms`
        + ` (${ours.failures.length} failed), sequential ${row.sequential.medianMs.toFixed(0)} ms, bound ${row.boundMs.toFixed(0)} ms`);
    }
  } finally {
    await ctx.proxy.configure({ latencyMs: 0, ratePerSecond: 0 });
  }
  return {
    concurrency: SHARE_CONCURRENCY,
    maxAttempts: MAX_ATTEMPTS,
    rows,
    repetitions: { ours: options.oursRepetitions, sequential: options.sequentialRepetitions },
  };
}
