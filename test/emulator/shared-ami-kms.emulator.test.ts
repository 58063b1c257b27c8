/**
 * Emulator scenarios for the KMS side of SharedAmi: the real handler with real SDK v3
 * clients against a local moto. moto's API cannot make an AMI with encrypted snapshots, an AMI with
 * more than one snapshot, or an AWS managed key, so the harness seeds them inside moto
 * (addAmiSnapshot, seedSnapshotKms, seedKeyManager). Every scenario reads the grants back with
 * ListGrants and keeps those carrying this resource's grant name, and reads the launch permissions
 * with DescribeImageAttribute.
 *
 * moto quirks these scenarios live with: it ignores CreateGrant's Name idempotency (a second
 * CreateGrant with the same name makes a second grant, so "no duplicate" is a real check here), the
 * ListGrants GranteePrincipal filter and paging (one page, Truncated false), and it accepts any
 * grantee principal.
 */
import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { CreateGrantCommand, DescribeKeyCommand, GrantListEntry, RevokeGrantCommand } from '@aws-sdk/client-kms';
import {
  addAmiSnapshot, AmiShareInput, awsError, createAmi, createEvent, createKey, deleteEvent, FaultHook, grantLaunch, launchPermissions,
  listAllGrants, recordAwsCalls, rollbackOf, seedKeyManager, seedSnapshotKms, STACK_ID, TestAmi, updateEvent, useMoto,
} from './moto';
import { handlerRunner } from './runner';
import { handler } from '../../lambda/shared-ami.lambda';
import { KMS_GRANT_OPERATIONS } from '../../src/private/contract';

const A = '111111111111';
const B = '222222222222';
const OUTSIDE = '999999999999';
const ORG = 'arn:aws:organizations::123456789012:organization/o-exampleorgid';

const root = (account: string): string => `arn:aws:iam::${account}:root`;
const asg = (account: string): string => `arn:aws:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
const user = (account: string): string => `UserId:${account}`;
const sorted = (...values: string[]): string[] => [...values].sort();
const STACK_NAME = STACK_ID.split('/')[1];
/** The grant name of the resource with logical id `Share` (the event builders' default) on an image. */
const grantNameOf = (imageId: string): string => `cdk-shared-images/${STACK_NAME}/Share/${imageId}`;

const fixture = useMoto();

const { run, runFailing } = handlerRunner(handler, recordAwsCalls);

/** The grants on a key that carry `name` (this resource's), as `grantee` strings, sorted. */
async function granteesNamed(keyArn: string, name: string): Promise<string[]> {
  return (await listAllGrants(fixture.kms, keyArn)).filter((g) => g.Name === name).map((g) => g.GranteePrincipal!).sort();
}

async function grantIdsNamed(keyArn: string, name: string): Promise<string[]> {
  return (await listAllGrants(fixture.kms, keyArn)).filter((g) => g.Name === name).map((g) => g.GrantId!).sort();
}

/** A grant made directly, outside the resource (console, another tool); returns its id. */
async function grantOutside(keyArn: string, grantee: string, name?: string): Promise<string> {
  const out = await fixture.kms.send(new CreateGrantCommand({
    KeyId: keyArn, GranteePrincipal: grantee, Operations: ['Decrypt', 'DescribeKey'], ...(name ? { Name: name } : {}),
  }));
  return out.GrantId!;
}

const allIds = async (keyArn: string): Promise<string[]> => (await listAllGrants(fixture.kms, keyArn)).map((g) => g.GrantId!).sort();

let ami: TestAmi;
let key1: string;
let key2: string;
let NAME: string;

/** An AMI with two snapshots, the first encrypted with key1, the second with key2. */
beforeEach(async () => {
  key1 = await createKey(fixture.kms, 'golden image root volume');
  key2 = await createKey(fixture.kms, 'golden image data volume');
  ami = await addAmiSnapshot(fixture.moto, await createAmi(fixture.ec2));
  expect(ami.snapshotIds).toHaveLength(2);
  await seedSnapshotKms(fixture.moto, ami.snapshotIds[0], key1);
  await seedSnapshotKms(fixture.moto, ami.snapshotIds[1], key2);
  NAME = grantNameOf(ami.imageId);
});

describe('the seeded AMI', () => {
  test('has two snapshots, encrypted with two customer managed keys, as the handler will read them', async () => {
    const image = (await fixture.ec2.send(new DescribeImagesCommand({ ImageIds: [ami.imageId] }))).Images![0];
    expect(image.BlockDeviceMappings!.map((m) => m.Ebs?.SnapshotId)).toEqual(ami.snapshotIds);
    const snapshots = (await fixture.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ami.snapshotIds }))).Snapshots!;
    expect(Object.fromEntries(snapshots.map((s) => [s.SnapshotId, [s.Encrypted, s.KmsKeyId]])))
      .toEqual({ [ami.snapshotIds[0]]: [true, key1], [ami.snapshotIds[1]]: [true, key2] });
  });

  test('seedKeyManager turns a key into an AWS managed one for DescribeKey (and back)', async () => {
    const manager = async (): Promise<string | undefined> =>
      (await fixture.kms.send(new DescribeKeyCommand({ KeyId: key2 }))).KeyMetadata?.KeyManager;
    expect(await manager()).toBe('CUSTOMER');
    await seedKeyManager(fixture.moto, key2, 'AWS');
    expect(await manager()).toBe('AWS');
    await seedKeyManager(fixture.moto, key2.split(':key/')[1], 'CUSTOMER');
    expect(await manager()).toBe('CUSTOMER');
    await expect(seedKeyManager(fixture.moto, 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000', 'AWS'))
      .rejects.toThrow(/HTTP 404/);
  });
});

describe('Create', () => {
  test('two accounts and two keys: four grants (each account root on each key, every operation), before the launch permissions', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const { response, mutating } = await run(createEvent(props));

    expect(await granteesNamed(key1, NAME)).toEqual(sorted(root(A), root(B)));
    expect(await granteesNamed(key2, NAME)).toEqual(sorted(root(A), root(B)));
    for (const key of [key1, key2]) {
      for (const g of (await listAllGrants(fixture.kms, key)).filter((x) => x.Name === NAME)) expect(g.Operations).toEqual([...KMS_GRANT_OPERATIONS]);
    }
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual(sorted(user(A), user(B)));
    expect(mutating.map((c) => `${c.service}:${c.name}`)).toEqual([
      'KMS:CreateGrant', 'KMS:CreateGrant', 'KMS:CreateGrant', 'KMS:CreateGrant', 'EC2:ModifyImageAttribute',
    ]);
    const ids = [...await grantIdsNamed(key1, NAME), ...await grantIdsNamed(key2, NAME)];
    expect(response.Data).toEqual({ ImageId: ami.imageId, GrantIds: expect.any(String), GrantCount: '4', GrantName: NAME });
    expect(String(response.Data!.GrantIds).split(',').sort()).toEqual(ids.sort());
  });

  test('delivered twice: no duplicate grant (CreateGrant by name answers the existing grant) and the same answer', async () => {
    const create = createEvent({ imageId: ami.imageId, accounts: [A, B] });
    const first = (await run(create)).response;
    const ids = [await grantIdsNamed(key1, NAME), await grantIdsNamed(key2, NAME)];

    const { response, mutating } = await run(create);

    expect(response).toEqual(first);
    expect(mutating.filter((c) => c.name !== 'CreateGrant')).toEqual([]);
    expect([await grantIdsNamed(key1, NAME), await grantIdsNamed(key2, NAME)]).toEqual(ids);
    expect(ids.map((x) => x.length)).toEqual([2, 2]);
  });

  test('duplicate and incomplete grants under this resource\'s name (an interrupted earlier run, a hand edit) are reduced to one complete grant each', async () => {
    const ownGrant = async (key: string, grantee: string, operations: string[]): Promise<string> => (await fixture.kms.send(new CreateGrantCommand({
      KeyId: key, GranteePrincipal: grantee, Operations: operations as never, Name: NAME,
    }))).GrantId!;
    const first = await ownGrant(key1, root(A), [...KMS_GRANT_OPERATIONS]);
    await ownGrant(key1, root(A), [...KMS_GRANT_OPERATIONS]);
    await ownGrant(key2, root(A), ['Decrypt', 'DescribeKey']);

    const { response } = await run(createEvent({ imageId: ami.imageId, accounts: [A] }));

    expect(await grantIdsNamed(key1, NAME)).toEqual([first]);
    const onKey2 = (await listAllGrants(fixture.kms, key2)).filter((g) => g.Name === NAME);
    expect(onKey2.map((g) => [g.GranteePrincipal, g.Operations])).toEqual([[root(A), [...KMS_GRANT_OPERATIONS]]]);
    expect(String(response.Data!.GrantIds).split(',').sort()).toEqual([first, onKey2[0].GrantId!].sort());
  });

  test('snapshots naming one key by ARN and by key id get one grant per account', async () => {
    await seedSnapshotKms(fixture.moto, ami.snapshotIds[1], key1.split(':key/')[1]);

    const { response } = await run(createEvent({ imageId: ami.imageId, accounts: [A, B] }));

    expect(await granteesNamed(key1, NAME)).toEqual(sorted(root(A), root(B)));
    expect(await listAllGrants(fixture.kms, key2)).toEqual([]);
    expect(response.Data).toMatchObject({ GrantCount: '2' });
  });

  test('with autoScalingRoleGrants, each account\'s Auto Scaling service-linked role is granted too', async () => {
    await run(createEvent({ imageId: ami.imageId, accounts: [A, B], autoScalingRoleGrants: true }));
    for (const key of [key1, key2]) expect(await granteesNamed(key, NAME)).toEqual(sorted(root(A), asg(A), root(B), asg(B)));
  });

  test('with kmsGrants off, no KMS call and no snapshot read; the launch permissions are shared', async () => {
    const { calls } = await run(createEvent({ imageId: ami.imageId, accounts: [A], kmsGrants: false }));
    expect(calls.filter((c) => c.service === 'KMS')).toEqual([]);
    expect(calls.map((c) => c.name)).not.toContain('DescribeSnapshots');
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([user(A)]);
    expect(await listAllGrants(fixture.kms, key1)).toEqual([]);
  });
});

describe('Update', () => {
  test('dropping an account revokes its grants on both keys and leaves the others as they were', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const physicalId = (await run(createEvent(before))).response.PhysicalResourceId!;
    const grantsOfA = async (key: string): Promise<GrantListEntry[]> =>
      (await listAllGrants(fixture.kms, key)).filter((g) => g.Name === NAME && g.GranteePrincipal === root(A));
    const keptBefore = [await grantsOfA(key1), await grantsOfA(key2)];

    const { response, mutating } = await run(updateEvent(physicalId, { ...before, accounts: [A] }, before));

    expect(await granteesNamed(key1, NAME)).toEqual([root(A)]);
    expect(await granteesNamed(key2, NAME)).toEqual([root(A)]);
    expect([await grantsOfA(key1), await grantsOfA(key2)]).toEqual(keptBefore);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([user(A)]);
    expect(mutating.map((c) => `${c.service}:${c.name}`)).toEqual(['EC2:ModifyImageAttribute', 'KMS:RevokeGrant', 'KMS:RevokeGrant']);
    expect(String(response.Data!.GrantIds).split(',').sort()).toEqual(keptBefore.flat().map((g) => g.GrantId!).sort());
    expect(response.Data).toMatchObject({ GrantCount: '2' });
  });

  test('the rollback of that update grants the dropped account again', async () => {
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const physicalId = (await run(createEvent(before))).response.PhysicalResourceId!;
    const update = updateEvent(physicalId, { ...before, accounts: [A] }, before);
    await run(update);

    await run(rollbackOf(update));

    expect(await granteesNamed(key1, NAME)).toEqual(sorted(root(A), root(B)));
    expect(await granteesNamed(key2, NAME)).toEqual(sorted(root(A), root(B)));
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual(sorted(user(A), user(B)));
  });

  test('an update that changes nothing makes no mutating call on EC2 or KMS', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], autoScalingRoleGrants: true };
    const physicalId = (await run(createEvent(props))).response.PhysicalResourceId!;
    const ids = [await allIds(key1), await allIds(key2)];

    const { mutating } = await run(updateEvent(physicalId, props, props));

    expect(mutating).toEqual([]);
    expect([await allIds(key1), await allIds(key2)]).toEqual(ids);
  });

  test('a new image on the same key: grants under the new image\'s name; the Delete of the old physical id revokes only the old ones', async () => {
    const newAmi = await createAmi(fixture.ec2);
    await seedSnapshotKms(fixture.moto, newAmi.snapshotIds[0], key1);
    const before: AmiShareInput = { imageId: ami.imageId, accounts: [A] };
    const oldPhysicalId = (await run(createEvent(before))).response.PhysicalResourceId!;
    const after: AmiShareInput = { imageId: newAmi.imageId, accounts: [A] };

    const { response } = await run(updateEvent(oldPhysicalId, after, before));

    const newName = grantNameOf(newAmi.imageId);
    expect(response.Data).toMatchObject({ GrantCount: '1', GrantName: newName });
    expect(await granteesNamed(key1, newName)).toEqual([root(A)]);
    expect(await granteesNamed(key1, NAME)).toEqual([root(A)]);

    await run(deleteEvent(oldPhysicalId, before));

    expect(await granteesNamed(key1, NAME)).toEqual([]);
    expect(await granteesNamed(key2, NAME)).toEqual([]);
    expect(await granteesNamed(key1, newName)).toEqual([root(A)]);
  });
});

describe('Delete', () => {
  test('revokes every grant of this resource on both keys; grants made outside it survive, even to a declared account', async () => {
    const outside = [
      await grantOutside(key1, root(A), 'made-in-the-console'),
      await grantOutside(key2, root(OUTSIDE)),
      await grantOutside(key2, root(B), grantNameOf(ami.imageId).replace('/Share/', '/OtherShare/')),
    ];
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const physicalId = (await run(createEvent(props))).response.PhysicalResourceId!;
    expect((await allIds(key1)).length + (await allIds(key2)).length).toBe(7);

    const { response } = await run(deleteEvent(physicalId, props));

    expect(response).toEqual({ PhysicalResourceId: physicalId });
    expect(await granteesNamed(key1, NAME)).toEqual([]);
    expect(await granteesNamed(key2, NAME)).toEqual([]);
    expect([...await allIds(key1), ...await allIds(key2)].sort()).toEqual([...outside].sort());
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
  });

  test('outside grants also survive create and update', async () => {
    const console1 = await grantOutside(key1, root(A), 'made-in-the-console');
    const v1: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const physicalId = (await run(createEvent(v1))).response.PhysicalResourceId!;
    expect(await allIds(key1)).toContain(console1);

    await run(updateEvent(physicalId, { ...v1, accounts: [B] }, v1));

    expect(await allIds(key1)).toContain(console1);
    expect(await granteesNamed(key1, NAME)).toEqual([root(B)]);
  });

  test('delivered twice: the second finds no grant to revoke and succeeds', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const physicalId = (await run(createEvent(props))).response.PhysicalResourceId!;
    const del = deleteEvent(physicalId, props);
    await run(del);

    const { response, mutating } = await run(del);

    expect(response).toEqual({ PhysicalResourceId: physicalId });
    // the first Delete removed the resource's claim: nothing is the resource's any more, no call
    expect(mutating).toEqual([]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
  });

  test('a grant revoked by someone else between the read and the revoke counts as revoked', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A] };
    const physicalId = (await run(createEvent(props))).response.PhysicalResourceId!;
    let revokedFirst = false;
    const revokeItFirst: FaultHook = async (call) => {
      if (call.name === 'RevokeGrant' && !revokedFirst) {
        revokedFirst = true;
        await fixture.kms.send(new RevokeGrantCommand(call.input as { KeyId: string; GrantId: string }));
      }
      return undefined;
    };

    const { response } = await run(deleteEvent(physicalId, props), revokeItFirst);

    expect(revokedFirst).toBe(true);
    expect(response).toEqual({ PhysicalResourceId: physicalId });
    expect([...await allIds(key1), ...await allIds(key2)]).toEqual([]);
  });
});

describe('Refused before any change', () => {
  test('an AMI with a snapshot under the AWS managed key aws/ebs: the error says so, launch permissions and grants are unchanged', async () => {
    await seedKeyManager(fixture.moto, key2, 'AWS');
    await grantLaunch(fixture.ec2, ami.imageId, [user(OUTSIDE)]);
    const outside = await grantOutside(key1, root(OUTSIDE), 'made-in-the-console');
    const launchBefore = await launchPermissions(fixture.ec2, ami.imageId);

    const { error, mutating } = await runFailing(createEvent({ imageId: ami.imageId, accounts: [A, B], shareSnapshots: true }));

    expect(error.message).toBe(
      `AMI ${ami.imageId} cannot be shared: its snapshot ${ami.snapshotIds[1]} is encrypted with the AWS managed key aws/ebs (${key2}),`
      + ' which other accounts can never use; copy the AMI re-encrypted with a customer managed key (ec2 copy-image --encrypted --kms-key-id <key>)'
      + ' and share the copy.',
    );
    expect(mutating).toEqual([]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual(launchBefore);
    expect(launchBefore).toEqual([user(OUTSIDE)]);
    expect(await allIds(key1)).toEqual([outside]);
    expect(await allIds(key2)).toEqual([]);
  });

  test('an organization recipient with a key the app does not declare: the error names the key, nothing changes', async () => {
    const props: AmiShareInput = { imageId: ami.imageId, accounts: [A], organizationArns: [ORG], declaredKeyArns: [key2] };
    const { error, mutating } = await runFailing(createEvent(props));

    expect(error.message).toContain(`is encrypted with customer managed key ${key1} (snapshot ${ami.snapshotIds[0]}), and ${ORG} cannot receive a KMS grant`);
    expect(mutating).toEqual([]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
    expect([...await allIds(key1), ...await allIds(key2)]).toEqual([]);
  });

  test('an organization recipient with both keys declared: shared with the organization, grants for the account only', async () => {
    await run(createEvent({ imageId: ami.imageId, accounts: [A], organizationArns: [ORG], declaredKeyArns: [key1, key2] }));

    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual(sorted(user(A), `OrganizationArn:${ORG}`));
    expect(await granteesNamed(key1, NAME)).toEqual([root(A)]);
    expect(await granteesNamed(key2, NAME)).toEqual([root(A)]);
  });

  test('a failed grant is reported with what was and was not applied, and a retry converges', async () => {
    const denied = awsError('DisabledException', 'key is disabled');
    let failed = false;
    const failSecondGrant: FaultHook = (call) => {
      if (call.name === 'CreateGrant' && (call.input as { KeyId: string }).KeyId === key2 && !failed) {
        failed = true;
        return denied;
      }
      return undefined;
    };
    const create = createEvent({ imageId: ami.imageId, accounts: [A] });
    const recorder = recordAwsCalls(failSecondGrant);
    let message = '';
    try {
      await handler(create);
    } catch (err) {
      message = (err as Error).message;
    } finally {
      recorder.restore();
    }

    expect(message).toBe(
      `KMS key ${key2} of AMI ${ami.imageId} is disabled or pending deletion (DisabledException), so ${A} cannot be granted:`
      + ' enable the key, or share an AMI encrypted with an enabled key.'
      + ' Nothing was left changed: what was applied before the failure was undone.',
    );
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
    // the grant on key1 made before the failure was revoked again: a failed Create gets no Delete
    expect(await granteesNamed(key1, NAME)).toEqual([]);

    await run(create);

    expect(await granteesNamed(key1, NAME)).toEqual([root(A)]);
    expect(await granteesNamed(key2, NAME)).toEqual([root(A)]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([user(A)]);
  });
});
