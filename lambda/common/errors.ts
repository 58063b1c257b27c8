/**
 * Errors as the user sees them: CloudFormation shows the message of what a handler throws (its
 * response is capped at 4 KB), so every failure becomes one short sentence that names the image,
 * the recipient and the fix.
 */

/** A failure whose message is already written for the user. */
export class ShareError extends Error {
  constructor(message: string) {
    super(limit(message));
    this.name = 'ShareError';
  }
}

/** The longest message we hand to CloudFormation (the provider framework adds a log link). */
export const MAX_MESSAGE = 1500;

export function limit(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

/** The AWS error code of an SDK v3 error (`name`, or `Code` for some EC2 shapes). */
export function awsErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: unknown; Code?: unknown; code?: unknown };
  for (const v of [e.Code, e.code, e.name]) {
    if (typeof v === 'string' && v !== 'Error' && v.length > 0) return v;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

const THROTTLING = new Set([
  'RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException',
  'RequestThrottled', 'RequestThrottledException', 'SlowDown',
]);

export function isThrottling(code: string | undefined): boolean {
  return code !== undefined && THROTTLING.has(code);
}

const ACCESS_DENIED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'AuthFailure']);

export function isAccessDenied(code: string | undefined): boolean {
  return code !== undefined && ACCESS_DENIED.has(code);
}

/**
 * What a failed Create says after undoing what it had already applied: CloudFormation sends no
 * Delete after a failed Create (the Provider framework answers it for us), so a Create cleans up
 * after itself.
 */
export function undoneSentence(undone: readonly string[], stuck: readonly string[]): string {
  if (undone.length === 0 && stuck.length === 0) return ' Nothing was changed.';
  if (stuck.length === 0) return ' Nothing was left changed: what was applied before the failure was undone.';
  return ` Undoing what was applied before the failure failed for ${stuck.slice(0, 3).join(', ')}${stuck.length > 3 ? ` and ${stuck.length - 3} more` : ''}: remove it by hand.`;
}
