/**
 * Every AWS call of the SharedAmi handler (EC2 and KMS), and nothing else: the one module whose
 * clients unit tests replace (aws-sdk-client-mock) and emulator tests point at moto
 * (AWS_ENDPOINT_URL).
 */
import {
  DeleteSnapshotCommand, DeregisterImageCommand, DescribeImageAttributeCommand, DescribeImagesCommand,
  DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand, EC2Client, Image, LaunchPermission, ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand, DescribeKeyCommand, GrantListEntry, GrantOperation, KMSClient, KeyMetadata, ListGrantsCommand, RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { clientFor, ShareCredentials } from '../common/assume-role';
import { awsErrorCode } from '../common/errors';

/** Retries with backoff survive throttling (RequestLimitExceeded) and 5xx. */
export const MAX_ATTEMPTS = 8;

let shareCredentials: ShareCredentials | undefined;

let ec2Client: EC2Client | undefined;
function ec2(): EC2Client {
  ec2Client ??= clientFor((credentials) => new EC2Client({ maxAttempts: MAX_ATTEMPTS, ...(credentials ? { credentials } : {}) }), shareCredentials);
  return ec2Client;
}

let kmsClient: KMSClient | undefined;
function kms(): KMSClient {
  kmsClient ??= clientFor((credentials) => new KMSClient({ maxAttempts: MAX_ATTEMPTS, ...(credentials ? { credentials } : {}) }), shareCredentials);
  return kmsClient;
}

/**
 * Starts an invocation with new clients. An SDK client keeps a retry quota (its standard retry mode
 * refuses retries once earlier failures used the quota up, and refills it slowly), and a warm Lambda
 * keeps its clients between events: without this, one throttling storm would leave every later
 * event with no retries at all, failing it on its first throttled call.
 *
 * `credentials`: the share's own role (see ../common/assume-role); without it, the handler's own.
 */
export function startInvocation(credentials?: ShareCredentials): void {
  ec2Client?.destroy();
  kmsClient?.destroy();
  ec2Client = undefined;
  kmsClient = undefined;
  shareCredentials = credentials;
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

/** snapshot id → KmsKeyId (as EC2 reports it, usually a key ARN) for the encrypted ones. */
export async function snapshotKeys(snapshotIds: string[]): Promise<Record<string, string>> {
  if (snapshotIds.length === 0) return {};
  const out = await ec2().send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
  const keys: Record<string, string> = {};
  for (const s of out.Snapshots ?? []) {
    if (s.SnapshotId && s.Encrypted && s.KmsKeyId) keys[s.SnapshotId] = s.KmsKeyId;
  }
  return keys;
}

export async function describeKey(keyId: string): Promise<KeyMetadata> {
  const out = await kms().send(new DescribeKeyCommand({ KeyId: keyId }));
  if (!out.KeyMetadata) throw new Error(`KMS returned no metadata for ${keyId}`);
  return out.KeyMetadata;
}

/** Every grant on a key (all pages). Filtering is ours: moto ignores the GranteePrincipal filter. */
export async function listGrants(keyArn: string): Promise<GrantListEntry[]> {
  const grants: GrantListEntry[] = [];
  let marker: string | undefined;
  do {
    const out = await kms().send(new ListGrantsCommand({ KeyId: keyArn, Marker: marker, Limit: 100 }));
    grants.push(...(out.Grants ?? []));
    marker = out.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return grants;
}

export async function createGrant(keyArn: string, grantee: string, operations: readonly string[], name: string): Promise<string> {
  const out = await kms().send(new CreateGrantCommand({
    KeyId: keyArn, GranteePrincipal: grantee, Operations: operations as GrantOperation[], Name: name,
  }));
  return out.GrantId ?? '';
}

/** Revokes a grant; one that is already gone counts as revoked. */
export async function revokeGrant(keyArn: string, grantId: string): Promise<void> {
  try {
    await kms().send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grantId }));
  } catch (err) {
    if (awsErrorCode(err) === 'NotFoundException') return;
    throw err;
  }
}

/** Deregisters the AMI; one already gone counts as deregistered. */
export async function deregisterImage(imageId: string): Promise<void> {
  try {
    await ec2().send(new DeregisterImageCommand({ ImageId: imageId }));
  } catch (err) {
    if (NOT_FOUND.has(awsErrorCode(err) ?? '')) return;
    throw err;
  }
}

/** Deletes a snapshot; one already gone counts as deleted. */
export async function deleteSnapshot(snapshotId: string): Promise<void> {
  try {
    await ec2().send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
  } catch (err) {
    if (awsErrorCode(err) === 'InvalidSnapshot.NotFound') return;
    throw err;
  }
}
