/**
 * Both handlers behind the fault proxy (AWS_ENDPOINT_URL → proxy → moto):
 * - random lifecycles with 20 % throttling, 5 % 5xx and 2 % connection resets, and in about half of
 *   them one request whose retries all fail: every sequence converges with the invariants holding;
 * - calls whose every attempt fails (throttling, 5xx, a load balancer's page, resets): the event
 *   fails with the short CloudFormation sentence (one line, at most 1,500 characters, no stack
 *   trace, no raw answer), CloudFormation's reaction (rollback, redeploy, retried delete) converges,
 *   and nothing of the resource is left behind. The runner (run.ts) plays every call × every kind.
 */
import { ReliabilityEnv, runSize, startReliabilityEnv } from './harness';
import { describeFailure, exhaustionCases, exhaustionName, runExhaustion, runPhase } from './suite';

const size = runSize({ seed: 20250601, runs: 3, maxSteps: 6 }, { RELIABILITY_SEED: process.env.RELIABILITY_SEED });

let env: ReliabilityEnv;
beforeAll(async () => {
  env = await startReliabilityEnv({ backoff: size.backoff });
}, 120_000);
afterAll(async () => {
  await env?.stop();
});

describe('random lifecycles under faults', () => {
  test.each(['SharedAmi', 'SharedWorkspaceImage'] as const)('%s: 20 %% throttling, 5 %% 5xx, 2 %% resets: every sequence converges', async (construct) => {
    const result = await runPhase(env, { construct, kind: 'faults' }, size);
    if (result.details.failed) throw new Error(describeFailure(result, size));
    expect(result.figures).toMatchObject({ sequences: size.runs, invariantViolations: 0, stuckDeletes: 0 });
    expect(result.figures.faultsInjected).toBeGreaterThan(0);
  }, 120_000);
});

describe('retries that run out', () => {
  const cases = exhaustionCases().filter((c) => c.quick);

  test('the quick cases cover every kind of fault and both constructs', () => {
    expect(new Set(cases.map((c) => c.kind)).size).toBe(4);
    expect(new Set(cases.map((c) => c.construct)).size).toBe(2);
  });

  test.each(cases.map((c) => [exhaustionName(c), c] as const))('%s', async (_name, c) => {
    const figures = await runExhaustion(env, c);
    expect(figures).toMatchObject({ retriesExhausted: 1, invariantViolations: 0, stuckDeletes: 0 });
  }, 60_000);
});
