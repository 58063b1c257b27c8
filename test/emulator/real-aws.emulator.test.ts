/**
 * The real SharedAmi and SharedWorkspaceImage handlers against the strict test AWS, on the points
 * where AWS is stricter than plain moto (DESIGN.md, "Real AWS"): each scenario fails on the handlers
 * that trusted a read right after a write, sent 500+ snapshot changes at once, deleted snapshots
 * after deregistering, or looked for disabled AMIs without IncludeDisabled.
 */
import { DescribeImagesCommand, DescribeSnapshotsCommand, DisableImageCommand, EnableImageCommand } from '@aws-sdk/client-ec2';
import {
  AmiShareInput, configureStrict, createAmi, createEvent, createKey, deleteEvent, launchPermissions, listAllGrants, seedSnapshotKms,
  settleAll, snapshotPermissions, updateEvent, useMoto,
} from './moto';
import { handler } from '../../lambda/shared-ami.lambda';

const A = '111111111111';
const B = '222222222222';
const accounts = (n: number, start = 0): string[] => Array.from({ length: n }, (_, i) => String(100000000000 + start + i));

const fixture = useMoto();

/** The strict windows of these scenarios: long enough that every read inside one event lags. */
const WINDOW_MS = 150;

beforeEach(async () => {
  await configureStrict(fixture.moto, { consistency_window_ms: WINDOW_MS, snapshot_in_use_ms: WINDOW_MS });
});

async function snapshotExists(snapshotId: string): Promise<boolean> {
  return fixture.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })).then(() => true, () => false);
}

describe('SharedAmi on the strict test AWS', () => {
  test('600 snapshot accounts: calls of at most 500, and a later swap sends adds and removes apart', async () => {
    const ami = await createAmi(fixture.ec2);
    const before: AmiShareInput = { imageId: ami.imageId, accounts: accounts(600), shareSnapshots: true, kmsGrants: false };
    const created = await handler(createEvent(before));
    expect(await snapshotPermissions(fixture.ec2, ami.snapshotIds[0])).toHaveLength(600);

    const after: AmiShareInput = { ...before, accounts: accounts(600, 300) };
    await handler(updateEvent(created.PhysicalResourceId!, after, before));
    expect(await snapshotPermissions(fixture.ec2, ami.snapshotIds[0])).toEqual(accounts(600, 300).map((a) => `UserId:${a}`).sort());
  });

  test('a Delete right after the Create revokes what the lagging read does not show yet', async () => {
    const ami = await createAmi(fixture.ec2);
    const input: AmiShareInput = { imageId: ami.imageId, accounts: [A, B], kmsGrants: false };
    const created = await handler(createEvent(input));
    await handler(deleteEvent(created.PhysicalResourceId!, input));
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
  });

  test('a guarded retire with only its own recipients succeeds although the read still shows them', async () => {
    const ami = await createAmi(fixture.ec2);
    const input: AmiShareInput = {
      imageId: ami.imageId, accounts: [A, B], kmsGrants: false, guardImage: true, deleteImage: true, deleteSnapshots: true,
    };
    const created = await handler(createEvent(input));
    await handler(deleteEvent(created.PhysicalResourceId!, input));
    const out = await fixture.ec2.send(new DescribeImagesCommand({ ImageIds: [ami.imageId] })).catch(() => ({ Images: [] }));
    expect((out.Images ?? []).filter((i) => i.State !== 'deregistered')).toEqual([]);
    // deleted with the AMI in the same call: DeleteSnapshot after DeregisterImage would meet InUse
    expect(await snapshotExists(ami.snapshotIds[0])).toBe(false);
  });

  test('KMS: a rollback that re-adds an account just revoked gives it a grant again; a Delete right after finds every grant', async () => {
    const ami = await createAmi(fixture.ec2);
    const key = await createKey(fixture.kms);
    await seedSnapshotKms(fixture.moto, ami.snapshotIds[0], key);
    const both: AmiShareInput = { imageId: ami.imageId, accounts: [A, B] };
    const onlyA: AmiShareInput = { imageId: ami.imageId, accounts: [A] };
    const physicalId = (await handler(createEvent(both))).PhysicalResourceId!;
    await settleAll(); // the stack update comes minutes after the create
    // the update drops B, and its rollback (old and new swapped) re-adds B at once: ListGrants
    // still lists B's revoked grant
    await handler(updateEvent(physicalId, onlyA, both));
    await handler(updateEvent(physicalId, both, onlyA));
    const grantees = (await listAllGrants(fixture.kms, key)).map((g) => g.GranteePrincipal).sort();
    expect(grantees).toEqual([`arn:aws:iam::${A}:root`, `arn:aws:iam::${B}:root`]);

    await handler(deleteEvent(physicalId, both));
    expect(await listAllGrants(fixture.kms, key)).toEqual([]);
  });

  test('a disabled AMI: Create names it as disabled; once enabled, the deployment puts the launch permissions back', async () => {
    const ami = await createAmi(fixture.ec2);
    const input: AmiShareInput = { imageId: ami.imageId, accounts: [A], kmsGrants: false };
    const physicalId = (await handler(createEvent(input))).PhysicalResourceId!;
    await fixture.ec2.send(new DisableImageCommand({ ImageId: ami.imageId }));
    await expect(handler(updateEvent(physicalId, { ...input, accounts: [A, B] }, input))).rejects.toThrow(`AMI ${ami.imageId} is disabled`);

    await fixture.ec2.send(new EnableImageCommand({ ImageId: ami.imageId }));
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
    await handler(updateEvent(physicalId, { ...input, accounts: [A, B] }, input));
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`, `UserId:${B}`]);
  });

  test('a disabled AMI: Delete revokes the snapshot permissions and deregisters it when asked', async () => {
    const ami = await createAmi(fixture.ec2);
    const input: AmiShareInput = { imageId: ami.imageId, accounts: [A], kmsGrants: false, shareSnapshots: true, deleteImage: true };
    const physicalId = (await handler(createEvent(input))).PhysicalResourceId!;
    await fixture.ec2.send(new DisableImageCommand({ ImageId: ami.imageId }));
    await handler(deleteEvent(physicalId, input));
    expect(await snapshotPermissions(fixture.ec2, ami.snapshotIds[0])).toEqual([]);
    const out = await fixture.ec2.send(new DescribeImagesCommand({ ImageIds: [ami.imageId], IncludeDisabled: true })).catch(() => ({ Images: [] }));
    expect((out.Images ?? []).filter((i) => i.State !== 'deregistered')).toEqual([]);
  });
});
