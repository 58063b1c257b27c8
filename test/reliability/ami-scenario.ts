/**
 * SharedAmi random lifecycles against moto: two AMIs (A with two snapshots, B with one), two
 * customer managed keys (A's snapshots use k1 and k2, B's uses k2; or no encryption at all), a pool
 * of declared recipients (accounts, an organization, OUs) and a disjoint pool of outside recipients
 * (so that "declared ∪ foreign" is exact: see README "Ownership"), outside KMS grants (to outside
 * and to declared accounts, unnamed or named by another tool or another resource), and outside
 * removals of the resource's own shares ("drift", repaired by the next event).
 *
 * Invariants after every step, read from moto:
 * - each AMI's launch permissions = (declared, if the resource is on it) ∪ (outside) − (drift);
 * - each snapshot's createVolumePermission = (declared accounts, with shareSnapshots) ∪ (outside) − (drift);
 * - on each key of the AMI, the grants named for this resource and AMI = (account roots, and with
 *   the option Auto Scaling roles) × 1, with every launch operation, when kmsGrants; none otherwise;
 * - every outside grant survives, and no other grant exists.
 */
import { CreateGrantCommand, RevokeGrantCommand } from '@aws-sdk/client-kms';
import fc from 'fast-check';
import { FaultRates } from './fault-proxy';
import { Figures, InvariantViolation, recordSdk, ReliabilityEnv, sameSet, sorted } from './harness';
import { CfnEvent, Current, Driver, FaultPlan, faultPlanArb, Invocation, observed, runSequence, Scenario, scenarioEvents } from './lifecycle';
import { grantName } from '../../lambda/ami/kms-plan';
import { handler } from '../../lambda/shared-ami.lambda';
import { KMS_GRANT_OPERATIONS, SHARED_AMI_PHYSICAL_ID_PREFIX } from '../../src/private/contract';
import {
  addAmiSnapshot, amiEvents, AmiShareInput, createAmi, createKey, grantLaunch, grantSnapshot, launchPermissions,
  listAllGrants, revokeLaunch, revokeSnapshot, seedSnapshotKms, snapshotPermissions, STACK_ID,
} from '../emulator/moto';

/** The event builders' default logical id, which names the resource's KMS grants. */
const LOGICAL_ID = 'Share';

// ---------------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------------

export const DECLARED_ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444'];
export const DECLARED_ORGS = ['arn:aws:organizations::123456789012:organization/o-declared01'];
export const DECLARED_OUS = [
  'arn:aws:organizations::123456789012:ou/o-declared01/ou-ab12-declared1',
  'arn:aws:organizations::123456789012:ou/o-declared01/ou-cd34-declared2',
];
/** Outside recipients: never declared, so an outside share is never also the resource's. */
export const FOREIGN_LAUNCH = [
  'UserId:888888888888',
  'UserId:999999999999',
  'OrganizationArn:arn:aws:organizations::210987654321:organization/o-foreign001',
  'OrganizationalUnitArn:arn:aws:organizations::210987654321:ou/o-foreign001/ou-ef56-foreign01',
];
export const FOREIGN_ACCOUNTS = ['888888888888', '999999999999'];

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
  | { readonly kind: 'deploy'; readonly props: AmiProps; readonly outcome: 'commit' | 'rollback'; readonly duplicate: boolean; readonly pending: boolean }
  | { readonly kind: 'delete'; readonly duplicate: boolean }
  /** A Delete of a physical id the handler never issued (`which` picks one), carrying the live resource's properties. */
  | { readonly kind: 'delete-unissued'; readonly which: number }
  | { readonly kind: 'outside-launch'; readonly image: ImageName; readonly recipient: string; readonly add: boolean }
  | { readonly kind: 'outside-snapshot'; readonly image: ImageName; readonly snapshot: number; readonly account: string; readonly add: boolean }
  | { readonly kind: 'outside-grant'; readonly key: number; readonly grantee: string; readonly name: 'none' | 'other-tool' | 'other-resource' }
  | { readonly kind: 'outside-revoke-grant'; readonly pick: number }
  /** Someone removes one of the resource's own shares or grants outside (`pick` chooses which). */
  | { readonly kind: 'drift'; readonly pick: number };

export interface AmiSequence {
  /** Snapshots encrypted with the customer managed keys (or not encrypted at all). */
  readonly encrypted: boolean;
  readonly steps: AmiStep[];
  readonly faults?: FaultPlan;
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

export const amiStepArb: fc.Arbitrary<AmiStep> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('deploy' as const),
      props: amiPropsArb,
      outcome: weighted<'commit' | 'rollback'>([3, 'commit'], [1, 'rollback']),
      duplicate: weighted([4, false], [1, true]),
      pending: weighted([12, false], [1, true]),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), duplicate: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-unissued' as const), which: fc.nat({ max: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('outside-launch' as const), image: fc.constantFrom<ImageName>('A', 'B'), recipient: fc.constantFrom(...FOREIGN_LAUNCH), add: weighted([2, true], [1, false]) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outside-snapshot' as const), image: fc.constantFrom<ImageName>('A', 'B'), snapshot: fc.nat({ max: 1 }), account: fc.constantFrom(...FOREIGN_ACCOUNTS), add: weighted([2, true], [1, false]) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('outside-grant' as const), key: fc.nat({ max: 1 }), grantee: fc.constantFrom(...FOREIGN_ACCOUNTS, ...DECLARED_ACCOUNTS), name: fc.constantFrom<'none' | 'other-tool' | 'other-resource'>('none', 'other-tool', 'other-resource') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outside-revoke-grant' as const), pick: fc.nat({ max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drift' as const), pick: fc.nat({ max: 40 }) }) },
);

export function amiSequenceArb(maxSteps: number, withFaults: boolean): fc.Arbitrary<AmiSequence> {
  return fc.record({
    encrypted: weighted([4, true], [1, false]),
    steps: fc.array(amiStepArb, { minLength: 1, maxLength: maxSteps }),
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

const launchKeys = (p: AmiProps): string[] => [
  ...p.accounts.map((a) => `UserId:${a}`),
  ...p.organizationArns.map((a) => `OrganizationArn:${a}`),
  ...p.organizationalUnitArns.map((a) => `OrganizationalUnitArn:${a}`),
];
const grantees = (p: AmiProps): string[] => (p.kmsGrants ? p.accounts.flatMap((a) => (p.autoScalingRoleGrants ? [root(a), asg(a)] : [root(a)])) : []);

class AmiScenario implements Scenario<AmiProps> {
  public readonly events = scenarioEvents(amiEvents, (p: AmiProps) => this.input(p));
  public readonly physicalIdPrefix = SHARED_AMI_PHYSICAL_ID_PREFIX;
  /** The next event's first DescribeImages shows the AMI `pending` (set before a deploy, used by its first event). */
  public pendingNext = false;
  public readonly imageIds: string[];
  /** Outside shares, per AMI / snapshot, and outside grants per key (grant id → grantee). */
  private readonly foreignLaunch: Record<ImageName, Set<string>> = { A: new Set(), B: new Set() };
  private readonly foreignSnapshot = new Map<string, Set<string>>();
  private readonly foreignGrants = new Map<string, Map<string, string>>();
  /** The resource's own shares removed outside since its last event: `launch:<key>`, `snap:<id>:<account>`, `grant:<key>:<grantee>`. */
  private readonly drift = new Set<string>();

  constructor(private readonly env: ReliabilityEnv, private readonly world: AmiWorld) {
    this.imageIds = [world.images.A.imageId, world.images.B.imageId];
    for (const k of world.keys) this.foreignGrants.set(k, new Map());
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


  public async invoke(event: CfnEvent): Promise<Invocation> {
    if (this.pendingNext) {
      this.env.proxy.rewriteNext('DescribeImages', 1, (xml) => xml.replace('<imageState>available</imageState>', '<imageState>pending</imageState>'));
      this.pendingNext = false;
    }
    const recorder = recordSdk();
    try {
      const answer = await handler(event as Parameters<typeof handler>[0]);
      return { ok: true, physicalId: answer.PhysicalResourceId, data: answer.Data, ...observed(recorder) };
    } catch (error) {
      return { ok: false, error, ...observed(recorder) };
    } finally {
      recorder.restore();
      this.env.proxy.rewriteNext('DescribeImages', 0, (xml) => xml);
    }
  }

  public checkAnswer(p: AmiProps, inv: Invocation): string | undefined {
    const want = grantees(p).length * this.world.images[p.image].keys.length;
    const got = inv.data?.GrantCount;
    return got === String(want) ? undefined : `GrantCount ${JSON.stringify(got)}, expected ${want}`;
  }

  public repaired(): void {
    this.drift.clear();
  }

  public drifted(): boolean {
    return this.drift.size > 0;
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
  public async outside(step: AmiStep, current: Current<AmiProps> | undefined, note: (line: string) => void): Promise<void> {
    const { ec2, kms } = this.env;
    switch (step.kind) {
      case 'outside-launch': {
        const image = this.world.images[step.image];
        if (step.add) {
          await grantLaunch(ec2, image.imageId, [step.recipient]);
          this.foreignLaunch[step.image].add(step.recipient);
        } else {
          await revokeLaunch(ec2, image.imageId, [step.recipient]);
          this.foreignLaunch[step.image].delete(step.recipient);
        }
        note(`outside: ${step.add ? 'share' : 'unshare'} AMI ${step.image} ${step.add ? 'with' : 'from'} ${step.recipient}`);
        return;
      }
      case 'outside-snapshot': {
        const image = this.world.images[step.image];
        const snapshotId = image.snapshotIds[step.snapshot % image.snapshotIds.length];
        const set = this.foreignSnapshot.get(snapshotId) ?? new Set<string>();
        this.foreignSnapshot.set(snapshotId, set);
        if (step.add) {
          await grantSnapshot(ec2, snapshotId, [step.account]);
          set.add(step.account);
        } else {
          await revokeSnapshot(ec2, snapshotId, [step.account]);
          set.delete(step.account);
        }
        note(`outside: ${step.add ? 'grant' : 'revoke'} createVolumePermission on ${snapshotId} (AMI ${step.image}) for ${step.account}`);
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
        if (!current) return;
        const p = current.props;
        const image = this.world.images[p.image];
        const name = grantName(STACK_ID, LOGICAL_ID, image.imageId);
        const candidates: Array<{ label: string; remove: () => Promise<void> }> = [];
        const held = new Set(await launchPermissions(ec2, image.imageId));
        for (const k of launchKeys(p).filter((key) => held.has(key))) {
          candidates.push({ label: `launch:${k}`, remove: () => revokeLaunch(ec2, image.imageId, [k]) });
        }
        if (p.shareSnapshots) {
          for (const s of image.snapshotIds) {
            const holders = new Set(await snapshotPermissions(ec2, s));
            for (const a of p.accounts.filter((account) => holders.has(`UserId:${account}`))) {
              candidates.push({ label: `snap:${s}:${a}`, remove: () => revokeSnapshot(ec2, s, [a]) });
            }
          }
        }
        for (const key of image.keys) {
          for (const g of (await listAllGrants(kms, key)).filter((grant) => grant.Name === name)) {
            candidates.push({
              label: `grant:${key}:${g.GranteePrincipal}`,
              remove: async () => { await kms.send(new RevokeGrantCommand({ KeyId: key, GrantId: g.GrantId! })); },
            });
          }
        }
        if (candidates.length === 0) return;
        const pick = candidates[step.pick % candidates.length];
        await pick.remove();
        this.drift.add(pick.label);
        note(`outside: removed the resource's own ${pick.label}`);
        return;
      }
      default:
        throw new Error(`not an outside step: ${step.kind}`);
    }
  }

  public async check(current: Current<AmiProps> | undefined, label: string): Promise<void> {
    const { ec2, kms } = this.env;
    const problems: string[] = [];
    const ownGrantIds = new Set<string>();
    for (const name of ['A', 'B'] as const) {
      const image = this.world.images[name];
      const on = current && current.props.image === name ? current.props : undefined;
      const wantLaunch = new Set([...(on ? launchKeys(on) : []), ...this.foreignLaunch[name]]);
      for (const d of this.drift) if (d.startsWith('launch:') && on) wantLaunch.delete(d.slice('launch:'.length));
      const launch = await launchPermissions(ec2, image.imageId);
      if (!sameSet(launch, wantLaunch)) problems.push(`AMI ${name} launch permissions ${JSON.stringify(launch)}, expected ${JSON.stringify(sorted(wantLaunch))}`);

      for (const s of image.snapshotIds) {
        const want = new Set([...(on?.shareSnapshots ? on.accounts : []), ...(this.foreignSnapshot.get(s) ?? [])].map((a) => `UserId:${a}`));
        for (const d of this.drift) if (on && d.startsWith(`snap:${s}:`)) want.delete(`UserId:${d.split(':')[2]}`);
        const got = await snapshotPermissions(ec2, s);
        if (!sameSet(got, want)) problems.push(`snapshot ${s} of AMI ${name} createVolumePermission ${JSON.stringify(got)}, expected ${JSON.stringify(sorted(want))}`);
      }

      const ownName = grantName(STACK_ID, LOGICAL_ID, image.imageId);
      for (const key of image.keys) {
        const ours = (await listAllGrants(kms, key)).filter((g) => g.Name === ownName);
        for (const g of ours) ownGrantIds.add(g.GrantId!);
        const want = (on ? grantees(on) : []).filter((g) => !this.drift.has(`grant:${key}:${g}`));
        const got = ours.map((g) => g.GranteePrincipal!);
        if (!sameSet(got, want)) problems.push(`key ${key} grants named for AMI ${name}: ${JSON.stringify(sorted(got))}, expected ${JSON.stringify(sorted(want))} (each exactly once)`);
        for (const g of ours) {
          if (!KMS_GRANT_OPERATIONS.every((op) => g.Operations?.includes(op))) problems.push(`grant ${g.GrantId} on ${key} lacks operations: ${JSON.stringify(g.Operations)}`);
        }
      }
    }
    for (const key of this.world.keys) {
      const all = await listAllGrants(kms, key);
      const ids = new Set(all.map((g) => g.GrantId!));
      for (const [id, grantee] of this.foreignGrants.get(key)!) {
        if (!ids.has(id)) problems.push(`outside grant ${id} to ${grantee} on ${key} is gone`);
      }
      const stray = all.filter((g) => !this.foreignGrants.get(key)!.has(g.GrantId!) && !ownGrantIds.has(g.GrantId!));
      if (stray.length > 0) problems.push(`key ${key} holds grants nobody accounts for: ${JSON.stringify(stray.map((g) => [g.Name, g.GranteePrincipal]))}`);
    }
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
  const scenario = new AmiScenario(env, world);
  const driver = new Driver(scenario, env.proxy, figures, rates, seq.faults);
  driver.note(`world: AMI A ${world.images.A.imageId} (snapshots ${world.images.A.snapshotIds.join(', ')}), AMI B ${world.images.B.imageId}, ${seq.encrypted ? 'encrypted: A with keys 1 and 2, B with key 2' : 'not encrypted'}`);
  await runSequence(driver, figures, count, async () => {
    for (const [i, step] of seq.steps.entries()) {
      switch (step.kind) {
        case 'deploy':
          scenario.pendingNext = step.pending;
          await driver.deploy(step.props, step.outcome, step.duplicate);
          scenario.pendingNext = false;
          break;
        case 'delete':
          if (driver.current) await driver.delete(step.duplicate);
          else await driver.deleteUnissued(scenario.unissued(0).physicalId, amiFallbackProps, false);
          break;
        case 'delete-unissued': {
          const { physicalId, parseable } = scenario.unissued(step.which);
          await driver.deleteUnissued(physicalId, driver.current?.props ?? amiFallbackProps, parseable);
          break;
        }
        default:
          await scenario.outside(step, driver.current, (line) => driver.note(line));
      }
      await scenario.check(driver.current, `after step ${i + 1} (${step.kind})`);
    }
  }, () => scenario.check(undefined, 'after the closing Delete'));
}

/** Properties for a Delete of an unissued physical id when no resource is live (they name AMI A). */
const amiFallbackProps: AmiProps = {
  image: 'A', accounts: [...DECLARED_ACCOUNTS], organizationArns: [], organizationalUnitArns: [], shareSnapshots: true, kmsGrants: true, autoScalingRoleGrants: false, declareKeys: true,
};
