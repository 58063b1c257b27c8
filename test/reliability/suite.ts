/**
 * The reliability phases as fast-check properties, shared by the runner (run.ts) and the jest
 * tests: for each construct, random lifecycles without faults, then with injected faults.
 */
import fc from 'fast-check';
import { AmiSequence, amiSequenceArb, runAmiSequence } from './ami-scenario';
import { FaultKind, FaultRates, NO_FAULTS } from './fault-proxy';
import { emptyFigures, Figures, ReliabilityEnv, RunSize } from './harness';
import { runWorkspaceSequence, WorkspaceSequence, workspaceSequenceArb } from './workspaces-scenario';

export type Construct = 'SharedAmi' | 'SharedWorkspaceImage';
export type PhaseKind = 'lifecycle' | 'faults';

export interface Phase {
  readonly construct: Construct;
  readonly kind: PhaseKind;
}

export const PHASES: readonly Phase[] = [
  { construct: 'SharedAmi', kind: 'lifecycle' },
  { construct: 'SharedWorkspaceImage', kind: 'lifecycle' },
  { construct: 'SharedAmi', kind: 'faults' },
  { construct: 'SharedWorkspaceImage', kind: 'faults' },
];

export function phaseName(phase: Phase): string {
  return `${phase.construct} ${phase.kind}`;
}

export interface PhaseResult {
  readonly phase: Phase;
  readonly figures: Figures;
  readonly details: fc.RunDetails<[unknown]>;
}

/**
 * Runs one phase: `size.runs` sequences from `size.seed` (a failure shrinks to a minimal sequence,
 * unless `shrink` is false). Figures count the first run of each sequence, not the shrinking replays.
 */
export async function runPhase(env: ReliabilityEnv, phase: Phase, size: RunSize, options: { shrink?: boolean } = {}): Promise<PhaseResult> {
  const figures = emptyFigures();
  const rates: FaultRates = phase.kind === 'faults' ? size.faults : NO_FAULTS;
  const withFaults = phase.kind === 'faults';
  let counting = true;
  const counted = async (run: (f: Figures, count: boolean) => Promise<void>): Promise<void> => {
    const count = counting;
    try {
      await run(count ? figures : emptyFigures(), count);
    } catch (err) {
      counting = false;
      throw err;
    }
  };
  const property = phase.construct === 'SharedAmi'
    ? fc.asyncProperty(amiSequenceArb(size.maxSteps, withFaults), (seq) => counted((f, c) => runAmiSequence(env, seq, rates, f, c)))
    : fc.asyncProperty(workspaceSequenceArb(size.maxSteps, withFaults), (seq) => counted((f, c) => runWorkspaceSequence(env, seq, rates, f, c)));
  const details = await fc.check(property as fc.IAsyncProperty<[unknown]>, {
    numRuns: size.runs,
    seed: size.seed,
    ...(size.path ? { path: size.path } : {}),
    endOnFailure: options.shrink === false,
  });
  return { phase, figures, details };
}

/** The failure of a phase, printable: the error (with the event log), the minimal sequence and how to replay it. */
export function describeFailure(result: PhaseResult, size: RunSize): string {
  const d = result.details;
  const error = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  return [
    `${phaseName(result.phase)} FAILED after ${d.numRuns} sequence(s) and ${d.numShrinks} shrinks: ${error}`,
    `  minimal sequence: ${fc.stringify(d.counterexample?.[0])}`,
    `  replay: RELIABILITY_SEED=${d.seed} RELIABILITY_PATH=${JSON.stringify(d.counterexamplePath)} RELIABILITY_ONLY=${JSON.stringify(phaseName(result.phase))}`
      + ` RELIABILITY_STEPS=${size.maxSteps} npx ts-node --transpile-only --project example/tsconfig.json test/reliability/run.ts`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Retries that run out, call by call
// ---------------------------------------------------------------------------------------------

/**
 * One call of a handler whose every attempt fails (its `after`-th request of that action), in a
 * fixed sequence: the event fails with the CloudFormation sentence, CloudFormation's reaction
 * (rollback, redeploy, retried delete) converges, and the invariants hold throughout.
 */
export interface ExhaustionCase {
  readonly construct: Construct;
  readonly action: string;
  readonly kind: FaultKind;
  readonly after: number;
  /** Where it lands in the sequence. */
  readonly where: string;
  /** Part of the default test run (the runner plays every case). */
  readonly quick: boolean;
}

/** [action, after, where, the kind of fault it gets in the default test run (none: runner only)]. */
type Call = [string, number, string, FaultKind | undefined];

const AMI_CALLS: Call[] = [
  ['DescribeImages', 0, 'the Create\'s first read', undefined],
  ['DescribeImageAttribute', 0, 'the Create\'s read of the launch permissions', 'gateway-error'],
  ['DescribeSnapshotAttribute', 0, 'the Create\'s read of a snapshot\'s permissions', undefined],
  ['DescribeSnapshots', 0, 'the Create\'s read of the snapshots\' keys', undefined],
  ['DescribeKey', 0, 'the Create\'s read of a key', undefined],
  ['ListGrants', 1, 'the Create\'s read of the second key\'s grants', undefined],
  ['CreateGrant', 1, 'the Create\'s second grant (the first is undone)', 'server-error'],
  ['ModifyImageAttribute', 0, 'the Create\'s launch permissions, after its grants (they are undone)', undefined],
  ['ModifySnapshotAttribute', 3, 'the Update, part-way (CloudFormation\'s rollback converges)', 'throttle'],
  ['RevokeGrant', 0, 'the Update\'s last steps', undefined],
  ['RevokeGrant', 2, 'the closing Delete (retried until it succeeds)', 'reset'],
];

const WORKSPACE_CALLS: Call[] = [
  ['DescribeWorkspaceImages', 0, 'the Create\'s first read', undefined],
  ['DescribeWorkspaceImagePermissions', 1, 'the Update\'s read', undefined],
  ['UpdateWorkspaceImagePermission', 1, 'the Create\'s second share (the first is undone)', 'throttle'],
  ['UpdateWorkspaceImagePermission', 4, 'the Update, part-way (CloudFormation\'s rollback converges)', 'gateway-error'],
  ['UpdateWorkspaceImagePermission', 8, 'the replacement\'s cleanup or the closing Delete', undefined],
];

const KINDS: readonly FaultKind[] = ['throttle', 'server-error', 'gateway-error', 'reset'];

/** Every call a handler makes × every kind of fault; `quick` marks the default test run's few. */
export function exhaustionCases(): ExhaustionCase[] {
  const cases: ExhaustionCase[] = [];
  const add = (construct: Construct, calls: Call[]): void => {
    for (const [action, after, where, quickKind] of calls) {
      for (const kind of KINDS) cases.push({ construct, action, after, where, kind, quick: kind === quickKind });
    }
  };
  add('SharedAmi', AMI_CALLS);
  add('SharedWorkspaceImage', WORKSPACE_CALLS);
  return cases;
}

export function exhaustionName(c: ExhaustionCase): string {
  return `${c.construct}: ${c.action} fails on every attempt (${c.kind}) in ${c.where}`;
}

function amiExhaustion(c: ExhaustionCase): AmiSequence {
  const props = (accounts: string[]) => ({
    image: 'A' as const, accounts, organizationArns: [], organizationalUnitArns: [], shareSnapshots: true, kmsGrants: true, autoScalingRoleGrants: false, declareKeys: true,
  });
  return {
    encrypted: true,
    steps: [
      { kind: 'deploy', props: props(['111111111111', '222222222222']), outcome: 'commit', duplicate: false, pending: false },
      { kind: 'outside-launch', image: 'A', recipient: 'UserId:999999999999', add: true },
      { kind: 'outside-grant', key: 0, grantee: '111111111111', name: 'none' },
      { kind: 'deploy', props: props(['222222222222', '333333333333']), outcome: 'commit', duplicate: false, pending: false },
    ],
    faults: { seed: 1, burst: { action: c.action, kind: c.kind, after: c.after } },
  };
}

function workspaceExhaustion(c: ExhaustionCase): WorkspaceSequence {
  return {
    steps: [
      { kind: 'deploy', props: { image: 'A', accounts: ['111111111111', '222222222222', '333333333333'] }, outcome: 'commit', duplicate: false, pending: 0 },
      { kind: 'outside-share', image: 'A', account: '999999999999', add: true },
      { kind: 'deploy', props: { image: 'A', accounts: ['333333333333', '444444444444'] }, outcome: 'commit', duplicate: false, pending: 0 },
      { kind: 'deploy', props: { image: 'B', accounts: ['444444444444'] }, outcome: 'rollback', duplicate: false, pending: 1 },
    ],
    faults: { seed: 1, burst: { action: c.action, kind: c.kind, after: c.after } },
  };
}

/**
 * Plays one case without random faults; returns its figures (`retriesExhausted` 1 when the fault
 * outlasted the retries as planned). Throws on any violation.
 */
export async function runExhaustion(env: ReliabilityEnv, c: ExhaustionCase): Promise<Figures> {
  const figures = emptyFigures();
  if (c.construct === 'SharedAmi') await runAmiSequence(env, amiExhaustion(c), NO_FAULTS, figures, true);
  else await runWorkspaceSequence(env, workspaceExhaustion(c), NO_FAULTS, figures, true);
  if (!env.proxy.burstDone()) throw new Error(`${exhaustionName(c)}: the planned fault never fired (no such call in the sequence?)`);
  return figures;
}
