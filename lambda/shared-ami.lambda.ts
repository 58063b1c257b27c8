/**
 * SharedAmi custom-resource handler (Provider framework onEvent): a thin router over the pure
 * decisions in ./ami/plan and the AWS calls in ./ami/adapter.
 */
import type { Image } from '@aws-sdk/client-ec2';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import * as aws from './ami/adapter';
import { applyPlan } from './ami/executor';
import {
  grantName, granteesFor, KeyInfo, keyProblem, mergeByArn, OwnGrant, ownGrants, planGrants, snapshotsByKey,
} from './ami/kms-plan';
import {
  AMI_ID, AmiShareSpec, cooldownUntil, CurrentState, declaredLaunchPermissions, declaredSnapshotAccounts, explainCooldown, Release,
  explainFailure, explainKeyFailure, explainSnapshotsLeft, imageProblem, involvesSnapshots, isGone, launchPermissionFromKey,
  launchPermissionKey, parseAmiProperties, planChanges, recipientName, snapshotIdsOf,
} from './ami/plan';
import { shareCredentials } from './common/assume-role';
import * as claims from './common/claims-adapter';
import { awsErrorCode, ShareError } from './common/errors';
import {
  imageIdFromPhysicalId, OnEventResponse, ownProperties, physicalIdFor, StackContext, stackContext,
} from './common/event';
import { decideGuard, remainingAfterOwnRevoke, withHolders } from './common/guard';
import { log } from './common/log';
import {
  claimedMeanwhile, ClaimOwner, claimOwner, decideOwnership, decideProtection, heldKeys, holdersOf, Record_, sameClaim, splitClaims,
} from './common/ownership';
import { finishRecord } from './common/record';
import { unique } from './common/sets';
import { SHARED_AMI_PHYSICAL_ID_PREFIX, SharedAmiResourceAttributes } from '../src/private/contract';

export async function handler(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  const physicalId = (event as { PhysicalResourceId?: string }).PhysicalResourceId;
  log({ requestType: event.RequestType, physicalId, properties: ownProperties(event.ResourceProperties) });
  aws.startInvocation(shareCredentials(event, 'AMI'));
  claims.startInvocation();
  switch (event.RequestType) {
    case 'Create': return onCreate(event);
    case 'Update': return onUpdate(event);
    case 'Delete': return onDelete(event);
    default: throw new ShareError(`Unknown request type ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}.`);
  }
}

async function onCreate(event: CloudFormationCustomResourceCreateEvent | CloudFormationCustomResourceUpdateEvent): Promise<OnEventResponse> {
  const spec = parseAmiProperties(ownProperties(event.ResourceProperties), 'strict');
  const run = runContext(event, spec.imageId);
  const grants = await converge(run, undefined, spec);
  return respond(run, grants);
}

async function onUpdate(event: CloudFormationCustomResourceUpdateEvent): Promise<OnEventResponse> {
  const after = parseAmiProperties(ownProperties(event.ResourceProperties), 'strict');
  const before = parseAmiProperties(ownProperties(event.OldResourceProperties), 'lenient');
  const inEffect = imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, event.PhysicalResourceId) ?? before.imageId;
  if (inEffect !== after.imageId) {
    // A new image is a new share: grant there, return its physical id, and CloudFormation's later
    // Delete of the old physical id revokes on the old image (on rollback, the reverse).
    return onCreate(event);
  }
  // `before` declares what is on the image in effect only when it names that image: after a
  // failed replacement the framework keeps the old physical id, and the rollback's old properties
  // are the new image's. Then nothing is known to be ours to revoke: add what is missing only.
  const prior = before.imageId === inEffect ? before : undefined;
  const run = runContext(event, after.imageId);
  const grants = await converge(run, prior, after);
  return respond(run, grants);
}

async function onDelete(event: CloudFormationCustomResourceDeleteEvent): Promise<OnEventResponse> {
  const imageId = imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, event.PhysicalResourceId);
  if (!imageId) {
    log({ skip: 'physical id was not issued by this handler (e.g. after a failed create): nothing to revoke' });
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const spec = parseAmiProperties(ownProperties(event.ResourceProperties), 'lenient');
  if (spec.removal === 'retain') {
    log({ skip: `RemovalPolicy retain: the shares of ${imageId} stay` });
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const run = runContext(event, imageId);
  const { record, released } = await converge(run, { ...spec, imageId }, undefined);
  if (spec.guardImage) await guardAndRetire(run, spec, record, released);
  return { PhysicalResourceId: event.PhysicalResourceId };
}

/**
 * The deletion guard, after this resource revoked its own shares: an AMI whose lifetime the app
 * owns goes away only when nobody else holds a launch permission (or, with forceUnshare, after
 * revoking them all); then, if asked, it is deregistered, with its snapshots in the same call.
 * See DESIGN.md, "Retiring an image".
 */
async function guardAndRetire(run: RunContext, spec: AmiShareSpec, record: Record_, released: Release): Promise<void> {
  const { imageId, account } = run;
  const fail = (err: unknown): never => {
    throw new ShareError(explainFailure(err, imageId, undefined, account));
  };
  const image = await aws.describeImage(imageId).catch(fail);
  if (isGone(image)) return;
  const held = (await aws.launchPermissions(imageId).catch(fail)).map(launchPermissionKey).filter((k): k is string => !!k);
  // EC2 reads lag writes: the read may still show what this resource revoked a moment ago.
  const remaining = remainingAfterOwnRevoke(held, released.launch);
  const decision = decideGuard(`AMI ${imageId}`, remaining.map((k) => withHolders(recipientName(k), holdersOf(k, record.others))), spec.forceUnshare);
  if (decision.action === 'block') throw new ShareError(`${decision.message} ${usageEvidence(imageId, image!)}`);
  if (decision.action === 'force') {
    log({ forceUnshare: decision.revoke });
    await aws.modifyLaunchPermissions(imageId, [], remaining.map(launchPermissionFromKey)).catch(fail);
  }
  if (!spec.deleteImage) return;
  // Retiring the AMI was asked for: protection, whoever turned it on, goes first.
  if (aws.isProtected(image)) await aws.disableProtection(imageId).catch(fail);
  const snapshots = spec.deleteSnapshots ? snapshotIdsOf(image!) : [];
  log({ deregister: imageId, deleteSnapshots: snapshots });
  const left = await aws.deregisterImage(imageId, spec.deleteSnapshots).catch(async (err: unknown) => {
    const now = await aws.describeImage(imageId).catch(() => undefined);
    const cooldown = cooldownUntil(now);
    if (cooldown) throw new ShareError(explainCooldown(imageId, cooldown));
    return fail(err);
  });
  // EC2 deleted the snapshots with the AMI, except those it reports otherwise: a snapshot that
  // another AMI uses is skipped on purpose; any other is deleted now, while its id is still known.
  const stillThere: Array<{ snapshotId: string; reason: string }> = [];
  for (const s of left) {
    if (s.reason === 'skipped') {
      log({ keep: s.snapshotId, reason: 'EC2 skipped it: another AMI uses it' });
      continue;
    }
    await aws.deleteSnapshot(s.snapshotId)
      .catch((err: unknown) => stillThere.push({ snapshotId: s.snapshotId, reason: awsErrorCode(err) ?? s.reason }));
  }
  if (stillThere.length > 0) throw new ShareError(explainSnapshotsLeft(imageId, stillThere));
}

/** Who is acting on which image: the stack's account and region, this resource's grant name and claim. */
interface RunContext extends StackContext {
  readonly imageId: string;
  readonly grantName: string;
  readonly claim: ClaimOwner;
}

function runContext(event: CloudFormationCustomResourceEvent, imageId: string): RunContext {
  return {
    ...stackContext(event),
    imageId,
    grantName: grantName(event.StackId, event.LogicalResourceId, imageId),
    claim: claimOwner(event.StackId, event.LogicalResourceId),
  };
}

/** The grants this resource holds once a change is applied, and the image's record of ownership as read. */
interface Converged {
  readonly grantIds: string[];
  readonly record: Record_;
  /** What this event revoked (or found gone): a lagging read may still show it. */
  readonly released: Release;
}

/**
 * Reads the image, its permissions and its keys' grants, plans the delta from `before` to
 * `after`, and applies it. Every check and read happens before the first change.
 */
async function converge(run: RunContext, before: AmiShareSpec | undefined, after: AmiShareSpec | undefined): Promise<Converged> {
  const { imageId, account } = run;
  const deleting = after === undefined;
  const fail = (err: unknown): never => {
    throw new ShareError(explainFailure(err, imageId, undefined, account));
  };
  const image = await aws.describeImage(imageId).catch(fail);
  if (deleting && isGone(image)) {
    log({ skip: `AMI ${imageId} no longer exists: its launch permissions went with it` });
    await claims.deleteClaim(imageId, run.claim.claimId).catch(fail);
    return { grantIds: [], record: { others: [] }, released: { launch: [], snapshots: [] } };
  }
  if (!deleting) {
    const problem = imageProblem(imageId, image, account, run.region);
    if (problem) throw new ShareError(problem);
  }

  let current: CurrentState;
  let keys: KeyInfo[] = [];
  let ours: OwnGrant[] = [];
  let record: Record_;
  try {
    record = splitClaims(await claims.readClaims(imageId), run.claim.claimId);
    const launch = (await aws.launchPermissions(imageId)).map(launchPermissionKey).filter((k): k is string => !!k);
    const snapshotPermissions: Record<string, string[]> = {};
    if (involvesSnapshots(before, after) || heldKeys(record.own, 'snapshots').length > 0) {
      for (const snapshotId of snapshotIdsOf(image!)) {
        snapshotPermissions[snapshotId] = await aws.createVolumePermissions(snapshotId);
      }
    }
    current = { launchPermissions: launch, snapshotPermissions };
    if (before?.kmsGrants || after?.kmsGrants) {
      keys = await discoverKeys(run, image!, deleting);
      for (const key of keys.filter((k) => k.manager !== 'AWS')) {
        const grants = await aws.listGrants(key.arn).catch((err: unknown) => {
          // A key deleted or pending deletion takes its grants with it: nothing left to revoke.
          if (deleting && KEY_GONE.has(awsErrorCode(err) ?? '')) return [];
          throw new ShareError(explainKeyFailure(err, imageId, key.arn, key.snapshots[0], account));
        });
        ours.push(...ownGrants(key.arn, grants, run.grantName));
      }
    }
  } catch (err) {
    if (deleting && ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'].includes(awsErrorCode(err) ?? '')) {
      await claims.deleteClaim(imageId, run.claim.claimId).catch(fail);
      return { grantIds: [], record: { others: [] }, released: { launch: [], snapshots: [] } };
    }
    return fail(err);
  }
  if (after) {
    const problem = keyProblem(imageId, keys, after);
    if (problem) throw new ShareError(problem);
  }

  const customerKeys = keys.filter((k) => k.manager !== 'AWS').map((k) => k.arn);
  const grants = planGrants(customerKeys, granteesFor(after, run.partition), ours, new Set(granteesFor(before, run.partition)));
  const ownership = decideOwnership(run.claim, record,
    { shares: declaredLaunchPermissions(after), snapshots: declaredSnapshotAccounts(after) },
    { shares: declaredLaunchPermissions(before), snapshots: declaredSnapshotAccounts(before) },
    { shares: new Set(current.launchPermissions), snapshots: new Set(Object.values(current.snapshotPermissions).flat()) },
    (after ?? before)?.takeOver ?? false);
  const release: Release = { launch: ownership.release.shares, snapshots: ownership.release.snapshots };
  const protection = decideProtection(record, !deleting && after.protection, aws.isProtected(image));
  const claim = { ...ownership.claim, ...(protection.mark ? { protection: protection.mark } : {}) };
  const steps = planChanges(before, after, imageId, current, grants, release);
  log({ imageId, plan: steps.map((s) => s.description), keep: ownership.kept, protection });
  // The claim is written before the first grant and removed after the last revoke, so that no other
  // resource ever sees a share of this one without its claim; protection goes on before the first
  // grant too, so the AMI is never shared and unprotected.
  if (!sameClaim(record.own, claim) && (!deleting || record.own)) await claims.writeClaim(imageId, claim).catch(fail);
  if (protection.enable) await aws.enableProtection(imageId, after?.protectionCooldown ?? false).catch(fail);
  let applied;
  try {
    applied = await applyPlan(run, steps, deleting, before === undefined);
  } catch (err) {
    // A failed Create undid its shares (applyPlan): its claim goes too, unless an earlier delivery
    // made it, and so does the protection it turned on.
    if (before === undefined && !record.own) {
      await claims.deleteClaim(imageId, run.claim.claimId).catch(() => undefined);
      if (protection.enable && record.others.length === 0) await aws.disableProtection(imageId).catch(() => undefined);
    }
    throw err;
  }
  await restoreClaimedByOthers(run, release);
  await finishRecord(imageId, record, ownership, claim, deleting).catch(fail);
  if (protection.disable) await releaseProtection(run);
  const gone = new Set(applied.revoked);
  const held = unique([...ours.map((g) => g.grantId), ...applied.ensured]).filter((id) => !gone.has(id)).sort();
  return { grantIds: held, record, released: release };
}

/** EC2's evidence of use, for the guard's refusal: when the AMI was last launched, and how to see by whom. */
function usageEvidence(imageId: string, image: Image): string {
  const last = image.LastLaunchedTime ? `It was last launched ${image.LastLaunchedTime}` : 'EC2 reports no launch of it';
  return `${last}; AWS's AMI usage report names the accounts still using it (ec2 create-image-usage-report --image-id ${imageId} --resource-types ResourceType=ec2:Instance ResourceType=ec2:LaunchTemplate).`;
}

/**
 * Turns deregistration protection off once this resource's claim is gone, if the library turned it
 * on and no other claim appeared meanwhile (read again: a claim written now keeps it on).
 */
async function releaseProtection(run: RunContext): Promise<void> {
  const fail = (err: unknown): never => {
    throw new ShareError(explainFailure(err, run.imageId, undefined, run.account));
  };
  const others = splitClaims(await claims.readClaims(run.imageId).catch(fail), run.claim.claimId).others;
  if (others.length > 0) return;
  log({ protection: `off: the last claim on ${run.imageId} is gone, and the library had turned it on` });
  await aws.disableProtection(run.imageId).catch(fail);
}

/**
 * After revoking, reads the claims again: a recipient that another resource claimed meanwhile (two
 * deployments on one image at the same moment) gets its share back. The other resource wrote its
 * claim before granting, so either this read sees the claim, or its grant comes after this revoke.
 */
async function restoreClaimedByOthers(run: RunContext, release: Release): Promise<void> {
  if (release.launch.length === 0 && release.snapshots.length === 0) return;
  const others = splitClaims(await claims.readClaims(run.imageId), run.claim.claimId).others;
  const launch = claimedMeanwhile(release.launch, others);
  if (launch.length > 0) {
    log({ restore: launch, why: 'claimed by another resource while this one revoked' });
    await aws.modifyLaunchPermissions(run.imageId, launch.map(launchPermissionFromKey), []);
  }
}

/** KMS answers for a key that is deleted or pending deletion. */
const KEY_GONE = new Set(['NotFoundException', 'KMSInvalidStateException']);

/**
 * The AMI's snapshots → their keys → one KeyInfo per key ARN (KMS resolves ids and aliases). On
 * Delete, a key that is gone is skipped: its grants went with it, and the Delete must not stick.
 */
async function discoverKeys(run: RunContext, image: Image, deleting: boolean): Promise<KeyInfo[]> {
  const byKey = snapshotsByKey(await aws.snapshotKeys(snapshotIdsOf(image)));
  const keys: KeyInfo[] = [];
  for (const [keyId, snapshots] of Object.entries(byKey)) {
    try {
      const meta = await aws.describeKey(keyId);
      keys.push({ arn: meta.Arn ?? keyId, manager: meta.KeyManager ?? 'CUSTOMER', snapshots });
    } catch (err) {
      if (deleting && KEY_GONE.has(awsErrorCode(err) ?? '')) continue;
      throw new ShareError(explainKeyFailure(err, run.imageId, keyId, snapshots[0], run.account));
    }
  }
  return mergeByArn(keys);
}

/** Grant ids travel back only while they fit well inside CloudFormation's 4 KB response. */
const MAX_GRANT_IDS_LENGTH = 2000;

function respond(run: RunContext, grants: Pick<Converged, 'grantIds'>): OnEventResponse {
  const ids = grants.grantIds.join(',');
  const data: SharedAmiResourceAttributes = {
    ImageId: run.imageId,
    GrantIds: ids.length <= MAX_GRANT_IDS_LENGTH ? ids : '',
    GrantCount: String(grants.grantIds.length),
    GrantName: run.grantName,
  };
  return { PhysicalResourceId: physicalIdFor(SHARED_AMI_PHYSICAL_ID_PREFIX, run.imageId), Data: { ...data } };
}

