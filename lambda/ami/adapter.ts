/**
 * Every EC2 call of the SharedAmi handler, and nothing else: the one module that unit tests
 * replace (aws-sdk-client-mock) and emulator tests point at moto (AWS_ENDPOINT_URL).
 */
import {
  DescribeImageAttributeCommand, DescribeImagesCommand, DescribeSnapshotAttributeCommand, EC2Client,
  Image, LaunchPermission, ModifyImageAttributeCommand, ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import { awsErrorCode } from '../common/errors';

/** Retries with backoff survive throttling (RequestLimitExceeded) and 5xx. */
export const MAX_ATTEMPTS = 8;

let client: EC2Client | undefined;
function ec2(): EC2Client {
  client ??= new EC2Client({ maxAttempts: MAX_ATTEMPTS });
  return client;
}

const NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable']);

/** The image, or undefined when EC2 does not know it (any more). */
export async function describeImage(imageId: string): Promise<Image | undefined> {
  try {
    const out = await ec2().send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return out.Images?.find((i) => i.ImageId === imageId);
  } catch (err) {
    if (NOT_FOUND.has(awsErrorCode(err) ?? '')) return undefined;
    throw err;
  }
}

export async function launchPermissions(imageId: string): Promise<LaunchPermission[]> {
  const out = await ec2().send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
  return out.LaunchPermissions ?? [];
}

export async function modifyLaunchPermissions(imageId: string, add: LaunchPermission[], remove: LaunchPermission[]): Promise<void> {
  await ec2().send(new ModifyImageAttributeCommand({
    ImageId: imageId,
    LaunchPermission: {
      ...(add.length > 0 ? { Add: add } : {}),
      ...(remove.length > 0 ? { Remove: remove } : {}),
    },
  }));
}

/** Accounts holding createVolumePermission on a snapshot. */
export async function createVolumePermissions(snapshotId: string): Promise<string[]> {
  const out = await ec2().send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }));
  return (out.CreateVolumePermissions ?? []).map((p) => p.UserId).filter((u): u is string => !!u);
}

/**
 * The OperationType + UserIds form: real EC2 accepts it, and unlike the
 * CreateVolumePermission={Add,Remove} form, moto honours it too.
 */
export async function modifyCreateVolumePermissions(snapshotId: string, operation: 'add' | 'remove', accounts: string[]): Promise<void> {
  await ec2().send(new ModifySnapshotAttributeCommand({
    SnapshotId: snapshotId,
    Attribute: 'createVolumePermission',
    OperationType: operation,
    UserIds: accounts,
  }));
}
