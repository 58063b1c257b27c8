/**
 * SharedAmi random lifecycles against moto: two AMIs (A with two snapshots, B with one), two
 * customer managed keys (A's snapshots use k1 and k2, B's uses k2; or no encryption at all), two
 * resources (`Share`, and `TeamShare` of the same stack or of another stack) declaring recipients
 * from one pool (accounts, an organization, OUs), so that they often declare the same recipient on
 * the same AMI, with their Creates, Updates, rollbacks, duplicates and Deletes interleaved; outside
 * launch permissions to recipients nobody declares, to recipients a resource declares later (made
 * before it declares them) and to recipients a resource declares already (a no-op in AWS); outside
 * snapshot permissions and KMS grants (to outside and to declared accounts, unnamed or named by
 * another tool or another resource); and outside removals of declared shares and grants ("drift",
 * repaired by the next event that declares them).
 *
 * Invariants after every step, read from moto (see ./ownership-model for the model):
 * - each AMI's launch permissions, and each snapshot's createVolumePermission, hold exactly what
 *   the live resources declare (the union; less what was removed outside since) and the shares
 *   outside parties made (and did not remove), declared or not: a share made outside before a
 *   resource declared it survives that resource's Update and Delete; a recipient several resources
 *   declare stays until the last lets it go; after the last Delete on an AMI, only outside shares
 *   remain;
 * - on each key of an AMI, the grants named for each resource and that AMI = (its account roots,
 *   and with the option Auto Scaling roles) × 1, with every launch operation, when kmsGrants; none
 *   otherwise;
 * - every outside grant survives, and no other grant exists.
 */
import { CreateGrantCommand, RevokeGrantCommand } from '@aws-sdk/client-kms';
import fc from 'fast-check';
import { FaultRates } from './fault-proxy';
import { Figures, InvariantViolation, recordSdk, ReliabilityEnv } from './harness';
import {
  CfnEvent, Driver, errText, FaultPlan, faultPlanArb, FIRST, Invocation, observed, ResourceId, runSequence, Scenario, scenarioEvents,
  secondResource, Who,
} from './lifecycle';
import { ModelEvent, modelEventOf, OwnershipModel } from './ownership-model';
import { grantName } from '../../lambda/ami/kms-plan';
import { handler } from '../../lambda/shared-ami.lambda';
import { KMS_GRANT_OPERATIONS, SHARED_AMI_PHYSICAL_ID_PREFIX, SharedAmiResourceProperties } from '../../src/private/contract';
import {
  addAmiSnapshot, amiEvents, amiProperties, AmiShareInput, createAmi, createKey, grantLaunch, grantSnapshot, launchPermissions,
  listAllGrants, revokeLaunch, revokeSnapshot, seedSnapshotKms, snapshotPermissions, STACK_ID,
} from '../emulator/moto';

// ---------------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------------

export const DECLARED_ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444'];
export const DECLARED_ORGS = ['arn:aws:organizations::123456789012:organization/o-declared01'];
export const DECLARED_OUS = [
  'arn:aws:organizations::123456789012:ou/o-declared01/ou-ab12-declared1',
  'arn:aws:organizations::123456789012:ou/o-declared01/ou-cd34-declared2',
];
/** Outside recipients nobody declares (outside launch permissions also go to declared ones). */
export const FOREIGN_LAUNCH = [
  'UserId:888888888888',
  'UserId:999999999999',
  'OrganizationArn:arn:aws:organizations::210987654321:organization/o-foreign001',
  'OrganizationalUnitArn:arn:aws:organizations::210987654321:ou/o-foreign001/ou-ef56-foreign01',
];
export const FOREIGN_ACCOUNTS = ['888888888888', '999999999999'];
/** Every declared launch recipient, as an outside party would share with it. */
const DECLARED_LAUNCH = [
  ...DECLARED_ACCOUNTS.map((a) => `UserId:${a}`),
  ...DECLARED_ORGS.map((a) => `OrganizationArn:${a}`),
  ...DECLARED_OUS.map((a) => `OrganizationalUnitArn:${a}`),
];

const root = (account: string): string => `arn:aws:iam::${account}:root`;
const asg = (account: string): string => `arn:aws:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

export type ImageName = 'A' | 'B';

export interface AmiProps {
  readonly image: ImageName;
  readonly accounts: string[];
  readonly organizationArns: string[];
  readonly organizationalUnitArns: string[];
  readonly shareSnapshots: boolean;
  readonly kmsGrants: boolean;
  readonly autoScalingRoleGrants: boolean;
  /** DeclaredKeyArns carries the sequence's keys (what organizations and OUs need). */
  readonly declareKeys: boolean;
}

export type AmiStep =
  /** `pending`: the AMI answers state `pending` to this event's first DescribeImages (the handler must refuse, changing nothing). */
  | { readonly kind: 'deploy'; readonly props: AmiProps; readonly outcome: 'commit' | 'rollback'; readonly duplicate: boolean; readonly pending: boolean; readonly who?: Who }
  | { readonly kind: 'delete'; readonly duplicate: boolean; readonly who?: Who }
  /** A Delete of a physical id the handler never issued (`which` picks one), carrying the live resource's properties. */
  | { readonly kind: 'delete-unissued'; readonly which: number }
  | { readonly kind: 'outside-launch'; readonly image: ImageName; readonly recipient: string; readonly add: boolean }
  | { readonly kind: 'outside-snapshot'; readonly image: ImageName; readonly snapshot: number; readonly account: string; readonly add: boolean }
  | { readonly kind: 'outside-grant'; readonly key: number; readonly grantee: string; readonly name: 'none' | 'other-tool' | 'other-resource' }
  | { readonly kind: 'outside-revoke-grant'; readonly pick: number }
  /** Someone removes a share or grant a live resource declares, outside (`pick` chooses which). */
  | { readonly kind: 'drift'; readonly pick: number };

export interface AmiSequence {
  /** Snapshots encrypted with the customer managed keys (or not encrypted at all). */
  readonly encrypted: boolean;
  readonly steps: AmiStep[];
  readonly faults?: FaultPlan;
  /** The second resource: another logical id of the same stack, or another stack's (default: the same stack). */
  readonly second?: 'same-stack' | 'other-stack';
  /** Which resource's stack the closing Deletes delete last (default: the first's). */
  readonly lastDeleted?: Who;
}

const weighted = <T>(...choices: Array<[number, T]>): fc.Arbitrary<T> =>
  fc.oneof(...choices.map(([weight, value]) => ({ weight, arbitrary: fc.constant(value) })));

export const amiPropsArb: fc.Arbitrary<AmiProps> = fc.record({
  image: weighted<ImageName>([3, 'A'], [1, 'B']),
  accounts: fc.subarray(DECLARED_ACCOUNTS),
  organizationArns: fc.subarray(DECLARED_ORGS),
  organizationalUnitArns: fc.subarray(DECLARED_OUS),
  shareSnapshots: fc.boolean(),
  kmsGrants: weighted([4, true], [1, false]),
  autoScalingRoleGrants: weighted([1, true], [3, false]),
  declareKeys: weighted([6, true], [1, false]),
}).map((p) => (p.accounts.length + p.organizationArns.length + p.organizationalUnitArns.length > 0
  ? p : { ...p, accounts: [DECLARED_ACCOUNTS[0]] }));

const whoArb: fc.Arbitrary<Who> = weighted<Who>([3, 'first'], [2, 'second']);

export const amiStepArb: fc.Arbitrary<AmiStep> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('deploy' as const),
      props: amiPropsArb,
      outcome: weighted<'commit' | 'rollback'>([3, 'commit'], [1, 'rollback']),
      duplicate: weighted([4, false], [1, true]),
      pending: weighted([12, false], [1, true]),
      who: whoArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), duplicate: fc.boolean(), who: whoArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-unissued' as const), which: fc.nat({ max: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('outside-launch' as const), image: fc.constantFrom<ImageName>('A', 'B'), recipient: fc.constantFrom(...FOREIGN_LAUNCH, ...DECLARED_LAUNCH), add: weighted([2, true], [1, false]) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outside-snapshot' as const), image: fc.constantFrom<ImageName>('A', 'B'), snapshot: fc.nat({ max: 1 }), account: fc.constantFrom(...FOREIGN_ACCOUNTS), add: weighted([2, true], [1, false]) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('outside-grant' as const), key: fc.nat({ max: 1 }), grantee: fc.constantFrom(...FOREIGN_ACCOUNTS, ...DECLARED_ACCOUNTS), name: fc.constantFrom<'none' | 'other-tool' | 'other-resource'>('none', 'other-tool', 'other-resource') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outside-revoke-grant' as const), pick: fc.nat({ max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drift' as const), pick: fc.nat({ max: 40 }) }) },
);

export function amiSequenceArb(maxSteps: number, withFaults: boolean): fc.Arbitrary<AmiSequence> {
  return fc.record({
    encrypted: weighted([4, true], [1, false]),
    steps: fc.array(amiStepArb, { minLength: 1, maxLength: maxSteps }),
    second: fc.constantFrom<'same-stack' | 'other-stack'>('same-stack', 'other-stack'),
    lastDeleted: fc.constantFrom<Who>('first', 'second'),
    ...(withFaults ? { faults: faultPlanArb() } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// The world of one sequence
// ---------------------------------------------------------------------------------------------

interface AmiImage {
  readonly imageId: string;
  readonly snapshotIds: string[];
  /** Customer managed keys of its snapshots. */
  readonly keys: string[];
}

interface AmiWorld {
  readonly images: Record<ImageName, AmiImage>;
  /** Both keys (used by the AMIs or not). */
  readonly keys: string[];
}

async function buildWorld(env: ReliabilityEnv, encrypted: boolean): Promise<AmiWorld> {
  const keys = [await createKey(env.kms, 'reliability key 1'), await createKey(env.kms, 'reliability key 2')];
  const a = await addAmiSnapshot(env.moto, await createAmi(env.ec2));
  const b = await createAmi(env.ec2);
  if (encrypted) {
    await seedSnapshotKms(env.moto, a.snapshotIds[0], keys[0]);
    await seedSnapshotKms(env.moto, a.snapshotIds[1], keys[1]);
    await seedSnapshotKms(env.moto, b.snapshotIds[0], keys[1]);
  }
  return {
    keys,
    images: {
      A: { imageId: a.imageId, snapshotIds: a.snapshotIds, keys: encrypted ? [keys[0], keys[1]] : [] },
      B: { imageId: b.imageId, snapshotIds: b.snapshotIds, keys: encrypted ? [keys[1]] : [] },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The scenario: model, events, invariants
// ---------------------------------------------------------------------------------------------

const grantees = (p: AmiProps): string[] => (p.kmsGrants ? p.accounts.flatMap((a) => (p.autoScalingRoleGrants ? [root(a), asg(a)] : [root(a)])) : []);

/** The model's keys: `launch|<ami>|<recipient>`, `snap|<ami>|<snapshot>|<account>`, `grant|<ami>|<grant name>|<key>|<grantee>`. */
const imageOfKey = (key: string): string => key.split('|')[1];
const keyName = (key: string): string => {
  const [kind, , a, b, c] = key.split('|');
  if (kind === 'launch') return `launch permission ${a} on ${imageOfKey(key)}`;
  if (kind === 'snap') return `createVolumePermission on ${a} (of ${imageOfKey(key)}) for ${b}`;
  return `KMS grant ${a} on ${b} to ${c}`;
};

const flag = (v: unknown): boolean => String(v) === 'true';

class AmiScenario implements Scenario<AmiProps> {
  public readonly events = scenarioEvents(amiEvents, (p: AmiProps) => this.input(p));
  public readonly physicalIdPrefix = SHARED_AMI_PHYSICAL_ID_PREFIX;
  /** The next event's first DescribeImages shows the AMI `pending` (set before a deploy, used by its first event). */
  public pendingNext = false;
  public readonly imageIds: string[];
  /** Who made each share and grant there is, and what each resource declares. */
  private readonly model = new OwnershipModel(imageOfKey);
  /** Outside grants per key (grant id → grantee). */
  private readonly foreignGrants = new Map<string, Map<string, string>>();
  /** Every grant name a resource of this sequence may use, → its AMI. */
  private readonly ownNames = new Map<string, string>();

  constructor(private readonly env: ReliabilityEnv, private readonly world: AmiWorld, resources: readonly ResourceId[]) {
    this.imageIds = [world.images.A.imageId, world.images.B.imageId];
    for (const k of world.keys) this.foreignGrants.set(k, new Map());
    for (const who of resources) {
      for (const imageId of this.imageIds) this.ownNames.set(grantName(who.stackId ?? STACK_ID, who.logicalId, imageId), imageId);
    }
  }

  public imageIdOf(p: AmiProps): string {
    return this.world.images[p.image].imageId;
  }

  public describe(p: AmiProps): string {
    const flags = [
      p.shareSnapshots && 'snapshots', !p.kmsGrants && 'no-kms', p.autoScalingRoleGrants && 'asg', !p.declareKeys && 'keys-undeclared',
    ].filter(Boolean).join(',');
    return `${p.image}[${[...p.accounts, ...p.organizationArns.map((o) => o.split('/').pop()), ...p.organizationalUnitArns.map((o) => o.split('/').pop())].join(' ')}]${flags ? `{${flags}}` : ''}`;
  }

  public sameProps(a: AmiProps, b: AmiProps): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  public expectRefusal(p: AmiProps): boolean {
    // A pending AMI is refused ("deploy again once it is available").
    if (this.pendingNext) return true;
    // Organizations and OUs cannot be KMS grantees: an encrypted AMI needs its keys declared.
    return p.kmsGrants && this.world.images[p.image].keys.length > 0
      && p.organizationArns.length + p.organizationalUnitArns.length > 0 && !p.declareKeys;
  }

  private input(p: AmiProps): AmiShareInput {
    return {
      imageId: this.imageIdOf(p),
      accounts: p.accounts,
      organizationArns: p.organizationArns,
      organizationalUnitArns: p.organizationalUnitArns,
      shareSnapshots: p.shareSnapshots,
      kmsGrants: p.kmsGrants,
      autoScalingRoleGrants: p.autoScalingRoleGrants,
      declaredKeyArns: p.declareKeys ? this.world.keys : [],
    };
  }

  private imageNamed(imageId: string): AmiImage | undefined {
    return Object.values(this.world.images).find((i) => i.imageId === imageId);
  }

  /** The model's keys that properties (as delivered) declare on `imageId`, for the resource `logicalId` of stack `stackId`. */
  private keysOf(props: Partial<SharedAmiResourceProperties> | undefined, imageId: string, stackId: string, logicalId: string): string[] {
    if (!props) return [];
    const accounts = props.Accounts ?? [];
    const keys = [
      ...accounts.map((a) => `UserId:${a}`),
      ...(props.OrganizationArns ?? []).map((a) => `OrganizationArn:${a}`),
      ...(props.OrganizationalUnitArns ?? []).map((a) => `OrganizationalUnitArn:${a}`),
    ].map((k) => `launch|${imageId}|${k}`);
    const image = this.imageNamed(imageId);
    if (!image) return keys;
    if (flag(props.ShareSnapshots)) {
      for (const s of image.snapshotIds) keys.push(...accounts.map((a) => `snap|${imageId}|${s}|${a}`));
    }
    if (flag(props.KmsGrants)) {
      const name = grantName(stackId, logicalId, imageId);
      const who = accounts.flatMap((a) => (flag(props.AutoScalingRoleGrants) ? [root(a), asg(a)] : [root(a)]));
      for (const key of image.keys) keys.push(...who.map((g) => `grant|${imageId}|${name}|${key}|${g}`));
    }
    return keys;
  }

  /** The event as the model sees it. */
  private modelEvent(event: CfnEvent): ModelEvent {
    const e = event as CfnEvent & {
      StackId: string;
      LogicalResourceId: string;
      ResourceProperties: SharedAmiResourceProperties;
      OldResourceProperties?: SharedAmiResourceProperties;
    };
    const keys = (props: SharedAmiResourceProperties | undefined, imageId: string) => this.keysOf(props, imageId, e.StackId, e.LogicalResourceId);
    return modelEventOf(e, SHARED_AMI_PHYSICAL_ID_PREFIX, this.imageIds, keys);
  }

  public async invoke(event: CfnEvent): Promise<Invocation> {
    if (this.pendingNext) {
      this.env.proxy.rewriteNext('DescribeImages', 1, (xml) => xml.replace('<imageState>available</imageState>', '<imageState>pending</imageState>'));
      this.pendingNext = false;
    }
    const recorder = recordSdk();
    let inv: Invocation;
    try {
      const answer = await handler(event as Parameters<typeof handler>[0]);
      inv = { ok: true, physicalId: answer.PhysicalResourceId, data: answer.Data, ...observed(recorder) };
    } catch (error) {
      inv = { ok: false, error, ...observed(recorder) };
    } finally {
      recorder.restore();
      this.env.proxy.rewriteNext('DescribeImages', 0, (xml) => xml);
    }
    this.model.apply(this.modelEvent(event), { ok: inv.ok, mutating: inv.mutating, byHand: !inv.ok && /by hand/.test(errText(inv.error)) });
    return inv;
  }

  public checkAnswer(p: AmiProps, inv: Invocation): string | undefined {
    const want = grantees(p).length * this.world.images[p.image].keys.length;
    const got = inv.data?.GrantCount;
    return got === String(want) ? undefined : `GrantCount ${JSON.stringify(got)}, expected ${want}`;
  }

  public drifted(p: AmiProps, who: ResourceId): boolean {
    const imageId = this.imageIdOf(p);
    return this.model.missing(this.keysOf(amiProperties(this.input(p)), imageId, who.stackId ?? STACK_ID, who.logicalId)).length > 0;
  }

  /** The physical ids a Delete may carry that this handler never issued (the last one parses but names no AMI). */
  public unissued(which: number): { physicalId: string; parseable: boolean } {
    const id = this.world.images.A.imageId;
    const ids = [
      'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED',
      'd3b07384-d9a0-4c9b-8f5e-1f0a6b3e2c71',
      SHARED_AMI_PHYSICAL_ID_PREFIX,
      `${SHARED_AMI_PHYSICAL_ID_PREFIX}${id.toUpperCase()}`,
      `shared-wsi:${id}`,
      `${SHARED_AMI_PHYSICAL_ID_PREFIX}${id} `,
    ];
    if (which < ids.length) return { physicalId: ids[which], parseable: false };
    return { physicalId: `${SHARED_AMI_PHYSICAL_ID_PREFIX}ami-0123456789abcdef0`, parseable: true };
  }

  /** Applies an outside change (console, another tool) and records it in the model. */
  public async outside(step: AmiStep, note: (line: string) => void): Promise<void> {
    const { ec2, kms } = this.env;
    switch (step.kind) {
      case 'outside-launch': {
        const image = this.world.images[step.image];
        const key = `launch|${image.imageId}|${step.recipient}`;
        const declaredBy = this.model.holders(key);
        const by = declaredBy.length > 0 ? ` (declared by ${declaredBy.join(', ')})` : '';
        if (step.add) {
          const outcome = this.model.outsideAdd(key);
          if (outcome !== 'not played') await grantLaunch(ec2, image.imageId, [step.recipient]);
          note(`outside: share AMI ${step.image} with ${step.recipient}${by}: ${outcome}`);
        } else if (this.model.outsideRemove(key)) {
          await revokeLaunch(ec2, image.imageId, [step.recipient]);
          note(`outside: unshare AMI ${step.image} from ${step.recipient}${by}`);
        }
        return;
      }
      case 'outside-snapshot': {
        const image = this.world.images[step.image];
        const snapshotId = image.snapshotIds[step.snapshot % image.snapshotIds.length];
        const key = `snap|${image.imageId}|${snapshotId}|${step.account}`;
        if (step.add) {
          const outcome = this.model.outsideAdd(key);
          if (outcome !== 'not played') await grantSnapshot(ec2, snapshotId, [step.account]);
          note(`outside: grant createVolumePermission on ${snapshotId} (AMI ${step.image}) for ${step.account}: ${outcome}`);
        } else if (this.model.outsideRemove(key)) {
          await revokeSnapshot(ec2, snapshotId, [step.account]);
          note(`outside: revoke createVolumePermission on ${snapshotId} (AMI ${step.image}) for ${step.account}`);
        }
        return;
      }
      case 'outside-grant': {
        const key = this.world.keys[step.key];
        const name = step.name === 'none' ? undefined
          : step.name === 'other-tool' ? 'golden-image-pipeline'
            : grantName(STACK_ID, 'OtherShare', this.world.images.A.imageId);
        const out = await kms.send(new CreateGrantCommand({
          KeyId: key, GranteePrincipal: root(step.grantee), Operations: ['Decrypt', 'DescribeKey'], ...(name ? { Name: name } : {}),
        }));
        this.foreignGrants.get(key)!.set(out.GrantId!, root(step.grantee));
        note(`outside: KMS grant ${out.GrantId} on key ${step.key + 1} to ${step.grantee} (${name ?? 'no name'})`);
        return;
      }
      case 'outside-revoke-grant': {
        const all = [...this.foreignGrants.entries()].flatMap(([key, grants]) => [...grants.keys()].map((id) => ({ key, id })));
        if (all.length === 0) return;
        const { key, id } = all[step.pick % all.length];
        await kms.send(new RevokeGrantCommand({ KeyId: key, GrantId: id }));
        this.foreignGrants.get(key)!.delete(id);
        note(`outside: revoke KMS grant ${id}`);
        return;
      }
      case 'drift': {
        // Any share or grant a live resource declares, that is there.
        const candidates = this.model.declaredKeys().filter((k) => this.model.state(k) !== undefined).sort();
        if (candidates.length === 0) return;
        const key = candidates[step.pick % candidates.length];
        const [kind, imageId, a, b, c] = key.split('|');
        if (kind === 'launch') {await revokeLaunch(ec2, imageId, [a]);} else if (kind === 'snap') {await revokeSnapshot(ec2, a, [b]);} else {
          for (const g of (await listAllGrants(kms, b)).filter((grant) => grant.Name === a && grant.GranteePrincipal === c)) {
            await kms.send(new RevokeGrantCommand({ KeyId: b, GrantId: g.GrantId! }));
          }
        }
        this.model.outsideRemove(key);
        note(`outside: removed ${keyName(key)} (declared by ${this.model.holders(key).join(', ')})`);
        return;
      }
      default:
        throw new Error(`not an outside step: ${step.kind}`);
    }
  }

  public async check(label: string): Promise<void> {
    const { ec2, kms } = this.env;
    const problems: string[] = [];
    const observedKeys = new Set<string>();
    for (const image of Object.values(this.world.images)) {
      for (const k of await launchPermissions(ec2, image.imageId)) observedKeys.add(`launch|${image.imageId}|${k}`);
      for (const s of image.snapshotIds) {
        for (const k of await snapshotPermissions(ec2, s)) observedKeys.add(`snap|${image.imageId}|${s}|${k.replace(/^UserId:/, '')}`);
      }
    }
    for (const key of this.world.keys) {
      const all = await listAllGrants(kms, key);
      const ids = new Set(all.map((g) => g.GrantId!));
      for (const [id, grantee] of this.foreignGrants.get(key)!) {
        if (!ids.has(id)) problems.push(`outside grant ${id} to ${grantee} on ${key} is gone`);
      }
      for (const g of all) {
        if (this.foreignGrants.get(key)!.has(g.GrantId!)) continue;
        const imageId = this.ownNames.get(g.Name ?? '');
        if (!imageId) {
          problems.push(`key ${key} holds a grant nobody accounts for: ${JSON.stringify([g.Name, g.GranteePrincipal])}`);
          continue;
        }
        const k = `grant|${imageId}|${g.Name}|${key}|${g.GranteePrincipal}`;
        if (observedKeys.has(k)) problems.push(`${keyName(k)} exists more than once`);
        observedKeys.add(k);
        if (!KMS_GRANT_OPERATIONS.every((op) => g.Operations?.includes(op))) problems.push(`grant ${g.GrantId} on ${key} lacks operations: ${JSON.stringify(g.Operations)}`);
      }
    }
    const all = (): boolean => true;
    this.model.settle(all, observedKeys);
    problems.push(...this.model.compare(all, observedKeys, keyName));
    if (problems.length > 0) {
      throw new InvariantViolation(`${label}: ${problems.join('; ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One sequence
// ---------------------------------------------------------------------------------------------

export async function runAmiSequence(env: ReliabilityEnv, seq: AmiSequence, rates: FaultRates, figures: Figures, count: boolean): Promise<void> {
  const world = await buildWorld(env, seq.encrypted);
  const second = secondResource(seq.second === 'other-stack');
  const scenario = new AmiScenario(env, world, [FIRST, second]);
  const driver = new Driver(scenario, env.proxy, figures, rates, seq.faults);
  const whoOf = (who: Who | undefined): ResourceId => (who === 'second' ? second : FIRST);
  driver.note(`world: AMI A ${world.images.A.imageId} (snapshots ${world.images.A.snapshotIds.join(', ')}), AMI B ${world.images.B.imageId}, ${seq.encrypted ? 'encrypted: A with keys 1 and 2, B with key 2' : 'not encrypted'};`
    + ` the second resource ${second.logicalId} is ${second.stackId ? 'another stack\'s' : 'the same stack\'s'}`);
  await runSequence(driver, figures, count, async () => {
    for (const [i, step] of seq.steps.entries()) {
      switch (step.kind) {
        case 'deploy':
          if (step.who === 'second') figures.secondResourceSteps++;
          scenario.pendingNext = step.pending;
          await driver.deploy(step.props, step.outcome, step.duplicate, whoOf(step.who));
          scenario.pendingNext = false;
          break;
        case 'delete':
          if (step.who === 'second') figures.secondResourceSteps++;
          if (driver.currentOf(whoOf(step.who))) await driver.delete(step.duplicate, whoOf(step.who));
          else await driver.deleteUnissued(scenario.unissued(0).physicalId, amiFallbackProps, false);
          break;
        case 'delete-unissued': {
          const { physicalId, parseable } = scenario.unissued(step.which);
          await driver.deleteUnissued(physicalId, driver.current?.props ?? amiFallbackProps, parseable);
          break;
        }
        default:
          await scenario.outside(step, (line) => driver.note(line));
      }
      await scenario.check(`after step ${i + 1} (${step.kind}${step.kind === 'deploy' || step.kind === 'delete' ? ` of ${whoOf(step.who).logicalId}` : ''})`);
    }
  }, (label) => scenario.check(label), seq.lastDeleted === 'second' ? [FIRST, second] : [second, FIRST]);
}

/** Properties for a Delete of an unissued physical id when no resource is live (they name AMI A). */
const amiFallbackProps: AmiProps = {
  image: 'A', accounts: [...DECLARED_ACCOUNTS], organizationArns: [], organizationalUnitArns: [], shareSnapshots: true, kmsGrants: true, autoScalingRoleGrants: false, declareKeys: true,
};
