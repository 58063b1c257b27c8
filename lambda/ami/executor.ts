/**
 * Applies a SharedAmi change plan (./plan) step by step through the adapter, and undoes a failed
 * Create. Decides nothing about what to change: that is the plan's job.
 */
import * as aws from './adapter';
import { explainFailure, explainPartialFailure, launchPermissionFromKey, launchPermissionKey, Step } from './plan';
import { KMS_GRANT_OPERATIONS } from '../../src/private/contract';
import { awsErrorCode, isThrottling, isTransient, ShareError, undoneSentence } from '../common/errors';
import { log } from '../common/log';
import { summarize } from '../common/sets';

/** Who acts on which image: the stack's account, the image, and this resource's grant name. */
export interface ExecutionContext {
  readonly account: string;
  readonly imageId: string;
  readonly grantName: string;
}

/** What applying a plan changed about this resource's KMS grants. */
export interface AppliedGrants {
  /** Grants this resource holds after a grant step (made now, or found by CreateGrant's name). */
  readonly ensured: string[];
  /** Grants revoked (planned revocations, and stale or duplicate listings of an ensured grant). */
  readonly revoked: string[];
}

/**
 * Applies the steps in order. A Create (`creating`) that fails part-way undoes what it applied
 * before throwing: CloudFormation sends no Delete after a failed Create, so nothing else would.
 * On Delete (`deleting`), an image or snapshot that vanished counts as already revoked.
 */
export async function applyPlan(run: ExecutionContext, steps: Step[], deleting: boolean, creating: boolean): Promise<AppliedGrants> {
  const result = { ensured: [] as string[], revoked: [] as string[] };
  /** grant ids made on each key in this run, awaited by the key's await-grants step */
  const madeOnKey = new Map<string, string[]>();
  const applied: Array<{ step: Step; grantId?: string }> = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    try {
      const grantId = await applyStep(run, step, madeOnKey.get(step.target) ?? [], result);
      if (grantId) {
        result.ensured.push(grantId);
        madeOnKey.set(step.target, [...madeOnKey.get(step.target) ?? [], grantId]);
      }
      applied.push({ step, grantId });
    } catch (err) {
      const code = awsErrorCode(err) ?? '';
      if (deleting && (code.startsWith('InvalidAMIID.') || code === 'InvalidSnapshot.NotFound')) {
        log({ skip: `${step.description}: ${code} during delete counts as already revoked` });
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
 * Takes back what a failed Create applied, newest first, and says what happened. A call that failed
 * on throttling, 5xx or a broken connection after its retries may have been applied all the same
 * (AWS applied an earlier attempt whose answer was lost): it is read back and taken back too.
 */
async function undo(run: ExecutionContext, failed: Step, err: unknown, applied: Array<{ step: Step; grantId?: string }>): Promise<string> {
  const stuck: string[] = [];
  const undone = applied.map((a) => a.step.description);
  if (isThrottling(awsErrorCode(err)) || isTransient(err)) {
    await undoUnconfirmed(run, failed).then((tookBack) => {
      if (tookBack) undone.push(failed.description);
    }, (undoErr: unknown) => {
      log({ undoFailed: failed.description, error: String(undoErr) });
      stuck.push(failed.description);
    });
  }
  for (const done of [...applied].reverse()) {
    const inverse = inverseOf(done.step, done.grantId);
    if (!inverse) continue;
    await applyStep(run, inverse, [], { ensured: [], revoked: [] }).catch((undoErr: unknown) => {
      log({ undoFailed: done.step.description, error: String(undoErr) });
      stuck.push(done.step.description);
    });
  }
  return undoneSentence(undone, stuck);
}

/** The step that takes back what `step` did (`grantId`: the grant a 'grant' step holds), if any. */
function inverseOf(step: Step, grantId: string | undefined): Step | undefined {
  switch (step.kind) {
    case 'grant': return { ...step, kind: 'revoke-grant', add: [], remove: step.add, grantId, listed: undefined };
    case 'await-grants': return undefined;
    default: return { ...step, add: step.remove, remove: step.add };
  }
}

/**
 * Takes back what a step whose outcome is unknown did, after reading whether it did anything: the
 * recipients it added that are there now (this Create found them missing), or for a CreateGrant whose
 * answer never came back, the grant itself: CreateGrant by name answers the grant it made. Returns
 * whether there was anything to take back.
 */
async function undoUnconfirmed(run: ExecutionContext, step: Step): Promise<boolean> {
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
      const grantId = await aws.createGrant(step.target, step.add[0], KMS_GRANT_OPERATIONS, run.grantName);
      await aws.revokeGrant(step.target, grantId);
      return true;
    }
    default:
      return false;
  }
}

/**
 * One step's calls; returns the grant a 'grant' step holds. `made`: the grants made on the step's
 * key so far in this run (what an 'await-grants' step waits for).
 */
async function applyStep(run: ExecutionContext, step: Step, made: readonly string[], result: AppliedGrants): Promise<string | undefined> {
  switch (step.kind) {
    case 'launch':
      await aws.modifyLaunchPermissions(run.imageId, step.add.map(launchPermissionFromKey), step.remove.map(launchPermissionFromKey));
      return undefined;
    case 'snapshot':
      await aws.modifyCreateVolumePermissions(step.target, step.add.length > 0 ? 'add' : 'remove', step.add.length > 0 ? step.add : step.remove);
      return undefined;
    case 'grant': {
      const grantId = await aws.createGrant(step.target, step.add[0], KMS_GRANT_OPERATIONS, run.grantName);
      // Listed grants other than the one KMS answers are revoked ones still listed, or duplicates.
      for (const other of (step.listed ?? []).filter((id) => id !== grantId)) {
        await aws.revokeGrant(step.target, other);
        result.revoked.push(other);
      }
      return grantId;
    }
    case 'await-grants': {
      const missing = await aws.awaitGrantsListed(step.target, made);
      if (missing.length > 0) {
        throw new ShareError(`KMS made grant ${summarize(missing, 2)} on key ${step.target} of AMI ${run.imageId} but still does not list it after about ${Math.round(aws.grantListingPatienceMs() / 1000)} s (KMS is eventually consistent): deploy again; the grant is found by its name and not duplicated.`);
      }
      return undefined;
    }
    case 'revoke-grant':
      await aws.revokeGrant(step.target, step.grantId!);
      result.revoked.push(step.grantId!);
      return undefined;
  }
}
