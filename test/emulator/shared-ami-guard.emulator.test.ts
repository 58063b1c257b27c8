/**
 * Emulator scenarios for the deletion guard (README, "Retiring an image"): the real SharedAmi handler against
 * moto. A Delete of a share whose app owns the image's lifetime revokes its own shares, then
 * refuses while anyone else holds a launch permission, or (forced) revokes them all; with
 * deleteImage it deregisters the AMI and, if asked, deletes its snapshots.
 */
import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { AmiShareInput, createAmi, createEvent, deleteEvent, grantLaunch, launchPermissions, revokeLaunch, TestAmi, useMoto } from './moto';
import { handler } from '../../lambda/shared-ami.lambda';

const A = '111111111111';
const OUTSIDE = '999999999999';
const OUTSIDE_OU = 'arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-ab12-cdef3456';

const fixture = useMoto();

async function shared(ami: TestAmi, input: Omit<AmiShareInput, 'imageId'>): Promise<{ physicalId: string; declaration: AmiShareInput }> {
  const declaration = { imageId: ami.imageId, accounts: [A], kmsGrants: false, ...input };
  const created = await handler(createEvent(declaration));
  return { physicalId: created.PhysicalResourceId!, declaration };
}

async function imageExists(imageId: string): Promise<boolean> {
  const out = await fixture.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })).catch(() => ({ Images: [] }));
  return (out.Images ?? []).some((i) => i.ImageId === imageId && i.State !== 'deregistered');
}

async function snapshotExists(snapshotId: string): Promise<boolean> {
  return fixture.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })).then(() => true, () => false);
}

describe('deletion guard against moto', () => {
  test('blocked by an account shared outside the stack: own share revoked, AMI and snapshots kept; a retry after unsharing deletes', async () => {
    const ami = await createAmi(fixture.ec2);
    const { physicalId, declaration } = await shared(ami, { guardImage: true, deleteImage: true, deleteSnapshots: true });
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${OUTSIDE}`]);

    await expect(handler(deleteEvent(physicalId, declaration))).rejects.toThrow(
      `AMI ${ami.imageId} was not deleted because it is still shared with ${OUTSIDE} (not granted by this share)`);
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${OUTSIDE}`]);
    expect(await imageExists(ami.imageId)).toBe(true);
    expect(await snapshotExists(ami.snapshotIds[0])).toBe(true);

    // the outside share is removed by hand; CloudFormation retries the Delete
    await revokeLaunch(fixture.ec2, ami.imageId, [`UserId:${OUTSIDE}`]);
    await handler(deleteEvent(physicalId, declaration));
    expect(await imageExists(ami.imageId)).toBe(false);
    expect(await snapshotExists(ami.snapshotIds[0])).toBe(false);
  });

  test('blocked by an OU shared outside the stack', async () => {
    const ami = await createAmi(fixture.ec2);
    const { physicalId, declaration } = await shared(ami, { guardImage: true, deleteImage: true });
    await grantLaunch(fixture.ec2, ami.imageId, [`OrganizationalUnitArn:${OUTSIDE_OU}`]);
    await expect(handler(deleteEvent(physicalId, declaration))).rejects.toThrow(`still shared with ${OUTSIDE_OU}`);
    expect(await imageExists(ami.imageId)).toBe(true);
  });

  test('force: every remaining share revoked, then the AMI deregistered', async () => {
    const ami = await createAmi(fixture.ec2);
    const { physicalId, declaration } = await shared(ami, { guardImage: true, deleteImage: true, forceUnshare: true });
    await grantLaunch(fixture.ec2, ami.imageId, [`UserId:${OUTSIDE}`, `OrganizationalUnitArn:${OUTSIDE_OU}`]);
    await handler(deleteEvent(physicalId, declaration));
    expect(await imageExists(ami.imageId)).toBe(false);
    expect(await snapshotExists(ami.snapshotIds[0])).toBe(true);
  });

  test('clean delete of the image and its snapshots; delivered twice, the second finds it gone', async () => {
    const ami = await createAmi(fixture.ec2);
    const { physicalId, declaration } = await shared(ami, { guardImage: true, deleteImage: true, deleteSnapshots: true });
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([`UserId:${A}`]);
    await handler(deleteEvent(physicalId, declaration));
    expect(await imageExists(ami.imageId)).toBe(false);
    expect(await snapshotExists(ami.snapshotIds[0])).toBe(false);
    await expect(handler(deleteEvent(physicalId, declaration))).resolves.toEqual({ PhysicalResourceId: physicalId });
  });

  test('guard only (the image belongs to another resource of the app): proceeds when clean, keeps the AMI', async () => {
    const ami = await createAmi(fixture.ec2);
    const { physicalId, declaration } = await shared(ami, { guardImage: true });
    await handler(deleteEvent(physicalId, declaration));
    expect(await launchPermissions(fixture.ec2, ami.imageId)).toEqual([]);
    expect(await imageExists(ami.imageId)).toBe(true);
  });
});
