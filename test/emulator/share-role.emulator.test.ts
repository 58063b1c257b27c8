/**
 * Emulator scenarios for the per-share role: the handler assumes the role named by the event
 * (STS AssumeRole against moto), makes every EC2 call with those credentials, and uses the old
 * role for the old image's Delete after a replacement. moto enforces no IAM policy: confinement is
 * proved by the construct tests (test/share-roles.test.ts); these prove the flow.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { KMSClient } from '@aws-sdk/client-kms';
import { STSClient } from '@aws-sdk/client-sts';
import {
  addAmiSnapshot, AmiShareInput, amiProperties, awsError, createAmi, createEvent, createIamRole, createKey, deleteEvent, launchPermissions,
  listAllGrants, rollbackOf, seedSnapshotKms, snapshotPermissions, updateEvent, useMoto,
} from './moto';
import { ROLE_PROPAGATION } from '../../lambda/common/assume-role';
import { handler } from '../../lambda/shared-ami.lambda';

const A = '111111111111';
const B = '222222222222';
const fixture = useMoto();
const PATH = '/cdk-shared-images/us-east-1/demo/SharedAmi/';

/** Creates a share role under the stack's path in moto. */
const createRole = (name: string): Promise<string> => createIamRole(fixture.moto, name, PATH);

interface Observed {
  /** RoleArn of every AssumeRole, in order. */
  assumed: string[];
  /** The access key id each EC2 and KMS call was signed with. */
  ec2Keys: string[];
  /** Access key id of each assumed role's credentials. */
  keyOf: Map<string, string>;
}

/**
 * Runs the handler recording AssumeRole calls and the credentials each EC2 call used. `failAssume`
 * refuses AssumeRole; `refuseEc2` refuses an EC2 call by its name and signing key (moto enforces
 * no IAM policy: this stands in for a role whose policy lacks the permission).
 */
async function observe<T>(
  fn: () => Promise<T>, failAssume?: () => Error | undefined,
  refuseEc2?: (call: string, accessKeyId: string, observed: Observed) => Error | undefined,
): Promise<{ result?: T; error?: Error } & Observed> {
  const observed: Observed = { assumed: [], ec2Keys: [], keyOf: new Map() };
  const sts = STSClient.prototype as unknown as { send: (...a: unknown[]) => Promise<unknown> };
  const ec2 = EC2Client.prototype as unknown as { send: (...a: unknown[]) => Promise<unknown> };
  const kms = KMSClient.prototype as unknown as { send: (...a: unknown[]) => Promise<unknown> };
  const [stsSend, ec2Send, kmsSend] = [sts.send, ec2.send, kms.send];
  sts.send = async function send(this: unknown, ...args: unknown[]) {
    const input = (args[0] as { input: { RoleArn: string } }).input;
    observed.assumed.push(input.RoleArn);
    const injected = failAssume?.();
    if (injected) throw injected;
    const out = await stsSend.apply(this, args) as { Credentials: { AccessKeyId: string } };
    observed.keyOf.set(input.RoleArn, out.Credentials.AccessKeyId);
    return out;
  };
  ec2.send = async function send(this: { config: { credentials: () => Promise<{ accessKeyId: string }> } }, ...args: unknown[]) {
    const key = (await this.config.credentials()).accessKeyId;
    observed.ec2Keys.push(key);
    const refused = refuseEc2?.((args[0] as object).constructor.name.replace(/Command$/, ''), key, observed);
    if (refused) throw refused;
    return ec2Send.apply(this, args);
  };
  kms.send = async function send(this: { config: { credentials: () => Promise<{ accessKeyId: string }> } }, ...args: unknown[]) {
    observed.ec2Keys.push((await this.config.credentials()).accessKeyId);
    return kmsSend.apply(this, args);
  };
  try {
    return { result: await fn(), ...observed };
  } catch (err) {
    return { error: err as Error, ...observed };
  } finally {
    sts.send = stsSend;
    ec2.send = ec2Send;
    kms.send = kmsSend;
  }
}

const wire = (props: AmiShareInput, roleArn: string) => ({ ...amiProperties(props), ShareRoleArn: roleArn });

beforeAll(() => {
  ROLE_PROPAGATION.delaysMs = [5, 5];
});

test('Create: the handler assumes the share\'s role and makes every EC2 call with its credentials', async () => {
  const ami = await createAmi(fixture.ec2);
  const role = await createRole('demo-ShareRole-1');
  const event = createEvent(wire({ imageId: ami.imageId, accounts: [A] }, role));
  const run = await observe(() => handler(event));
  expect(run.error).toBeUndefined();
  expect(run.assumed).toEqual([role]);
  expect(run.ec2Keys.length).toBeGreaterThan(0);
  expect(new Set(run.ec2Keys)).toEqual(new Set([run.keyOf.get(role)]));
  expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
});

test('image replacement: the new image is shared with the new role, the old image revoked with the old role, which still exists', async () => {
  const [oldAmi, newAmi] = [await createAmi(fixture.ec2), await createAmi(fixture.ec2)];
  const [oldRole, newRole] = [await createRole('demo-ShareRole-old'), await createRole('demo-ShareRole-new')];
  const before = wire({ imageId: oldAmi.imageId, accounts: [A, B] }, oldRole);
  const after = wire({ imageId: newAmi.imageId, accounts: [A, B] }, newRole);
  const oldId = (await handler(createEvent(before))).PhysicalResourceId!;

  const update = await observe(() => handler(updateEvent(oldId, after, before)));
  expect(update.result?.PhysicalResourceId).toBe(`shared-ami:${newAmi.imageId}`);
  expect(update.assumed).toEqual([newRole]);
  expect(new Set(update.ec2Keys)).toEqual(new Set([update.keyOf.get(newRole)]));

  // Cleanup phase: CloudFormation deletes the old physical id (old properties, old role) before the old role.
  const cleanup = await observe(() => handler(deleteEvent(oldId, before)));
  expect(cleanup.error).toBeUndefined();
  expect(cleanup.assumed).toEqual([oldRole]);
  expect(new Set(cleanup.ec2Keys)).toEqual(new Set([cleanup.keyOf.get(oldRole)]));
  expect(await launchPermissions(fixture.ec2, oldAmi.imageId)).toEqual([]);
  expect(await launchPermissions(fixture.ec2, newAmi.imageId)).toEqual([`UserId:${A}`, `UserId:${B}`]);
});

test('a share removed from the stack (or a stack delete): its Delete revokes with its own role', async () => {
  const ami = await createAmi(fixture.ec2);
  const role = await createRole('demo-ShareRole-removed');
  const props = wire({ imageId: ami.imageId, accounts: [A] }, role);
  const id = (await handler(createEvent(props))).PhysicalResourceId!;
  const run = await observe(() => handler(deleteEvent(id, props)));
  expect(run.error).toBeUndefined();
  expect(run.assumed).toEqual([role]);
  expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
});

test('a stack delete: each share\'s Delete revokes launch, snapshot and KMS grants with its own role, and only its own', async () => {
  const key = await createKey(fixture.kms, 'golden image root volume');
  const encrypted = await addAmiSnapshot(fixture.moto, await createAmi(fixture.ec2));
  await seedSnapshotKms(fixture.moto, encrypted.snapshotIds[0], key);
  const plain = await createAmi(fixture.ec2);
  const [encryptedRole, plainRole] = [await createRole('demo-ShareRole-encrypted'), await createRole('demo-ShareRole-plain')];
  const shares = [
    { logicalId: 'Encrypted', role: encryptedRole, props: wire({ imageId: encrypted.imageId, accounts: [A, B], shareSnapshots: true }, encryptedRole) },
    { logicalId: 'Plain', role: plainRole, props: wire({ imageId: plain.imageId, accounts: [B] }, plainRole) },
  ];
  const ids: string[] = [];
  for (const share of shares) ids.push((await handler(createEvent(share.props, share.logicalId))).PhysicalResourceId!);
  expect((await listAllGrants(fixture.kms, key)).map((g) => g.GranteePrincipal).sort()).toEqual([`arn:aws:iam::${A}:root`, `arn:aws:iam::${B}:root`]);
  expect(await snapshotPermissions(fixture.ec2, encrypted.snapshotIds[0])).toEqual([`UserId:${A}`, `UserId:${B}`]);

  // CloudFormation deletes each share before its role (DependsOn), in any order between shares.
  for (const [i, share] of [...shares.entries()].reverse()) {
    const run = await observe(() => handler(deleteEvent(ids[i], share.props, share.logicalId)));
    expect(run.error).toBeUndefined();
    expect(run.assumed).toEqual([share.role]);
    expect(new Set(run.ec2Keys)).toEqual(new Set([run.keyOf.get(share.role)]));
    if (share.logicalId === 'Plain') {
      // the other share is untouched by this one's Delete
      expect(await launchPermissions(fixture.ec2, encrypted.imageId)).toEqual([`UserId:${A}`, `UserId:${B}`]);
      expect(await listAllGrants(fixture.kms, key)).toHaveLength(2);
    }
  }
  expect(await launchPermissions(fixture.ec2, plain.imageId)).toEqual([]);
  expect(await launchPermissions(fixture.ec2, encrypted.imageId)).toEqual([]);
  expect(await snapshotPermissions(fixture.ec2, encrypted.snapshotIds[0])).toEqual([]);
  expect(await listAllGrants(fixture.kms, key)).toEqual([]);
});

test('a just-created role: AccessDenied from AssumeRole is retried (bounded) until IAM has propagated it', async () => {
  const ami = await createAmi(fixture.ec2);
  const role = await createRole('demo-ShareRole-fresh');
  let denials = 1;
  const run = await observe(() => handler(createEvent(wire({ imageId: ami.imageId, accounts: [A] }, role))),
    () => (denials-- > 0 ? awsError('AccessDenied', 'not authorized to perform sts:AssumeRole') : undefined));
  expect(run.error).toBeUndefined();
  expect(run.assumed).toEqual([role, role]);
});

test('a Delete whose role cannot be assumed fails with one sentence naming the image, the role and the fix; nothing is revoked', async () => {
  const ami = await createAmi(fixture.ec2);
  const role = await createRole('demo-ShareRole-gone');
  const props = wire({ imageId: ami.imageId, accounts: [A] }, role);
  const id = (await handler(createEvent(props))).PhysicalResourceId!;
  const run = await observe(() => handler(deleteEvent(id, props)), () => awsError('AccessDenied', 'not authorized to perform sts:AssumeRole'));
  expect(run.assumed).toEqual([role, role, role]); // first try + the bounded retries
  expect(run.error?.message).toBe(
    `AMI ${ami.imageId} still holds this share's permissions, but the handler could not assume the share's role ${role} ` +
    '(AccessDenied: not authorized to perform sts:AssumeRole); CloudFormation deletes that role only after the share, so it was removed ' +
    'outside the stack or after an earlier failed delete: recreate it from the template (or revoke the shares by hand and skip this resource), then delete again.',
  );
  expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
});

test('a Delete of a physical id the handler never issued needs no role: no AssumeRole at all', async () => {
  const run = await observe(() => handler(deleteEvent('demo-Share-FAILEDCREATE', wire({ imageId: 'ami-12345678', accounts: [A] }, 'arn:aws:iam::123456789012:role/cdk-shared-images/us-east-1/demo/SharedAmi/gone'))));
  expect(run.error).toBeUndefined();
  expect(run.assumed).toEqual([]);
});

test('an update rollback that moved roles: the swapped Update assumes the old role again, and falls back to the new one for what only it may revoke', async () => {
  const ami = await createAmi(fixture.ec2);
  const snapshot = ami.snapshotIds[0];
  // Turning shareSnapshots on makes a new role: only it may change snapshot permissions.
  const [oldRole, newRole] = [await createRole('demo-ShareRole-launch'), await createRole('demo-ShareRole-snapshots')];
  const before = wire({ imageId: ami.imageId, accounts: [A] }, oldRole);
  const after = wire({ imageId: ami.imageId, accounts: [A, B], shareSnapshots: true }, newRole);
  const id = (await handler(createEvent(before))).PhysicalResourceId!;
  const update = updateEvent(id, after, before);
  await handler(update);
  expect(await snapshotPermissions(fixture.ec2, snapshot)).toEqual([`UserId:${A}`, `UserId:${B}`]);

  // The stack fails later: CloudFormation sends the Update swapped (old properties, old role).
  const onlyNewRoleOnSnapshots = (call: string, key: string, seen: Observed): Error | undefined =>
    (call === 'ModifySnapshotAttribute' && key === seen.keyOf.get(oldRole)
      ? awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.') : undefined);
  const rollback = await observe(() => handler(rollbackOf(update)), undefined, onlyNewRoleOnSnapshots);
  expect(rollback.error).toBeUndefined();
  expect(rollback.result?.PhysicalResourceId).toBe(id);
  expect(rollback.assumed[0]).toBe(oldRole);
  expect(rollback.assumed).toContain(newRole);
  expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
  expect(await snapshotPermissions(fixture.ec2, snapshot)).toEqual([]);
});

test('a replacement rolled back under two roles: the old image is kept with the old role, the new image revoked with the new one', async () => {
  const [oldAmi, newAmi] = [await createAmi(fixture.ec2), await createAmi(fixture.ec2)];
  const [oldRole, newRole] = [await createRole('demo-ShareRole-old-image'), await createRole('demo-ShareRole-new-image')];
  const before = wire({ imageId: oldAmi.imageId, accounts: [A, B] }, oldRole);
  const after = wire({ imageId: newAmi.imageId, accounts: [A] }, newRole);
  const oldId = (await handler(createEvent(before))).PhysicalResourceId!;
  const update = updateEvent(oldId, after, before);
  const newId = (await handler(update)).PhysicalResourceId!;
  expect(newId).toBe(`shared-ami:${newAmi.imageId}`);

  // Rollback: the swapped Update against the new physical id, with the old role...
  const rollback = await observe(() => handler(rollbackOf(update, newId)));
  expect(rollback.error).toBeUndefined();
  expect(rollback.result?.PhysicalResourceId).toBe(oldId);
  expect(rollback.assumed[0]).toBe(oldRole);
  expect(new Set(rollback.ec2Keys)).toEqual(new Set([rollback.keyOf.get(oldRole)]));
  // ...then the cleanup Delete of the new physical id, with the new properties and so the new role.
  const cleanup = await observe(() => handler(deleteEvent(newId, after)));
  expect(cleanup.error).toBeUndefined();
  expect(cleanup.assumed).toEqual([newRole]);
  expect(await launchPermissions(fixture.ec2, oldAmi.imageId)).toEqual([`UserId:${A}`, `UserId:${B}`]);
  expect(await launchPermissions(fixture.ec2, newAmi.imageId)).toEqual([]);
});
