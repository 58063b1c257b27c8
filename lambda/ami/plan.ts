/**
 * Pure decisions of the SharedAmi handler: what the properties mean, whether the image can be
 * shared, what to change, and what to tell the user when AWS says no. No AWS calls in here.
 */
import type { Image, LaunchPermission } from '@aws-sdk/client-ec2';
import { AmiRefusal, amiRefusal } from './adapter';
import { granteeAccount, GrantPlan } from './kms-plan';
import { SHARED_AMI_PROPERTY_KEYS, SharedAmiResourceProperties } from '../../src/private/contract';
import {
  ACCOUNT, AMI_ID, MAX_AMI_RECIPIENTS, ORGANIZATION, ORGANIZATIONAL_UNIT, RecipientKind, checkAmiId,
} from '../../src/private/validation';
import { awsErrorCode, isAccessDenied, isThrottling, isTransient } from '../common/aws-errors-adapter';
import { errorDetail, ShareError } from '../common/errors';
import { PropertyReader, ReadMode } from '../common/properties';
import { chunks, Delta, reconcileLagging, summarize, unique } from '../common/sets';

/** What one SharedAmi resource declares, parsed and checked. */
export interface AmiShareSpec {
  readonly imageId: string;
  readonly accounts: string[];
  readonly organizationArns: string[];
  readonly organizationalUnitArns: string[];
  readonly shareSnapshots: boolean;
  /** Grant the account recipients use of the snapshots' customer managed keys. */
  readonly kmsGrants: boolean;
  /** Also grant each account's Auto Scaling service-linked role. */
  readonly autoScalingRoleGrants: boolean;
  /** Keys whose key policy the app manages for organization / OU recipients. */
  readonly declaredKeyArns: string[];
  /** The app owns the image's lifetime: a Delete refuses while shares of others remain. */
  readonly guardImage: boolean;
  /** A Delete deregisters the AMI (after the guard). */
  readonly deleteImage: boolean;
  /** A Delete also deletes the AMI's snapshots. */
  readonly deleteSnapshots: boolean;
  /** The guard revokes every remaining share instead of refusing. */
  readonly forceUnshare: boolean;
  /** Shares made by hand before the declaration become this resource's (see DESIGN.md, "Ownership"). */
  readonly takeOver: boolean;
  /** Keep deregistration protection on while the library holds shares (DESIGN.md, "Deregistration protection"). */
  readonly protection: boolean;
  /** Turn it on with AWS's 24-hour cooldown. */
  readonly protectionCooldown: boolean;
}

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const KEY: RecipientKind = { label: 'KMS key ARN', pattern: KEY_ARN, example: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' };

/** Launch permissions per ModifyImageAttribute call (adds and removes together). */
export const LAUNCH_PERMISSION_BATCH = 100;

/**
 * Accounts per ModifySnapshotAttribute call: EC2 takes at most 500 createVolumePermission changes
 * in one call, and never adds and removes in the same call (see DESIGN.md, "Real AWS").
 */
export const SNAPSHOT_PERMISSION_BATCH = 500;

export { AMI_ID };

/**
 * Reads the properties CloudFormation delivered. Strict (Create, Update) rejects anything off, so
 * bad input fails before any mutation. Lenient (Delete, and the "before" side of an Update) keeps
 * only well-formed recipients: anything malformed can never have been granted, and a Delete must
 * not get stuck on it.
 */
export function parseAmiProperties(raw: Record<string, unknown>, mode: ReadMode): AmiShareSpec {
  const read = new PropertyReader<SharedAmiResourceProperties>(raw, SHARED_AMI_PROPERTY_KEYS);
  read.checkImageAndRole(checkAmiId);
  const accounts = read.list('Accounts', ACCOUNT);
  const organizationArns = read.list('OrganizationArns', ORGANIZATION);
  const organizationalUnitArns = read.list('OrganizationalUnitArns', ORGANIZATIONAL_UNIT);
  const declaredKeyArns = read.list('DeclaredKeyArns', KEY);
  const shareSnapshots = read.flag('ShareSnapshots', false);
  const kmsGrants = read.flag('KmsGrants', true);
  const autoScalingRoleGrants = read.flag('AutoScalingRoleGrants', false);
  const { guardImage, deleteImage, forceUnshare, takeOver } = read.commonFlags();
  const deleteSnapshots = read.flag('DeleteSnapshots', false);
  const protection = read.flag('DeregistrationProtection', true);
  const protectionCooldown = read.flag('ProtectionCooldown', false);
  const recipients = accounts.length + organizationArns.length + organizationalUnitArns.length;
  read.finish(mode, 'SharedAmi', recipients, 'no recipient: give at least one account, organization ARN or OU ARN');
  return {
    imageId: read.imageId(),
    accounts,
    organizationArns,
    organizationalUnitArns,
    shareSnapshots,
    kmsGrants,
    autoScalingRoleGrants,
    declaredKeyArns,
    guardImage: guardImage || deleteImage,
    deleteImage,
    deleteSnapshots: deleteImage && deleteSnapshots,
    forceUnshare,
    takeOver,
    protection,
    protectionCooldown,
  };
}

// ---------------------------------------------------------------------------------------------
// Recipients as comparable keys
// ---------------------------------------------------------------------------------------------

/** `UserId:1111...`, `OrganizationArn:arn:...`, `OrganizationalUnitArn:arn:...`, `Group:all`. */
export function launchPermissionKey(p: LaunchPermission): string | undefined {
  if (p.UserId) return `UserId:${p.UserId}`;
  if (p.OrganizationArn) return `OrganizationArn:${p.OrganizationArn}`;
  if (p.OrganizationalUnitArn) return `OrganizationalUnitArn:${p.OrganizationalUnitArn}`;
  if (p.Group) return `Group:${p.Group}`;
  return undefined;
}

export function launchPermissionFromKey(key: string): LaunchPermission {
  const i = key.indexOf(':');
  const [field, value] = [key.slice(0, i), key.slice(i + 1)];
  switch (field) {
    case 'UserId': return { UserId: value };
    case 'OrganizationArn': return { OrganizationArn: value };
    case 'OrganizationalUnitArn': return { OrganizationalUnitArn: value };
    default: throw new Error(`not a launch permission key: ${key}`);
  }
}

/** The launch-permission keys a spec declares (none for "nothing declared"). */
export function declaredLaunchPermissions(spec: AmiShareSpec | undefined): string[] {
  if (!spec) return [];
  return [
    ...spec.accounts.map((a) => `UserId:${a}`),
    ...spec.organizationArns.map((a) => `OrganizationArn:${a}`),
    ...spec.organizationalUnitArns.map((a) => `OrganizationalUnitArn:${a}`),
  ];
}

/** The accounts a spec gives createVolumePermission on the snapshots. */
export function declaredSnapshotAccounts(spec: AmiShareSpec | undefined): string[] {
  return spec?.shareSnapshots ? spec.accounts : [];
}

/** Readable recipient for messages: the account id or ARN. */
export function recipientName(key: string): string {
  return key.slice(key.indexOf(':') + 1);
}

// ---------------------------------------------------------------------------------------------
// Image checks
// ---------------------------------------------------------------------------------------------

/** EBS snapshot ids behind an AMI, de-duplicated, in mapping order. */
export function snapshotIdsOf(image: Image): string[] {
  const ids = (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((s): s is string => !!s);
  return unique(ids);
}

/** Why the image cannot be shared by this account right now, or undefined when it can. */
export function imageProblem(imageId: string, image: Image | undefined, account: string, region: string): string | undefined {
  if (!image) {
    return `AMI ${imageId} was not found in account ${account} in ${region}: check the imageId (AMIs are regional).`;
  }
  if (image.OwnerId && image.OwnerId !== account) {
    return `AMI ${imageId} is owned by account ${image.OwnerId}, not by account ${account}: an AMI shared with you cannot be re-shared; copy it into ${account} (ec2 copy-image) and share the copy.`;
  }
  if (image.State === 'disabled') {
    return `AMI ${imageId} is disabled, and a disabled AMI cannot be shared: enable it (ec2 enable-image --image-id ${imageId}) and deploy again; disabling removed its launch permissions, and the deployment puts the declared ones back.`;
  }
  if (image.State !== 'available') {
    const when = image.State === 'pending' ? 'deploy again once it is available' : 'share an available AMI instead';
    return `AMI ${imageId} is in state "${image.State}" and cannot be shared: ${when}.`;
  }
  return undefined;
}

/** On Delete, an image in one of these states is as good as gone: nothing left to revoke. */
export function isGone(image: Image | undefined): boolean {
  return !image || image.State === 'deregistered';
}

// ---------------------------------------------------------------------------------------------
// The change plan
// ---------------------------------------------------------------------------------------------

/**
 * One mutating call, described for the user; `kind` says which (DESIGN.md, "Lifecycle rules"):
 * - launch: ModifyImageAttribute on the image (`target`), adds and removes in one call;
 * - snapshot: ModifySnapshotAttribute on a snapshot (`target`), adds or removes, never both;
 * - grant: CreateGrant on a key (`target`) to `grantee` (by name, idempotent); `listed` are this
 *   resource's grants to the grantee that ListGrants showed (see GrantToEnsure);
 * - await-grants: wait until ListGrants on a key (`target`) shows the grants made on it;
 * - revoke-grant: RevokeGrant of `grantId` on a key (`target`).
 */
export type Step = LaunchStep | SnapshotStep | GrantStep | AwaitGrantsStep | RevokeGrantStep;

interface StepBase {
  readonly description: string;
  /** The image, the snapshot, or the key ARN. */
  readonly target: string;
}

export interface LaunchStep extends StepBase {
  readonly kind: 'launch';
  readonly add: string[];
  readonly remove: string[];
}

export interface SnapshotStep extends StepBase {
  readonly kind: 'snapshot';
  readonly add: string[];
  readonly remove: string[];
}

export interface GrantStep extends StepBase {
  readonly kind: 'grant';
  readonly grantee: string;
  readonly listed: string[];
}

export interface AwaitGrantsStep extends StepBase {
  readonly kind: 'await-grants';
}

export interface RevokeGrantStep extends StepBase {
  readonly kind: 'revoke-grant';
  readonly grantee: string;
  readonly grantId: string;
}

/** A step as an error message needs it: what it is, without its description. */
export type StepShape = Step extends infer S ? (S extends Step ? Omit<S, 'description'> : never) : never;

/** The recipients a step changes: launch-permission keys, accounts, or the grantee principal. */
export function recipientsOf(step: StepShape): string[] {
  switch (step.kind) {
    case 'launch':
    case 'snapshot': return [...step.add, ...step.remove];
    case 'grant':
    case 'revoke-grant': return [step.grantee];
    case 'await-grants': return [];
  }
}

/** What this resource revokes, as its record of ownership decides (launch-permission keys; accounts). */
export interface Release {
  readonly launch: string[];
  readonly snapshots: string[];
}

/** Current permissions read from AWS before any change. */
export interface CurrentState {
  readonly launchPermissions: string[];
  /** snapshot id → accounts holding createVolumePermission (only read when snapshots are involved). */
  readonly snapshotPermissions: Record<string, string[]>;
}

/**
 * The ordered mutating calls that take AWS from `current` to the declaration `after`, given that
 * this resource declared `before`. Launch permissions go in batches of adds and removes in one
 * call; snapshot permissions need one call per snapshot and operation.
 */
export function planChanges(
  before: AmiShareSpec | undefined, after: AmiShareSpec | undefined, imageId: string, current: CurrentState,
  grants: GrantPlan = { create: [], revoke: [] }, release?: Release,
): Step[] {
  const steps: Step[] = [];
  // Keys first, so that a consumer who sees the AMI can launch it; revocations of keys last.
  for (const g of grants.create) {
    steps.push({ kind: 'grant', target: g.keyArn, grantee: g.grantee, listed: g.listed ?? [], description: `KMS grant on ${g.keyArn} to ${granteeAccount(g.grantee)}${g.grantee.endsWith(':root') ? '' : ' (Auto Scaling role)'}` });
  }
  // A later Delete or rollback finds the grants by listing them: success is reported only once
  // ListGrants shows them.
  for (const keyArn of unique(grants.create.map((g) => g.keyArn))) {
    steps.push({ kind: 'await-grants', target: keyArn, description: `wait until KMS lists the new grants on ${keyArn}` });
  }
  const lagging = reconcileLagging(declaredLaunchPermissions(before), declaredLaunchPermissions(after), current.launchPermissions);
  // With a record of ownership, what to revoke is what the record lets go (see ../common/ownership).
  const launch = { add: lagging.add, remove: release?.launch ?? lagging.remove };
  const ops = [...launch.add.map((k) => ({ op: 'add' as const, k })), ...launch.remove.map((k) => ({ op: 'remove' as const, k }))];
  for (const batch of chunks(ops, LAUNCH_PERMISSION_BATCH)) {
    const add = batch.filter((o) => o.op === 'add').map((o) => o.k);
    const remove = batch.filter((o) => o.op === 'remove').map((o) => o.k);
    steps.push({ kind: 'launch', target: imageId, add, remove, description: `launch permissions on ${imageId} ${describeDelta({ add, remove })}` });
  }
  for (const [snapshotId, holders] of Object.entries(current.snapshotPermissions)) {
    const lag = reconcileLagging(declaredSnapshotAccounts(before), declaredSnapshotAccounts(after), holders);
    const d = { add: lag.add, remove: release?.snapshots ?? lag.remove };
    for (const add of chunks(d.add, SNAPSHOT_PERMISSION_BATCH)) {
      steps.push({ kind: 'snapshot', target: snapshotId, add, remove: [], description: `createVolumePermission on ${snapshotId} ${describeDelta({ add, remove: [] })}` });
    }
    for (const remove of chunks(d.remove, SNAPSHOT_PERMISSION_BATCH)) {
      steps.push({ kind: 'snapshot', target: snapshotId, add: [], remove, description: `createVolumePermission on ${snapshotId} ${describeDelta({ add: [], remove })}` });
    }
  }
  for (const g of grants.revoke) {
    steps.push({ kind: 'revoke-grant', target: g.keyArn, grantee: g.grantee, grantId: g.grantId, description: `revoke KMS grant ${g.grantId} on ${g.keyArn} from ${granteeAccount(g.grantee)}` });
  }
  return steps;
}

/** Whether the snapshots' permissions need reading at all for this change. */
export function involvesSnapshots(before: AmiShareSpec | undefined, after: AmiShareSpec | undefined): boolean {
  return declaredSnapshotAccounts(before).length > 0 || declaredSnapshotAccounts(after).length > 0;
}

export function describeDelta(d: Delta): string {
  const parts: string[] = [];
  if (d.add.length) parts.push(`+[${summarize(d.add.map(recipientName), 3)}]`);
  if (d.remove.length) parts.push(`-[${summarize(d.remove.map(recipientName), 3)}]`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** One sentence for a failed AWS call of `step` on AMI `imageId`. */
export function explainFailure(err: unknown, imageId: string, step: StepShape | undefined, account: string): string {
  if (err instanceof ShareError) return err.message;
  const code = awsErrorCode(err);
  const refusal = amiRefusal(err);
  const recipients = step ? recipientsOf(step) : [];
  if (step?.kind === 'grant' || step?.kind === 'revoke-grant' || step?.kind === 'await-grants') {
    const who = summarize(recipients.map(granteeAccount), 3);
    const grantee = recipients[0] ?? '';
    const what = `KMS key ${step.target} of AMI ${imageId}`;
    if (refusal === 'bad-grantee') {
      return grantee.includes('AWSServiceRoleForAutoScaling')
        ? `Account ${granteeAccount(grantee)} has no Auto Scaling service-linked role, so KMS key ${step.target} of AMI ${imageId} cannot be granted to it: create the role in ${granteeAccount(grantee)} (iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com) or turn kmsGrantsForAutoScaling off.`
        : `KMS refused ${grantee} as a grantee of key ${step.target} of AMI ${imageId} (${code}): check that account ${granteeAccount(grantee)} exists.`;
    }
    if (refusal === 'grant-quota') {
      return `KMS refused a grant on key ${step.target} of AMI ${imageId} for ${who} because a KMS grant quota is used up (${code}; by default a key holds at most 50,000 grants): revoke unused grants (kms list-grants, kms revoke-grant) or request a higher quota, then deploy again.`;
    }
    if (refusal === 'key-unusable') {
      return `KMS key ${step.target} of AMI ${imageId} is disabled or pending deletion (${code}), so ${who} cannot be granted: enable the key, or share an AMI encrypted with an enabled key.`;
    }
    if (isAccessDenied(code)) {
      return `The share handler may not manage grants on KMS key ${step.target} of AMI ${imageId} for ${who} (${code}): the key must be in account ${account} and its key policy must let the account's IAM policies allow kms:CreateGrant (the default key policy does).`;
    }
    return explainCommonFailure(err, imageId, step, what, who, account);
  }
  const who = step ? summarize(recipients.map(recipientName), 3) : undefined;
  const what = step?.kind === 'snapshot' ? `snapshot ${step.target} of AMI ${imageId}` : `AMI ${imageId}`;
  if (step?.kind === 'launch' && /limit|quota|exceed/i.test(errorDetail(err)) && !isThrottling(code) && !refusalBeforeQuota(refusal)) {
    return `AWS refused to share AMI ${imageId} with ${who} (${errorDetail(err)}): an AMI may be shared with ${MAX_AMI_RECIPIENTS} accounts, organizations and OUs by default; request a higher quota (Service Quotas, EC2) or share with fewer recipients.`;
  }
  return explainCommonFailure(err, imageId, step, what, who, account);
}

/** Refusals whose own sentence comes before the sharing-quota one (their message may say "limit"). */
function refusalBeforeQuota(refusal: AmiRefusal | undefined): boolean {
  return refusal === 'image-not-found' || refusal === 'snapshot-not-found';
}

/** The sentences every step shares, after those of its own kind. */
function explainCommonFailure(
  err: unknown, imageId: string, step: StepShape | undefined, what: string, who: string | undefined, account: string,
): string {
  const code = awsErrorCode(err);
  const refusal = amiRefusal(err);
  if (refusal === 'image-not-found') {
    return `AMI ${imageId} was not found in account ${account}: check the imageId (AMIs are regional).`;
  }
  if (refusal === 'snapshot-not-found') {
    return `Snapshot ${step?.target ?? ''} of AMI ${imageId} no longer exists: deploy again to re-read the AMI's snapshots.`;
  }
  if (refusal === 'bad-recipient') {
    return `AWS refused to share ${what} with ${who ?? 'the recipients'} (${errorDetail(err)}): check that each account id, organization ARN and OU ARN exists and is spelled right.`;
  }
  if (isAccessDenied(code)) {
    return `The share handler is not allowed to change ${what}${who ? ` for ${who}` : ''} (${code}): the AMI must be owned by account ${account}, and no SCP or permissions boundary may deny the call.`;
  }
  if (isThrottling(code)) {
    return `AWS kept throttling changes to ${what}${who ? ` for ${who}` : ''} (${code}) after all retries: deploy again later; the change resumes where it stopped.`;
  }
  if (isTransient(err)) {
    return `AWS kept failing the calls for ${what}${who ? ` for ${who}` : ''} (${errorDetail(err)}) after all retries: deploy again later; the change resumes where it stopped.`;
  }
  return `Changing ${what}${who ? ` for ${who}` : ''} failed (${errorDetail(err)}): fix the cause and deploy again.`;
}

/** One sentence for a failed KMS read (DescribeKey, ListGrants) of a key behind the AMI; `snapshots`: those it encrypts (the first is named). */
export function explainKeyFailure(err: unknown, imageId: string, keyId: string, snapshots: readonly string[], account: string): string {
  const code = awsErrorCode(err);
  const [snapshotId] = snapshots;
  const where = `KMS key ${keyId}${snapshotId ? ` (snapshot ${snapshotId})` : ''} of AMI ${imageId}`;
  const refusal = amiRefusal(err);
  if (refusal === 'key-not-found') {
    return `${where} does not exist (${code}): nobody can launch the AMI; re-encrypt it with an existing customer managed key (ec2 copy-image --encrypted --kms-key-id <key>) and share the copy.`;
  }
  if (isAccessDenied(code)) {
    return `The share handler may not read ${where} (${code}): a key outside account ${account} must be passed in encryptionKeys and its key policy must allow account ${account}; or re-encrypt the AMI with a key of account ${account}.`;
  }
  if (refusal === 'key-unusable') {
    return `${where} is disabled or pending deletion (${code}): enable the key, or share an AMI encrypted with an enabled key.`;
  }
  if (isThrottling(code) || isTransient(err)) {
    return `AWS kept ${isThrottling(code) ? 'throttling' : 'failing'} the reads of ${where} (${isThrottling(code) ? code : errorDetail(err)}) after all retries: deploy again later; the change resumes where it stopped.`;
  }
  return `Reading ${where} failed (${errorDetail(err)}): fix the cause and deploy again.`;
}

/** The sentence for a failure part-way through a plan: what went through and what did not. */
export function explainPartialFailure(cause: string, applied: Step[], notApplied: Step[]): string {
  if (applied.length === 0) return `${cause} Nothing was changed.`;
  return `${cause} Applied before the failure: ${summarize(applied.map((s) => s.description), 3)}; not applied: ${summarize(notApplied.map((s) => s.description), 3)}. The automatic rollback or a new deployment converges from here.`;
}

/** The sentence for snapshots that stayed after their AMI was deregistered (deleteSnapshotsOnRemoval). */
export function explainSnapshotsLeft(imageId: string, left: ReadonlyArray<{ snapshotId: string; reason: string }>): string {
  const named = summarize(left.map((s) => `${s.snapshotId} (${s.reason})`), 3);
  return `AMI ${imageId} was deregistered, but EC2 did not delete its snapshot${left.length === 1 ? '' : 's'} ${named}: delete ${left.length === 1 ? 'it' : 'them'} by hand (ec2 delete-snapshot --snapshot-id ...); the ids are also in the handler's log.`;
}

/**
 * When the deregistration-protection cooldown ends, if it is running: after protection that was
 * turned on with the cooldown is turned off, EC2 reports `disabled-until <time>` and refuses to
 * deregister until then.
 */
export function cooldownUntil(image: Image | undefined): string | undefined {
  const state = image?.DeregistrationProtection ?? '';
  return state.startsWith('disabled-until') ? state.slice('disabled-until'.length).trim() || 'the cooldown ends' : undefined;
}

/** The sentence for a deregistration refused during the cooldown. */
export function explainCooldown(imageId: string, until: string): string {
  return `AMI ${imageId} was not deregistered: its deregistration protection was turned on with a 24-hour cooldown, so EC2 refuses to deregister it until ${until}; its shares are revoked, so delete again after that time.`;
}
