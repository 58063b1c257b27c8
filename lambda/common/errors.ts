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

/** The HTTP status AWS answered with, when the SDK recorded one. */
export function httpStatus(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Whether the SDK could not read AWS's answer as an AWS error: a 5xx page from a load balancer or
 * proxy (HTML), which the SDK reports as a parser error carrying the raw body and a debugging hint,
 * or as the code `Unknown`.
 */
export function isUnreadableAnswer(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const message = err instanceof Error ? err.message : '';
  if (/Deserialization error/.test(message)) return true;
  const code = awsErrorCode(err);
  return (httpStatus(err) ?? 0) >= 500 && (code === undefined || ['Unknown', 'UnknownError', 'SyntaxError'].includes(code));
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

const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/**
 * Whether AWS failed on its side or could not be reached (HTTP 5xx, a broken connection): the SDK
 * retried it already, nothing is wrong with the request, and deploying again later is the fix.
 */
export function isTransient(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown };
  return (httpStatus(err) ?? 0) >= 500 || CONNECTION_ERRORS.has(String(e.code)) || CONNECTION_ERRORS.has(String(e.name));
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
