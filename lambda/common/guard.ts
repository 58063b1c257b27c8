/**
 * The deletion guard, shared by both handlers: after a Delete revoked this resource's own shares,
 * an image whose lifetime the app owns may only go away when nobody else holds a share. See
 * DESIGN.md, "Retiring an image".
 */
import { Claim, holdersOf } from './ownership';
import { summarize, unique } from './sets';

export type GuardDecision =
  | { readonly action: 'proceed' }
  | { readonly action: 'force'; readonly revoke: string[] }
  | { readonly action: 'block'; readonly message: string };

/**
 * @param what e.g. `AMI ami-0123...` or `WorkSpaces image wsi-...`
 * @param remaining the recipients still holding a share after this resource revoked its own
 *   (account ids and organization / OU ARNs, as the user would name them)
 * @param force the user's explicit choice to revoke every share
 */
export function decideGuard(what: string, remaining: readonly string[], force: boolean): GuardDecision {
  if (remaining.length === 0) return { action: 'proceed' };
  if (force) return { action: 'force', revoke: [...remaining] };
  return {
    action: 'block',
    message: `${what} was not deleted because it is still shared with ${summarize(remaining, 5)} (not granted by this share): `
      + 'unshare them, or set forceUnshareOnRemoval: true to revoke every share, then delete again.',
  };
}

/**
 * Who else holds a share, from a read made after this resource revoked its own: the read is
 * eventually consistent and may still show what was revoked a moment ago, so this resource's own
 * recipients never count as someone else's.
 */
export function remainingAfterOwnRevoke(read: readonly string[], own: readonly string[]): string[] {
  const mine = new Set(own);
  return unique(read).filter((r) => !mine.has(r));
}

/** A recipient for the guard's message, with the other resources that hold it where the record knows them. */
export function withHolders(recipient: string, holders: readonly string[]): string {
  return holders.length > 0 ? `${recipient} (held by ${holders.join(', ')})` : recipient;
}

/** The guard's decision on a read of the image's shares, and who remains (see decideGuard). */
export interface GuardVerdict {
  readonly decision: GuardDecision;
  /** The recipients still holding a share once this resource's own are left out. */
  readonly remaining: string[];
}

/**
 * The whole guard for one Delete: of the shares `read` after this resource revoked `released`,
 * those of others remain (remainingAfterOwnRevoke), named with the resources whose claims hold
 * them (`name` turns a recipient key into what the user knows), and decided on (decideGuard).
 */
export function guardVerdict(
  what: string, read: readonly string[], released: readonly string[], others: readonly Claim[], force: boolean,
  name: (recipient: string) => string = (r) => r,
): GuardVerdict {
  const remaining = remainingAfterOwnRevoke(read, released);
  const decision = decideGuard(what, remaining.map((r) => withHolders(name(r), holdersOf(r, others))), force);
  return { decision, remaining };
}
