/**
 * SharedWorkspaceImage custom-resource handler: a thin router over the pure decisions in
 * ./workspaces/plan and the WorkSpaces calls in ./workspaces/workspaces-adapter.
 *
 * One function serves both of the Provider framework's calls. onEvent (a CloudFormation event)
 * checks everything and, when the image is AVAILABLE, shares at once; when it is PENDING it changes
 * nothing and hands over to isComplete, which the framework then calls every query interval until
 * the image is AVAILABLE (share, complete), in ERROR (fail) or waited on too long (fail). The
 * onEvent answer carries a completion marker that the framework passes on to isComplete and that
 * CloudFormation never sends: that marker is how the two calls are told apart.
 *
 * A Delete unshares what this resource declared; when the app owns the image's lifetime
 * (GuardImage / DeleteImage) it then runs the deletion guard (DESIGN.md, "Retiring an image"): it
 * refuses while any other account still holds a share (or, forced, unshares them all), and only
 * then deletes the image.
 */
import type { WorkspaceImage } from '@aws-sdk/client-workspaces';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { shareCredentials } from './common/assume-role';
import * as claims from './common/claims-adapter';
import { Outcome, runBounded } from './common/concurrency';
import { awsErrorCode, isThrottling, isTransient, ShareError, undoneSentence } from './common/errors';
import {
  imageIdFromPhysicalId, OnEventResponse, ownProperties, physicalIdFor, StackContext, stackContext,
} from './common/event';
import { decideGuard, remainingAfterOwnRevoke, withHolders } from './common/guard';
import { log } from './common/log';
import { claimedMeanwhile, ClaimOwner, claimOwner, decideOwnership, holdersOf, Record_, sameClaim, splitClaims } from './common/ownership';
import { finishRecord } from './common/record';
import { pollUntil } from './common/retry';
import {
  assessImage, Completion, COMPLETION_KEY, completionOf, describeChanges, explainDeleteFailure, explainFailure, explainForceFailure,
  explainPartialFailure, FailedChange, nothingToRevoke, parseWorkspaceImageProperties, pendingTooLong, PENDING_WAIT_LIMIT_MINUTES,
  PermissionChange, planChanges, removalPlan, SHARE_CONCURRENCY, unshareMayBeNoop, WORKSPACE_IMAGE_ID, WorkspaceShareSpec,
} from './workspaces/plan';
import * as workspaces from './workspaces/workspaces-adapter';
import { SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, SharedWorkspaceImageResourceAttributes } from '../src/private/contract';

/** What the Provider framework passes to isComplete: the CloudFormation event merged with the onEvent answer. */
export type IsCompleteEvent = CloudFormationCustomResourceEvent & OnEventResponse & { readonly [COMPLETION_KEY]: Completion };

/** What isComplete answers (no `Data` while not complete: the framework rejects it). */
export interface IsCompleteResponse {
  readonly IsComplete: boolean;
}

/** An onEvent answer: the framework's fields plus the completion marker for isComplete. */
export type WorkspaceImageOnEventResponse = OnEventResponse & { readonly [COMPLETION_KEY]: Completion };

export async function handler(
  event: CloudFormationCustomResourceEvent | IsCompleteEvent,
): Promise<WorkspaceImageOnEventResponse | IsCompleteResponse> {
  const physicalId = (event as { PhysicalResourceId?: string }).PhysicalResourceId;
  const completion = completionOf(event);
  log({ call: completion ? 'isComplete' : 'onEvent', requestType: event.RequestType, physicalId, completion, properties: ownProperties(event.ResourceProperties) });
  workspaces.startInvocation(shareCredentials(event, 'WorkSpaces image'));
  claims.startInvocation();
  if (completion) return isComplete(event as IsCompleteEvent, completion);
  switch (event.RequestType) {
    case 'Create': return onCreate(event);
    case 'Update': return onUpdate(event);
    case 'Delete': return onDelete(event);
    default: throw new ShareError(`Unknown request type ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}.`);
  }
}

// ---------------------------------------------------------------------------------------------
// onEvent
// ---------------------------------------------------------------------------------------------

async function onCreate(
  event: CloudFormationCustomResourceCreateEvent | CloudFormationCustomResourceUpdateEvent,
): Promise<WorkspaceImageOnEventResponse> {
  const ctx = contextOf(event);
  const spec = parseWorkspaceImageProperties(ownProperties(event.ResourceProperties), 'strict');
  return shareOrWait(ctx, spec.imageId, undefined, spec);
}

async function onUpdate(event: CloudFormationCustomResourceUpdateEvent): Promise<WorkspaceImageOnEventResponse> {
  const ctx = contextOf(event);
  const after = parseWorkspaceImageProperties(ownProperties(event.ResourceProperties), 'strict');
  const before = parseWorkspaceImageProperties(ownProperties(event.OldResourceProperties), 'lenient');
  const inEffect = imageIdFromPhysicalId(SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, WORKSPACE_IMAGE_ID, event.PhysicalResourceId) ?? before.imageId;
  if (inEffect !== after.imageId) {
    // A new image is a new share: share there, return its physical id, and CloudFormation's later
    // Delete of the old physical id unshares the old image (on rollback, the reverse).
    return onCreate(event);
  }
  // `before` declares what is on the image in effect only when it names that image: after a
  // failed replacement the framework keeps the old physical id, and the rollback's old properties
  // are the new image's. Then nothing is known to be ours to unshare: add what is missing only.
  return shareOrWait(ctx, after.imageId, before.imageId === inEffect ? before : undefined, after);
}

async function onDelete(event: CloudFormationCustomResourceDeleteEvent): Promise<WorkspaceImageOnEventResponse> {
  const done = { PhysicalResourceId: event.PhysicalResourceId, [COMPLETION_KEY]: { Step: 'done' } } as const;
  const imageId = imageIdFromPhysicalId(SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, WORKSPACE_IMAGE_ID, event.PhysicalResourceId);
  if (!imageId) {
    log({ skip: 'physical id was not issued by this handler (e.g. after a failed create): nothing to unshare' });
    return done;
  }
  const spec = parseWorkspaceImageProperties(ownProperties(event.ResourceProperties), 'lenient');
  const plan = removalPlan(spec);
  if (plan === 'retain') {
    log({ skip: `RemovalPolicy retain: the shares of ${imageId} stay${spec.deleteImage ? ', so the image is not deleted either' : ''}` });
    return done;
  }
  const ctx = contextOf(event);
  const image = await read(ctx, imageId, () => workspaces.describeImage(imageId));
  const skip = nothingToRevoke(imageId, image, ctx.account);
  if (skip) {
    log({ skip });
    await read(ctx, imageId, () => claims.deleteClaim(imageId, ctx.claim.claimId));
    return done;
  }
  const { exists, record, released } = await converge(ctx, imageId, image!, { ...spec, imageId }, undefined);
  if (!exists || plan === 'revoke') return done;
  // The app owns the image's lifetime. Our own shares are gone; anyone else's block the deletion
  // (or are revoked, when forced), and nothing is deleted while one remains.
  if (!await guard(ctx, imageId, image!, spec, record, released)) return done;
  if (plan === 'delete-image') await deleteImage(ctx, imageId);
  return done;
}

/**
 * The deletion guard, after this resource revoked its own shares: reads who else still holds a
 * share, and refuses (ShareError) or, when forced, unshares them all. Returns false when the image
 * turned out to be gone already.
 */
async function guard(
  ctx: Context, imageId: string, image: WorkspaceImage, spec: WorkspaceShareSpec, record: Record_, released: readonly string[],
): Promise<boolean> {
  let remaining: string[];
  try {
    // The read lags writes: it may still show the accounts this resource unshared a moment ago.
    remaining = remainingAfterOwnRevoke(await workspaces.sharedAccounts(imageId), released);
  } catch (err) {
    if (awsErrorCode(err) === 'ResourceNotFoundException') {
      log({ skip: `WorkSpaces image ${imageId} no longer exists: nothing left to guard or delete` });
      return false;
    }
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account, image));
  }
  const decision = decideGuard(`WorkSpaces image ${imageId}`, remaining.map((a) => withHolders(a, holdersOf(a, record.others))), spec.forceUnshare);
  log({ imageId, guard: decision.action, stillSharedWith: remaining });
  if (decision.action === 'block') throw new ShareError(decision.message);
  if (decision.action === 'force') {
    const changes: PermissionChange[] = remaining.map((account) => ({ account, allow: false }));
    const outcomes = await runBounded(changes, SHARE_CONCURRENCY, (change) => applyChange(imageId, change), { stopOnFailure: true });
    const failed: FailedChange[] = outcomes.flatMap((o) => (o.status === 'rejected'
      ? [{ change: o.item, message: explainFailure(o.error, imageId, o.item, ctx.account, image) }]
      : []));
    if (failed.length > 0) {
      const applied = outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.item);
      const notApplied = outcomes.filter((o) => o.status === 'skipped').map((o) => o.item);
      throw new ShareError(explainForceFailure(imageId, applied, failed, notApplied));
    }
  }
  return true;
}

/** DeleteWorkspaceImage, once the guard let it through; an image already gone counts as deleted. */
async function deleteImage(ctx: StackContext, imageId: string): Promise<void> {
  let deleted: boolean;
  try {
    deleted = await workspaces.deleteImage(imageId);
  } catch (err) {
    throw new ShareError(explainDeleteFailure(err, imageId, ctx.account));
  }
  log(deleted ? { deleted: `WorkSpaces image ${imageId}` } : { skip: `WorkSpaces image ${imageId} was already deleted` });
}

/**
 * Checks the image before any change: shares now when it is AVAILABLE, hands over to isComplete
 * (changing nothing) while it is PENDING, fails on anything else.
 */
async function shareOrWait(
  ctx: Context, imageId: string, before: WorkspaceShareSpec | undefined, after: WorkspaceShareSpec,
): Promise<WorkspaceImageOnEventResponse> {
  const image = await read(ctx, imageId, () => workspaces.describeImage(imageId));
  const verdict = assessImage(imageId, image, ctx.account, ctx.region);
  if (verdict.kind === 'fail') throw new ShareError(verdict.message);
  if (verdict.kind === 'wait') {
    const deadline = Date.now() + PENDING_WAIT_LIMIT_MINUTES * 60_000;
    log({ wait: `WorkSpaces image ${imageId} is PENDING: sharing once it is AVAILABLE`, deadline: new Date(deadline).toISOString() });
    return respond(imageId, { Step: 'wait', ImageId: imageId, Before: before ? 'old' : 'none', Deadline: deadline });
  }
  await converge(ctx, imageId, image!, before, after);
  return respond(imageId, { Step: 'done' });
}

// ---------------------------------------------------------------------------------------------
// isComplete
// ---------------------------------------------------------------------------------------------

async function isComplete(event: IsCompleteEvent, completion: Completion): Promise<IsCompleteResponse> {
  if (completion.Step === 'done') return { IsComplete: true };
  const ctx = contextOf(event);
  const after = parseWorkspaceImageProperties(ownProperties(event.ResourceProperties), 'strict');
  if (after.imageId !== completion.ImageId) {
    throw new ShareError(`The isComplete call waits for WorkSpaces image ${completion.ImageId} but the resource declares ${after.imageId}: deploy again.`);
  }
  const before = completion.Before === 'old' && event.RequestType === 'Update'
    ? parseWorkspaceImageProperties(ownProperties(event.OldResourceProperties), 'lenient')
    : undefined;
  const image = await read(ctx, after.imageId, () => workspaces.describeImage(after.imageId));
  const verdict = assessImage(after.imageId, image, ctx.account, ctx.region);
  if (verdict.kind === 'fail') throw new ShareError(verdict.message);
  if (verdict.kind === 'wait') {
    if (Date.now() >= completion.Deadline) throw new ShareError(pendingTooLong(after.imageId));
    log({ wait: `WorkSpaces image ${after.imageId} is still PENDING` });
    return { IsComplete: false };
  }
  await converge(ctx, after.imageId, image!, before, after);
  return { IsComplete: true };
}

// ---------------------------------------------------------------------------------------------
// Reading and changing the permissions
// ---------------------------------------------------------------------------------------------

/**
 * Reads every account the image is shared with, plans the delta from `before` to `after`, and
 * applies it: one UpdateWorkspaceImagePermission per account, SHARE_CONCURRENCY at a time. Every
 * check and read happens before the first change; after a failure no new call starts. Returns
 * false when, on a Delete, the image turned out to be gone (its shares went with it).
 */
async function converge(
  ctx: Context, imageId: string, image: WorkspaceImage, before: WorkspaceShareSpec | undefined, after: WorkspaceShareSpec | undefined,
): Promise<Converged> {
  const deleting = after === undefined;
  let current: string[];
  let record: Record_;
  try {
    record = splitClaims(await claims.readClaims(imageId), ctx.claim.claimId);
    current = await workspaces.sharedAccounts(imageId);
  } catch (err) {
    if (deleting && awsErrorCode(err) === 'ResourceNotFoundException') {
      log({ skip: `WorkSpaces image ${imageId} no longer exists: its shares went with it` });
      await read(ctx, imageId, () => claims.deleteClaim(imageId, ctx.claim.claimId));
      return { exists: false, record: { others: [] }, released: [] };
    }
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account, image));
  }

  const none: string[] = [];
  const ownership = decideOwnership(ctx.claim, record, { shares: after?.accounts ?? [], snapshots: none },
    { shares: before?.accounts ?? [], snapshots: none }, { shares: new Set(current), snapshots: new Set() }, (after ?? before)?.takeOver ?? false);
  const released = ownership.release.shares;
  const changes = planChanges(before, after, current, released);
  log({ imageId, sharedWith: current.length, plan: describeChanges(changes), keep: ownership.kept });
  // The claim is written before the first share and removed after the last unshare (DESIGN.md, "Ownership").
  if (!sameClaim(record.own, ownership.claim) && (!deleting || record.own)) {
    await read(ctx, imageId, () => claims.writeClaim(imageId, ownership.claim));
  }
  try {
    await applyChanges(ctx, imageId, image, before, deleting, changes);
  } catch (err) {
    // A failed Create undid its shares: its claim goes too, unless an earlier delivery made it.
    if (before === undefined && !deleting && !record.own) await claims.deleteClaim(imageId, ctx.claim.claimId).catch(() => undefined);
    throw err;
  }
  if (released.length > 0) {
    // Put back what another resource claimed while this one unshared it (DESIGN.md, "Ownership").
    const others = splitClaims(await read(ctx, imageId, () => claims.readClaims(imageId)), ctx.claim.claimId).others;
    for (const account of claimedMeanwhile(released, others)) await applyChange(imageId, { account, allow: true });
  }
  await read(ctx, imageId, () => finishRecord(imageId, record, ownership, ownership.claim, deleting));
  return { exists: true, record, released };
}

/**
 * Applies the changes, SHARE_CONCURRENCY at a time; after a failure no new call starts. A failed
 * Create undoes what it applied (CloudFormation sends no Delete after a failed Create).
 */
async function applyChanges(
  ctx: Context, imageId: string, image: WorkspaceImage, before: WorkspaceShareSpec | undefined, deleting: boolean, changes: PermissionChange[],
): Promise<void> {
  if (changes.length === 0) return;

  const outcomes = await runBounded(changes, SHARE_CONCURRENCY, (change) => applyChange(imageId, change), { stopOnFailure: true });
  const failed: FailedChange[] = outcomes.flatMap((o) => (o.status === 'rejected'
    ? [{ change: o.item, message: explainFailure(o.error, imageId, o.item, ctx.account, image) }]
    : []));
  if (failed.length > 0) {
    const applied = outcomes.filter((o): o is Extract<Outcome<PermissionChange, void>, { status: 'fulfilled' }> => o.status === 'fulfilled').map((o) => o.item);
    const notApplied = outcomes.filter((o) => o.status === 'skipped').map((o) => o.item);
    if (before !== undefined || deleting) throw new ShareError(explainPartialFailure(applied, failed, notApplied));
    // A failed Create gets no Delete from CloudFormation: undo the shares it made, then fail.
    const stuck: string[] = [];
    const undo = [...applied];
    // A call that failed on throttling, 5xx or a broken connection after its retries may have been
    // applied all the same (AWS applied an earlier attempt whose answer was lost): read whether it
    // was, and take it back too.
    const unconfirmed = outcomes.flatMap((o) => (o.status === 'rejected' && (isThrottling(awsErrorCode(o.error)) || isTransient(o.error)) ? [o.item] : []));
    if (unconfirmed.length > 0) {
      try {
        const now = new Set(await workspaces.sharedAccounts(imageId));
        undo.push(...unconfirmed.filter((change) => change.allow === now.has(change.account)));
      } catch (err: unknown) {
        log({ undoFailed: describeChanges(unconfirmed), error: String(err) });
        stuck.push(...unconfirmed.map((change) => change.account));
      }
    }
    await runBounded(undo, SHARE_CONCURRENCY, async (change) => {
      await applyChange(imageId, { ...change, allow: !change.allow }).catch(() => stuck.push(change.account));
    });
    const [first, ...others] = failed;
    const more = others.length > 0 ? ` ${others.length} more call${others.length === 1 ? '' : 's'} failed too.` : '';
    throw new ShareError(`${first.message}${more}${undoneSentence(undo.map((c) => c.account), stuck)}`);
  }
}

/** The stack's account and region, and whose claim this resource writes. */
type Context = StackContext & { readonly claim: ClaimOwner };

function contextOf(event: CloudFormationCustomResourceEvent): Context {
  return { ...stackContext(event), claim: claimOwner(event.StackId, event.LogicalResourceId) };
}

/** After converge: whether the image still exists, its record as read, and what this event unshared. */
interface Converged {
  readonly exists: boolean;
  readonly record: Record_;
  readonly released: string[];
}

/** Reads of the permissions while an unshare's refusal may mean "not shared" (a few seconds in all). */
const UNSHARE_CHECK_TRIES = 6;

/** One share or unshare. An unshare of an account that no longer holds the share counts as done. */
async function applyChange(imageId: string, change: PermissionChange): Promise<void> {
  try {
    await workspaces.updateImagePermission(imageId, change.account, change.allow);
  } catch (err) {
    if (change.allow) throw err;
    const code = awsErrorCode(err);
    if (code === 'ResourceNotFoundException') {
      log({ skip: `unshare ${change.account}: the image no longer exists, so it is not shared` });
      return;
    }
    if (unshareMayBeNoop(code)) {
      // WorkSpaces refuses to unshare an account that does not hold the share. Whether that is why
      // is read back, and the read lags writes: a share revoked a moment ago (a repeated event) may
      // still be listed, so the read is repeated a few times before the refusal stands.
      const { ok: notShared } = await pollUntil(UNSHARE_CHECK_TRIES,
        () => workspaces.sharedAccounts(imageId).catch(() => undefined),
        (shared) => shared !== undefined && !shared.includes(change.account));
      if (notShared) {
        log({ skip: `unshare ${change.account}: ${code}, and the account no longer holds the share` });
        return;
      }
    }
    throw err;
  }
}

/** A read before any change; its failure is one sentence for the user. */
async function read<T>(ctx: StackContext, imageId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account));
  }
}

function respond(imageId: string, completion: Completion): WorkspaceImageOnEventResponse {
  const data: SharedWorkspaceImageResourceAttributes = { ImageId: imageId };
  return { PhysicalResourceId: physicalIdFor(SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, imageId), Data: { ...data }, [COMPLETION_KEY]: completion };
}

