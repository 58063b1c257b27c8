/**
 * Set arithmetic for recipient sets. Every handler decides what to change with `reconcile`:
 * the one rule that keeps AWS at (declared set) ∪ (shares made outside this resource).
 */

/** What to add to and remove from AWS. */
export interface Delta {
  readonly add: string[];
  readonly remove: string[];
}

/**
 * @param before what this resource had declared (empty on Create)
 * @param after what it declares now (empty on Delete)
 * @param current what AWS holds right now, whoever granted it
 * @returns add: declared now and missing in AWS; remove: dropped from the declaration and still in
 *   AWS. Anything never declared is never touched, and nothing already in place is re-sent, so the
 *   same event applied twice changes nothing the second time.
 */
export function reconcile(before: readonly string[], after: readonly string[], current: readonly string[]): Delta {
  const now = new Set(current);
  const keep = new Set(after);
  return {
    add: unique(after.filter((v) => !now.has(v))),
    remove: unique(before.filter((v) => !keep.has(v) && now.has(v))),
  };
}

export function isEmpty(delta: Delta): boolean {
  return delta.add.length === 0 && delta.remove.length === 0;
}

export function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

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
