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
import {
  grantName, granteesFor, KeyInfo, keyProblem, mergeByArn, OwnGrant, ownGrants, planGrants, snapshotsByKey,
} from './ami/kms-plan';
import {
  AMI_ID, AmiShareSpec, CurrentState, explainFailure, explainKeyFailure, explainPartialFailure, imageProblem, involvesSnapshots,
  isGone, launchPermissionFromKey, launchPermissionKey, parseAmiProperties, planChanges, recipientName, snapshotIdsOf, Step,
} from './ami/plan';
import { shareCredentials } from './common/assume-role';
import { awsErrorCode, errorDetail, isThrottling, isTransient, ShareError, undoneSentence } from './common/errors';
import {
  imageIdFromPhysicalId, OnEventResponse, ownProperties, physicalIdFor, StackContext, stackContext,
} from './common/event';
import { decideGuard } from './common/guard';
import { KMS_GRANT_OPERATIONS, SHARED_AMI_PHYSICAL_ID_PREFIX, SharedAmiResourceAttributes } from '../src/private/contract';

export async function handler(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  const physicalId = (event as { PhysicalResourceId?: string }).PhysicalResourceId;
  log({ requestType: event.RequestType, physicalId, properties: ownProperties(event.ResourceProperties) });
  aws.startInvocation(shareCredentials(event, 'AMI'));
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
  await converge(run, { ...spec, imageId }, undefined);
  if (spec.guardImage) await guardAndRetire(run, spec);
  return { PhysicalResourceId: event.PhysicalResourceId };
}

/**
 * The deletion guard (SPEC 4), after this resource revoked its own shares: an AMI whose lifetime
 * the app owns goes away only when nobody else holds a launch permission (or, with forceUnshare,
 * after revoking them all); then, if asked, it is deregistered and its snapshots deleted.
 */
async function guardAndRetire(run: RunContext, spec: AmiShareSpec): Promise<void> {
  const { imageId, account } = run;
  const fail = (err: unknown): never => {
    throw new ShareError(explainFailure(err, imageId, undefined, account));
  };
  const image = await aws.describeImage(imageId).catch(fail);
  if (isGone(image)) return;
  const remaining = await aws.launchPermissions(imageId).catch(fail);
  const decision = decideGuard(`AMI ${imageId}`, remaining.map((p) => recipientName(launchPermissionKey(p) ?? '')), spec.forceUnshare);
  if (decision.action === 'block') throw new ShareError(decision.message);
  if (decision.action === 'force') {
    log({ forceUnshare: decision.revoke });
    await aws.modifyLaunchPermissions(imageId, [], remaining).catch(fail);
  }
  if (!spec.deleteImage) return;
  await aws.deregisterImage(imageId).catch(fail);
  log({ deregistered: imageId });
  if (!spec.deleteSnapshots) return;
  for (const snapshotId of snapshotIdsOf(image!)) {
    await aws.deleteSnapshot(snapshotId).catch((err: unknown) => {
      throw new ShareError(`AMI ${imageId} was deregistered, but deleting its snapshot ${snapshotId} failed (${errorDetail(err)}): delete it by hand (ec2 delete-snapshot).`);
    });
  }
}

/** Who is acting on which image: the stack's account and region, and this resource's grant name. */
interface RunContext extends StackContext {
  readonly imageId: string;
  readonly grantName: string;
}

function runContext(event: CloudFormationCustomResourceEvent, imageId: string): RunContext {
  return { ...stackContext(event), imageId, grantName: grantName(event.StackId, event.LogicalResourceId, imageId) };
}

/** The grants this resource holds once a change is applied. */
interface HeldGrants {
  readonly grantIds: string[];
}

/**
 * Reads the image, its permissions and its keys' grants, plans the delta from `before` to
 * `after`, and applies it. Every check and read happens before the first change.
 */
async function converge(run: RunContext, before: AmiShareSpec | undefined, after: AmiShareSpec | undefined): Promise<HeldGrants> {
  const { imageId, account } = run;
  const deleting = after === undefined;
  const fail = (err: unknown): never => {
    throw new ShareError(explainFailure(err, imageId, undefined, account));
  };
  const image = await aws.describeImage(imageId).catch(fail);
  if (deleting && isGone(image)) {
    log({ skip: `AMI ${imageId} no longer exists: its launch permissions went with it` });
    return { grantIds: [] };
  }
  if (!deleting) {
    const problem = imageProblem(imageId, image, account, run.region);
    if (problem) throw new ShareError(problem);
  }

  let current: CurrentState;
  let keys: KeyInfo[] = [];
  let ours: OwnGrant[] = [];
  try {
    const launch = (await aws.launchPermissions(imageId)).map(launchPermissionKey).filter((k): k is string => !!k);
    const snapshotPermissions: Record<string, string[]> = {};
    if (involvesSnapshots(before, after)) {
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
    if (deleting && ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'].includes(awsErrorCode(err) ?? '')) return { grantIds: [] };
    return fail(err);
  }
  if (after) {
    const problem = keyProblem(imageId, keys, after);
    if (problem) throw new ShareError(problem);
  }

  const customerKeys = keys.filter((k) => k.manager !== 'AWS').map((k) => k.arn);
  const grants = planGrants(customerKeys, granteesFor(after, run.partition), ours);
  const steps = planChanges(before, after, imageId, current, grants);
  log({ imageId, plan: steps.map((s) => s.description) });
  const created = await apply(run, steps, deleting, before === undefined, new Set(ours.map((g) => g.grantId)));
  const revoked = new Set(grants.revoke.map((g) => g.grantId));
  return { grantIds: [...ours.filter((g) => !revoked.has(g.grantId)).map((g) => g.grantId), ...created] };
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

/**
 * Applies the steps in order; returns the ids of the grants it created. A Create (nothing declared
 * before) that fails part-way undoes what it applied before throwing: CloudFormation sends no
 * Delete after a failed Create, so nothing else would. `ownBefore`: this resource's grants found
 * before the first step (never this Create's doing).
 */
async function apply(run: RunContext, steps: Step[], deleting: boolean, creating: boolean, ownBefore: ReadonlySet<string>): Promise<string[]> {
  const { imageId } = run;
  const created: string[] = [];
  const applied: Array<{ step: Step; grantId?: string }> = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    try {
      const grantId = await applyStep(run, step);
      if (grantId) created.push(grantId);
      applied.push({ step, grantId });
    } catch (err) {
      const code = awsErrorCode(err) ?? '';
      if (deleting && (code.startsWith('InvalidAMIID.') || code === 'InvalidSnapshot.NotFound')) {
        log({ skip: `${step.description}: ${code} during delete counts as already revoked` });
        continue;
      }
      const cause = explainFailure(err, imageId, step, run.account);
      if (!creating) throw new ShareError(explainPartialFailure(cause, steps.slice(0, i), steps.slice(i)));
      const stuck: string[] = [];
      const undone = applied.map((a) => a.step.description);
      // A call that failed on throttling, 5xx or a broken connection after its retries may have been
      // applied all the same (AWS applied an earlier attempt whose answer was lost): read whether it
      // was, and take it back too.
      if (isThrottling(code) || isTransient(err)) {
        await undoUnconfirmed(run, step, ownBefore).then((tookBack) => {
          if (tookBack) undone.push(step.description);
        }, (undoErr: unknown) => {
          log({ undoFailed: step.description, error: String(undoErr) });
          stuck.push(step.description);
        });
      }
      for (const done of applied.reverse()) {
        await applyStep(run, inverseOf(done.step, done.grantId)).catch((undoErr: unknown) => {
          log({ undoFailed: done.step.description, error: String(undoErr) });
          stuck.push(done.step.description);
        });
      }
      throw new ShareError(`${cause}${undoneSentence(undone, stuck)}`);
    }
  }
  return created;
}

/** The step that takes back what `step` did (`grantId`: the grant a 'grant' step created). */
function inverseOf(step: Step, grantId: string | undefined): Step {
  return step.kind === 'grant'
    ? { ...step, kind: 'revoke-grant', add: [], remove: step.add, grantId }
    : { ...step, add: step.remove, remove: step.add };
}

/**
 * Takes back what a step whose outcome is unknown did, after reading whether it did anything: the
 * recipients it added that are there now (this Create found them missing), or for a CreateGrant
 * whose id never came back, this resource's grants to that grantee that were not there before.
 * Returns whether there was anything to take back.
 */
async function undoUnconfirmed(run: RunContext, step: Step, ownBefore: ReadonlySet<string>): Promise<boolean> {
  switch (step.kind) {
    case 'launch': {
      const now = new Set((await aws.launchPermissions(run.imageId)).map(launchPermissionKey));
      const added = step.add.filter((k) => now.has(k));
      if (added.length > 0) await aws.modifyLaunchPermissions(run.imageId, [], added.map(launchPermissionFromKey));
      return added.length > 0;
    }
    case 'snapshot': {
      const now = new Set(await aws.createVolumePermissions(step.target));
      const added = step.add.filter((a) => now.has(a));
      if (added.length > 0) await aws.modifyCreateVolumePermissions(step.target, 'remove', added);
      return added.length > 0;
    }
    case 'grant': {
      const made = (await aws.listGrants(step.target))
        .filter((g) => g.Name === run.grantName && g.GranteePrincipal === step.add[0] && g.GrantId && !ownBefore.has(g.GrantId));
      for (const g of made) await aws.revokeGrant(step.target, g.GrantId!);
      return made.length > 0;
    }
    case 'revoke-grant':
      return false;
  }
}

/** One mutating call; a new grant's id for 'grant'. */
async function applyStep(run: RunContext, step: Step): Promise<string | undefined> {
  switch (step.kind) {
    case 'launch':
      await aws.modifyLaunchPermissions(run.imageId, step.add.map(launchPermissionFromKey), step.remove.map(launchPermissionFromKey));
      return undefined;
    case 'snapshot':
      await aws.modifyCreateVolumePermissions(step.target, step.add.length > 0 ? 'add' : 'remove', step.add.length > 0 ? step.add : step.remove);
      return undefined;
    case 'grant':
      return aws.createGrant(step.target, step.add[0], KMS_GRANT_OPERATIONS, run.grantName);
    case 'revoke-grant':
      await aws.revokeGrant(step.target, step.grantId!);
      return undefined;
  }
}

/** Grant ids travel back only while they fit well inside CloudFormation's 4 KB response. */
const MAX_GRANT_IDS_LENGTH = 2000;

function respond(run: RunContext, grants: HeldGrants): OnEventResponse {
  const ids = grants.grantIds.join(',');
  const data: SharedAmiResourceAttributes = {
    ImageId: run.imageId,
    GrantIds: ids.length <= MAX_GRANT_IDS_LENGTH ? ids : '',
    GrantCount: String(grants.grantIds.length),
    GrantName: run.grantName,
  };
  return { PhysicalResourceId: physicalIdFor(SHARED_AMI_PHYSICAL_ID_PREFIX, run.imageId), Data: { ...data } };
}

function log(entry: Record<string, unknown>): void {
  // One JSON line per decision: readable in CloudWatch, silent in tests unless asked for.
  if (process.env.SHARED_IMAGES_QUIET !== '1') console.log(JSON.stringify(entry));
}
