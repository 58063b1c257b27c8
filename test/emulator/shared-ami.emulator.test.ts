/**
 * Emulator scenarios: the real SharedAmi handler with real SDK v3 clients against a local moto,
 * one scenario per lifecycle rule (DESIGN.md). Every scenario reads the AMI's launch permissions
 * (DescribeImageAttribute) and its snapshots' createVolumePermission (DescribeSnapshotAttribute)
 * back from moto afterwards.
 */
import {
  AmiShareInput, awsError, createAmi, createEvent, deleteEvent, deregisterAmi, FaultHook, grantLaunch, grantSnapshot,
  launchPermissions, recordEc2Calls, rollbackOf, ShareState, shareState, snapshotPermissions, TestAmi, updateEvent, useMoto,
} from './moto';
import { handlerRunner } from './runner';
import { handler } from '../../lambda/shared-ami.lambda';

const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const OUTSIDE = '999999999999';
const OUTSIDE_2 = '888888888888';
const ORG = 'arn:aws:organizations::123456789012:organization/o-exampleorgid';
const OU = 'arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-ab12-cdef3456';
const ORG_2 = 'arn:aws:organizations::444455556666:organization/o-secondorg12';

const user = (account: string): string => `UserId:${account}`;
const org = (arn: string): string => `OrganizationArn:${arn}`;
const ou = (arn: string): string => `OrganizationalUnitArn:${arn}`;
const sorted = (...keys: string[]): string[] => [...keys].sort();

const fixture = useMoto();

const runner = handlerRunner(handler, recordEc2Calls);
const { run, runFailing } = runner;

/** Creates a share and returns its physical id. */
const created = (props: AmiShareInput): Promise<string> => runner.created(createEvent(props));

let ami: TestAmi;
beforeEach(async () => {
  ami = await createAmi(fixture.ec2);
  expect(ami.snapshotIds.length).toBeGreaterThan(0);
});

const state = () => shareState(fixture.ec2, ami);
const snap = () => ami.snapshotIds[0];
/** The expected state of `ami`'s first snapshot and launch permissions. */
const expected = (launch: string[], snapshot: string[], on: TestAmi = ami): ShareState => ({
  launch: [...launch].sort(),
  snapshots: { [on.snapshotIds[0]]: [...snapshot].sort() },
});

describe('Create', () => {
  test('grants every declared account, organization and OU; physical id derived from the image id', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], organizationalUnitArns: [OU] };
    const { response, calls, mutating } = await run(createEvent(props));

    expect(response.PhysicalResourceId).toBe(`shared-ami:${ami.imageId}`);
    // moto's AMI snapshots are unencrypted: no KMS grant to hold, but the grant name is still returned.
    expect(response.Data).toEqual({ ImageId: ami.imageId, GrantIds: '', GrantCount: '0', GrantName: `cdk-shared-images/demo/Share/${ami.imageId}` });
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual(sorted(user(A), user(B), org(ORG), ou(OU)));
    // Snapshot sharing is off by default: no createVolumePermission.
    expect(await snapshotPermissions(fixture.ec2, snap())).toEqual([]);
    // Batched: one ModifyImageAttribute carries all four launch permissions.
    expect(mutating.map((c) => c.name)).toEqual(['ModifyImageAttribute']);
    // KMS grants are on by default: the handler read the snapshots and found them unencrypted.
    expect(calls.filter((c) => c.name === 'DescribeSnapshots').map((c) => c.input)).toEqual([{ SnapshotIds: ami.snapshotIds }]);
  });

  test('with shareSnapshots grants createVolumePermission on every snapshot to the accounts (not to orgs/OUs)', async () => {
    await run(createEvent({ imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true }));

    const s = await state();
    expect(s.launch).toEqual(sorted(user(A), user(B), org(ORG)));
    for (const id of ami.snapshotIds) expect(s.snapshots[id]).toEqual(sorted(user(A), user(B)));
  });
});

describe('Update', () => {
  test('adds what is new and revokes what was dropped: only the delta is sent', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };
    const physicalId = await created(before);
    const after: AmiShareInput = { ...before, accounts: [A, C] };

    const { response, mutating } = await run(updateEvent(physicalId, after, before));

    expect(response.PhysicalResourceId).toBe(physicalId);
    const s = await state();
    expect(s.launch).toEqual(sorted(user(A), user(C), org(ORG)));
    expect(s.snapshots[snap()]).toEqual(sorted(user(A), user(C)));
    // Only the delta: +C -B, never a re-send of A or ORG.
    const launchCalls = mutating.filter((c) => c.name === 'ModifyImageAttribute');
    expect(launchCalls).toHaveLength(1);
    expect(launchCalls[0].input).toMatchObject({ LaunchPermission: { Add: [{ UserId: C }], Remove: [{ UserId: B }] } });
    expect(mutating.filter((c) => c.name === 'ModifySnapshotAttribute').map((c) => c.input)).toEqual(expect.arrayContaining([
      expect.objectContaining({ SnapshotId: snap(), OperationType: 'add', UserIds: [C] }),
      expect.objectContaining({ SnapshotId: snap(), OperationType: 'remove', UserIds: [B] }),
    ]));
    expect(mutating).toHaveLength(3);
  });

  test('turning shareSnapshots off revokes the snapshot permissions and keeps the launch permissions', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], shareSnapshots: true };
    const physicalId = await created(before);

    await run(updateEvent(physicalId, { ...before, shareSnapshots: false }, before));

    const s = await state();
    expect(s.launch).toEqual(sorted(user(A), user(B)));
    expect(s.snapshots[snap()]).toEqual([]);
  });

  test('an update that changes nothing makes no mutating call and leaves the state as it was', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], organizationalUnitArns: [OU] };
    const physicalId = await created({ ...props, shareSnapshots: true });
    const stateBefore = await state();

    const { response, mutating } = await run(updateEvent(physicalId, { ...props, shareSnapshots: true }, { ...props, shareSnapshots: true }));

    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(mutating).toEqual([]);
    expect(await state()).toEqual(stateBefore);
  });
});

describe('Image replacement', () => {
  test('a new imageId grants on the new image under a new physical id; the Delete of the old physical id revokes on the old image', async () => {
    const oldAmi = ami;
    const newAmi = await createAmi(fixture.ec2);
    const before: AmiShareInput = { imageId: oldAmi.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };
    const oldPhysicalId = await created(before);
    // The new image already carries a share of B made elsewhere: B was declared for the old image
    // only, so the new image's B is not this resource's to revoke.
    await grantLaunch(fixture.ec2, newAmi.imageId, [user(B)]);
    await grantSnapshot(fixture.ec2, newAmi.snapshotIds[0], [B]);
    const after: AmiShareInput = { ...before, imageId: newAmi.imageId, accounts: [A, C] };
    const newState = expected([user(A), user(B), user(C), org(ORG)], [user(A), user(B), user(C)], newAmi);

    const { response } = await run(updateEvent(oldPhysicalId, after, before));

    expect(response.PhysicalResourceId).toBe(`shared-ami:${newAmi.imageId}`);
    expect(response.PhysicalResourceId).not.toBe(oldPhysicalId);
    expect(response.Data).toEqual({ ImageId: newAmi.imageId, GrantIds: '', GrantCount: '0', GrantName: `cdk-shared-images/demo/Share/${newAmi.imageId}` });
    expect(await shareState(fixture.ec2, newAmi)).toEqual(newState);
    // The old image keeps its shares until CloudFormation deletes the old physical id.
    expect(await shareState(fixture.ec2, oldAmi)).toEqual(expected([user(A), user(B), org(ORG)], [user(A), user(B)], oldAmi));

    // CloudFormation's cleanup: Delete of the old physical id with the old properties.
    await run(deleteEvent(oldPhysicalId, before));

    expect(await shareState(fixture.ec2, oldAmi)).toEqual(expected([], [], oldAmi));
    expect(await shareState(fixture.ec2, newAmi)).toEqual(newState);
  });

  test('a rolled-back replacement restores the old image and the cleanup Delete of the new physical id revokes on the new image', async () => {
    const oldAmi = ami;
    const newAmi = await createAmi(fixture.ec2);
    const before: AmiShareInput = { imageId: oldAmi.imageId, accounts: [A, B] };
    const oldPhysicalId = await created(before);
    const update = updateEvent(oldPhysicalId, { ...before, imageId: newAmi.imageId }, before);
    const newPhysicalId = (await run(update)).response.PhysicalResourceId!;

    // Rollback: CloudFormation sends the Update swapped, against the new physical id...
    const { response } = await run(rollbackOf(update, newPhysicalId));
    expect(response.PhysicalResourceId).toBe(oldPhysicalId);
    // ...then deletes the new physical id with the new properties.
    await run(deleteEvent(newPhysicalId, update.ResourceProperties));

    expect(await launchPermissions(fixture.ec2, oldAmi.imageId)).toEqual(sorted(user(A), user(B)));
    expect(await launchPermissions(fixture.ec2, newAmi.imageId)).toEqual([]);
  });
});

describe('Update rollback', () => {
  test('the swapped Update restores the old state exactly', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };
    const physicalId = await created(before);
    const stateBefore = await state();
    const update = updateEvent(physicalId, { ...before, accounts: [A, C], organizationArns: [ORG_2], organizationalUnitArns: [OU] }, before);
    await run(update);
    expect((await state()).launch).toEqual(sorted(user(A), user(C), org(ORG_2), ou(OU)));

    const { response } = await run(rollbackOf(update));

    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(await state()).toEqual(stateBefore);
    expect(stateBefore).toEqual({ launch: sorted(user(A), user(B), org(ORG)), snapshots: { [snap()]: sorted(user(A), user(B)) } });
  });

  test('after an update that failed half way, the error names what was and was not applied, and the rollback converges to the old state', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };
    const physicalId = await created(before);
    const stateBefore = await state();
    const update = updateEvent(physicalId, { ...before, accounts: [A, C], organizationArns: [] }, before);

    // The launch permissions go through; the first snapshot change fails (fault injected in the SDK).
    const denied = awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.');
    const { error } = await runFailing(update, (call) => (call.name === 'ModifySnapshotAttribute' ? denied : undefined));

    expect(error.message).toContain(ami.imageId);
    expect(error.message).toMatch(/Applied before the failure: launch permissions/);
    expect(error.message).toMatch(new RegExp(`not applied: .*${snap()}`));
    const half = await state();
    expect(half.launch).toEqual(sorted(user(A), user(C)));
    expect(half.snapshots[snap()]).toEqual(sorted(user(A), user(B)));

    await run(rollbackOf(update));

    expect(await state()).toEqual(stateBefore);
  });
});

describe('Delete', () => {
  test('revokes exactly what was declared, launch and snapshot permissions, and nothing else', async () => {
    const props: AmiShareInput = {
      imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], organizationalUnitArns: [OU], shareSnapshots: true,
    };
    await grantLaunch(fixture.ec2, ami.imageId, [user(OUTSIDE)]);
    await grantSnapshot(fixture.ec2, snap(), [OUTSIDE]);
    const physicalId = await created(props);
    expect((await state()).launch).toHaveLength(5);

    const { response } = await run(deleteEvent(physicalId, props));

    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(await state()).toEqual({ launch: [user(OUTSIDE)], snapshots: { [snap()]: [user(OUTSIDE)] } });
  });

  test('of an AMI that no longer exists succeeds (counts as already revoked)', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A], organizationArns: [ORG], shareSnapshots: true };
    const physicalId = await created(props);
    await deregisterAmi(fixture.ec2, ami.imageId);

    const { response, mutating } = await run(deleteEvent(physicalId, props));

    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(mutating).toEqual([]);
  });

  test.each(['DescribeImageAttribute', 'ModifyImageAttribute'])('of an AMI deregistered while the Delete runs (just before its %s) succeeds', async (trigger) => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };
    const physicalId = await created(props);
    let vanished = false;
    const deregisterFirst: FaultHook = async (call) => {
      if (call.name === trigger && !vanished) {
        vanished = true;
        await deregisterAmi(fixture.ec2, ami.imageId);
      }
      return undefined;
    };

    const { response, calls } = await run(deleteEvent(physicalId, props), deregisterFirst);

    expect(vanished).toBe(true);
    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(calls.map((c) => c.name)).toContain(trigger);
  });

  test('of an AMI id moto has never seen succeeds', async () => {
    const props: AmiShareInput = { imageId: 'ami-0123456789abcdef0', accounts: [A] };

    const { response } = await run(deleteEvent('shared-ami:ami-0123456789abcdef0', props));

    expect(response.PhysicalResourceId).toBe('shared-ami:ami-0123456789abcdef0');
  });

  test.each([
    ['a CloudFormation-generated id after a failed create', 'demo-Share-1A2B3C4D5E6F'],
    ['a log stream name', '2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef'],
    ['our prefix with a malformed image id', 'shared-ami:ami-XYZ'],
  ])('with an unparseable physical id (%s) is a no-op success', async (_what, physicalId) => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], shareSnapshots: true };
    await created(props);
    const stateBefore = await state();

    const { response, mutating } = await run(deleteEvent(physicalId, props));

    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(mutating).toEqual([]);
    expect(await state()).toEqual(stateBefore);
    expect(stateBefore.launch).toEqual(sorted(user(A), user(B)));
  });
});

describe('Duplicate delivery', () => {
  test('Create, Update and Delete delivered twice give the same state and no error', async () => {
    const v1: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };
    const v2: AmiShareInput = { ...v1, accounts: [A, C], organizationalUnitArns: [OU] };

    const create = createEvent(v1);
    const first = (await run(create)).response;
    const afterCreate = await state();
    expect(afterCreate).toEqual({ launch: sorted(user(A), user(B), org(ORG)), snapshots: { [snap()]: sorted(user(A), user(B)) } });
    expect((await run(create)).response).toEqual(first);
    expect(await state()).toEqual(afterCreate);

    const update = updateEvent(first.PhysicalResourceId!, v2, v1);
    const updated = (await run(update)).response;
    const afterUpdate = await state();
    expect(afterUpdate).toEqual({ launch: sorted(user(A), user(C), org(ORG), ou(OU)), snapshots: { [snap()]: sorted(user(A), user(C)) } });
    expect((await run(update)).response).toEqual(updated);
    expect(await state()).toEqual(afterUpdate);

    const del = deleteEvent(updated.PhysicalResourceId!, v2);
    await run(del);
    expect(await state()).toEqual({ launch: [], snapshots: { [snap()]: [] } });
    expect((await run(del)).response).toEqual({ PhysicalResourceId: updated.PhysicalResourceId });
    expect(await state()).toEqual({ launch: [], snapshots: { [snap()]: [] } });
  });

  test('an image-replacing Update delivered twice grants once on the new image and leaves the old one alone', async () => {
    const newAmi = await createAmi(fixture.ec2);
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A] };
    const physicalId = await created(before);
    const update = updateEvent(physicalId, { ...before, imageId: newAmi.imageId }, before);

    const first = (await run(update)).response;
    const second = (await run(update)).response;

    expect(second).toEqual(first);
    expect(await launchPermissions(fixture.ec2, newAmi.imageId)).toEqual([user(A)]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([user(A)]);
  });
});

describe('Shares made outside the resource', () => {
  test('survive create, update, rollback and delete', async () => {
    // Granted directly before the resource exists...
    await grantLaunch(fixture.ec2, ami.imageId, [user(OUTSIDE), org(ORG_2)]);
    await grantSnapshot(fixture.ec2, snap(), [OUTSIDE]);
    const outside = { launch: [user(OUTSIDE), org(ORG_2)], snapshot: [user(OUTSIDE)] };
    const v1: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], organizationArns: [ORG], shareSnapshots: true };

    const physicalId = await created(v1);
    expect(await state()).toEqual(expected([...outside.launch, user(A), user(B), org(ORG)], [...outside.snapshot, user(A), user(B)]));

    // ...and between events.
    await grantLaunch(fixture.ec2, ami.imageId, [user(OUTSIDE_2)]);
    await grantSnapshot(fixture.ec2, snap(), [OUTSIDE_2]);
    outside.launch.push(user(OUTSIDE_2));
    outside.snapshot.push(user(OUTSIDE_2));

    const update = updateEvent(physicalId, { ...v1, accounts: [C], organizationArns: [] }, v1);
    await run(update);
    expect(await state()).toEqual(expected([...outside.launch, user(C)], [...outside.snapshot, user(C)]));

    await run(rollbackOf(update));
    expect(await state()).toEqual(expected([...outside.launch, user(A), user(B), org(ORG)], [...outside.snapshot, user(A), user(B)]));

    await run(deleteEvent(physicalId, v1));
    expect(await state()).toEqual(expected(outside.launch, outside.snapshot));
  });
});

describe('Invalid input', () => {
  test('a Create with a bad account id fails, names the value, and changes nothing', async () => {
    await grantLaunch(fixture.ec2, ami.imageId, [user(OUTSIDE)]);
    const stateBefore = await state();

    const invalid: AmiShareInput = { imageId: ami.imageId, accounts: [A, '12345'], organizationArns: [ORG], shareSnapshots: true };
    const { error, mutating } = await runFailing(createEvent(invalid));

    expect(error.message).toContain('"12345"');
    expect(error.message).toContain(ami.imageId);
    expect(mutating).toEqual([]);
    expect(await state()).toEqual(stateBefore);
  });

  test('an Update to a bad account id or OU ARN fails and leaves the previous shares in place', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], shareSnapshots: true };
    const physicalId = await created(before);
    const stateBefore = await state();

    const invalid: AmiShareInput = { ...before, accounts: [A, 'not-an-account'], organizationalUnitArns: ['ou-bad'] };
    const { error, mutating } = await runFailing(updateEvent(physicalId, invalid, before));

    expect(error.message).toContain('"not-an-account"');
    expect(error.message).toContain('"ou-bad"');
    expect(mutating).toEqual([]);
    expect(await state()).toEqual(stateBefore);
  });
});
