/**
 * SharedWorkspaceImage random lifecycles against moto: two WorkSpaces images (A and B), a pool of
 * declared accounts and a disjoint pool of outside accounts (so "declared ∪ foreign" is exact; see
 * README "Ownership"), outside shares and unshares, and outside removals of the resource's own
 * shares ("drift", repaired by its next event). Every event goes through the handler twice, as the
 * Provider framework calls it: onEvent, then isComplete with the framework's merged input.
 *
 * Invariant after every step, read from moto: each image's permissions = (declared, if the
 * resource is on it) ∪ (outside) − (drift).
 */
import fc from 'fast-check';
import { FaultRates } from './fault-proxy';
import { Figures, InvariantViolation, recordSdk, ReliabilityEnv, sameSet, sorted } from './harness';
import { CfnEvent, Current, Driver, FaultPlan, faultPlanArb, Invocation, observed, runSequence, Scenario, scenarioEvents } from './lifecycle';
import { handler, IsCompleteResponse, WorkspaceImageOnEventResponse } from '../../lambda/shared-workspace-image.lambda';
import { COMPLETION_KEY } from '../../lambda/workspaces/plan';
import { SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX } from '../../src/private/contract';
import {
  createWorkspaceImage, isCompleteInput, sharedAccounts, shareOutside, unshareOutside, workspaceEvents, WorkspaceShareInput,
} from '../emulator/workspaces-fixture';

export const DECLARED_ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444', '555555555555'];
/** Outside accounts: never declared, so an outside share is never also the resource's. */
export const FOREIGN_ACCOUNTS = ['888888888888', '999999999999'];

/** isComplete calls one event may take (the Provider framework polls every 30 s). */
const MAX_POLLS = 5;

export type ImageName = 'A' | 'B';

export interface WorkspaceProps {
  readonly image: ImageName;
  readonly accounts: string[];
}

export type WorkspaceStep =
  /**
   * `pending`: the image answers PENDING to this many of the event's DescribeWorkspaceImages: onEvent
   * changes nothing and hands over to isComplete, which shares once it reads AVAILABLE.
   */
  | { readonly kind: 'deploy'; readonly props: WorkspaceProps; readonly outcome: 'commit' | 'rollback'; readonly duplicate: boolean; readonly pending: number }
  | { readonly kind: 'delete'; readonly duplicate: boolean }
  | { readonly kind: 'delete-unissued'; readonly which: number }
  | { readonly kind: 'outside-share'; readonly image: ImageName; readonly account: string; readonly add: boolean }
  | { readonly kind: 'drift'; readonly pick: number };

export interface WorkspaceSequence {
  readonly steps: WorkspaceStep[];
  readonly faults?: FaultPlan;
}

const weighted = <T>(...choices: Array<[number, T]>): fc.Arbitrary<T> =>
  fc.oneof(...choices.map(([weight, value]) => ({ weight, arbitrary: fc.constant(value) })));

export const workspacePropsArb: fc.Arbitrary<WorkspaceProps> = fc.record({
  image: weighted<ImageName>([3, 'A'], [1, 'B']),
  accounts: fc.subarray(DECLARED_ACCOUNTS, { minLength: 1 }),
});

export const workspaceStepArb: fc.Arbitrary<WorkspaceStep> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('deploy' as const),
      props: workspacePropsArb,
      outcome: weighted<'commit' | 'rollback'>([3, 'commit'], [1, 'rollback']),
      duplicate: weighted([4, false], [1, true]),
      pending: weighted([6, 0], [1, 1], [1, 2]),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), duplicate: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-unissued' as const), which: fc.nat({ max: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('outside-share' as const), image: fc.constantFrom<ImageName>('A', 'B'), account: fc.constantFrom(...FOREIGN_ACCOUNTS), add: weighted([2, true], [1, false]) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drift' as const), pick: fc.nat({ max: 20 }) }) },
);

export function workspaceSequenceArb(maxSteps: number, withFaults: boolean): fc.Arbitrary<WorkspaceSequence> {
  return fc.record({
    steps: fc.array(workspaceStepArb, { minLength: 1, maxLength: maxSteps }),
    ...(withFaults ? { faults: faultPlanArb() } : {}),
  });
}

/** Properties for a Delete of an unissued physical id when no resource is live. */
const FALLBACK_PROPS: WorkspaceProps = { image: 'A', accounts: [...DECLARED_ACCOUNTS] };

class WorkspaceScenario implements Scenario<WorkspaceProps> {
  public readonly events = scenarioEvents(workspaceEvents, (p: WorkspaceProps) => this.input(p));
  public readonly physicalIdPrefix = SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX;
  /** How many of the next event's DescribeWorkspaceImages answers show the image PENDING (set before a deploy). */
  public pendingNext = 0;
  public readonly imageIds: string[];
  private readonly foreign: Record<ImageName, Set<string>> = { A: new Set(), B: new Set() };
  /** The resource's own shares removed outside since its last event. */
  private readonly drift = new Set<string>();

  constructor(private readonly env: ReliabilityEnv, private readonly images: Record<ImageName, string>) {
    this.imageIds = [images.A, images.B];
  }

  public imageIdOf(p: WorkspaceProps): string {
    return this.images[p.image];
  }

  public describe(p: WorkspaceProps): string {
    return `${p.image}[${p.accounts.join(' ')}]`;
  }

  public sameProps(a: WorkspaceProps, b: WorkspaceProps): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  public expectRefusal(): boolean {
    return false;
  }

  private input(p: WorkspaceProps): WorkspaceShareInput {
    return { imageId: this.imageIdOf(p), accounts: p.accounts };
  }


  /** onEvent, then isComplete as the Provider framework calls it, until it answers complete. */
  public async invoke(event: CfnEvent): Promise<Invocation> {
    const pending = this.pendingNext;
    if (pending > 0) {
      this.env.proxy.rewriteNext('DescribeWorkspaceImages', pending, (json) => json.replace(/"State":\s*"AVAILABLE"/, '"State": "PENDING"'));
      this.pendingNext = 0;
    }
    const recorder = recordSdk();
    const counts = () => observed(recorder);
    try {
      const cfn = event as Parameters<typeof handler>[0];
      const answer = await handler(cfn) as WorkspaceImageOnEventResponse;
      const waiting = answer[COMPLETION_KEY]?.Step === 'wait';
      let problem: string | undefined;
      if (waiting && recorder.mutating() > 0) problem = `onEvent made ${recorder.mutating()} mutating calls while the image was PENDING`;
      if (!waiting && pending > 0 && event.RequestType !== 'Delete') problem = `onEvent did not wait for the PENDING image (${JSON.stringify(answer[COMPLETION_KEY])})`;
      // the Provider framework's isComplete calls: the event merged with the answer, every query interval
      const merged = isCompleteInput(cfn as Parameters<typeof isCompleteInput>[0], answer) as Parameters<typeof handler>[0];
      let polls = 0;
      while (!(await handler(merged) as IsCompleteResponse).IsComplete) {
        if (++polls > MAX_POLLS) {
          problem ??= `isComplete still not complete after ${MAX_POLLS} polls`;
          break;
        }
      }
      if (polls > 0 && polls !== pending - 1) problem ??= `isComplete answered not complete ${polls} times for an image PENDING ${pending - 1} more times`;
      return { ok: true, physicalId: answer.PhysicalResourceId, data: answer.Data, ...counts(), ...(problem ? { problem } : {}) };
    } catch (error) {
      return { ok: false, error, ...counts() };
    } finally {
      recorder.restore();
      this.env.proxy.rewriteNext('DescribeWorkspaceImages', 0, (json) => json);
    }
  }

  public repaired(): void {
    this.drift.clear();
  }

  public drifted(): boolean {
    return this.drift.size > 0;
  }

  public unissued(which: number): { physicalId: string; parseable: boolean } {
    const id = this.images.A;
    const ids = [
      'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED',
      'd3b07384-d9a0-4c9b-8f5e-1f0a6b3e2c71',
      SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX,
      `${SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX}${id.toUpperCase()}`,
      `shared-ami:${id}`,
      `${SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX}${id} `,
    ];
    if (which < ids.length) return { physicalId: ids[which], parseable: false };
    return { physicalId: `${SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX}wsi-000000000`, parseable: true };
  }

  public async outside(step: WorkspaceStep, current: Current<WorkspaceProps> | undefined, note: (line: string) => void): Promise<void> {
    const { workspaces } = this.env;
    switch (step.kind) {
      case 'outside-share': {
        const imageId = this.images[step.image];
        if (step.add) {
          await shareOutside(workspaces, imageId, step.account);
          this.foreign[step.image].add(step.account);
        } else {
          // the outside party unshares only what it sees shared (WorkSpaces refuses anything else)
          if ((await sharedAccounts(workspaces, imageId)).includes(step.account)) await unshareOutside(workspaces, imageId, step.account);
          this.foreign[step.image].delete(step.account);
        }
        note(`outside: ${step.add ? 'share' : 'unshare'} image ${step.image} ${step.add ? 'with' : 'from'} ${step.account}`);
        return;
      }
      case 'drift': {
        if (!current) return;
        const imageId = this.imageIdOf(current.props);
        const held = new Set(await sharedAccounts(workspaces, imageId));
        const candidates = current.props.accounts.filter((a) => held.has(a));
        if (candidates.length === 0) return;
        const account = candidates[step.pick % candidates.length];
        await unshareOutside(workspaces, imageId, account);
        this.drift.add(account);
        note(`outside: unshared the resource's own ${account} from image ${current.props.image}`);
        return;
      }
      default:
        throw new Error(`not an outside step: ${step.kind}`);
    }
  }

  public async check(current: Current<WorkspaceProps> | undefined, label: string): Promise<void> {
    const problems: string[] = [];
    for (const name of ['A', 'B'] as const) {
      const on = current && current.props.image === name ? current.props : undefined;
      const want = new Set([...(on ? on.accounts : []), ...this.foreign[name]]);
      if (on) for (const d of this.drift) want.delete(d);
      const got = await sharedAccounts(this.env.workspaces, this.images[name]);
      if (!sameSet(got, want)) problems.push(`image ${name} is shared with ${JSON.stringify(got)}, expected ${JSON.stringify(sorted(want))}`);
    }
    if (problems.length > 0) throw new InvariantViolation(`${label}: ${problems.join('; ')}`);
  }
}

export async function runWorkspaceSequence(
  env: ReliabilityEnv, seq: WorkspaceSequence, rates: FaultRates, figures: Figures, count: boolean,
): Promise<void> {
  const host = await env.workspaceHost();
  const images = { A: await createWorkspaceImage(env.workspaces, host), B: await createWorkspaceImage(env.workspaces, host) };
  const scenario = new WorkspaceScenario(env, images);
  const driver = new Driver(scenario, env.proxy, figures, rates, seq.faults);
  driver.note(`world: image A ${images.A}, image B ${images.B}`);
  await runSequence(driver, figures, count, async () => {
    for (const [i, step] of seq.steps.entries()) {
      switch (step.kind) {
        case 'deploy':
          scenario.pendingNext = step.pending;
          await driver.deploy(step.props, step.outcome, step.duplicate);
          scenario.pendingNext = 0;
          break;
        case 'delete':
          if (driver.current) await driver.delete(step.duplicate);
          else await driver.deleteUnissued(scenario.unissued(0).physicalId, FALLBACK_PROPS, false);
          break;
        case 'delete-unissued': {
          const { physicalId, parseable } = scenario.unissued(step.which);
          await driver.deleteUnissued(physicalId, driver.current?.props ?? FALLBACK_PROPS, parseable);
          break;
        }
        default:
          await scenario.outside(step, driver.current, (line) => driver.note(line));
      }
      await scenario.check(driver.current, `after step ${i + 1} (${step.kind})`);
    }
  }, () => scenario.check(undefined, 'after the closing Delete'));
}
