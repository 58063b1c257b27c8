/**
 * A tiny bounded-concurrency runner: at most `limit` calls in flight, results in input order
 * whatever order the calls finish in, and (optionally) no new call started after the first failure.
 */

/** What became of one item. */
export type Outcome<T, R> =
  | { readonly item: T; readonly status: 'fulfilled'; readonly value: R }
  | { readonly item: T; readonly status: 'rejected'; readonly error: unknown }
  /** Never started: an earlier call failed and `stopOnFailure` was set. */
  | { readonly item: T; readonly status: 'skipped' };

export interface RunBoundedOptions {
  /** Start no new call once one has failed (calls already in flight still finish). @default false */
  readonly stopOnFailure?: boolean;
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight. Never rejects: every item gets an
 * outcome, at the item's own index.
 */
export async function runBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
  options: RunBoundedOptions = {},
): Promise<Outcome<T, R>[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`concurrency limit must be a positive integer, got ${limit}`);
  const outcomes: Outcome<T, R>[] = items.map((item) => ({ item, status: 'skipped' as const }));
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !(failed && options.stopOnFailure)) {
      const i = next++;
      const item = items[i];
      try {
        outcomes[i] = { item, status: 'fulfilled', value: await fn(item) };
      } catch (error) {
        failed = true;
        outcomes[i] = { item, status: 'rejected', error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return outcomes;
}
