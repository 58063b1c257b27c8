/**
 * How every AWS service's SDK errors read: the error code, the HTTP status, and the classes of
 * failure all services share (throttling, access denied, 5xx and broken connections). The codes
 * of one service are in that service's adapter; these are the ones common to all.
 */

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
