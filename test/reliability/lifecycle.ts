/**
 * The CloudFormation side of a random lifecycle: a driver that plays Create, Update, rollback,
 * Delete and their duplicates the way CloudFormation and the CDK Provider framework do, keeps the
 * model CloudFormation keeps (the physical id and properties in effect), re-delivers events after
 * a failure the way CloudFormation or an operator would, and checks what reaches CloudFormation.
 * The construct-specific parts (events, invocation, outside changes, invariants) are a Scenario.
 *
 * The driver plays several resources: the first (logical id `Share`), and a second one declaring
 * recipients on the same images, of the same stack (another logical id) or of another stack. Each
 * has its own CloudFormation model; their events interleave, one step at a time.
 *
 * CloudFormation semantics modelled:
 * - Create → physical id; a failed Create is answered with the framework's marker, and the stack's
 *   rollback sends a Delete of that marker; a later resource failing makes the stack delete the
 *   created resource.
 * - Update → a new physical id means a replacement: CloudFormation deletes the old physical id
 *   (with the old properties) in the cleanup phase. A failed Update, or a later resource failing,
 *   sends the rollback Update (old and new swapped) for the physical id CloudFormation holds; after
 *   a replacement it then deletes the new physical id (with the new properties).
 * - Delete of the physical id in effect, with the properties in effect.
 * - Events may be delivered twice.
 * After a failure caused by an injected fault, the same event is delivered again (the user retries
 * the delete or deploys again, `continue-update-rollback` repeats a rollback), the last time with
 * the faults off: it must converge then. CloudFormation itself does not retry a failed cleanup
 * Delete; the driver re-runs it like any other, and counts it.
 */
import type { CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import fc from 'fast-check';
import { FaultProxy, FaultKind, FaultRates, NO_FAULTS } from './fault-proxy';
import { Figures, InvariantViolation, messageProblem, SdkRecorder, StuckDelete } from './harness';
import { MAX_ATTEMPTS } from '../../lambda/ami/adapter';
import type { EventBuilders } from '../emulator/events';
import { MOTO_ACCOUNT, MOTO_REGION } from '../emulator/moto';

/** The physical id the CDK Provider framework answers a failed Create with. */
export const CREATE_FAILED_MARKER = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';

/** Re-deliveries of one event after faults before the last one, which runs without faults. */
export const MAX_RERUNS = 3;

/** The most proxy requests one handler invocation may make (a bound on request loops). */
export const REQUEST_BOUND = 400;

/** What one handler invocation did. */
export interface Invocation {
  readonly ok: boolean;
  readonly physicalId?: string;
  readonly data?: Record<string, unknown>;
  readonly error?: unknown;
  /** Mutating SDK calls (one per command, whatever its retries). */
  readonly mutating: number;
  /** Every SDK call. */
  readonly calls: number;
  /** Something the scenario found wrong with an answer (e.g. isComplete not complete). */
  readonly problem?: string;
  /** SDK calls that failed with a retryable error before their attempts ran out. */
  readonly gaveUpEarly?: string[];
}

/** Which resource an event is for: its logical id, and its stack (undefined: the event builders' stack). */
export interface ResourceId {
  readonly logicalId: string;
  readonly stackId?: string;
}

/** The first resource: the event builders' defaults. */
export const FIRST: ResourceId = { logicalId: 'Share' };

/** Which resource a step is for. */
export type Who = 'first' | 'second';

/** The second resource's stack when it is another stack's (another stack name, so other grant names and claims). */
export const OTHER_STACK_ID = `arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/team/guid2`;

/** The second resource: another logical id, of the first's stack or of another stack. */
export function secondResource(otherStack: boolean): ResourceId {
  return { logicalId: 'TeamShare', ...(otherStack ? { stackId: OTHER_STACK_ID } : {}) };
}

/** The event for `who`: its logical id and stack. */
export function eventFor<E extends CfnEvent>(event: E, who: ResourceId): E {
  return { ...event, LogicalResourceId: who.logicalId, ...(who.stackId ? { StackId: who.stackId } : {}) };
}

/** The resource as CloudFormation holds it. */
export interface Current<P> {
  readonly physicalId: string;
  readonly props: P;
}

/** A CloudFormation event as the scenario builds it (opaque to the driver). */
export type CfnEvent = { readonly RequestType: string; readonly PhysicalResourceId?: string };

/** A scenario's events: its properties turned into the emulator's CloudFormation events. */
export interface ScenarioEvents<P> {
  createEvent(props: P): CfnEvent;
  updateEvent(physicalId: string, props: P, old: P): CfnEvent;
  rollbackOf(update: CfnEvent, physicalId: string): CfnEvent;
  deleteEvent(physicalId: string, props: P): CfnEvent;
}

/** One scenario's events from the emulator's event builders and its properties → handler input mapping. */
export function scenarioEvents<P, I, W extends { ServiceToken: string }>(builders: EventBuilders<I, W>, input: (props: P) => I): ScenarioEvents<P> {
  return {
    createEvent: (p) => builders.createEvent(input(p)),
    updateEvent: (physicalId, p, old) => builders.updateEvent(physicalId, input(p), input(old)),
    rollbackOf: (update, physicalId) => builders.rollbackOf(update as CloudFormationCustomResourceUpdateEvent<W>, physicalId),
    deleteEvent: (physicalId, p) => builders.deleteEvent(physicalId, input(p)),
  };
}

/** The construct-specific half of a sequence. */
export interface Scenario<P> {
  /** Every image id of this sequence (for checking that messages name one). */
  readonly imageIds: readonly string[];
  readonly physicalIdPrefix: string;
  /** The CloudFormation events for these properties (see `scenarioEvents`). */
  readonly events: ScenarioEvents<P>;
  imageIdOf(props: P): string;
  describe(props: P): string;
  sameProps(a: P, b: P): boolean;
  /** The model's prediction: the handler must refuse these properties (before any mutation). */
  expectRefusal(props: P): boolean;
  invoke(event: CfnEvent): Promise<Invocation>;
  /** Checks an accepted Create / Update answer for `props` (e.g. the grant count). */
  checkAnswer?(props: P, invocation: Invocation): string | undefined;
  /** Whether an event declaring `props` has work to do: something it declares is missing (removed outside). */
  drifted(props: P, who: ResourceId): boolean;
  /** The invariants, against what AWS (moto) holds now, for every resource as its events left it. */
  check(label: string): Promise<void>;
}

export interface FaultPlan {
  readonly seed: number;
  /** One request (of `action`, when given) whose retries all fail, after `after` others. */
  readonly burst?: { readonly after: number; readonly kind: FaultKind; readonly action?: string };
}

/** Plays CloudFormation for one sequence. */
export class Driver<P> {
  /** Each resource as CloudFormation holds it (by logical id and stack). */
  private readonly resources = new Map<string, Current<P>>();
  private readonly steps: string[] = [];
  private rerunSeed = 1;
  /** Whether faults were injected during the last invocation. */
  private faulted = false;

  constructor(
    private readonly scenario: Scenario<P>,
    private readonly proxy: FaultProxy,
    private readonly figures: Figures,
    private readonly rates: FaultRates,
    faults: FaultPlan | undefined,
  ) {
    proxy.configure(faults?.seed ?? 0, rates);
    proxy.armBurst(faults?.burst ? { ...faults.burst, count: MAX_ATTEMPTS } : undefined);
  }

  /** What happened so far, one line per event (printed with a failure). */
  public get log(): readonly string[] {
    return this.steps;
  }

  /** The resource `who` as CloudFormation holds it (none: not created, or deleted). */
  public currentOf(who: ResourceId = FIRST): Current<P> | undefined {
    return this.resources.get(resourceKey(who));
  }

  public get current(): Current<P> | undefined {
    return this.currentOf(FIRST);
  }

  private setCurrent(who: ResourceId, current: Current<P> | undefined): void {
    if (current) this.resources.set(resourceKey(who), current);
    else this.resources.delete(resourceKey(who));
  }

  public note(line: string): void {
    this.steps.push(line);
  }

  public violation(message: string): never {
    throw new InvariantViolation(message);
  }

  /** Create (no resource yet) or Update of `who`, then the outcome of the rest of the stack. */
  public async deploy(props: P, outcome: 'commit' | 'rollback', duplicate: boolean, who: ResourceId = FIRST): Promise<void> {
    const s = this.scenario;
    const refuse = s.expectRefusal(props);
    const as = (event: CfnEvent): CfnEvent => eventFor(event, who);
    const name = who === FIRST ? '' : `${who.logicalId}: `;
    const current = this.currentOf(who);
    if (!current) {
      const create = as(s.events.createEvent(props));
      let inv = await this.invoke(create, `${name}Create ${s.describe(props)}`);
      if (!inv.ok) {
        if (!refuse && !this.faulted) this.violation(`Create ${s.describe(props)} failed without an injected fault: ${errText(inv.error)}`);
        if (refuse && inv.mutating > 0) this.violation(`the refused Create made ${inv.mutating} mutating calls`);
        // CREATE_FAILED: the framework answered with its marker, the stack's rollback deletes it.
        const marker = await this.mustSucceed(as(s.events.deleteEvent(CREATE_FAILED_MARKER, props)), `${name}Delete of the failed Create's marker`, true);
        if (marker.mutating > 0) this.violation(`the Delete of ${CREATE_FAILED_MARKER} made ${marker.mutating} mutating calls`);
        // CloudFormation sends no Delete for what a failed Create applied: it must have undone it (unless it says it could not).
        if (!/by hand/.test(errText(inv.error))) await s.check(`${name}after the failed Create`);
        if (refuse) return;
        this.figures.reruns++;
        inv = await this.mustSucceed(create, `${name}Create deployed again`, false);
      } else if (refuse) {
        this.violation(`Create ${s.describe(props)} was accepted, but the handler must refuse it`);
      }
      this.expectPhysicalId(inv, props);
      if (duplicate) await this.duplicate(create, inv);
      this.setCurrent(who, { physicalId: inv.physicalId!, props });
      if (outcome === 'rollback') {
        // A later resource failed: the stack's creation rolls back and deletes this resource.
        await this.deleteCurrent(who, `${name}Delete (the stack's creation rolled back)`, false);
      }
      return;
    }

    const old = current;
    const update = as(s.events.updateEvent(old.physicalId, props, old.props));
    const unchanged = s.sameProps(props, old.props) && !s.drifted(props, who);
    const inv = await this.invoke(update, `${name}Update to ${s.describe(props)}`);
    if (!inv.ok) {
      if (!refuse && !this.faulted) this.violation(`Update to ${s.describe(props)} failed without an injected fault: ${errText(inv.error)}`);
      if (refuse && inv.mutating > 0) this.violation(`the refused Update made ${inv.mutating} mutating calls`);
      // UPDATE_FAILED: CloudFormation rolls back the resource it holds, old and new swapped.
      this.figures.reruns++;
      const rb = await this.mustSucceed(as(s.events.rollbackOf(update, old.physicalId)), `${name}rollback Update (after the failed Update)`, false);
      this.expectPhysicalId(rb, old.props, 'the rollback');
      return;
    }
    if (refuse) this.violation(`Update to ${s.describe(props)} was accepted, but the handler must refuse it`);
    if (unchanged && inv.mutating > 0) this.violation(`an Update that changes nothing made ${inv.mutating} mutating calls`);
    this.expectPhysicalId(inv, props);
    if (duplicate) await this.duplicate(update, inv);
    const replaced = inv.physicalId !== old.physicalId;
    if (outcome === 'commit') {
      if (replaced) {
        const cleanup = await this.mustSucceed(as(s.events.deleteEvent(old.physicalId, old.props)), `${name}cleanup Delete of the old physical id`, true);
        if (cleanup.physicalId !== old.physicalId) this.violation(`the cleanup Delete answered physical id ${cleanup.physicalId}, not ${old.physicalId}`);
      }
      this.setCurrent(who, { physicalId: inv.physicalId!, props });
      return;
    }
    // A later resource failed: CloudFormation rolls this resource back too.
    const rb = await this.mustSucceed(as(s.events.rollbackOf(update, inv.physicalId!)), `${name}rollback Update (a later resource failed)`, false);
    this.expectPhysicalId(rb, old.props, 'the rollback');
    if (replaced) {
      await this.mustSucceed(as(s.events.deleteEvent(inv.physicalId!, props)), `${name}cleanup Delete of the new physical id`, true);
    }
  }

  /** Deletes the resource `who` in effect (a no-op when there is none). */
  public async delete(duplicate: boolean, who: ResourceId = FIRST): Promise<void> {
    if (!this.currentOf(who)) return;
    await this.deleteCurrent(who, who === FIRST ? 'Delete' : `${who.logicalId}: Delete`, duplicate);
  }

  private async deleteCurrent(who: ResourceId, label: string, duplicate: boolean): Promise<void> {
    const { physicalId, props } = this.currentOf(who)!;
    const event = eventFor(this.scenario.events.deleteEvent(physicalId, props), who);
    const inv = await this.mustSucceed(event, label, true);
    if (inv.physicalId !== physicalId) this.violation(`${label} answered physical id ${inv.physicalId}, not ${physicalId}`);
    if (duplicate) await this.duplicate(event, inv);
    this.setCurrent(who, undefined);
  }

  /**
   * A Delete of a physical id this handler never issued (with whatever properties): a successful
   * no-op that answers the same physical id. `parseable` ids name an image that does not exist:
   * reads are allowed there, changes are not.
   */
  public async deleteUnissued(physicalId: string, props: P, parseable: boolean): Promise<void> {
    const inv = await this.mustSucceed(this.scenario.events.deleteEvent(physicalId, props), `Delete of unissued physical id ${JSON.stringify(physicalId)}`, true);
    if (inv.physicalId !== physicalId) this.violation(`the Delete of ${JSON.stringify(physicalId)} answered ${JSON.stringify(inv.physicalId)}`);
    if (inv.mutating > 0) this.violation(`the Delete of ${JSON.stringify(physicalId)} made ${inv.mutating} mutating calls`);
    if (!parseable && inv.calls > 0) this.violation(`the Delete of ${JSON.stringify(physicalId)} made ${inv.calls} AWS calls; it should be a no-op`);
  }

  /**
   * The same event again: the same answer and (checked after the step) the same state. It may send
   * calls again: AWS's reads lag its writes, so the handler re-sends what a read cannot confirm, and
   * AWS takes a repeat as a no-op (DESIGN.md, "Real AWS").
   */
  private async duplicate(event: CfnEvent, first: Invocation): Promise<void> {
    let inv = await this.invoke(event, 'the same event delivered again');
    const clean = inv.ok;
    if (!inv.ok) {
      if (!this.faulted) this.violation(`the duplicate delivery failed without an injected fault: ${errText(inv.error)}`);
      inv = await this.mustSucceed(event, 'the duplicate delivery re-run', event.RequestType === 'Delete');
    }
    if (inv.physicalId !== first.physicalId) this.violation(`the duplicate delivery answered physical id ${inv.physicalId}, the first ${first.physicalId}`);
    if (clean && inv.data !== undefined && first.data !== undefined && JSON.stringify(inv.data) !== JSON.stringify(first.data)) {
      this.violation(`the duplicate delivery answered ${JSON.stringify(inv.data)}, the first ${JSON.stringify(first.data)}`);
    }
  }

  private expectPhysicalId(inv: Invocation, props: P, what = 'the answer'): void {
    const want = `${this.scenario.physicalIdPrefix}${this.scenario.imageIdOf(props)}`;
    if (inv.physicalId !== want) this.violation(`${what} carries physical id ${JSON.stringify(inv.physicalId)}, expected ${want} (derived from the image id)`);
    const problem = this.scenario.checkAnswer?.(props, inv);
    if (problem) this.violation(`${what}: ${problem}`);
  }

  /** One handler invocation through the proxy, counted, its error checked. */
  private async invoke(event: CfnEvent, label: string): Promise<Invocation> {
    const before = injected(this.proxy);
    this.proxy.window();
    const inv = await this.scenario.invoke(event);
    const requests = this.proxy.window();
    const faults = injected(this.proxy) - before;
    this.faulted = faults > 0;
    this.figures.events++;
    this.figures.faultsInjected += faults;
    this.note(`${label}: ${inv.ok ? `ok ${inv.physicalId}` : `FAILED ${errText(inv.error)}`} (${inv.calls} calls, ${inv.mutating} mutating, ${faults} faults)`);
    if (requests > REQUEST_BOUND) this.violation(`${label} made ${requests} requests (bound ${REQUEST_BOUND})`);
    if (this.proxy.stats.overLimit > 0) this.violation(`${label}: the proxy cut a request loop`);
    if (inv.problem) this.violation(`${label}: ${inv.problem}`);
    if (inv.gaveUpEarly?.length) this.violation(`${label}: the SDK gave up before its ${MAX_ATTEMPTS} attempts on a retryable error: ${inv.gaveUpEarly.join(', ')}`);
    if (!inv.ok) {
      if (this.faulted) this.figures.retriesExhausted++;
      else this.figures.refusals++;
      const problem = messageProblem(inv.error, this.scenario.imageIds);
      if (problem) this.violation(`${label} failed with a message unfit for CloudFormation: ${problem}`);
    }
    return inv;
  }

  /**
   * An event that must succeed: after a failure caused by injected faults it is delivered again,
   * the last time with the faults off. A failure without faults is a violation (a stuck delete for
   * a Delete).
   */
  private async mustSucceed(event: CfnEvent, label: string, isDelete: boolean): Promise<Invocation> {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= MAX_RERUNS;
      if (last) {
        this.proxy.configure(0, NO_FAULTS);
        this.proxy.armBurst(undefined);
      }
      let inv: Invocation;
      try {
        inv = await this.invoke(event, attempt === 0 ? label : `${label} (re-run ${attempt}${last ? ', faults off' : ''})`);
      } finally {
        if (last) this.proxy.configure(this.rerunSeed++, this.rates);
      }
      if (inv.ok) return inv;
      if (!this.faulted || last) {
        const why = `${label} failed${this.faulted ? '' : ' without an injected fault'}: ${errText(inv.error)}`;
        if (isDelete) {
          this.figures.stuckDeletes++;
          throw new StuckDelete(why);
        }
        this.violation(why);
      }
      this.figures.reruns++;
    }
  }
}

/** The counts an Invocation carries, from a recorder. */
export function observed(recorder: SdkRecorder): Pick<Invocation, 'mutating' | 'calls' | 'gaveUpEarly'> {
  const early = recorder.gaveUpEarly().map((c) => `${c.name} (${c.failure!.code} after ${c.failure!.attempts} attempts)`);
  return { mutating: recorder.mutating(), calls: recorder.calls.length, ...(early.length > 0 ? { gaveUpEarly: early } : {}) };
}

function injected(proxy: FaultProxy): number {
  const s = proxy.stats;
  return s.throttled + s.serverErrors + s.resets;
}

/** A resource's identity as a string (its stack and logical id). */
export function resourceKey(who: ResourceId): string {
  return `${who.stackId ?? ''}/${who.logicalId}`;
}

export function errText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

// ---------------------------------------------------------------------------------------------
// Sequences as fast-check properties
// ---------------------------------------------------------------------------------------------

/** The fault schedule of a sequence: a seed for the proxy, sometimes one burst that exhausts the SDK's retries. */
export function faultPlanArb(): fc.Arbitrary<FaultPlan> {
  return fc.record({
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    burst: fc.option(fc.record({
      after: fc.nat({ max: 120 }),
      kind: fc.constantFrom<FaultKind>('throttle', 'server-error', 'gateway-error', 'reset'),
    }), { nil: undefined, freq: 2 }),
  });
}

/**
 * Runs one sequence: `play` applies the steps (checking after each), then the closing Deletes of
 * `resources` in that order (the stacks are deleted), each checked, the last with nothing of any
 * resource left. Counts into `figures` (unless `count` is false: a failure's shrinking replays),
 * and rethrows any failure with the sequence's event log.
 */
export async function runSequence<P>(
  driver: Driver<P>, figures: Figures, count: boolean,
  play: () => Promise<void>, check: (label: string) => Promise<void>, resources: readonly ResourceId[] = [FIRST],
): Promise<void> {
  if (count) figures.sequences++;
  try {
    await play();
    const live = resources.filter((who) => driver.currentOf(who));
    for (const who of live) {
      driver.note(`closing Delete of ${who.logicalId}${who.stackId ? ' (another stack)' : ''} (the stack is deleted)`);
      await driver.delete(false, who);
      await check(`after the closing Delete of ${who.logicalId}`);
    }
    if (live.length === 0) await check('after the closing Deletes');
  } catch (err) {
    if (count && err instanceof InvariantViolation) figures.invariantViolations++;
    const log = driver.log.map((l, i) => `  ${String(i + 1).padStart(3)}. ${l}`).join('\n');
    if (err instanceof Error) {
      err.message = `${err.message}\n  events so far:\n${log}`;
    }
    throw err;
  }
}
