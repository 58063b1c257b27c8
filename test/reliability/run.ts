/**
 * The reliability run: random lifecycles of both constructs against moto, without and with
 * injected faults, and the figures. Each lifecycle plays two resources declaring overlapping
 * recipients on the same images (the second of the same stack or of another stack) and outside
 * shares around them; the invariants are checked after every step (see ./ami-scenario,
 * ./workspaces-scenario and ./ownership-model).
 *
 *   npx ts-node --transpile-only --project example/tsconfig.json test/reliability/run.ts
 *
 * Size and schedule from the environment:
 *   RELIABILITY_RUNS      sequences per construct and phase (default 25)
 *   RELIABILITY_STEPS     most steps per sequence, before its closing Delete (default 12)
 *   RELIABILITY_SEED      fast-check seed (default 20250601): the same seed replays the same sequences
 *   RELIABILITY_PATH      with RELIABILITY_SEED, replays one failing sequence (printed with a failure)
 *   RELIABILITY_ONLY      run one phase: "bad input", "retries run out", or e.g. "SharedAmi faults"
 *   RELIABILITY_THROTTLE / RELIABILITY_5XX / RELIABILITY_RESET   fault rates (default 0.2 / 0.05 / 0.02)
 *   RELIABILITY_BACKOFF   factor on the AWS SDK's retry waits (default 0.02; 1 = the SDK's own)
 *   RELIABILITY_SHRINK    0: report a failure as found, without shrinking it
 *
 * Exits 1 when any invariant was violated, any delete got stuck, or any sequence failed.
 */
import { runBadInputs } from './bad-input';
import { addFigures, emptyFigures, formatFigures, runSize, startReliabilityEnv } from './harness';
import { describeFailure, exhaustionCases, exhaustionName, PHASES, phaseName, runExhaustion, runPhase } from './suite';

async function main(): Promise<number> {
  process.env.SHARED_IMAGES_QUIET = '1';
  const size = runSize({ seed: 20250601, runs: 25, maxSteps: 12 });
  const only = process.env.RELIABILITY_ONLY;
  const phases = PHASES.filter((p) => !only || phaseName(p) === only);
  const badInput = !only || only === 'bad input';
  const exhaustion = !only || only === 'retries run out';
  if (phases.length === 0 && !badInput && !exhaustion) throw new Error(`RELIABILITY_ONLY=${JSON.stringify(only)} names no phase; phases: ${PHASES.map(phaseName).join(', ')}`);
  const pct = (r: number): string => `${Math.round(r * 1000) / 10}%`;
  console.log(`reliability: seed ${size.seed}, ${size.runs} sequences per construct and phase, up to ${size.maxSteps} steps each (+ a closing Delete);`
    + ` fault phase: ${pct(size.faults.throttle)} throttling, ${pct(size.faults.serverError)} 5xx, ${pct(size.faults.reset)} connection resets,`
    + ` one request exhausting the SDK's retries in about half the sequences; SDK backoff x${size.backoff}`);

  const env = await startReliabilityEnv({ backoff: size.backoff });
  const total = emptyFigures();
  const failures: string[] = [];
  try {
    if (badInput) {
      const results = await runBadInputs(env);
      const duplicates = results.filter((r) => r.name.includes('de-duplicated'));
      const refusals = results.filter((r) => r.requestType !== 'Delete' && !duplicates.includes(r));
      const deletes = results.filter((r) => r.requestType === 'Delete');
      const wrong = results.filter((r) => r.problem);
      const not = (rs: typeof results): string => `${rs.filter((r) => r.problem).length} not`;
      console.log(`${'bad input'.padEnd(32)} ${refusals.length} malformed Creates and Updates refused before any AWS call with one clear sentence (${not(refusals)}),`
        + ` ${deletes.length} Deletes with the same properties succeeded (${not(deletes)}), ${duplicates.length} duplicate lists shared once (${not(duplicates)})`);
      for (const r of wrong) {
        const text = `bad input: ${r.construct} ${r.requestType} with ${r.name}: ${r.problem}`;
        failures.push(text);
        console.log(`  ${text}`);
      }
    }
    if (exhaustion) {
      const figures = emptyFigures();
      const cases = exhaustionCases();
      let failed = 0;
      for (const c of cases) {
        try {
          const f = await runExhaustion(env, c);
          addFigures(figures, f);
          if (f.retriesExhausted !== 1) throw new Error(`expected the event to fail once, it failed ${f.retriesExhausted} times`);
        } catch (err) {
          failed++;
          const text = `${exhaustionName(c)}: ${err instanceof Error ? err.message : String(err)}`;
          failures.push(text);
          console.log(text);
        }
      }
      addFigures(total, figures);
      console.log(`${'retries run out'.padEnd(32)} ${cases.length / 4} calls × 4 fault kinds, ${failed} of ${cases.length} failed; ${formatFigures(figures)}`);
    }
    for (const phase of phases) {
      const result = await runPhase(env, phase, size, { shrink: process.env.RELIABILITY_SHRINK !== '0' });
      addFigures(total, result.figures);
      console.log(`${phaseName(result.phase).padEnd(32)} ${formatFigures(result.figures)}`);
      if (result.details.failed) {
        const text = describeFailure(result, size);
        failures.push(text);
        console.log(text);
      }
    }
  } finally {
    await env.stop();
  }
  console.log(`${'total'.padEnd(32)} ${formatFigures(total)}`);
  const bad = failures.length > 0 || total.invariantViolations > 0 || total.stuckDeletes > 0;
  console.log(bad ? `reliability: FAILED (${failures.length} phase(s) failed)` : 'reliability: OK (invariant violations 0, stuck deletes 0)');
  return bad ? 1 : 0;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});
