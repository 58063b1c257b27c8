/**
 * Malformed properties as CloudFormation could deliver them, against both handlers and a real
 * image in moto: every Create and Update carrying them is refused before any AWS call (so before
 * any mutation, checked with the SDK call recorder) with one clear sentence that names the problem
 * and ends with what to do; a Delete carrying them still succeeds.
 */
import { amiBadInputs, amiTarget, BadInput, BadInputTarget, playBadInput, playDuplicates, workspaceBadInputs, workspaceTarget } from './bad-input';
import { ReliabilityEnv, startReliabilityEnv } from './harness';

let env: ReliabilityEnv;
const targets: Partial<Record<'ami' | 'ws', BadInputTarget>> = {};
beforeAll(async () => {
  env = await startReliabilityEnv();
  targets.ami = await amiTarget(env);
  targets.ws = await workspaceTarget(env);
}, 120_000);
afterAll(async () => {
  await env?.stop();
});

async function expectRefused(target: BadInputTarget | undefined, row: BadInput): Promise<void> {
  const results = await playBadInput(target!, row);
  expect(results.filter((r) => r.problem).map((r) => `${r.requestType}: ${r.problem}`)).toEqual([]);
  expect(results.map((r) => r.requestType)).toEqual(row.deleteToo === false ? ['Create', 'Update'] : ['Create', 'Update', 'Delete']);
}

describe('SharedAmi', () => {
  test.each(amiBadInputs().map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    await expectRefused(targets.ami, row);
  });

  test('duplicates are not refused but shared once (de-duplicated), and the Delete removes the share', async () => {
    expect(await playDuplicates(targets.ami!)).toEqual([expect.not.objectContaining({ problem: expect.anything() })]);
  });
});

describe('SharedWorkspaceImage', () => {
  test.each(workspaceBadInputs().map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    await expectRefused(targets.ws, row);
  });

  test('duplicates are not refused but shared once (de-duplicated), and the Delete removes the share', async () => {
    expect(await playDuplicates(targets.ws!)).toEqual([expect.not.objectContaining({ problem: expect.anything() })]);
  });
});
