/**
 * Errors as the user sees them: CloudFormation shows the message of what a handler throws (its
 * response is capped at 4 KB), so every failure becomes one short sentence that names the image,
 * the recipient and the fix.
 */

import { awsErrorCode, httpStatus, isUnreadableAnswer } from './aws-errors-adapter';

/** For the reliability harness, which reads these from here. */
export { awsErrorCode, isThrottling } from './aws-errors-adapter';

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

/**
 * The message of an error as one short line for the user: whitespace collapsed, at most 200
 * characters, and for an answer the SDK could not read, what happened instead of the parser's
 * complaint, the raw body and the SDK's debugging hint.
 */
export function errorMessage(err: unknown): string {
  if (isUnreadableAnswer(err)) {
    const status = httpStatus(err);
    return `AWS answered${status ? ` HTTP ${status}` : ''} with a page that is not an AWS error`;
  }
  const raw = err instanceof Error ? err.message : String(err);
  const line = raw.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** `CODE: message` for the user (`HTTP 503: ...` for an answer the SDK could not read). */
export function errorDetail(err: unknown): string {
  const status = httpStatus(err);
  const code = isUnreadableAnswer(err) && status ? `HTTP ${status}` : awsErrorCode(err) ?? 'error';
  return `${code}: ${errorMessage(err)}`;
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
