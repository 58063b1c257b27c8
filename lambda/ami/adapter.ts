/**
 * Every AWS call of the SharedAmi handler (EC2 and KMS), and nothing else: the one module whose
 * clients unit tests replace (aws-sdk-client-mock) and emulator tests point at moto
 * (AWS_ENDPOINT_URL).
 */
import {
  DeleteSnapshotCommand, DeregisterImageCommand, DisableImageDeregistrationProtectionCommand, EnableImageDeregistrationProtectionCommand,
  DescribeImageAttributeCommand, DescribeImagesCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand, EC2Client, Image,
  LaunchPermission, ModifyImageAttributeCommand, ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand, DescribeKeyCommand, GrantListEntry, GrantOperation, KMSClient, KeyMetadata, ListGrantsCommand, RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { StandardRetryStrategy } from '@smithy/core/retry';
import { clientFor, ShareCredentials } from '../common/assume-role';
import { awsErrorCode } from '../common/aws-errors-adapter';
import { pollUntil, retryWhile, totalWait } from '../common/retry';

/** Retries with backoff survive throttling (RequestLimitExceeded) and 5xx. */
export const MAX_ATTEMPTS = 8;

let shareCredentials: ShareCredentials | undefined;

let ec2Client: EC2Client | undefined;
function ec2(): EC2Client {
  ec2Client ??= clientFor((credentials) => new EC2Client({ maxAttempts: MAX_ATTEMPTS, ...(credentials ? { credentials } : {}) }), shareCredentials);
  return ec2Client;
}

/**
 * The SDK classifies KMS's LimitExceededException as throttling and retries it, but for KMS it
 * means a quota is used up (grants per key, grants per grantee): retrying cannot help, so it fails
 * at once.
 */
export class KmsRetryStrategy extends StandardRetryStrategy {
  public override async refreshRetryTokenForRetry(...args: Parameters<StandardRetryStrategy['refreshRetryTokenForRetry']>) {
    const [, errorInfo] = args;
    if (awsErrorCode(errorInfo.error) === KMS_QUOTA_EXCEEDED) throw errorInfo.error ?? new Error(KMS_QUOTA_EXCEEDED);
    return super.refreshRetryTokenForRetry(...args);
  }
}

/** KMS's answer when a quota (grants per key or per grantee) is used up. */
export const KMS_QUOTA_EXCEEDED = 'LimitExceededException';

let kmsClient: KMSClient | undefined;
function kms(): KMSClient {
  kmsClient ??= clientFor(
    (credentials) => new KMSClient({ retryStrategy: new KmsRetryStrategy(MAX_ATTEMPTS), ...(credentials ? { credentials } : {}) }),
    shareCredentials,
  );
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

/** Whether EC2 refused a call because the AMI no longer exists (or never did). */
export function isImageGone(err: unknown): boolean {
  return NOT_FOUND.has(awsErrorCode(err) ?? '');
}

const SNAPSHOT_NOT_FOUND = 'InvalidSnapshot.NotFound';

/**
 * Whether a change failed because its AMI or snapshot is gone (any `InvalidAMIID.*`, or
 * `InvalidSnapshot.NotFound`): on Delete, that counts as already revoked.
 */
export function isImageOrSnapshotGone(err: unknown): boolean {
  const code = awsErrorCode(err) ?? '';
  return code.startsWith('InvalidAMIID.') || code === SNAPSHOT_NOT_FOUND;
}

/** KMS answers for a key that is deleted or pending deletion: its grants went with it. */
const KEY_GONE = new Set(['NotFoundException', 'KMSInvalidStateException']);

/** Whether KMS refused a call because the key is deleted or pending deletion. */
export function isKeyGone(err: unknown): boolean {
  return KEY_GONE.has(awsErrorCode(err) ?? '');
}

/**
 * What an EC2 or KMS refusal means for the user's message (the codes stay in this module):
 * - `image-not-found`: the AMI is unknown, unavailable or its id malformed;
 * - `snapshot-not-found`: a snapshot of the AMI is gone;
 * - `bad-recipient`: EC2 refused an account id, organization or OU ARN;
 * - `bad-grantee`: KMS refused the grantee principal (unknown ARN, or a role IAM does not know yet);
 * - `grant-quota`: a KMS grant quota is used up;
 * - `key-unusable`: the key is disabled or pending deletion;
 * - `key-not-found`: the key does not exist.
 */
export type AmiRefusal = 'image-not-found' | 'snapshot-not-found' | 'bad-recipient' | 'bad-grantee' | 'grant-quota' | 'key-unusable' | 'key-not-found';

const REFUSALS: Readonly<Record<string, AmiRefusal>> = {
  'InvalidAMIID.NotFound': 'image-not-found',
  'InvalidAMIID.Unavailable': 'image-not-found',
  'InvalidAMIID.Malformed': 'image-not-found',
  'InvalidSnapshot.NotFound': 'snapshot-not-found',
  'InvalidAMIAttributeItemValue': 'bad-recipient',
  'InvalidUserID.Malformed': 'bad-recipient',
  'InvalidParameterValue': 'bad-recipient',
  'InvalidArnException': 'bad-grantee',
  'MalformedPolicyDocumentException': 'bad-grantee',
  'LimitExceededException': 'grant-quota',
  'DisabledException': 'key-unusable',
  'KMSInvalidStateException': 'key-unusable',
  'NotFoundException': 'key-not-found',
};

/** The meaning of an EC2 or KMS refusal (see AmiRefusal), or undefined for any other failure. */
export function amiRefusal(err: unknown): AmiRefusal | undefined {
  const code = awsErrorCode(err);
  return code !== undefined && Object.prototype.hasOwnProperty.call(REFUSALS, code) ? REFUSALS[code] : undefined;
}

/**
 * The image, or undefined when EC2 does not know it (any more). Disabled AMIs are included: EC2
 * leaves them out of DescribeImages unless asked, and a disabled AMI is not a missing one.
 */
export async function describeImage(imageId: string): Promise<Image | undefined> {
  try {
    const out = await ec2().send(new DescribeImagesCommand({ ImageIds: [imageId], IncludeDisabled: true }));
    return out.Images?.find((i) => i.ImageId === imageId);
  } catch (err) {
    if (isImageGone(err)) return undefined;
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

/** Tries of a CreateGrant that KMS refuses with InvalidArnException (a grantee IAM does not know yet). */
export const GRANTEE_TRIES = 4;

/**
 * Creates a grant, or returns the grant that already exists: KMS treats a CreateGrant whose Name
 * and other parameters equal an existing grant's as a retry and answers that grant's id, so this
 * call is idempotent. A grantee that IAM does not show KMS yet (an Auto Scaling service-linked role
 * created moments ago) is refused with InvalidArnException for a while: that is retried a few times.
 */
export async function createGrant(keyArn: string, grantee: string, operations: readonly string[], name: string): Promise<string> {
  const out = await retryWhile(GRANTEE_TRIES, (err) => awsErrorCode(err) === 'InvalidArnException', () => kms().send(new CreateGrantCommand({
    KeyId: keyArn, GranteePrincipal: grantee, Operations: operations as GrantOperation[], Name: name,
  })));
  if (!out.GrantId) throw new Error(`KMS answered CreateGrant on ${keyArn} without a grant id`);
  return out.GrantId;
}

/** Polls of ListGrants while a new grant is not listed yet (about two minutes with the default backoff). */
export const GRANT_VISIBLE_TRIES = 10;

/** How long awaitGrantsListed waits at most, for messages. */
export function grantListingPatienceMs(): number {
  return totalWait(GRANT_VISIBLE_TRIES);
}

/**
 * Waits until every grant id in `grantIds` is listed on the key (ListGrants is eventually
 * consistent: AWS documents up to minutes). Returns the ids still not listed when the polls ran
 * out (none on success).
 */
export async function awaitGrantsListed(keyArn: string, grantIds: readonly string[]): Promise<string[]> {
  if (grantIds.length === 0) return [];
  const missing = (grants: GrantListEntry[]): string[] => {
    const listed = new Set(grants.map((g) => g.GrantId));
    return grantIds.filter((id) => !listed.has(id));
  };
  const { value } = await pollUntil(GRANT_VISIBLE_TRIES, () => listGrants(keyArn), (grants) => missing(grants).length === 0);
  return missing(value);
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

/** A snapshot that EC2 did not delete with its AMI, and why. */
export interface SnapshotLeft {
  readonly snapshotId: string;
  readonly reason: string;
}

/**
 * Deregisters the AMI; one already gone counts as deregistered. With `deleteSnapshots`, EC2 deletes
 * the AMI's snapshots in the same call (DeleteAssociatedSnapshots), so no later call has to find them
 * again; the answer lists each snapshot's outcome, and those EC2 did not delete are returned.
 */
export async function deregisterImage(imageId: string, deleteSnapshots: boolean): Promise<SnapshotLeft[]> {
  try {
    const out = await ec2().send(new DeregisterImageCommand({ ImageId: imageId, ...(deleteSnapshots ? { DeleteAssociatedSnapshots: true } : {}) }));
    return (out.DeleteSnapshotResults ?? []).flatMap((r) => (r.SnapshotId && r.ReturnCode && r.ReturnCode !== 'success'
      ? [{ snapshotId: r.SnapshotId, reason: r.ReturnCode }] : []));
  } catch (err) {
    if (isImageGone(err)) return [];
    throw err;
  }
}

/** Tries of a DeleteSnapshot refused with InvalidSnapshot.InUse (its AMI was deregistered moments ago). */
export const SNAPSHOT_IN_USE_TRIES = 8;

/**
 * Deletes a snapshot; one already gone counts as deleted. Right after its AMI is deregistered EC2
 * may still call the snapshot in use (InvalidSnapshot.InUse): that is retried with backoff.
 */
export async function deleteSnapshot(snapshotId: string): Promise<void> {
  try {
    await retryWhile(SNAPSHOT_IN_USE_TRIES, (err) => awsErrorCode(err) === 'InvalidSnapshot.InUse',
      () => ec2().send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })));
  } catch (err) {
    if (awsErrorCode(err) === SNAPSHOT_NOT_FOUND) return;
    throw err;
  }
}

/** Whether EC2 reports deregistration protection on (`enabled-with-cooldown`, `enabled-without-cooldown`). */
export function isProtected(image: Image | undefined): boolean {
  return (image?.DeregistrationProtection ?? '').startsWith('enabled');
}

/** Turns deregistration protection on: the console, the CLI and lifecycle policies cannot deregister the AMI. */
export async function enableProtection(imageId: string, withCooldown: boolean): Promise<void> {
  await ec2().send(new EnableImageDeregistrationProtectionCommand({ ImageId: imageId, WithCooldown: withCooldown }));
}

/** Turns deregistration protection off (with the cooldown, deregistration stays refused for 24 hours). */
export async function disableProtection(imageId: string): Promise<void> {
  await ec2().send(new DisableImageDeregistrationProtectionCommand({ ImageId: imageId }));
}
