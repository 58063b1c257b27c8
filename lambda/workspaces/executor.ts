/**
 * The SharedWorkspaceImage executor: reads what WorkSpaces holds, asks the pure decisions
 * (./plan, ../common/ownership, ../common/guard) what to change, and applies it through the
 * adapter, one UpdateWorkspaceImagePermission per account, SHARE_CONCURRENCY at a time. Decides
 * nothing itself: each rule lives in one pure function named in DESIGN.md, "Lifecycle rules".
 */
import type { WorkspaceImage } from '@aws-sdk/client-workspaces';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import {
  assessImage, Completion, describeChanges, explainDeleteFailure, explainFailure, explainForceFailure, explainPartialFailure, FailedChange,
  nothingToRevoke, pendingTooLong, PENDING_WAIT_LIMIT_MINUTES, PermissionChange, planChanges, SHARE_CONCURRENCY, WorkspaceShareSpec,
} from './plan';
import * as workspaces from './workspaces-adapter';
import { awsErrorCode } from '../common/aws-errors-adapter';
import * as claims from '../common/claims-adapter';
import { Outcome, runBounded } from '../common/concurrency';
import { ShareError } from '../common/errors';
import { StackContext, stackContext } from '../common/event';
import { guardVerdict } from '../common/guard';
import { DeleteTarget } from '../common/lifecycle';
import { log } from '../common/log';
import { ClaimOwner, claimOwner, decideOwnership, Record_ } from '../common/ownership';
import { claimedByOthersMeanwhile, dropClaimOfFailedCreate, finishRecord, readRecord, writeClaimBeforeChanges } from '../common/record';
import { pollUntil } from '../common/retry';
import { mayHaveApplied, undoFailedCreate } from '../common/undo';

/** The stack's account and region, and whose claim this resource writes. */
export type Context = StackContext & { readonly claim: ClaimOwner };

export function contextOf(event: CloudFormationCustomResourceEvent): Context {
  return { ...stackContext(event), claim: claimOwner(event.StackId, event.LogicalResourceId) };
}

/** A read before any change; its failure is one sentence for the user. */
async function read<T>(ctx: StackContext, imageId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account));
  }
}

// ---------------------------------------------------------------------------------------------
// Create and Update: share now, or wait for a PENDING image
// ---------------------------------------------------------------------------------------------

/**
 * Checks the image before any change: shares now when it is AVAILABLE (`done`), hands over to
 * isComplete (changing nothing) while it is PENDING (`wait`), fails on anything else.
 */
export async function shareOrWait(
  ctx: Context, imageId: string, before: WorkspaceShareSpec | undefined, after: WorkspaceShareSpec,
): Promise<Completion> {
  const image = await read(ctx, imageId, () => workspaces.describeImage(imageId));
  const verdict = assessImage(imageId, image, ctx.account, ctx.region);
  if (verdict.kind === 'fail') throw new ShareError(verdict.message);
  if (verdict.kind === 'wait') {
    const deadline = Date.now() + PENDING_WAIT_LIMIT_MINUTES * 60_000;
    log({ wait: `WorkSpaces image ${imageId} is PENDING: sharing once it is AVAILABLE`, deadline: new Date(deadline).toISOString() });
    return { Step: 'wait', ImageId: imageId, Before: before ? 'old' : 'none', Deadline: deadline };
  }
  await converge(ctx, imageId, verdict.image, before, after);
  return { Step: 'done' };
}

/** isComplete's poll of a PENDING image: shares once it is AVAILABLE (true), waits (false), or fails past the deadline. */
export async function shareWhenAvailable(
  ctx: Context, deadline: number, before: WorkspaceShareSpec | undefined, after: WorkspaceShareSpec,
): Promise<boolean> {
  const image = await read(ctx, after.imageId, () => workspaces.describeImage(after.imageId));
  const verdict = assessImage(after.imageId, image, ctx.account, ctx.region);
  if (verdict.kind === 'fail') throw new ShareError(verdict.message);
  if (verdict.kind === 'wait') {
    if (Date.now() >= deadline) throw new ShareError(pendingTooLong(after.imageId));
    log({ wait: `WorkSpaces image ${after.imageId} is still PENDING` });
    return false;
  }
  await converge(ctx, after.imageId, verdict.image, before, after);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Delete: unshare, guard, delete the image (DESIGN.md, "Retiring an image")
// ---------------------------------------------------------------------------------------------

/** After converge: the image as read, its record as read, and what this event unshared. */
export interface Converged {
  readonly image: WorkspaceImage;
  readonly record: Record_;
  readonly released: string[];
}

/**
 * A Delete unshares what this resource declared; when the app owns the image's lifetime, the
 * deletion guard then refuses while any other account still holds a share (or, forced, unshares
 * them all), and only then is the image deleted.
 */
export async function removeShares(ctx: Context, target: DeleteTarget<WorkspaceShareSpec>): Promise<void> {
  const { imageId, spec, plan } = target;
  const image = await read(ctx, imageId, () => workspaces.describeImage(imageId));
  const skip = nothingToRevoke(imageId, image, ctx.account);
  if (skip || !image) {
    log({ skip });
    await read(ctx, imageId, () => claims.deleteClaim(imageId, ctx.claim.claimId));
    return;
  }
  const converged = await converge(ctx, imageId, image, { ...spec, imageId }, undefined);
  if (!converged || plan === 'revoke') return;
  if (!await guard(ctx, imageId, spec, converged)) return;
  if (plan === 'delete-image') await deleteImage(ctx, imageId);
}

/**
 * The deletion guard, after this resource revoked its own shares: reads who else still holds a
 * share, and refuses (ShareError) or, when forced, unshares them all. Returns false when the image
 * turned out to be gone already.
 */
async function guard(ctx: Context, imageId: string, spec: WorkspaceShareSpec, converged: Converged): Promise<boolean> {
  let shared: string[];
  try {
    shared = await workspaces.sharedAccounts(imageId);
  } catch (err) {
    if (workspaces.isImageGone(err)) {
      log({ skip: `WorkSpaces image ${imageId} no longer exists: nothing left to guard or delete` });
      return false;
    }
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account, converged.image));
  }
  // The read lags writes: it may still show the accounts this resource unshared a moment ago.
  const { decision, remaining } = guardVerdict(`WorkSpaces image ${imageId}`, shared, converged.released, converged.record.others, spec.forceUnshare);
  log({ imageId, guard: decision.action, stillSharedWith: remaining });
  if (decision.action === 'block') throw new ShareError(decision.message);
  if (decision.action === 'force') {
    const changes: PermissionChange[] = remaining.map((account) => ({ account, allow: false }));
    const result = await applyBounded(ctx, imageId, converged.image, changes);
    if (result.failed.length > 0) throw new ShareError(explainForceFailure(imageId, result.applied, result.failed, result.notApplied));
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

// ---------------------------------------------------------------------------------------------
// Reading and changing the permissions
// ---------------------------------------------------------------------------------------------

/**
 * Reads every account the image is shared with, plans the delta from `before` to `after`
 * (undefined: a Delete), and applies it. Every check and read happens before the first change;
 * after a failure no new call starts. Returns undefined when, on a Delete, the image turned out
 * to be gone (its shares went with it).
 */
async function converge(
  ctx: Context, imageId: string, image: WorkspaceImage, before: WorkspaceShareSpec | undefined, after: WorkspaceShareSpec | undefined,
): Promise<Converged | undefined> {
  const deleting = after === undefined;
  let current: string[];
  let record: Record_;
  try {
    record = await readRecord(imageId, ctx.claim.claimId);
    current = await workspaces.sharedAccounts(imageId);
  } catch (err) {
    if (deleting && workspaces.isImageGone(err)) {
      log({ skip: `WorkSpaces image ${imageId} no longer exists: its shares went with it` });
      await read(ctx, imageId, () => claims.deleteClaim(imageId, ctx.claim.claimId));
      return undefined;
    }
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account, image));
  }
  const none: string[] = [];
  const ownership = decideOwnership(ctx.claim, record, { shares: after?.accounts ?? [], snapshots: none },
    { shares: before?.accounts ?? [], snapshots: none }, { shares: new Set(current), snapshots: new Set() }, (after ?? before)?.takeOver ?? false);
  const released = ownership.release.shares;
  const changes = planChanges(before, after, current, released);
  log({ imageId, sharedWith: current.length, plan: describeChanges(changes), keep: ownership.kept });
  await read(ctx, imageId, () => writeClaimBeforeChanges(imageId, record, ownership.claim, deleting));
  try {
    await applyChanges(ctx, imageId, image, before === undefined && !deleting, changes);
  } catch (err) {
    if (before === undefined && !deleting) await dropClaimOfFailedCreate(imageId, record, ctx.claim.claimId);
    throw err;
  }
  // Put back what another resource claimed while this one unshared it (DESIGN.md, "Ownership").
  const restore = await read(ctx, imageId, () => claimedByOthersMeanwhile(imageId, ctx.claim.claimId, released));
  for (const account of restore) {
    const change = { account, allow: true };
    await applyChange(imageId, change).catch((err: unknown) => {
      throw new ShareError(explainFailure(err, imageId, change, ctx.account, image));
    });
  }
  await read(ctx, imageId, () => finishRecord(imageId, record, ownership, ownership.claim, deleting));
  return { image, record, released };
}

/** What became of a batch of changes. */
interface BoundedResult {
  readonly outcomes: Array<Outcome<PermissionChange, void>>;
  readonly applied: PermissionChange[];
  readonly failed: FailedChange[];
  readonly notApplied: PermissionChange[];
}

/** Applies the changes, SHARE_CONCURRENCY at a time; after a failure no new call starts. */
async function applyBounded(ctx: StackContext, imageId: string, image: WorkspaceImage, changes: PermissionChange[]): Promise<BoundedResult> {
  const outcomes = await runBounded(changes, SHARE_CONCURRENCY, (change) => applyChange(imageId, change), { stopOnFailure: true });
  return {
    outcomes,
    applied: outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.item] : [])),
    failed: outcomes.flatMap((o) => (o.status === 'rejected' ? [{ change: o.item, message: explainFailure(o.error, imageId, o.item, ctx.account, image) }] : [])),
    notApplied: outcomes.flatMap((o) => (o.status === 'skipped' ? [o.item] : [])),
  };
}

/**
 * Applies the changes; a failed Create (`creating`) undoes what it applied (CloudFormation sends
 * no Delete after a failed Create), re-reading the shares whose calls may have gone through.
 */
async function applyChanges(
  ctx: StackContext, imageId: string, image: WorkspaceImage, creating: boolean, changes: PermissionChange[],
): Promise<void> {
  if (changes.length === 0) return;
  const { outcomes, applied, failed, notApplied } = await applyBounded(ctx, imageId, image, changes);
  if (failed.length === 0) return;
  if (!creating) throw new ShareError(explainPartialFailure(applied, failed, notApplied));
  const undone = await undoFailedCreate<PermissionChange>({
    applied,
    unconfirmed: outcomes.flatMap((o) => (o.status === 'rejected' && mayHaveApplied(o.error) ? [o.item] : [])),
    confirm: async (unconfirmed) => {
      const now = new Set(await workspaces.sharedAccounts(imageId));
      return unconfirmed.filter((change) => change.allow === now.has(change.account));
    },
    takeBack: (change) => applyChange(imageId, { ...change, allow: !change.allow }),
    name: (change) => change.account,
    nameUnconfirmed: (change) => change.account,
    concurrency: SHARE_CONCURRENCY,
  });
  const [first, ...others] = failed;
  const more = others.length > 0 ? ` ${others.length} more call${others.length === 1 ? '' : 's'} failed too.` : '';
  throw new ShareError(`${first.message}${more}${undone}`);
}

/** Reads of the permissions while an unshare's refusal may mean "not shared" (a few seconds in all). */
const UNSHARE_CHECK_TRIES = 6;

/** One share or unshare. An unshare of an account that no longer holds the share counts as done. */
async function applyChange(imageId: string, change: PermissionChange): Promise<void> {
  try {
    await workspaces.updateImagePermission(imageId, change.account, change.allow);
  } catch (err) {
    if (change.allow) throw err;
    if (workspaces.isImageGone(err)) {
      log({ skip: `unshare ${change.account}: the image no longer exists, so it is not shared` });
      return;
    }
    if (workspaces.unshareMayBeNoop(err)) {
      // WorkSpaces refuses to unshare an account that does not hold the share. Whether that is why
      // is read back, and the read lags writes: a share revoked a moment ago (a repeated event) may
      // still be listed, so the read is repeated a few times before the refusal stands.
      const { ok: notShared } = await pollUntil(UNSHARE_CHECK_TRIES,
        () => workspaces.sharedAccounts(imageId).catch(() => undefined),
        (shared) => shared !== undefined && !shared.includes(change.account));
      if (notShared) {
        log({ skip: `unshare ${change.account}: ${awsErrorCode(err)}, and the account no longer holds the share` });
        return;
      }
    }
    throw err;
  }
}
