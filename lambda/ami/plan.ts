/**
 * Pure decisions of the SharedAmi handler: what the properties mean, whether the image can be
 * shared, what to change, and what to tell the user when AWS says no. No AWS calls in here.
 */
import type { Image, LaunchPermission } from '@aws-sdk/client-ec2';
import {
  REMOVAL_RETAIN, REMOVAL_REVOKE, SHARED_AMI_PROPERTY_KEYS, SharedAmiResourceProperties,
} from '../../src/private/contract';
import {
  ACCOUNT, AMI_ID, MAX_AMI_RECIPIENTS, ORGANIZATION, ORGANIZATIONAL_UNIT, RecipientKind,
  checkAmiId, checkRecipient, show,
} from '../../src/private/validation';
import { awsErrorCode, errorMessage, isAccessDenied, isThrottling, ShareError } from '../common/errors';
import { chunks, Delta, reconcile, summarize } from '../common/sets';

/** What one SharedAmi resource declares, parsed and checked. */
export interface AmiShareSpec {
  readonly imageId: string;
  readonly accounts: string[];
  readonly organizationArns: string[];
  readonly organizationalUnitArns: string[];
  readonly shareSnapshots: boolean;
  readonly removal: typeof REMOVAL_REVOKE | typeof REMOVAL_RETAIN;
}

/** Launch permissions per ModifyImageAttribute call (adds and removes together). */
export const LAUNCH_PERMISSION_BATCH = 100;

export { AMI_ID };

/**
 * Reads the properties CloudFormation delivered. Strict (Create, Update) rejects anything off, so
 * bad input fails before any mutation. Lenient (Delete, and the "before" side of an Update) keeps
 * only well-formed recipients: anything malformed can never have been granted, and a Delete must
 * not get stuck on it.
 */
export function parseAmiProperties(raw: Record<string, unknown>, mode: 'strict' | 'lenient'): AmiShareSpec {
  const problems: string[] = [];
  const imageIdProblem = checkAmiId(raw.ImageId);
  if (imageIdProblem) problems.push(imageIdProblem);

  const unknownKeys = Object.keys(raw).filter((k) => !(SHARED_AMI_PROPERTY_KEYS as readonly string[]).includes(k));
  if (unknownKeys.length > 0) problems.push(`unknown properties ${summarize(unknownKeys)} (the handler and the construct are from different versions?)`);

  const list = (key: keyof SharedAmiResourceProperties, kind: RecipientKind): string[] => {
    const value = raw[key];
    if (value === undefined || value === null || value === '') return [];
    if (!Array.isArray(value)) {
      problems.push(`${key} must be a list, got ${show(value)}`);
      return [];
    }
    const good: string[] = [];
    for (const item of value) {
      const p = checkRecipient(kind, item);
      if (p) problems.push(`${key}: ${p}`);
      else good.push(item as string);
    }
    return [...new Set(good)];
  };
  const accounts = list('Accounts', ACCOUNT);
  const organizationArns = list('OrganizationArns', ORGANIZATION);
  const organizationalUnitArns = list('OrganizationalUnitArns', ORGANIZATIONAL_UNIT);

  const flag = raw.ShareSnapshots;
  if (flag !== undefined && !['true', 'false', true, false].includes(flag as string)) {
    problems.push(`ShareSnapshots must be "true" or "false", got ${show(flag)}`);
  }
  const removal = raw.RemovalPolicy ?? REMOVAL_REVOKE;
  if (removal !== REMOVAL_REVOKE && removal !== REMOVAL_RETAIN) {
    problems.push(`RemovalPolicy must be "${REMOVAL_REVOKE}" or "${REMOVAL_RETAIN}", got ${show(removal)}`);
  }
  const total = accounts.length + organizationArns.length + organizationalUnitArns.length;
  if (mode === 'strict') {
    if (total === 0 && problems.length === 0) problems.push('no recipient: give at least one account, organization ARN or OU ARN');
    if (total > MAX_AMI_RECIPIENTS) problems.push(`${total} recipients exceed the AMI sharing quota of ${MAX_AMI_RECIPIENTS}`);
  }

  const imageId = typeof raw.ImageId === 'string' ? raw.ImageId : String(raw.ImageId);
  if (problems.length > 0 && mode === 'strict') {
    throw new ShareError(`SharedAmi for ${show(raw.ImageId)} was not changed because its properties are invalid: ${problems.join('; ')}. Fix the SharedAmi construct's props and deploy again.`);
  }
  return {
    imageId,
    accounts,
    organizationArns,
    organizationalUnitArns,
    shareSnapshots: flag === 'true' || flag === true,
    removal: removal === REMOVAL_RETAIN ? REMOVAL_RETAIN : REMOVAL_REVOKE,
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
  return [...new Set(ids)];
}

/** Why the image cannot be shared by this account right now, or undefined when it can. */
export function imageProblem(imageId: string, image: Image | undefined, account: string, region: string): string | undefined {
  if (!image) {
    return `AMI ${imageId} was not found in account ${account} in ${region}: check the imageId (AMIs are regional).`;
  }
  if (image.OwnerId && image.OwnerId !== account) {
    return `AMI ${imageId} is owned by account ${image.OwnerId}, not by account ${account}: an AMI shared with you cannot be re-shared; copy it into ${account} (ec2 copy-image) and share the copy.`;
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

/** One mutating call, described for the user. */
export interface Step {
  readonly description: string;
  readonly kind: 'launch' | 'snapshot';
  readonly target: string;
  readonly add: string[];
  readonly remove: string[];
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
export function planChanges(before: AmiShareSpec | undefined, after: AmiShareSpec | undefined, imageId: string, current: CurrentState): Step[] {
  const steps: Step[] = [];
  const launch = reconcile(declaredLaunchPermissions(before), declaredLaunchPermissions(after), current.launchPermissions);
  const ops = [...launch.add.map((k) => ({ op: 'add' as const, k })), ...launch.remove.map((k) => ({ op: 'remove' as const, k }))];
  for (const batch of chunks(ops, LAUNCH_PERMISSION_BATCH)) {
    const add = batch.filter((o) => o.op === 'add').map((o) => o.k);
    const remove = batch.filter((o) => o.op === 'remove').map((o) => o.k);
    steps.push({ kind: 'launch', target: imageId, add, remove, description: `launch permissions on ${imageId} ${describeDelta({ add, remove })}` });
  }
  for (const [snapshotId, holders] of Object.entries(current.snapshotPermissions)) {
    const d = reconcile(declaredSnapshotAccounts(before), declaredSnapshotAccounts(after), holders);
    if (d.add.length > 0) steps.push({ kind: 'snapshot', target: snapshotId, add: d.add, remove: [], description: `createVolumePermission on ${snapshotId} ${describeDelta({ add: d.add, remove: [] })}` });
    if (d.remove.length > 0) steps.push({ kind: 'snapshot', target: snapshotId, add: [], remove: d.remove, description: `createVolumePermission on ${snapshotId} ${describeDelta({ add: [], remove: d.remove })}` });
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
export function explainFailure(err: unknown, imageId: string, step: Pick<Step, 'kind' | 'target' | 'add' | 'remove'> | undefined, account: string): string {
  if (err instanceof ShareError) return err.message;
  const code = awsErrorCode(err);
  const who = step ? summarize([...step.add, ...step.remove].map(recipientName), 3) : undefined;
  const what = step?.kind === 'snapshot' ? `snapshot ${step.target} of AMI ${imageId}` : `AMI ${imageId}`;
  if (code === 'InvalidAMIID.NotFound' || code === 'InvalidAMIID.Unavailable' || code === 'InvalidAMIID.Malformed') {
    return `AMI ${imageId} was not found in account ${account}: check the imageId (AMIs are regional).`;
  }
  if (code === 'InvalidSnapshot.NotFound') {
    return `Snapshot ${step?.target ?? ''} of AMI ${imageId} no longer exists: deploy again to re-read the AMI's snapshots.`;
  }
  if (code === 'InvalidAMIAttributeItemValue' || code === 'InvalidUserID.Malformed' || code === 'InvalidParameterValue') {
    return `AWS refused to share ${what} with ${who ?? 'the recipients'} (${code}: ${errorMessage(err)}): check that each account id, organization ARN and OU ARN exists and is spelled right.`;
  }
  if (isAccessDenied(code)) {
    return `The share handler is not allowed to change ${what}${who ? ` for ${who}` : ''} (${code}): the AMI must be owned by account ${account}, and no SCP or permissions boundary may deny the call.`;
  }
  if (isThrottling(code)) {
    return `AWS kept throttling changes to ${what}${who ? ` for ${who}` : ''} (${code}) after all retries: deploy again later; the change resumes where it stopped.`;
  }
  return `Changing ${what}${who ? ` for ${who}` : ''} failed (${code ?? 'error'}: ${errorMessage(err)}): fix the cause and deploy again.`;
}

/** The sentence for a failure part-way through a plan: what went through and what did not. */
export function explainPartialFailure(cause: string, applied: Step[], notApplied: Step[]): string {
  if (applied.length === 0) return `${cause} Nothing was changed.`;
  return `${cause} Applied before the failure: ${summarize(applied.map((s) => s.description), 3)}; not applied: ${summarize(notApplied.map((s) => s.description), 3)}. The automatic rollback or a new deployment converges from here.`;
}
