/**
 * Pure decisions of the SharedWorkspaceImage handler: what the properties mean, whether the image
 * can be shared now (or must be waited for), which accounts to share and unshare, how the Provider
 * framework's isComplete call is told apart from a CloudFormation event, and what to tell the user
 * when AWS says no. No AWS calls in here.
 */
import type { WorkspaceImage } from '@aws-sdk/client-workspaces';
import { workspacesRefusal } from './workspaces-adapter';
import { SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS, SharedWorkspaceImageResourceProperties } from '../../src/private/contract';
import { ACCOUNT, checkWorkspaceImageId, show, WORKSPACE_IMAGE_ID } from '../../src/private/validation';
import { awsErrorCode, isAccessDenied, isThrottling, isTransient } from '../common/aws-errors-adapter';
import { errorDetail, ShareError } from '../common/errors';
import { PropertyReader, ReadMode } from '../common/properties';
import { reconcileLagging, summarize } from '../common/sets';

export { WORKSPACE_IMAGE_ID };

/** What one SharedWorkspaceImage resource declares, parsed and checked. */
export interface WorkspaceShareSpec {
  readonly imageId: string;
  readonly accounts: string[];
  /** The app owns the image's lifetime: a Delete refuses while other accounts hold a share. */
  readonly guardImage: boolean;
  /** A Delete deletes the image (DeleteWorkspaceImage) once the guard let it through. */
  readonly deleteImage: boolean;
  /** The guard unshares every remaining account instead of refusing. */
  readonly forceUnshare: boolean;
  /** Shares made by hand before the declaration become this resource's (see DESIGN.md, "Ownership"). */
  readonly takeOver: boolean;
}

/** UpdateWorkspaceImagePermission calls in flight at once (one call per account). */
export const SHARE_CONCURRENCY = 5;

/**
 * How long the handler waits for a PENDING image before it gives up with its own message. The
 * construct's waiter (Provider framework `totalTimeout`) must be longer by at least one query
 * interval, so that this clear sentence, not the framework's "Operation timed out", reaches
 * CloudFormation.
 */
export const PENDING_WAIT_LIMIT_MINUTES = 40;

/**
 * Reads the properties CloudFormation delivered. Strict (Create, Update) rejects anything off, so
 * bad input fails before any mutation. Lenient (Delete, and the "before" side of an Update) keeps
 * only well-formed accounts: anything malformed can never have been shared, and a Delete must not
 * get stuck on it.
 */
export function parseWorkspaceImageProperties(raw: Record<string, unknown>, mode: ReadMode): WorkspaceShareSpec {
  const read = new PropertyReader<SharedWorkspaceImageResourceProperties>(raw, SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS);
  read.checkImageAndRole(checkWorkspaceImageId);
  const accounts = read.list('Accounts', ACCOUNT);
  const flags = read.commonFlags();
  read.finish(mode, 'SharedWorkspaceImage', accounts.length, 'no account: give at least one 12-digit account id');
  return { imageId: read.imageId(), accounts, ...flags };
}

// ---------------------------------------------------------------------------------------------
// Removal
// ---------------------------------------------------------------------------------------------

/** One sentence for a refused DeleteWorkspaceImage (an image that is gone never gets here: gone is deleted). */
export function explainDeleteFailure(err: unknown, imageId: string, account: string): string {
  if (err instanceof ShareError) return err.message;
  const code = awsErrorCode(err) ?? 'error';
  const detail = errorDetail(err);
  const what = `delete WorkSpaces image ${imageId}`;
  if (isThrottling(code)) {
    return `AWS kept throttling the call to ${what} (${code}) after all retries; its shares are already revoked: delete again later.`;
  }
  if (isTransient(err)) {
    return `AWS kept failing the call to ${what} (${detail}) after all retries; its shares are already revoked: delete again later.`;
  }
  if (isAccessDenied(code)) {
    return `The share handler is not allowed to ${what} (${code}): the image must be owned by account ${account}, and no SCP or permissions boundary may deny workspaces:DeleteWorkspaceImage.`;
  }
  if (workspacesRefusal(err) === 'image-in-use') {
    return `AWS refused to ${what} (${detail}): delete the bundles built from it and make sure it is AVAILABLE and shared with no account, then delete again.`;
  }
  return `Could not ${what} (${detail}): fix the cause and delete again.`;
}

/**
 * The sentence when forcing the guard failed half way: the unshares that went through stay done,
 * and the image was not deleted.
 */
export function explainForceFailure(
  imageId: string, applied: readonly PermissionChange[], failed: readonly FailedChange[], notApplied: readonly PermissionChange[],
): string {
  const [first, ...others] = failed;
  const more = others.length > 0 ? ` ${others.length} more unshare${others.length === 1 ? '' : 's'} failed too.` : '';
  const still = [...failed.map((f) => f.change.account), ...notApplied.map((c) => c.account)];
  const done = applied.length > 0 ? ` Unshared before the failure: ${summarize(applied.map((c) => c.account), 3)}.` : '';
  return `${first.message}${more}${done} WorkSpaces image ${imageId} was not deleted and is still shared with ${summarize(still, 3)}: fix the cause and delete again.`;
}

// ---------------------------------------------------------------------------------------------
// Image checks
// ---------------------------------------------------------------------------------------------

/** Whether an image can be shared now, must be waited for, or cannot be shared (and why). */
export type ImageVerdict =
  | { readonly kind: 'ready'; readonly image: WorkspaceImage }
  | { readonly kind: 'wait' }
  | { readonly kind: 'fail'; readonly message: string };

/** The verdict on `image` (as DescribeWorkspaceImages returned it) for sharing by `account`. */
export function assessImage(imageId: string, image: WorkspaceImage | undefined, account: string, region: string): ImageVerdict {
  if (!image) {
    return fail(`WorkSpaces image ${imageId} was not found in account ${account} in ${region}: check the imageId (WorkSpaces images are regional).`);
  }
  if (image.OwnerAccountId && image.OwnerAccountId !== account) {
    return fail(`WorkSpaces image ${imageId} is owned by account ${image.OwnerAccountId}, not by account ${account}: an image shared with you cannot be re-shared; copy it into ${account} (workspaces copy-workspace-image) and share the copy.`);
  }
  switch (image.State) {
    case 'AVAILABLE': return { kind: 'ready', image };
    case 'PENDING': return { kind: 'wait' };
    case 'ERROR': {
      const why = image.ErrorCode || image.ErrorMessage ? ` (${[image.ErrorCode, image.ErrorMessage].filter(Boolean).join(': ')})` : '';
      return fail(`WorkSpaces image ${imageId} is in state ERROR${why} and cannot be shared: create the image again and share one that is AVAILABLE.`);
    }
    default:
      return fail(`WorkSpaces image ${imageId} is in state ${show(image.State)} and cannot be shared: share an AVAILABLE image.`);
  }
}

function fail(message: string): ImageVerdict {
  return { kind: 'fail', message };
}

/** On Delete: why there is nothing to revoke on `image`, or undefined when its permissions must be read. */
export function nothingToRevoke(imageId: string, image: WorkspaceImage | undefined, account: string): string | undefined {
  if (!image) return `WorkSpaces image ${imageId} no longer exists: its shares went with it`;
  if (image.OwnerAccountId && image.OwnerAccountId !== account) {
    return `WorkSpaces image ${imageId} is owned by account ${image.OwnerAccountId}: account ${account} cannot have shared it`;
  }
  return undefined;
}

/** Whether AWS will apply BYOL's sharing rules to this image. */
export function isByol(image: WorkspaceImage | undefined): boolean {
  return image?.RequiredTenancy === 'DEDICATED';
}

// ---------------------------------------------------------------------------------------------
// The change plan
// ---------------------------------------------------------------------------------------------

/** One UpdateWorkspaceImagePermission call: share with (`allow`) or unshare from one account. */
export interface PermissionChange {
  readonly account: string;
  readonly allow: boolean;
}

/**
 * The calls that take AWS from `current` (every account the image is shared with, whoever shared
 * it) to the declaration `after`, given that this resource declared `before`. Accounts never
 * declared are never touched. `current` may lag the writes of moments ago, so dropped accounts are
 * unshared and newly declared ones shared whatever it shows (`reconcileLagging`); an unshare of an
 * account that turns out not to hold the share counts as done.
 */
export function planChanges(
  before: WorkspaceShareSpec | undefined, after: WorkspaceShareSpec | undefined, current: readonly string[],
  release?: readonly string[],
): PermissionChange[] {
  const delta = reconcileLagging(before?.accounts ?? [], after?.accounts ?? [], current);
  // With a record of ownership, what to unshare is what the record lets go (see ../common/ownership).
  const remove = release ?? delta.remove;
  return [
    ...delta.add.map((account) => ({ account, allow: true })),
    ...remove.map((account) => ({ account, allow: false })),
  ];
}

/** "shared with A, B and unshared from C", for logs and messages. */
export function describeChanges(changes: readonly PermissionChange[]): string {
  const add = changes.filter((c) => c.allow).map((c) => c.account);
  const remove = changes.filter((c) => !c.allow).map((c) => c.account);
  const parts: string[] = [];
  if (add.length > 0) parts.push(`shared with ${summarize(add, 3)}`);
  if (remove.length > 0) parts.push(`unshared from ${summarize(remove, 3)}`);
  return parts.length > 0 ? parts.join(' and ') : 'nothing';
}

// ---------------------------------------------------------------------------------------------
// The Provider framework's isComplete call
// ---------------------------------------------------------------------------------------------

/**
 * Top-level key of every onEvent answer. The Provider framework calls isComplete with
 * `{ ...the CloudFormation event, ...the onEvent answer }` (custom top-level fields of the answer
 * are passed on, `Data` too), and CloudFormation never sends this key: so its presence is what tells
 * an isComplete call from a CloudFormation event where one function serves both (the local runners'
 * `handler`; the deployed functions are separate, DESIGN.md "Entry points").
 */
export const COMPLETION_KEY = 'SharedWorkspaceImageCompletion';

/** What onEvent left for isComplete to do. */
export type Completion =
  /** onEvent did all the work: isComplete answers complete at once, without an AWS call. */
  | { readonly Step: 'done' }
  /**
   * The image was PENDING: isComplete waits for it, then shares. `Before` tells which declaration
   * was in effect on the image (`none` on Create or replacement, `old` on an Update of the same
   * image); `Deadline` (epoch ms) is when waiting ends with an error.
   */
  | { readonly Step: 'wait'; readonly ImageId: string; readonly Before: 'none' | 'old'; readonly Deadline: number };

/** The completion marker of an isComplete call, undefined for a CloudFormation event; throws if malformed. */
export function completionOf(event: unknown): Completion | undefined {
  if (typeof event !== 'object' || event === null || !(COMPLETION_KEY in event)) return undefined;
  const c = (event as Record<string, unknown>)[COMPLETION_KEY] as Record<string, unknown> | null;
  if (c && c.Step === 'done') return { Step: 'done' };
  if (c && c.Step === 'wait' && typeof c.ImageId === 'string' && WORKSPACE_IMAGE_ID.test(c.ImageId)
    && (c.Before === 'none' || c.Before === 'old') && typeof c.Deadline === 'number') {
    return { Step: 'wait', ImageId: c.ImageId, Before: c.Before, Deadline: c.Deadline };
  }
  throw new ShareError(`The isComplete call carries a malformed ${COMPLETION_KEY} ${show(c)}: the handler and the Provider framework disagree; deploy again.`);
}

export function pendingTooLong(imageId: string): string {
  return `WorkSpaces image ${imageId} is still PENDING after ${PENDING_WAIT_LIMIT_MINUTES} minutes, so it was not shared: deploy again once the image is AVAILABLE.`;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * One sentence for a failed AWS call on image `imageId`: a read (no `change`) or the share/unshare
 * of one account. `image` (when known) lets a refusal of a BYOL image be explained.
 */
export function explainFailure(err: unknown, imageId: string, change: PermissionChange | undefined, account: string, image?: WorkspaceImage): string {
  if (err instanceof ShareError) return err.message;
  const code = awsErrorCode(err) ?? 'error';
  const detail = errorDetail(err);
  const what = change ? `${change.allow ? 'share' : 'unshare'} WorkSpaces image ${imageId} ${change.allow ? 'with' : 'from'} account ${change.account}` : `read WorkSpaces image ${imageId}`;
  if (isThrottling(code)) {
    return `AWS kept throttling the calls to ${what} (${code}) after all retries: deploy again later; the change resumes where it stopped.`;
  }
  if (isTransient(err)) {
    return `AWS kept failing the calls to ${what} (${detail}) after all retries: deploy again later; the change resumes where it stopped.`;
  }
  const refusal = workspacesRefusal(err);
  if (refusal === 'image-not-found') {
    return `WorkSpaces image ${imageId} was not found in account ${account} (${detail}): check the imageId (WorkSpaces images are regional).`;
  }
  // A permission problem is one whatever the image: it is named before the BYOL explanation.
  if (isAccessDenied(code)) {
    return `The share handler is not allowed to ${what} (${code}): the image must be owned by account ${account}, and no SCP or permissions boundary may deny the call.`;
  }
  if (change?.allow && isByol(image)) {
    return `AWS refused to ${what} (${detail}): ${imageId} is a BYOL image (RequiredTenancy DEDICATED), which AWS shares only with accounts that are enabled for BYOL and in the same organization (same payer account); enable BYOL in ${change.account} or remove it from accounts.`;
  }
  if (refusal === 'bad-parameter' && change?.allow) {
    return `AWS refused to ${what} (${detail}): check that the account id exists and is spelled right.`;
  }
  if (refusal === 'image-unavailable') {
    return `Could not ${what} (${detail}): the image is not available right now; deploy again once it is AVAILABLE.`;
  }
  return `Could not ${what} (${detail}): fix the cause and deploy again.`;
}

/** One change that failed, with its sentence. */
export interface FailedChange {
  readonly change: PermissionChange;
  readonly message: string;
}

/** The sentence for calls that failed: the first cause, and what went through and what did not. */
export function explainPartialFailure(
  applied: readonly PermissionChange[], failed: readonly FailedChange[], notApplied: readonly PermissionChange[],
): string {
  const [first, ...others] = failed;
  const more = others.length > 0 ? ` ${others.length} more call${others.length === 1 ? '' : 's'} failed too (${describeChanges(others.map((f) => f.change))}).` : '';
  if (applied.length === 0) return `${first.message}${more} Nothing was changed.`;
  const missing = [...failed.map((f) => f.change), ...notApplied];
  return `${first.message}${more} Applied before the failure: ${describeChanges(applied)}; not applied: ${describeChanges(missing)}. The automatic rollback or a new deployment converges from here.`;
}
