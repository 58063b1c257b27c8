/**
 * SharedWorkspaceImage random lifecycles against moto: two WorkSpaces images (A and B), two
 * resources (`Share`, and `TeamShare` of the same stack or of another stack) declaring accounts from
 * one pool, so that they often declare the same account on the same image, with their Creates,
 * Updates, rollbacks, duplicates and Deletes interleaved; outside shares to accounts nobody
 * declares, to accounts a resource declares later (made before it declares them) and to accounts a
 * resource declares already (a no-op in AWS); outside unshares, and outside removals of declared
 * shares ("drift", repaired by the next event that declares them). Every event goes through the
 * handler twice, as the Provider framework calls it: onEvent, then isComplete with the framework's
 * merged input.
 *
 * Invariant after every step, read from moto (see ./ownership-model for the model): each image is
 * shared with exactly what the live resources declare (the union; less what was removed outside
 * since) and the accounts outside parties shared it with (and did not unshare), declared or not: a
 * share made outside before a resource declared it survives that resource's Update and Delete; an
 * account several resources declare stays until the last lets it go; after the last Delete on an
 * image, only outside shares remain.
 */
import fc from 'fast-check';
import { FaultRates } from './fault-proxy';
import { Figures, InvariantViolation, recordSdk, ReliabilityEnv } from './harness';
import {
  CfnEvent, Driver, errText, FaultPlan, faultPlanArb, FIRST, Invocation, observed, ResourceId, runSequence, Scenario, scenarioEvents,
  secondResource, Who,
} from './lifecycle';
import { ModelEvent, modelEventOf, OwnershipModel } from './ownership-model';
import { handler, IsCompleteResponse, WorkspaceImageOnEventResponse } from '../../lambda/shared-workspace-image.lambda';
import { COMPLETION_KEY } from '../../lambda/workspaces/plan';
import { SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, SharedWorkspaceImageResourceProperties } from '../../src/private/contract';
import {
  createWorkspaceImage, isCompleteInput, sharedAccounts, shareOutside, unshareOutside, workspaceEvents, WorkspaceShareInput,
} from '../emulator/workspaces-fixture';

export const DECLARED_ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444', '555555555555'];
/** Outside accounts nobody declares (outside shares also go to declared ones). */
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
  | { readonly kind: 'deploy'; readonly props: WorkspaceProps; readonly outcome: 'commit' | 'rollback'; readonly duplicate: boolean; readonly pending: number; readonly who?: Who }
  | { readonly kind: 'delete'; readonly duplicate: boolean; readonly who?: Who }
  | { readonly kind: 'delete-unissued'; readonly which: number }
  | { readonly kind: 'outside-share'; readonly image: ImageName; readonly account: string; readonly add: boolean }
  /** Someone unshares an account a live resource declares, outside (`pick` chooses which). */
  | { readonly kind: 'drift'; readonly pick: number };

export interface WorkspaceSequence {
  readonly steps: WorkspaceStep[];
  readonly faults?: FaultPlan;
  /** The second resource: another logical id of the same stack, or another stack's (default: the same stack). */
  readonly second?: 'same-stack' | 'other-stack';
  /** Which resource's stack the closing Deletes delete last (default: the first's). */
  readonly lastDeleted?: Who;
}

const weighted = <T>(...choices: Array<[number, T]>): fc.Arbitrary<T> =>
  fc.oneof(...choices.map(([weight, value]) => ({ weight, arbitrary: fc.constant(value) })));

export const workspacePropsArb: fc.Arbitrary<WorkspaceProps> = fc.record({
  image: weighted<ImageName>([3, 'A'], [1, 'B']),
  accounts: fc.subarray(DECLARED_ACCOUNTS, { minLength: 1 }),
});

const whoArb: fc.Arbitrary<Who> = weighted<Who>([3, 'first'], [2, 'second']);

export const workspaceStepArb: fc.Arbitrary<WorkspaceStep> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('deploy' as const),
      props: workspacePropsArb,
      outcome: weighted<'commit' | 'rollback'>([3, 'commit'], [1, 'rollback']),
      duplicate: weighted([4, false], [1, true]),
      pending: weighted([6, 0], [1, 1], [1, 2]),
      who: whoArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), duplicate: fc.boolean(), who: whoArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-unissued' as const), which: fc.nat({ max: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('outside-share' as const), image: fc.constantFrom<ImageName>('A', 'B'), account: fc.constantFrom(...FOREIGN_ACCOUNTS, ...DECLARED_ACCOUNTS), add: weighted([2, true], [1, false]) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drift' as const), pick: fc.nat({ max: 20 }) }) },
);

export function workspaceSequenceArb(maxSteps: number, withFaults: boolean): fc.Arbitrary<WorkspaceSequence> {
  return fc.record({
    steps: fc.array(workspaceStepArb, { minLength: 1, maxLength: maxSteps }),
    second: fc.constantFrom<'same-stack' | 'other-stack'>('same-stack', 'other-stack'),
    lastDeleted: fc.constantFrom<Who>('first', 'second'),
    ...(withFaults ? { faults: faultPlanArb() } : {}),
  });
}

/** Properties for a Delete of an unissued physical id when no resource is live. */
const FALLBACK_PROPS: WorkspaceProps = { image: 'A', accounts: [...DECLARED_ACCOUNTS] };

/** The model's keys: `ws|<image>|<account>`. */
const imageOfKey = (key: string): string => key.split('|')[1];
const keyName = (key: string): string => `the share of ${imageOfKey(key)} with ${key.split('|')[2]}`;

class WorkspaceScenario implements Scenario<WorkspaceProps> {
  public readonly events = scenarioEvents(workspaceEvents, (p: WorkspaceProps) => this.input(p));
  public readonly physicalIdPrefix = SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX;
  /** How many of the next event's DescribeWorkspaceImages answers show the image PENDING (set before a deploy). */
  public pendingNext = 0;
  public readonly imageIds: string[];
  /** Who made each share there is, and what each resource declares. */
  private readonly model = new OwnershipModel(imageOfKey);

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

  /** The event as the model sees it. */
  private modelEvent(event: CfnEvent): ModelEvent {
    const e = event as CfnEvent & {
      StackId: string;
      LogicalResourceId: string;
      ResourceProperties: SharedWorkspaceImageResourceProperties;
      OldResourceProperties?: SharedWorkspaceImageResourceProperties;
    };
    const keys = (props: SharedWorkspaceImageResourceProperties | undefined, imageId: string) => (props?.Accounts ?? []).map((a) => `ws|${imageId}|${a}`);
    return modelEventOf(e, SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, this.imageIds, keys);
  }

  /** onEvent, then isComplete as the Provider framework calls it, until it answers complete. */
  public async invoke(event: CfnEvent): Promise<Invocation> {
    const inv = await this.invokeHandler(event);
    this.model.apply(this.modelEvent(event), { ok: inv.ok, mutating: inv.mutating, byHand: !inv.ok && /by hand/.test(errText(inv.error)) });
    return inv;
  }

  private async invokeHandler(event: CfnEvent): Promise<Invocation> {
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

  public drifted(p: WorkspaceProps): boolean {
    return this.model.missing(p.accounts.map((a) => `ws|${this.imageIdOf(p)}|${a}`)).length > 0;
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

  public async outside(step: WorkspaceStep, note: (line: string) => void): Promise<void> {
    const { workspaces } = this.env;
    switch (step.kind) {
      case 'outside-share': {
        const imageId = this.images[step.image];
        const key = `ws|${imageId}|${step.account}`;
        const declaredBy = this.model.holders(key);
        const by = declaredBy.length > 0 ? ` (declared by ${declaredBy.join(', ')})` : '';
        if (step.add) {
          const outcome = this.model.outsideAdd(key);
          if (outcome !== 'not played') await shareOutside(workspaces, imageId, step.account);
          note(`outside: share image ${step.image} with ${step.account}${by}: ${outcome}`);
        } else if (this.model.outsideRemove(key)) {
          // the outside party unshares only what it sees shared (WorkSpaces refuses anything else)
          await unshareOutside(workspaces, imageId, step.account);
          note(`outside: unshare image ${step.image} from ${step.account}${by}`);
        }
        return;
      }
      case 'drift': {
        const candidates = this.model.declaredKeys().filter((k) => this.model.state(k) !== undefined).sort();
        if (candidates.length === 0) return;
        const key = candidates[step.pick % candidates.length];
        const [, imageId, account] = key.split('|');
        await unshareOutside(workspaces, imageId, account);
        this.model.outsideRemove(key);
        note(`outside: unshared ${keyName(key)} (declared by ${this.model.holders(key).join(', ')})`);
        return;
      }
      default:
        throw new Error(`not an outside step: ${step.kind}`);
    }
  }

  public async check(label: string): Promise<void> {
    const observedKeys = new Set<string>();
    for (const imageId of this.imageIds) {
      for (const a of await sharedAccounts(this.env.workspaces, imageId)) observedKeys.add(`ws|${imageId}|${a}`);
    }
    const all = (): boolean => true;
    this.model.settle(all, observedKeys);
    const problems = this.model.compare(all, observedKeys, keyName);
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
  const second = secondResource(seq.second === 'other-stack');
  const whoOf = (who: Who | undefined): ResourceId => (who === 'second' ? second : FIRST);
  driver.note(`world: image A ${images.A}, image B ${images.B}; the second resource ${second.logicalId} is ${second.stackId ? 'another stack\'s' : 'the same stack\'s'}`);
  await runSequence(driver, figures, count, async () => {
    for (const [i, step] of seq.steps.entries()) {
      switch (step.kind) {
        case 'deploy':
          if (step.who === 'second') figures.secondResourceSteps++;
          scenario.pendingNext = step.pending;
          await driver.deploy(step.props, step.outcome, step.duplicate, whoOf(step.who));
          scenario.pendingNext = 0;
          break;
        case 'delete':
          if (step.who === 'second') figures.secondResourceSteps++;
          if (driver.currentOf(whoOf(step.who))) await driver.delete(step.duplicate, whoOf(step.who));
          else await driver.deleteUnissued(scenario.unissued(0).physicalId, FALLBACK_PROPS, false);
          break;
        case 'delete-unissued': {
          const { physicalId, parseable } = scenario.unissued(step.which);
          await driver.deleteUnissued(physicalId, driver.current?.props ?? FALLBACK_PROPS, parseable);
          break;
        }
        default:
          await scenario.outside(step, (line) => driver.note(line));
      }
      await scenario.check(`after step ${i + 1} (${step.kind}${step.kind === 'deploy' || step.kind === 'delete' ? ` of ${whoOf(step.who).logicalId}` : ''})`);
    }
  }, (label) => scenario.check(label), seq.lastDeleted === 'second' ? [FIRST, second] : [second, FIRST]);
}
