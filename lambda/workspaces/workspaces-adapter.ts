/**
 * Every WorkSpaces call of the SharedWorkspaceImage handler, and nothing else: the one module that
 * unit tests replace (aws-sdk-client-mock) and emulator tests point at moto (AWS_ENDPOINT_URL).
 */
import {
  DeleteWorkspaceImageCommand, DescribeWorkspaceImagePermissionsCommand, DescribeWorkspaceImagesCommand, UpdateWorkspaceImagePermissionCommand,
  WorkspaceImage, WorkSpacesClient,
} from '@aws-sdk/client-workspaces';
import { clientFor, ShareCredentials } from '../common/assume-role';
import { awsErrorCode } from '../common/aws-errors-adapter';
import { retryWhile } from '../common/retry';
import { unique } from '../common/sets';

/**
 * Attempts per call, with the SDK's exponential backoff and jitter: survives throttling
 * (ThrottlingException and the other codes the SDK classifies as throttling) and 5xx.
 */
export const MAX_ATTEMPTS = 8;

/** The largest page DescribeWorkspaceImagePermissions returns (its MaxResults is 1 to 25). */
export const PERMISSIONS_PAGE_SIZE = 25;

let shareCredentials: ShareCredentials | undefined;

let client: WorkSpacesClient | undefined;
function workspaces(): WorkSpacesClient {
  client ??= clientFor(
    (credentials) => new WorkSpacesClient({ maxAttempts: MAX_ATTEMPTS, ...(credentials ? { credentials } : {}) }),
    shareCredentials,
  );
  return client;
}

/**
 * Starts an invocation with a new client. An SDK client keeps a retry quota (its standard retry
 * mode refuses retries once earlier failures used the quota up, and refills it slowly), and a warm
 * Lambda keeps its client between invocations: without this, one throttling storm would leave every
 * later event with no retries at all, failing it on its first throttled call.
 *
 * `credentials`: the share's own role (see ../common/assume-role); without it, the handler's own.
 */
export function startInvocation(credentials?: ShareCredentials): void {
  client?.destroy();
  client = undefined;
  shareCredentials = credentials;
}

/** WorkSpaces' answer for an image it does not know (any more). */
const NOT_FOUND = 'ResourceNotFoundException';

/** WorkSpaces' refusal of a call the image's state does not allow now (DeleteWorkspaceImage right after unsharing). */
const IMAGE_STATE_REFUSED = 'InvalidResourceStateException';

/** Whether WorkSpaces refused a call because the image no longer exists (or never did). */
export function isImageGone(err: unknown): boolean {
  return awsErrorCode(err) === NOT_FOUND;
}

/**
 * Codes with which an unshare may have been refused only because the account no longer holds the
 * share (someone unshared it meanwhile): the handler reads the permissions again before calling
 * it a failure. An unshare of an account that is not shared must never fail the stack.
 */
const UNSHARE_MAY_BE_NOOP = new Set(['InvalidParameterValuesException', 'OperationNotSupportedException', 'ResourceUnavailableException', 'ValidationException']);

/** Whether a refused unshare may only mean that the account does not hold the share (see UNSHARE_MAY_BE_NOOP). */
export function unshareMayBeNoop(err: unknown): boolean {
  return UNSHARE_MAY_BE_NOOP.has(awsErrorCode(err) ?? '');
}

/**
 * What a WorkSpaces refusal means for the user's message (the codes stay in this module):
 * - `image-not-found`: WorkSpaces does not know the image;
 * - `image-in-use`: the image is not in a state to be deleted, or bundles are built from it;
 * - `bad-parameter`: a value WorkSpaces refused (an account id, on a share);
 * - `image-unavailable`: the image is not available right now.
 */
export type WorkspacesRefusal = 'image-not-found' | 'image-in-use' | 'bad-parameter' | 'image-unavailable';

const REFUSALS: Readonly<Record<string, WorkspacesRefusal>> = {
  [NOT_FOUND]: 'image-not-found',
  [IMAGE_STATE_REFUSED]: 'image-in-use',
  ResourceAssociatedException: 'image-in-use',
  InvalidParameterValuesException: 'bad-parameter',
  ResourceUnavailableException: 'image-unavailable',
};

/** The meaning of a WorkSpaces refusal (see WorkspacesRefusal), or undefined for any other failure. */
export function workspacesRefusal(err: unknown): WorkspacesRefusal | undefined {
  const code = awsErrorCode(err);
  return code !== undefined && Object.prototype.hasOwnProperty.call(REFUSALS, code) ? REFUSALS[code] : undefined;
}

/** The image as this account sees it (owned or shared with it), or undefined when WorkSpaces does not know it. */
export async function describeImage(imageId: string): Promise<WorkspaceImage | undefined> {
  try {
    const out = await workspaces().send(new DescribeWorkspaceImagesCommand({ ImageIds: [imageId] }));
    return out.Images?.find((i) => i.ImageId === imageId);
  } catch (err) {
    if (isImageGone(err)) return undefined;
    throw err;
  }
}

/** Every account the image is shared with, read page by page (at most 25 a page). */
export async function sharedAccounts(imageId: string): Promise<string[]> {
  const accounts: string[] = [];
  let token: string | undefined;
  do {
    const out = await workspaces().send(new DescribeWorkspaceImagePermissionsCommand({
      ImageId: imageId, MaxResults: PERMISSIONS_PAGE_SIZE, ...(token ? { NextToken: token } : {}),
    }));
    for (const p of out.ImagePermissions ?? []) if (p.SharedAccountId) accounts.push(p.SharedAccountId);
    token = out.NextToken || undefined;
  } while (token);
  return unique(accounts);
}

/** Shares (`allow` true) or unshares (false) the image with one account. */
export async function updateImagePermission(imageId: string, account: string, allow: boolean): Promise<void> {
  await workspaces().send(new UpdateWorkspaceImagePermissionCommand({ ImageId: imageId, SharedAccountId: account, AllowCopyImage: allow }));
}

/** Tries of a DeleteWorkspaceImage refused with InvalidResourceStateException right after the unshares. */
export const DELETE_IMAGE_TRIES = 6;

/**
 * Deletes the image. Returns false when WorkSpaces no longer knows it (ResourceNotFoundException):
 * an image already gone counts as deleted. WorkSpaces refuses to delete a shared image, and right
 * after the handler's own unshares it may still count them (its reads lag its writes): the refusal
 * is retried a few times with backoff before it stands (it also means bundles built from the image).
 */
export async function deleteImage(imageId: string): Promise<boolean> {
  try {
    await retryWhile(DELETE_IMAGE_TRIES, (err) => awsErrorCode(err) === IMAGE_STATE_REFUSED,
      () => workspaces().send(new DeleteWorkspaceImageCommand({ ImageId: imageId })));
    return true;
  } catch (err) {
    if (isImageGone(err)) return false;
    throw err;
  }
}
