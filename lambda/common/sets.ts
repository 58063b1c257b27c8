/**
 * Set arithmetic for recipient sets. Every handler decides what to change with `reconcileLagging`:
 * the one rule that keeps AWS at (declared set) ∪ (shares made outside this resource).
 */
import { unique } from '../../src/private/validation';

/** What to add to and remove from AWS. */
export interface Delta {
  readonly add: string[];
  readonly remove: string[];
}

/**
 * @param before what this resource had declared (empty on Create)
 * @param after what it declares now (empty on Delete)
 * @param current what AWS holds right now, whoever granted it; the read may lag the writes of
 *   moments ago (EC2's launch and snapshot permissions, WorkSpaces shares; see DESIGN.md, "Real AWS")
 * @returns what to add and remove. Anything never declared is never touched. What this resource
 *   drops is revoked whether or not the read still shows it (EC2 accepts removing a permission
 *   that is not there), and what an Update newly declares is granted even if the read shows it (it
 *   may be a permission revoked a moment ago, as when a rollback re-adds what the failed update
 *   dropped). Only recipients declared on both sides are taken from the read, which repairs drift
 *   without a call when nothing drifted.
 */
export function reconcileLagging(before: readonly string[], after: readonly string[], current: readonly string[]): Delta {
  const now = new Set(current);
  const had = new Set(before);
  const keep = new Set(after);
  return {
    add: unique(after.filter((v) => !now.has(v) || (had.size > 0 && !had.has(v)))),
    remove: unique(before.filter((v) => !keep.has(v))),
  };
}

/** Order-preserving de-duplication: the one the constructs use too. */
export { unique };

/** Splits a list into consecutive chunks of at most `size`. */
export function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}

/** "a, b, c and 4 more": a list short enough for a one-sentence error. */
export function summarize(values: readonly string[], max = 5): string {
  if (values.length === 0) return 'none';
  if (values.length <= max) return values.join(', ');
  return `${values.slice(0, max).join(', ')} and ${values.length - max} more`;
}
