/**
 * Random lifecycles of both constructs against moto, without faults: two resources on the same
 * images (the second of the same stack or of another stack) declaring overlapping recipients, their
 * Creates, Updates (random recipient sets, sometimes a new image), rollbacks, duplicated events and
 * Deletes interleaved, Deletes of physical ids the handler never issued, and shares added and
 * removed outside between events (before a resource declares them, while it does). After every
 * step each image holds exactly the union of what the live resources declare and the shares
 * outside parties made (a share made outside is never revoked; a recipient several resources
 * declare stays until the last lets it go), the KMS grants are each resource's (account recipients
 * × customer managed keys) plus the outside grants, and after the last Delete on an image only the
 * outside shares remain.
 *
 * A small size for the default test run; `test/reliability/run.ts` runs the large one. A failure
 * prints the shrunk sequence, its events and the replay command.
 */
import { NO_FAULTS } from './fault-proxy';
import { ReliabilityEnv, runSize, startReliabilityEnv } from './harness';
import { describeFailure, runPhase } from './suite';

/** Small enough for the default run; RELIABILITY_SEED replays another schedule. */
const size = { ...runSize({ seed: 20250601, runs: 4, maxSteps: 8 }, { RELIABILITY_SEED: process.env.RELIABILITY_SEED }), faults: NO_FAULTS };

let env: ReliabilityEnv;
beforeAll(async () => {
  env = await startReliabilityEnv({ backoff: size.backoff });
}, 120_000);
afterAll(async () => {
  await env?.stop();
});

test.each(['SharedAmi', 'SharedWorkspaceImage'] as const)('%s: random lifecycles keep every invariant and always delete cleanly', async (construct) => {
  const result = await runPhase(env, { construct, kind: 'lifecycle' }, size);
  if (result.details.failed) throw new Error(describeFailure(result, size));
  expect(result.figures).toMatchObject({ sequences: size.runs, invariantViolations: 0, stuckDeletes: 0, faultsInjected: 0 });
  // the closing Delete of every sequence, at least
  expect(result.figures.events).toBeGreaterThan(size.runs);
}, 120_000);
