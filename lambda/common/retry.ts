/**
 * Waiting for AWS to catch up: a few reads or calls spaced by exponential backoff. Used where AWS
 * is eventually consistent (a new KMS grant is listed a while after CreateGrant; a new IAM role is
 * usable a while after it is made) and where a refusal is known to be temporary (a snapshot stays
 * "in use" a while after its AMI is deregistered). The SDK's own retries cover throttling and 5xx;
 * this covers answers that are correct for the moment but change soon. See DESIGN.md, "Real AWS".
 */

/**
 * The backoff schedule. `baseMs` doubles after each try up to `maxDelayMs`. Tests shrink `baseMs`
 * (and the emulator's consistency window with it) so that a wait costs milliseconds.
 */
export const backoff = {
  baseMs: 500,
  maxDelayMs: 20_000,
};

/** The delay before try `n` (0-based) of a schedule: base * 2^n, capped. */
export function delayBefore(n: number, baseMs = backoff.baseMs): number {
  return Math.min(baseMs * 2 ** n, backoff.maxDelayMs);
}

/** The total time `tries` tries may wait for, so callers can state it in a message. */
export function totalWait(tries: number): number {
  let total = 0;
  for (let n = 0; n < tries - 1; n++) total += delayBefore(n);
  return total;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `attempt` up to `tries` times while `retryable(err)` says the failure is temporary; the
 * last failure is thrown.
 */
export async function retryWhile<T>(tries: number, retryable: (err: unknown) => boolean, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= tries - 1 || !retryable(err)) throw err;
      await sleep(delayBefore(n));
    }
  }
}

/**
 * Reads with `read` until `done(value)` holds, at most `tries` times; returns the last value read
 * and whether it satisfied `done`.
 */
export async function pollUntil<T>(tries: number, read: () => Promise<T>, done: (value: T) => boolean): Promise<{ value: T; ok: boolean }> {
  for (let n = 0; ; n++) {
    const value = await read();
    if (done(value)) return { value, ok: true };
    if (n >= tries - 1) return { value, ok: false };
    await sleep(delayBefore(n));
  }
}
