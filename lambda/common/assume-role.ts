/**
 * The share's own role: every AWS call a share makes runs with the credentials of the role that
 * holds that share's permissions (resource property `ShareRoleArn`), assumed with STS AssumeRole.
 * The handler's own role may only assume the roles under its stack's path.
 *
 * IAM is eventually consistent: a role CloudFormation has just created may not be assumable for a
 * few seconds (IAM User Guide, "Troubleshooting IAM": changes are not always immediately visible),
 * so AccessDenied from AssumeRole is retried a bounded number of times before the event fails with
 * one sentence naming the image, the role and the fix.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { awsErrorCode, isAccessDenied } from './aws-errors-adapter';
import { errorDetail, ShareError } from './errors';
import { CommonShareResourcePropertyKey, SHARE_ROLE_PATH_PREFIX } from '../../src/private/contract';
import { checkShareRoleArn, show } from '../../src/private/validation';

/** Credentials for one invocation: the event's share role, and on an Update that moved to a new role, the previous one. */
export interface ShareCredentials {
  /** The role named by the event's properties: every call is made with it first. */
  readonly primary: AwsCredentialIdentityProvider;
  /**
   * An Update whose share role changed (new settings make a new role): the previous role. A call
   * the new role is refused is retried with it, since revoking what the previous settings granted
   * (e.g. snapshot permissions after `shareSnapshots` was turned off) needs the previous
   * permissions. Both roles exist during the update and its rollback: CloudFormation deletes the
   * previous one only in the cleanup phase, after the share.
   */
  readonly previous?: AwsCredentialIdentityProvider;
}

/**
 * How long a just-created role is waited for: AccessDenied from AssumeRole is retried after each
 * of these delays (about 30 s in all, well inside the handler's 5 minutes). Tests shorten them.
 */
export const ROLE_PROPAGATION = { delaysMs: [1_000, 2_000, 4_000, 8_000, 15_000] };

/** Session length: AWS's minimum (15 minutes) covers the handler's 5-minute timeout. */
const SESSION_SECONDS = 900;

interface RoleEvent {
  readonly RequestType: string;
  readonly LogicalResourceId?: string;
  readonly ResourceProperties?: unknown;
  readonly OldResourceProperties?: unknown;
}

/**
 * The credentials for an event, or undefined when its properties name no share role (the handler
 * then uses its own). Nothing is called yet: the role is assumed on the first AWS call, so events
 * that make none (a Delete of a physical id this handler never issued) never need the role.
 */
export function shareCredentials(event: RoleEvent, imageNoun: string): ShareCredentials | undefined {
  const props = (event.ResourceProperties ?? {}) as Partial<Record<CommonShareResourcePropertyKey, unknown>>;
  const roleArn = props.ShareRoleArn;
  if (roleArn === undefined) return undefined;
  const what = `${imageNoun} ${typeof props.ImageId === 'string' ? props.ImageId : show(props.ImageId)}`;
  const session = `cdk-shared-images-${event.LogicalResourceId ?? 'share'}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  const primary = assumedRole(roleArn, session, what, event.RequestType);
  const oldArn = ((event.OldResourceProperties ?? {}) as Partial<Record<CommonShareResourcePropertyKey, unknown>>).ShareRoleArn;
  const previous = event.RequestType === 'Update' && typeof oldArn === 'string' && oldArn !== roleArn
    ? assumedRole(oldArn, session, what, event.RequestType) : undefined;
  return { primary, ...(previous ? { previous } : {}) };
}

/** A memoized provider that assumes `roleArn` on first use (and again shortly before the session expires). */
function assumedRole(roleArn: unknown, session: string, what: string, requestType: string): AwsCredentialIdentityProvider {
  let current: Promise<AwsCredentialIdentity> | undefined;
  let expires = 0;
  return async () => {
    if (!current || Date.now() > expires - 60_000) {
      current = assume(roleArn, session, what, requestType);
      current.then((c) => { expires = c.expiration?.getTime() ?? Infinity; }, () => { current = undefined; });
    }
    return current;
  };
}

async function assume(roleArn: unknown, session: string, what: string, requestType: string): Promise<AwsCredentialIdentity> {
  const problem = checkShareRoleArn(roleArn);
  if (problem) throw new ShareError(`${what} was not changed: ${problem}. Deploy the construct and the handler from the same version.`);
  const arn = roleArn as string;
  const sts = new STSClient({ maxAttempts: 8 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await sts.send(new AssumeRoleCommand({ RoleArn: arn, RoleSessionName: session, DurationSeconds: SESSION_SECONDS }));
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`STS returned no credentials for ${arn}`);
        return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
      } catch (err) {
        const delay = ROLE_PROPAGATION.delaysMs[attempt];
        if (isAccessDenied(awsErrorCode(err)) && delay !== undefined) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        throw new ShareError(cannotAssume(what, arn, err, requestType));
      }
    }
  } finally {
    sts.destroy();
  }
}

/** One sentence: which image, which role, why, and what to do. */
export function cannotAssume(what: string, roleArn: string, err: unknown, requestType: string): string {
  const detail = errorDetail(err);
  if (requestType === 'Delete') {
    return `${what} still holds this share's permissions, but the handler could not assume the share's role ${roleArn} (${detail}); ` +
      'CloudFormation deletes that role only after the share, so it was removed outside the stack or after an earlier failed delete: ' +
      'recreate it from the template (or revoke the shares by hand and skip this resource), then delete again.';
  }
  return `${what} was not changed because the handler could not assume the share's role ${roleArn} (${detail}) even after waiting for IAM to ` +
    `propagate it: check that the role exists and that the handler role may assume roles under ${SHARE_ROLE_PATH_PREFIX}, then deploy again.`;
}

/**
 * A client for one invocation: made with the share role's credentials and, when the Update moved
 * to a new role, retrying a call the new role is refused with the previous role's client.
 */
export function clientFor<C extends { send: (...args: never[]) => Promise<unknown>; destroy: () => void }>(
  make: (credentials?: AwsCredentialIdentityProvider) => C, credentials: ShareCredentials | undefined,
): C {
  const client = make(credentials?.primary);
  if (!credentials?.previous) return client;
  const previous = make(credentials.previous);
  const send = Object.getPrototypeOf(client).send as (...args: unknown[]) => Promise<unknown>;
  Object.assign(client, {
    send: async (...args: unknown[]) => {
      try {
        return await send.apply(client, args);
      } catch (err) {
        if (!isAccessDenied(awsErrorCode(err))) throw err;
        return send.apply(previous, args);
      }
    },
    destroy: () => {
      Object.getPrototypeOf(client).destroy.call(client);
      previous.destroy();
    },
  });
  return client;
}
