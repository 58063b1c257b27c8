/**
 * The undo of a failed Create, for both handlers: CloudFormation sends no Delete after a failed
 * Create (the Provider framework answers it for us), so a Create takes back what it applied before
 * it fails (DESIGN.md, "Lifecycle rules").
 */
import { awsErrorCode, isThrottling, isTransient } from './aws-errors-adapter';
import { runBounded } from './concurrency';
import { undoneSentence } from './errors';
import { log } from './log';

/**
 * Whether a call that failed may have been applied all the same: on throttling, 5xx or a broken
 * connection after its retries, AWS may have applied an earlier attempt whose answer was lost.
 */
export function mayHaveApplied(err: unknown): boolean {
  return isThrottling(awsErrorCode(err)) || isTransient(err);
}

/** What a failed Create takes back (`T`), and how; `U`: a call whose outcome is unknown. */
export interface Undo<T, U = T> {
  /** What went through, in the order to take it back. */
  readonly applied: readonly T[];
  /** Calls that failed but may have been applied (mayHaveApplied). */
  readonly unconfirmed: readonly U[];
  /** Reads back what of `unconfirmed` was applied after all: that is taken back too (first). */
  readonly confirm: (unconfirmed: readonly U[]) => Promise<T[]>;
  /** Takes one thing back. */
  readonly takeBack: (item: T) => Promise<void>;
  /** The thing, for the user's sentence and the log. */
  readonly name: (item: T) => string;
  readonly nameUnconfirmed: (item: U) => string;
  /** Calls in flight at once. @default 1 (in order) */
  readonly concurrency?: number;
}

/** Takes back what a failed Create applied, and returns the sentence that says what happened. */
export async function undoFailedCreate<T, U = T>(undo: Undo<T, U>): Promise<string> {
  const stuck: string[] = [];
  const confirmed: T[] = [];
  if (undo.unconfirmed.length > 0) {
    try {
      confirmed.push(...await undo.confirm(undo.unconfirmed));
    } catch (err) {
      const names = undo.unconfirmed.map(undo.nameUnconfirmed);
      log({ undoFailed: names, error: String(err) });
      stuck.push(...names);
    }
  }
  const all = [...confirmed, ...undo.applied];
  await runBounded(all, undo.concurrency ?? 1, (item) => undo.takeBack(item).catch((err: unknown) => {
    log({ undoFailed: undo.name(item), error: String(err) });
    stuck.push(undo.name(item));
  }));
  return undoneSentence(all.map(undo.name), stuck);
}
