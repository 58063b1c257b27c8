/**
 * Runs a custom-resource handler with the SDK calls it makes recorded: one helper for every
 * emulator suite, whatever the handler and its recorder.
 *
 * Each event starts with the strict test AWS settled: CloudFormation's events of one resource come
 * seconds or minutes apart, so AWS's reads have caught up with the previous event's writes. Within
 * the event the handler meets the lag of its own writes (see DESIGN.md, "Real AWS").
 */
import { settleAll } from './moto';

/** Records the SDK calls made while it is installed (`restore` uninstalls it). */
export interface Recorder<C> {
  readonly calls: C[];
  mutating(): C[];
  restore(): void;
}

interface AnyEvent {
  readonly RequestType: string;
  readonly ResourceProperties: unknown;
}

/**
 * @param handler the handler under test
 * @param record installs a recorder (with the suite's fault hooks, if any)
 * @returns run: the handler's answer and the calls it made; runFailing: the error it threw (a
 *   handler that accepts the event fails the test) and the calls it made; created: a Create's
 *   physical id.
 */
export function handlerRunner<E extends AnyEvent, R extends { PhysicalResourceId?: string }, C, H>(
  handler: (event: E) => Promise<R>, record: (hooks?: H) => Recorder<C>,
) {
  async function run(event: E, hooks?: H) {
    await settleAll();
    const recorder = record(hooks);
    try {
      const response = await handler(event);
      return { response, calls: recorder.calls, mutating: recorder.mutating() };
    } finally {
      recorder.restore();
    }
  }
  async function runFailing(event: E, hooks?: H) {
    await settleAll();
    const recorder = record(hooks);
    try {
      await handler(event);
    } catch (err) {
      return { error: err as Error, calls: recorder.calls, mutating: recorder.mutating() };
    } finally {
      recorder.restore();
    }
    throw new Error(`the handler accepted ${event.RequestType} ${JSON.stringify(event.ResourceProperties)}, expected an error`);
  }
  async function created(event: E): Promise<string> {
    return (await run(event)).response.PhysicalResourceId!;
  }
  return { run, runFailing, created };
}
