/**
 * Strict mode of the local moto (./strict_aws.py): each rule that makes moto refuse or delay what
 * real AWS refuses or delays, proven with real SDK v3 calls. Every test has at least one assertion
 * that plain moto 5.2.5 fails. Time-based rules use short configured windows and poll just past them.
 */
import {
  CreateVolumePermissionModifications, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImageAttributeCommand,
  DescribeImagesCommand, DescribeSnapshotsCommand, DisableImageCommand, DisableImageDeregistrationProtectionCommand, EC2Client,
  EnableImageCommand, EnableImageDeregistrationProtectionCommand, ModifySnapshotAttributeCommand, ModifySnapshotAttributeCommandInput,
} from '@aws-sdk/client-ec2';
import { CreateGrantCommand, CreateGrantCommandInput, RevokeGrantCommand } from '@aws-sdk/client-kms';
import {
  DeleteWorkspaceImageCommand, DescribeWorkspaceImagesCommand, UpdateWorkspaceImagePermissionCommand, WorkSpacesClient,
} from '@aws-sdk/client-workspaces';
import {
  addAmiSnapshot, configureStrict, createAmi, createKey, grantLaunch, grantSnapshot, launchPermissions, listAllGrants,
  settleStrict, settling, snapshotPermissions, startMoto, TestAmi, useMoto,
} from './moto';
import { buildWorkspaceHost, createWorkspaceImage, sharedAccounts, shareOutside, workspacesClient, WorkspaceHost } from './workspaces-fixture';

const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const GRANTEE = `arn:aws:iam::${A}:root`;

const fixture = useMoto();

// These tests watch the lag itself: their reads and writes must not settle it.
settling.on = false;

beforeEach(async () => {
  // The strict configuration survives moto's reset: every test starts from the launcher's defaults,
  // with no lag unless the test turns it on (the other suites start with a short window).
  await configureStrict(fixture.moto, { defaults: true });
  await configureStrict(fixture.moto, { consistency_window_ms: 0, snapshot_in_use_ms: 0 });
});

/** The AWS error code (SDK v3 error name) a call fails with; 'OK' when it succeeds. */
async function errorCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (err) {
    return (err as Error).name;
  }
}

/** Polls `read` until `done` holds (a time-based rule's window has passed); fails after `timeoutMs`. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const accounts = (n: number, from = 400000000000): string[] => Array.from({ length: n }, (_, i) => String(from + i));

describe('ModifySnapshotAttribute: at most 500 changes, never add and remove together, both request forms', () => {
  let ami: TestAmi;
  let snap: string;
  beforeEach(async () => {
    ami = await createAmi(fixture.ec2);
    snap = ami.snapshotIds[0];
  });
  const modify = (input: Partial<ModifySnapshotAttributeCommandInput>) =>
    fixture.ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: snap, Attribute: 'createVolumePermission', ...input }));
  const form = (add: string[], remove: string[]): CreateVolumePermissionModifications => ({
    Add: add.map((UserId) => ({ UserId })), Remove: remove.map((UserId) => ({ UserId })),
  });

  test('the CreateVolumePermission.Add / Remove form is applied (moto ignores it)', async () => {
    await modify({ CreateVolumePermission: form([A, B], []) });
    expect(await snapshotPermissions(fixture.ec2, snap)).toEqual([`UserId:${A}`, `UserId:${B}`]);
    await modify({ CreateVolumePermission: form([], [A]) });
    expect(await snapshotPermissions(fixture.ec2, snap)).toEqual([`UserId:${B}`]);
  });

  test('add and remove in one call is refused (InvalidParameterCombination) and changes nothing', async () => {
    await grantSnapshot(fixture.ec2, snap, [B]);
    expect(await errorCode(modify({ CreateVolumePermission: form([A], [B]) }))).toBe('InvalidParameterCombination');
    // the two forms mixed: an OperationType add with a CreateVolumePermission.Remove
    expect(await errorCode(modify({ OperationType: 'add', UserIds: [A], CreateVolumePermission: form([], [B]) }))).toBe('InvalidParameterCombination');
    expect(await snapshotPermissions(fixture.ec2, snap)).toEqual([`UserId:${B}`]);
  });

  test('500 changes pass; 501 are refused (InvalidParameterValue) in either form and change nothing', async () => {
    await modify({ OperationType: 'add', UserIds: accounts(500) });
    expect(await snapshotPermissions(fixture.ec2, snap)).toHaveLength(500);
    expect(await errorCode(modify({ OperationType: 'remove', UserIds: accounts(501) }))).toBe('InvalidParameterValue');
    expect(await errorCode(modify({ CreateVolumePermission: form(accounts(501, 500000000000), []) }))).toBe('InvalidParameterValue');
    expect(await snapshotPermissions(fixture.ec2, snap)).toHaveLength(500);
  });

  test('snapshot_modify_limits: false lets both through (the knob works)', async () => {
    await configureStrict(fixture.moto, { snapshot_modify_limits: false });
    await modify({ OperationType: 'add', UserIds: accounts(501) });
    expect(await snapshotPermissions(fixture.ec2, snap)).toHaveLength(501);
  });
});

describe('eventual consistency: a read soon after a write shows the state from before it', () => {
  const WINDOW_MS = 300;

  test('is off by default: reads are up to date at once', async () => {
    const ami = await createAmi(fixture.ec2);
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${A}`]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
  });

  test('launch permissions (DescribeImageAttribute after ModifyImageAttribute), from before the first write of the open window', async () => {
    const ami = await createAmi(fixture.ec2);
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${A}`]);
    await configureStrict(fixture.moto, { consistency_window_ms: WINDOW_MS });

    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${B}`]);
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${C}`]); // inside the window: still the state before B
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]); // always, not by chance

    const settled = await eventually(() => launchPermissions(fixture.ec2, ami.imageId), (p) => p.length === 3);
    expect(settled).toEqual([`UserId:${A}`, `UserId:${B}`, `UserId:${C}`]);
  });

  test('snapshot createVolumePermission (DescribeSnapshotAttribute after ModifySnapshotAttribute)', async () => {
    const ami = await createAmi(fixture.ec2);
    const snap = ami.snapshotIds[0];
    await configureStrict(fixture.moto, { consistency_window_ms: WINDOW_MS });
    await grantSnapshot(fixture.ec2, snap, [A]);
    expect(await snapshotPermissions(fixture.ec2, snap)).toEqual([]);
    expect(await eventually(() => snapshotPermissions(fixture.ec2, snap), (p) => p.length > 0)).toEqual([`UserId:${A}`]);
  });

  test('KMS grants (ListGrants after CreateGrant and after RevokeGrant)', async () => {
    const key = await createKey(fixture.kms);
    await configureStrict(fixture.moto, { consistency_window_ms: WINDOW_MS });
    const { GrantId } = await fixture.kms.send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: GRANTEE, Operations: ['Decrypt'] }));
    expect(await listAllGrants(fixture.kms, key)).toEqual([]);
    await eventually(() => listAllGrants(fixture.kms, key), (g) => g.length === 1);

    await fixture.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId }));
    expect((await listAllGrants(fixture.kms, key)).map((g) => g.GrantId)).toEqual([GrantId]);
    await eventually(() => listAllGrants(fixture.kms, key), (g) => g.length === 0);
  });

  test('stale_read_rate 0 turns stale reads off; /strict/settle closes an open window at once', async () => {
    const ami = await createAmi(fixture.ec2);
    await configureStrict(fixture.moto, { consistency_window_ms: 60_000, stale_read_rate: 0 });
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${A}`]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);

    // A's window is still open (and its saved state is from before A): settle it first.
    await settleStrict(fixture.moto);
    await configureStrict(fixture.moto, { stale_read_rate: 1 });
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${B}`]);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
    await settleStrict(fixture.moto);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`, `UserId:${B}`]);
  });
});

describe('DeregisterImage and DeleteSnapshot', () => {
  test('DeleteSnapshot right after DeregisterImage fails with InvalidSnapshot.InUse, then succeeds', async () => {
    const ami = await createAmi(fixture.ec2);
    await configureStrict(fixture.moto, { snapshot_in_use_ms: 300 });
    await fixture.ec2.send(new DeregisterImageCommand({ ImageId: ami.imageId }));
    const del = () => errorCode(fixture.ec2.send(new DeleteSnapshotCommand({ SnapshotId: ami.snapshotIds[0] })));
    expect(await del()).toBe('InvalidSnapshot.InUse');
    expect(await eventually(del, (code) => code !== 'InvalidSnapshot.InUse')).toBe('OK');
  });

  test('DeleteAssociatedSnapshots deletes every snapshot of the AMI (added ones too) and reports each', async () => {
    const ami = await addAmiSnapshot(fixture.moto, await createAmi(fixture.ec2));
    expect(ami.snapshotIds).toHaveLength(2);
    const out = await fixture.ec2.send(new DeregisterImageCommand({ ImageId: ami.imageId, DeleteAssociatedSnapshots: true }));
    expect(out.DeleteSnapshotResults).toEqual(ami.snapshotIds.map((SnapshotId) => ({ SnapshotId, ReturnCode: 'success' })));
    for (const id of ami.snapshotIds) {
      expect(await errorCode(fixture.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })))).toBe('InvalidSnapshot.NotFound');
    }
  });

  test('DeleteAssociatedSnapshots skips a snapshot another AMI still uses', async () => {
    const ami = await createAmi(fixture.ec2);
    const other = await createAmi(fixture.ec2);
    await fixture.moto.seed('/seed/ami-snapshot', { image_id: other.imageId, snapshot_id: ami.snapshotIds[0] });
    const out = await fixture.ec2.send(new DeregisterImageCommand({ ImageId: ami.imageId, DeleteAssociatedSnapshots: true }));
    expect(out.DeleteSnapshotResults).toEqual([{ SnapshotId: ami.snapshotIds[0], ReturnCode: 'skipped' }]);
    const left = await fixture.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [ami.snapshotIds[0]] }));
    expect(left.Snapshots).toHaveLength(1);
  });
});

describe('disabled AMIs', () => {
  const describe1 = (ec2: EC2Client, imageId: string, includeDisabled?: boolean) =>
    ec2.send(new DescribeImagesCommand({ ImageIds: [imageId], IncludeDisabled: includeDisabled })).then((o) => o.Images ?? []);

  test('DisableImage removes every launch permission; DescribeImages omits the AMI unless IncludeDisabled', async () => {
    const ami = await createAmi(fixture.ec2);
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${A}`, 'Group:all']);
    await fixture.ec2.send(new DisableImageCommand({ ImageId: ami.imageId }));

    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
    expect(await describe1(fixture.ec2, ami.imageId)).toEqual([]);
    const owned = await fixture.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect((owned.Images ?? []).map((i) => i.ImageId)).not.toContain(ami.imageId);
    expect((await describe1(fixture.ec2, ami.imageId, true)).map((i) => i.State)).toEqual(['disabled']);
  });

  test('a disabled AMI cannot be shared (InvalidAMIID.Unavailable); EnableImage does not give the permissions back', async () => {
    const ami = await createAmi(fixture.ec2);
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${A}`]);
    await fixture.ec2.send(new DisableImageCommand({ ImageId: ami.imageId }));
    expect(await errorCode(grantLaunch(fixture.ec2, ami.imageId, [`UserId:${B}`]))).toBe('InvalidAMIID.Unavailable');

    await fixture.ec2.send(new EnableImageCommand({ ImageId: ami.imageId }));
    expect((await describe1(fixture.ec2, ami.imageId)).map((i) => i.State)).toEqual(['available']);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
  });
});

describe('WorkSpaces images', () => {
  let workspaces: WorkSpacesClient;
  let host: WorkspaceHost;
  beforeAll(() => {
    workspaces = workspacesClient(fixture.moto);
  });
  afterAll(() => workspaces.destroy());
  beforeEach(async () => {
    host = await buildWorkspaceHost(fixture.moto, fixture.ec2, workspaces); // moto was reset
  });
  const update = (ImageId: string, SharedAccountId: string, AllowCopyImage: boolean) =>
    workspaces.send(new UpdateWorkspaceImagePermissionCommand({ ImageId, SharedAccountId, AllowCopyImage }));

  test('unsharing an account that does not hold the share is refused (InvalidParameterValuesException)', async () => {
    const imageId = await createWorkspaceImage(workspaces, host);
    await shareOutside(workspaces, imageId, A);
    expect(await errorCode(update(imageId, B, false))).toBe('InvalidParameterValuesException');
    await update(imageId, A, false);
    expect(await errorCode(update(imageId, A, false))).toBe('InvalidParameterValuesException');
    expect(await sharedAccounts(workspaces, imageId)).toEqual([]);
  });

  test('an unknown image: ResourceNotFoundException (not an HTTP 500)', async () => {
    expect(await errorCode(update('wsi-000000000', A, true))).toBe('ResourceNotFoundException');
  });

  test('DescribeWorkspaceImagePermissions after UpdateWorkspaceImagePermission is eventually consistent', async () => {
    const imageId = await createWorkspaceImage(workspaces, host);
    await configureStrict(fixture.moto, { consistency_window_ms: 300 });
    await update(imageId, A, true);
    expect(await sharedAccounts(workspaces, imageId)).toEqual([]);
    expect(await eventually(() => sharedAccounts(workspaces, imageId), (a) => a.length > 0)).toEqual([A]);
  });

  test('DeleteWorkspaceImage: refused while shared (InvalidResourceStateException), deletes once unshared', async () => {
    const imageId = await createWorkspaceImage(workspaces, host);
    await shareOutside(workspaces, imageId, A);
    const del = () => workspaces.send(new DeleteWorkspaceImageCommand({ ImageId: imageId }));
    expect(await errorCode(del())).toBe('InvalidResourceStateException');
    await update(imageId, A, false);
    await del();
    const left = await workspaces.send(new DescribeWorkspaceImagesCommand({ ImageIds: [imageId] }));
    expect(left.Images ?? []).toEqual([]);
    expect(await errorCode(del())).toBe('ResourceNotFoundException');
  });
});

describe('KMS CreateGrant with a Name', () => {
  test('identical parameters return the original grant and create nothing; different ones create a new grant', async () => {
    const key = await createKey(fixture.kms);
    const input: CreateGrantCommandInput = { KeyId: key, GranteePrincipal: GRANTEE, Operations: ['Decrypt', 'CreateGrant'], Name: 'share-1' };
    const first = await fixture.kms.send(new CreateGrantCommand(input));
    const again = await fixture.kms.send(new CreateGrantCommand({ ...input, Operations: ['CreateGrant', 'Decrypt'] }));
    expect(again.GrantId).toBe(first.GrantId);
    expect(again.GrantToken).not.toBe(first.GrantToken);
    expect(await listAllGrants(fixture.kms, key)).toHaveLength(1);

    const other = await fixture.kms.send(new CreateGrantCommand({ ...input, Operations: ['Decrypt'] }));
    expect(other.GrantId).not.toBe(first.GrantId);
    expect(await listAllGrants(fixture.kms, key)).toHaveLength(2);
  });

  test('a revoked grant is not returned again', async () => {
    const key = await createKey(fixture.kms);
    const input: CreateGrantCommandInput = { KeyId: key, GranteePrincipal: GRANTEE, Operations: ['Decrypt'], Name: 'share-2' };
    const first = await fixture.kms.send(new CreateGrantCommand(input));
    await fixture.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId: first.GrantId }));
    const again = await fixture.kms.send(new CreateGrantCommand(input));
    expect(again.GrantId).not.toBe(first.GrantId);
  });
});

describe('AMI deregistration protection', () => {
  const protection = async (ec2: EC2Client, imageId: string): Promise<string | undefined> =>
    (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0]?.DeregistrationProtection;
  const deregister = (imageId: string) => errorCode(fixture.ec2.send(new DeregisterImageCommand({ ImageId: imageId })));

  test('without cooldown: reported, DeregisterImage refused (OperationNotPermitted) until disabled', async () => {
    const ami = await createAmi(fixture.ec2);
    expect(await protection(fixture.ec2, ami.imageId)).toBe('disabled');
    const on = await fixture.ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: ami.imageId }));
    expect(on.Return).toBe('enabled-without-cooldown');
    expect(await protection(fixture.ec2, ami.imageId)).toBe('enabled-without-cooldown');
    expect(await deregister(ami.imageId)).toBe('OperationNotPermitted');

    const off = await fixture.ec2.send(new DisableImageDeregistrationProtectionCommand({ ImageId: ami.imageId }));
    expect(off.Return).toBe('disabled');
    expect(await deregister(ami.imageId)).toBe('OK');
  });

  test('with cooldown: still refused after it is disabled, until the cooldown has run', async () => {
    const ami = await createAmi(fixture.ec2);
    await configureStrict(fixture.moto, { deregistration_cooldown_ms: 400 });
    await fixture.ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: ami.imageId, WithCooldown: true }));
    expect(await protection(fixture.ec2, ami.imageId)).toBe('enabled-with-cooldown');
    await fixture.ec2.send(new DisableImageDeregistrationProtectionCommand({ ImageId: ami.imageId }));
    expect(await protection(fixture.ec2, ami.imageId)).toMatch(/^disabled-until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await deregister(ami.imageId)).toBe('OperationNotPermitted');
    expect(await eventually(() => deregister(ami.imageId), (code) => code !== 'OperationNotPermitted')).toBe('OK');
  });

  test('the default cooldown is AWS\'s 24 hours', async () => {
    const config = await configureStrict(fixture.moto, {});
    expect(config.deregistration_cooldown_ms).toBe(24 * 60 * 60 * 1000);
  });

  test('an unknown AMI: InvalidAMIID.NotFound', async () => {
    expect(await errorCode(fixture.ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: 'ami-0000000000000000f' }))))
      .toBe('InvalidAMIID.NotFound');
  });
});

describe('configuration', () => {
  test('POST /config answers the effective config and refuses unknown keys and bad values (nothing changes)', async () => {
    const config = await configureStrict(fixture.moto, { consistency_window_ms: 250, snapshot_in_use_ms: 100 });
    expect(config).toMatchObject({ strict: true, consistency_window_ms: 250, snapshot_in_use_ms: 100, stale_read_rate: 1 });
    await expect(fixture.moto.seed('/config', { bogus: 1 })).rejects.toThrow(/HTTP 400.*unknown config keys/);
    await expect(fixture.moto.seed('/config', { consistency_window_ms: 1, stale_read_rate: 2 })).rejects.toThrow(/HTTP 400/);
    expect(await configureStrict(fixture.moto, {})).toMatchObject({ consistency_window_ms: 250 });
  });

  test('strict: false turns refusals off (plain moto again)', async () => {
    const ami = await createAmi(fixture.ec2);
    await configureStrict(fixture.moto, { strict: false });
    await fixture.ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: ami.imageId }));
    expect(await errorCode(fixture.ec2.send(new DeregisterImageCommand({ ImageId: ami.imageId })))).toBe('OK');
  });

  test('/seed/share makes a share by hand without opening a consistency window', async () => {
    const ami = await createAmi(fixture.ec2);
    await configureStrict(fixture.moto, { consistency_window_ms: 60_000 });
    await fixture.moto.seed('/seed/share', { kind: 'launch', id: ami.imageId, add: [A] });
    await fixture.moto.seed('/seed/share', { kind: 'snapshot', id: ami.snapshotIds[0], add: [B] });
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
    expect(await snapshotPermissions(fixture.ec2, ami.snapshotIds[0])).toEqual([`UserId:${B}`]);
    const attr = await fixture.ec2.send(new DescribeImageAttributeCommand({ ImageId: ami.imageId, Attribute: 'launchPermission' }));
    expect(attr.LaunchPermissions).toEqual([{ UserId: A }]);
  });

  test('STRICT_AWS_* env vars set the start-up config of a launcher', async () => {
    const saved = process.env.STRICT_AWS_CONSISTENCY_WINDOW_MS;
    process.env.STRICT_AWS_CONSISTENCY_WINDOW_MS = '1234';
    const other = await startMoto();
    try {
      expect(await configureStrict(other, {})).toMatchObject({ consistency_window_ms: 1234 });
    } finally {
      if (saved === undefined) delete process.env.STRICT_AWS_CONSISTENCY_WINDOW_MS;
      else process.env.STRICT_AWS_CONSISTENCY_WINDOW_MS = saved;
      await other.stop();
    }
  });
});
