/**
 * The SharedAmi executor: reads what AWS holds, asks the pure decisions (./plan, ./kms-plan,
 * ../common/ownership, ../common/guard) what to change, applies their plan step by step through
 * the adapter, and undoes a failed Create. Decides nothing itself: each rule lives in one pure
 * function named in DESIGN.md, "Lifecycle rules".
 */
import type { Image, LaunchPermission } from '@aws-sdk/client-ec2';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as aws from './adapter';
import { grantName, granteesFor, KeyInfo, keyProblem, mergeByArn, OwnGrant, ownGrants, planGrants, snapshotsByKey } from './kms-plan';
import {
  AmiShareSpec, cooldownUntil, CurrentState, declaredLaunchPermissions, declaredSnapshotAccounts, explainCooldown, explainFailure,
  explainKeyFailure, explainPartialFailure, explainSnapshotsLeft, GrantStep, imageProblem, involvesSnapshots, isGone, launchPermissionFromKey,
  launchPermissionKey, planChanges, recipientName, Release, snapshotIdsOf, Step,
} from './plan';
import { KMS_GRANT_OPERATIONS } from '../../src/private/contract';
import { awsErrorCode } from '../common/aws-errors-adapter';
import * as claims from '../common/claims-adapter';
import { ShareError } from '../common/errors';
import { StackContext, stackContext } from '../common/event';
import { guardVerdict } from '../common/guard';
import { RemovalPlan } from '../common/lifecycle';
import { log } from '../common/log';
import { ClaimOwner, claimOwner, decideOwnership, decideProtection, heldKeys, Record_ } from '../common/ownership';
import { claimedByOthersMeanwhile, dropClaimOfFailedCreate, finishRecord, readRecord, writeClaimBeforeChanges } from '../common/record';
import { summarize, unique } from '../common/sets';
import { mayHaveApplied, undoFailedCreate } from '../common/undo';

/** Who is acting on which image: the stack's account and region, this resource's grant name and claim. */
export interface RunContext extends StackContext {
  readonly imageId: string;
  readonly grantName: string;
  readonly claim: ClaimOwner;
}

export function runContext(event: CloudFormationCustomResourceEvent, imageId: string): RunContext {
  return {
    ...stackContext(event),
    imageId,
    grantName: grantName(event.StackId, event.LogicalResourceId, imageId),
    claim: claimOwner(event.StackId, event.LogicalResourceId),
  };
}

/** The grants this resource holds once a change is applied, and the image's record of ownership as read. */
export interface Converged {
  readonly grantIds: string[];
  readonly record: Record_;
  /** What this event revoked (or found gone): a lagging read may still show it. */
  readonly released: Release;
}

const NOTHING: Converged = { grantIds: [], record: { others: [] }, released: { launch: [], snapshots: [] } };

/** A failure of a call on the image, as one sentence for the user. */
function failOn(run: RunContext): (err: unknown) => never {
  return (err: unknown): never => {
    throw new ShareError(explainFailure(err, run.imageId, undefined, run.account));
  };
}

/** What AWS holds for this resource before any change. */
interface Current {
  readonly state: CurrentState;
  readonly keys: KeyInfo[];
  readonly ours: OwnGrant[];
  readonly record: Record_;
}

/**
 * Reads the image, its permissions and its keys' grants, plans the delta from `before` to
 * `after` (undefined: a Delete), and applies it. Every check and read happens before the first
 * change (DESIGN.md, "Ownership", for the order of the record's calls).
 */
export async function converge(run: RunContext, before: AmiShareSpec | undefined, after: AmiShareSpec | undefined): Promise<Converged> {
  const { imageId } = run;
  const deleting = after === undefined;
  const fail = failOn(run);
  const image = await aws.describeImage(imageId).catch(fail);
  const problem = deleting ? undefined : imageProblem(imageId, image, run.account, run.region);
  if (problem) throw new ShareError(problem);
  if (!image || isGone(image)) {
    // Only on Delete: imageProblem refuses a missing image otherwise.
    log({ skip: `AMI ${imageId} no longer exists: its launch permissions went with it` });
    await claims.deleteClaim(imageId, run.claim.claimId).catch(fail);
    return NOTHING;
  }
  let current: Current;
  try {
    current = await readCurrent(run, image, before, after);
  } catch (err) {
    if (deleting && aws.isImageGone(err)) {
      await claims.deleteClaim(imageId, run.claim.claimId).catch(fail);
      return NOTHING;
    }
    return fail(err);
  }
  const keyRefusal = after ? keyProblem(imageId, current.keys, after) : undefined;
  if (keyRefusal) throw new ShareError(keyRefusal);
  const { state, keys, ours, record } = current;
  const customerKeys = keys.filter((k) => k.manager !== 'AWS').map((k) => k.arn);
  const grants = planGrants(customerKeys, granteesFor(after, run.partition), ours, new Set(granteesFor(before, run.partition)));
  const ownership = decideOwnership(run.claim, record,
    { shares: declaredLaunchPermissions(after), snapshots: declaredSnapshotAccounts(after) },
    { shares: declaredLaunchPermissions(before), snapshots: declaredSnapshotAccounts(before) },
    { shares: new Set(state.launchPermissions), snapshots: new Set(Object.values(state.snapshotPermissions).flat()) },
    (after ?? before)?.takeOver ?? false);
  const release: Release = { launch: ownership.release.shares, snapshots: ownership.release.snapshots };
  const protection = decideProtection(record, !deleting && after.protection, aws.isProtected(image));
  const claim = { ...ownership.claim, ...(protection.mark ? { protection: protection.mark } : {}) };
  const steps = planChanges(before, after, imageId, state, grants, release);
  log({ imageId, plan: steps.map((s) => s.description), keep: ownership.kept, protection });
  // Protection goes on before the first grant too, so the AMI is never shared and unprotected.
  await writeClaimBeforeChanges(imageId, record, claim, deleting).catch(fail);
  if (protection.enable) await aws.enableProtection(imageId, after?.protectionCooldown ?? false).catch(fail);
  let applied: AppliedGrants;
  try {
    applied = await applyPlan(run, steps, deleting, before === undefined);
  } catch (err) {
    // A failed Create undid its shares (applyPlan): its claim goes too, and so does the protection it turned on.
    if (before === undefined && await dropClaimOfFailedCreate(imageId, record, run.claim.claimId)
      && protection.enable && record.others.length === 0) {
      await aws.disableProtection(imageId).catch(() => undefined);
    }
    throw err;
  }
  const restore = await claimedByOthersMeanwhile(imageId, run.claim.claimId, release.launch).catch(fail);
  if (restore.length > 0) {
    log({ restore, why: 'claimed by another resource while this one revoked' });
    await aws.modifyLaunchPermissions(imageId, restore.map(launchPermissionFromKey), []).catch(fail);
  }
  await finishRecord(imageId, record, ownership, claim, deleting).catch(fail);
  if (protection.disable) await releaseProtection(run);
  const gone = new Set(applied.revoked);
  const held = unique([...ours.map((g) => g.grantId), ...applied.ensured]).filter((id) => !gone.has(id)).sort();
  return { grantIds: held, record, released: release };
}

/** The record, the launch and snapshot permissions, and this resource's grants on the image's keys. */
async function readCurrent(run: RunContext, image: Image, before: AmiShareSpec | undefined, after: AmiShareSpec | undefined): Promise<Current> {
  const deleting = after === undefined;
  const record = await readRecord(run.imageId, run.claim.claimId);
  const launch = heldLaunchKeys(await aws.launchPermissions(run.imageId));
  const snapshotPermissions: Record<string, string[]> = {};
  if (involvesSnapshots(before, after) || heldKeys(record.own, 'snapshots').length > 0) {
    for (const snapshotId of snapshotIdsOf(image)) {
      snapshotPermissions[snapshotId] = await aws.createVolumePermissions(snapshotId);
    }
  }
  const keys = before?.kmsGrants || after?.kmsGrants ? await discoverKeys(run, image, deleting) : [];
  const ours: OwnGrant[] = [];
  for (const key of keys.filter((k) => k.manager !== 'AWS')) {
    const grants = await aws.listGrants(key.arn).catch((err: unknown) => {
      // A key deleted or pending deletion takes its grants with it: nothing left to revoke.
      if (deleting && aws.isKeyGone(err)) return [];
      throw new ShareError(explainKeyFailure(err, run.imageId, key.arn, key.snapshots, run.account));
    });
    ours.push(...ownGrants(key.arn, grants, run.grantName));
  }
  return { state: { launchPermissions: launch, snapshotPermissions }, keys, ours, record };
}

function heldLaunchKeys(permissions: readonly LaunchPermission[]): string[] {
  return permissions.map(launchPermissionKey).filter((k): k is string => !!k);
}

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
      if (deleting && aws.isKeyGone(err)) continue;
      throw new ShareError(explainKeyFailure(err, run.imageId, keyId, snapshots, run.account));
    }
  }
  return mergeByArn(keys);
}

/**
 * Turns deregistration protection off once this resource's claim is gone, if the library turned it
 * on and no other claim appeared meanwhile (read again: a claim written now keeps it on).
 */
async function releaseProtection(run: RunContext): Promise<void> {
  const others = (await readRecord(run.imageId, run.claim.claimId).catch(failOn(run))).others;
  if (others.length > 0) return;
  log({ protection: `off: the last claim on ${run.imageId} is gone, and the library had turned it on` });
  await aws.disableProtection(run.imageId).catch(failOn(run));
}

// ---------------------------------------------------------------------------------------------
// The deletion guard and retiring the AMI (DESIGN.md, "Retiring an image", "Deregistration protection")
// ---------------------------------------------------------------------------------------------

/**
 * After this resource revoked its own shares: an AMI whose lifetime the app owns goes away only
 * when nobody else holds a launch permission (or, with forceUnshare, after revoking them all);
 * then, with `delete-image`, it is deregistered, with its snapshots in the same call.
 */
export async function guardAndRetire(run: RunContext, spec: AmiShareSpec, plan: RemovalPlan, converged: Converged): Promise<void> {
  if (plan !== 'guard' && plan !== 'delete-image') return;
  const { imageId } = run;
  const fail = failOn(run);
  const image = await aws.describeImage(imageId).catch(fail);
  if (!image || isGone(image)) return;
  const read = heldLaunchKeys(await aws.launchPermissions(imageId).catch(fail));
  const { decision, remaining } = guardVerdict(`AMI ${imageId}`, read, converged.released.launch, converged.record.others, spec.forceUnshare, recipientName);
  if (decision.action === 'block') throw new ShareError(`${decision.message} ${usageEvidence(imageId, image)}`);
  if (decision.action === 'force') {
    log({ forceUnshare: decision.revoke });
    await aws.modifyLaunchPermissions(imageId, [], remaining.map(launchPermissionFromKey)).catch(fail);
  }
  if (plan === 'delete-image') await retire(run, image, spec.deleteSnapshots);
}

/** EC2's evidence of use, for the guard's refusal: when the AMI was last launched, and how to see by whom. */
function usageEvidence(imageId: string, image: Image): string {
  const last = image.LastLaunchedTime ? `It was last launched ${image.LastLaunchedTime}` : 'EC2 reports no launch of it';
  return `${last}; AWS's AMI usage report names the accounts still using it (ec2 create-image-usage-report --image-id ${imageId} --resource-types ResourceType=ec2:Instance ResourceType=ec2:LaunchTemplate).`;
}

/** Deregisters the AMI: protection, whoever turned it on, goes first; the snapshots go in the same call. */
async function retire(run: RunContext, image: Image, deleteSnapshots: boolean): Promise<void> {
  const { imageId } = run;
  const fail = failOn(run);
  if (aws.isProtected(image)) await aws.disableProtection(imageId).catch(fail);
  log({ deregister: imageId, deleteSnapshots: deleteSnapshots ? snapshotIdsOf(image) : [] });
  const left = await aws.deregisterImage(imageId, deleteSnapshots).catch(async (err: unknown) => {
    const cooldown = cooldownUntil(await aws.describeImage(imageId).catch(() => undefined));
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

// ---------------------------------------------------------------------------------------------
// Applying a plan
// ---------------------------------------------------------------------------------------------

/** What applying a plan changed about this resource's KMS grants. */
export interface AppliedGrants {
  /** Grants this resource holds after a grant step (made now, or found by CreateGrant's name). */
  readonly ensured: string[];
  /** Grants revoked (planned revocations, and stale or duplicate listings of an ensured grant). */
  readonly revoked: string[];
}

/** A step that went through; a grant step with the grant it holds. */
type Applied = { readonly step: Exclude<Step, GrantStep> } | { readonly step: GrantStep; readonly grantId: string };

/**
 * Applies the steps in order. A Create (`creating`) that fails part-way undoes what it applied
 * before throwing: CloudFormation sends no Delete after a failed Create, so nothing else would.
 * On Delete (`deleting`), an image or snapshot that vanished counts as already revoked.
 */
export async function applyPlan(run: Pick<RunContext, 'account' | 'imageId' | 'grantName'>, steps: Step[], deleting: boolean, creating: boolean): Promise<AppliedGrants> {
  const result = { ensured: [] as string[], revoked: [] as string[] };
  /** grant ids made on each key in this run, awaited by the key's await-grants step */
  const madeOnKey = new Map<string, string[]>();
  const applied: Applied[] = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    try {
      if (step.kind === 'grant') {
        const grantId = await ensureGrant(run, step, result);
        result.ensured.push(grantId);
        madeOnKey.set(step.target, [...madeOnKey.get(step.target) ?? [], grantId]);
        applied.push({ step, grantId });
      } else {
        await applyStep(run, step, madeOnKey.get(step.target) ?? [], result);
        applied.push({ step });
      }
    } catch (err) {
      if (deleting && aws.isImageOrSnapshotGone(err)) {
        log({ skip: `${step.description}: ${awsErrorCode(err)} during delete counts as already revoked` });
        continue;
      }
      const cause = explainFailure(err, run.imageId, step, run.account);
      if (!creating) throw new ShareError(explainPartialFailure(cause, steps.slice(0, i), steps.slice(i)));
      throw new ShareError(`${cause}${await undo(run, step, err, applied)}`);
    }
  }
  return result;
}

/**
 * Takes back what a failed Create applied, newest first, and says what happened. A step whose
 * answer may have been lost (mayHaveApplied) is read back, and what of it went through is taken
 * back too.
 */
async function undo(run: Pick<RunContext, 'imageId' | 'grantName'>, failed: Step, err: unknown, applied: Applied[]): Promise<string> {
  return undoFailedCreate<Applied, Step>({
    applied: [...applied].reverse(),
    unconfirmed: mayHaveApplied(err) ? [failed] : [],
    confirm: async (steps) => (await Promise.all(steps.map((step) => wentThrough(run, step)))).flat(),
    takeBack: async (done) => {
      const inverse = inverseOf(done);
      if (inverse) await applyStep(run, inverse, [], { ensured: [], revoked: [] });
    },
    name: (done) => done.step.description,
    nameUnconfirmed: (step) => step.description,
  });
}

/** The step that takes back what an applied step did, if any. */
function inverseOf(done: Applied): Exclude<Step, GrantStep> | undefined {
  if ('grantId' in done) {
    const { target, grantee, description } = done.step;
    return { kind: 'revoke-grant', target, grantee, grantId: done.grantId, description };
  }
  const step = done.step;
  switch (step.kind) {
    case 'launch':
    case 'snapshot': return { ...step, add: step.remove, remove: step.add };
    default: return undefined;
  }
}

/**
 * What a step whose outcome is unknown did, read back: the recipients it added that are there now
 * (this Create found them missing), or for a CreateGrant whose answer never came back, the grant
 * itself: CreateGrant by name answers the grant it made.
 */
async function wentThrough(run: Pick<RunContext, 'imageId' | 'grantName'>, step: Step): Promise<Applied[]> {
  switch (step.kind) {
    case 'launch': {
      const now = new Set(heldLaunchKeys(await aws.launchPermissions(run.imageId)));
      const added = step.add.filter((k) => now.has(k));
      return added.length > 0 ? [{ step: { ...step, add: added, remove: [] } }] : [];
    }
    case 'snapshot': {
      const now = new Set(await aws.createVolumePermissions(step.target));
      const added = step.add.filter((a) => now.has(a));
      return added.length > 0 ? [{ step: { ...step, add: added, remove: [] } }] : [];
    }
    case 'grant':
      return [{ step, grantId: await aws.createGrant(step.target, step.grantee, KMS_GRANT_OPERATIONS, run.grantName) }];
    default:
      return [];
  }
}

/**
 * CreateGrant by this resource's grant name: returns the grant it holds. Listed grants other than
 * the one KMS answers are revoked ones still listed, or duplicates: they are revoked.
 */
async function ensureGrant(run: Pick<RunContext, 'grantName'>, step: GrantStep, result: AppliedGrants): Promise<string> {
  const grantId = await aws.createGrant(step.target, step.grantee, KMS_GRANT_OPERATIONS, run.grantName);
  for (const other of step.listed.filter((id) => id !== grantId)) {
    await aws.revokeGrant(step.target, other);
    result.revoked.push(other);
  }
  return grantId;
}

/** One step's calls other than a grant's. `made`: the grants made on the step's key so far (what an await-grants step waits for). */
async function applyStep(run: Pick<RunContext, 'imageId'>, step: Exclude<Step, GrantStep>, made: readonly string[], result: AppliedGrants): Promise<void> {
  switch (step.kind) {
    case 'launch':
      await aws.modifyLaunchPermissions(run.imageId, step.add.map(launchPermissionFromKey), step.remove.map(launchPermissionFromKey));
      return;
    case 'snapshot':
      await aws.modifyCreateVolumePermissions(step.target, step.add.length > 0 ? 'add' : 'remove', step.add.length > 0 ? step.add : step.remove);
      return;
    case 'await-grants': {
      const missing = await aws.awaitGrantsListed(step.target, made);
      if (missing.length > 0) {
        throw new ShareError(`KMS made grant ${summarize(missing, 2)} on key ${step.target} of AMI ${run.imageId} but still does not list it after about ${Math.round(aws.grantListingPatienceMs() / 1000)} s (KMS is eventually consistent): deploy again; the grant is found by its name and not duplicated.`);
      }
      return;
    }
    case 'revoke-grant':
      await aws.revokeGrant(step.target, step.grantId);
      result.revoked.push(step.grantId);
      return;
  }
}
