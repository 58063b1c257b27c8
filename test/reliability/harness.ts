/**
 * What the reliability runs share: one moto (direct clients for the harness's own reads and
 * outside changes) with the fault proxy in front of it for the handlers (AWS_ENDPOINT_URL), the
 * figures a run prints, the checks on what reaches CloudFormation, and the run sizes.
 *
 * No jest globals here: the runner (run.ts) uses this module outside jest.
 */
import { dirname } from 'path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { KMSClient } from '@aws-sdk/client-kms';
import { WorkSpacesClient } from '@aws-sdk/client-workspaces';
import { FaultProxy, FaultRates, NO_FAULTS, startFaultProxy } from './fault-proxy';
import { MAX_ATTEMPTS } from '../../lambda/ami/adapter';
import { awsErrorCode, isThrottling, MAX_MESSAGE } from '../../lambda/common/errors';
import { freshness } from '../../lambda/common/ownership';
import { backoff as waits } from '../../lambda/common/retry';
import { ec2Client, kmsClient, Moto, motoEnvironment, startMoto, STRICT_CONSISTENCY_WINDOW_MS } from '../emulator/moto';
import { buildWorkspaceHost, WorkspaceHost, workspacesClient } from '../emulator/workspaces-fixture';

// ---------------------------------------------------------------------------------------------
// Sizes and rates (environment)
// ---------------------------------------------------------------------------------------------

export interface RunSize {
  /** fast-check seed: the same seed replays the same sequences. */
  readonly seed: number;
  /** Sequences per construct and phase. */
  readonly runs: number;
  /** Most steps per sequence (before the closing Delete). */
  readonly maxSteps: number;
  /** Fault rates of the fault phase. */
  readonly faults: FaultRates;
  /** fast-check replay path of a failure (RELIABILITY_PATH), with RELIABILITY_SEED. */
  readonly path?: string;
  /** Factor on the AWS SDK's retry backoff (1: the SDK's own delays). */
  readonly backoff: number;
}

/** The SDK's retry delays are scaled by this much unless RELIABILITY_BACKOFF says otherwise. */
export const DEFAULT_BACKOFF = 0.02;

/** The fault phase's rates: 20 % throttling, 5 % 5xx, 2 % connection resets. */
export const DEFAULT_FAULTS: FaultRates = { throttle: 0.2, serverError: 0.05, reset: 0.02 };

function envNumber(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return value;
}

/**
 * RELIABILITY_SEED, RELIABILITY_RUNS, RELIABILITY_STEPS, RELIABILITY_THROTTLE, RELIABILITY_5XX,
 * RELIABILITY_RESET, RELIABILITY_PATH; the defaults are the given ones.
 */
export function runSize(defaults: Omit<RunSize, 'faults' | 'backoff'> & { faults?: FaultRates; backoff?: number }, env: NodeJS.ProcessEnv = process.env): RunSize {
  const faults = defaults.faults ?? DEFAULT_FAULTS;
  return {
    seed: envNumber('RELIABILITY_SEED', defaults.seed, env),
    runs: envNumber('RELIABILITY_RUNS', defaults.runs, env),
    maxSteps: envNumber('RELIABILITY_STEPS', defaults.maxSteps, env),
    faults: {
      throttle: envNumber('RELIABILITY_THROTTLE', faults.throttle, env),
      serverError: envNumber('RELIABILITY_5XX', faults.serverError, env),
      reset: envNumber('RELIABILITY_RESET', faults.reset, env),
    },
    path: env.RELIABILITY_PATH || defaults.path,
    backoff: envNumber('RELIABILITY_BACKOFF', defaults.backoff ?? DEFAULT_BACKOFF, env),
  };
}

interface SdkRetryDelays {
  delay(): number;
  throttlingDelay(): number;
}

/**
 * Scales the AWS SDK's retry backoff (the handlers' clients included) by `factor` and returns the
 * undo. Only the waits change: which errors are retried, how often (the handlers' maxAttempts) and
 * the retry quota stay the SDK's. Without it an exhausted throttled call waits about 35 s (the SDK
 * backs off from 1 s, doubling, capped at 20 s); moto has no rate limit, so the waits test nothing.
 * Takes effect for clients created afterwards (the handlers create theirs on first use).
 */
export function scaleSdkBackoff(factor: number): () => void {
  if (factor === 1) return () => undefined;
  // The copy of @smithy/core the EC2 client itself loads (the KMS and WorkSpaces clients share it),
  // through this module's own require, so that under jest it is the instance of jest's registry.
  const resolved = require.resolve('@smithy/core/retry', { paths: [dirname(require.resolve('@aws-sdk/client-ec2'))] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module path known only at run time, loaded as the client loads it
  const retry = (require(resolved) as { Retry?: SdkRetryDelays }).Retry;
  if (!retry || typeof retry.delay !== 'function' || typeof retry.throttlingDelay !== 'function') {
    throw new Error('RELIABILITY_BACKOFF: this AWS SDK has no Retry.delay / Retry.throttlingDelay to scale; run with RELIABILITY_BACKOFF=1');
  }
  const { delay, throttlingDelay } = retry;
  retry.delay = () => delay.call(retry) * factor;
  retry.throttlingDelay = () => throttlingDelay.call(retry) * factor;
  return () => {
    retry.delay = delay;
    retry.throttlingDelay = throttlingDelay;
  };
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

export interface Figures {
  /** Sequences run (a failure's shrinking replays included). */
  sequences: number;
  /** Handler invocations (CloudFormation events, duplicates and re-runs included). */
  events: number;
  /** Faults the proxy injected while handlers ran. */
  faultsInjected: number;
  /** Events that failed because injected faults outlasted the SDK's retries (each message checked). */
  retriesExhausted: number;
  /** Events the handler refused as the model predicted (each message checked, no mutating call). */
  refusals: number;
  /** Events delivered because an earlier one failed: CloudFormation's rollback, a redeploy, a retried delete. */
  reruns: number;
  /** Sequences in which an invariant did not hold. */
  invariantViolations: number;
  /** Deletes that never succeeded, even re-run without faults. */
  stuckDeletes: number;
  /** Steps (Create or Update, Delete) of a second resource declaring recipients on the same images. */
  secondResourceSteps: number;
}

export function emptyFigures(): Figures {
  return {
    sequences: 0,
    events: 0,
    faultsInjected: 0,
    retriesExhausted: 0,
    refusals: 0,
    reruns: 0,
    invariantViolations: 0,
    stuckDeletes: 0,
    secondResourceSteps: 0,
  };
}

export function addFigures(into: Figures, from: Figures): void {
  for (const k of Object.keys(into) as Array<keyof Figures>) into[k] += from[k];
}

export function formatFigures(f: Figures): string {
  return [
    `sequences run ${f.sequences}`,
    `events applied ${f.events}`,
    `steps of a second resource ${f.secondResourceSteps}`,
    `faults injected ${f.faultsInjected}`,
    `retries exhausted ${f.retriesExhausted}`,
    `refused as expected ${f.refusals}`,
    `re-deliveries after a failure ${f.reruns}`,
    `invariant violations ${f.invariantViolations}`,
    `stuck deletes ${f.stuckDeletes}`,
  ].join(', ');
}

/** An invariant that did not hold; the message names the step and the difference. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

/** A Delete that failed even when re-run without faults: the stack would sit in DELETE_FAILED. */
export class StuckDelete extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StuckDelete';
  }
}

// ---------------------------------------------------------------------------------------------
// What reaches CloudFormation
// ---------------------------------------------------------------------------------------------

/**
 * Why `err` is not the short message CloudFormation should show, or undefined when it is: a
 * ShareError, one line, at most MAX_MESSAGE characters, no stack trace, no raw response body or SDK
 * debugging hint, naming one of `imageIds`, ending with a full stop.
 */
export function messageProblem(err: unknown, imageIds: readonly string[]): string | undefined {
  if (!(err instanceof Error)) return `not an Error: ${String(err)}`;
  const m = err.message;
  if (err.name !== 'ShareError') return `a raw ${err.name} (not explained for the user): ${m.slice(0, 300)}`;
  if (m.length > MAX_MESSAGE) return `${m.length} characters (more than ${MAX_MESSAGE})`;
  if (/[\r\n]/.test(m)) return `more than one line: ${JSON.stringify(m.slice(0, 300))}`;
  if (/\bat \S+ \(.*:\d+:\d+\)/.test(m)) return `a stack trace: ${m.slice(0, 300)}`;
  if (/<html|<\?xml|<Response>|Deserialization error|\$response|\[object |\bundefined\b/i.test(m)) return `raw response or SDK internals: ${m.slice(0, 300)}`;
  if (!imageIds.some((id) => m.includes(id))) return `names no image (${imageIds.join(', ')}): ${m.slice(0, 300)}`;
  if (!/[.]$/.test(m)) return `does not end a sentence: ${m.slice(-100)}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------------------

export interface ReliabilityEnv {
  readonly moto: Moto;
  readonly proxy: FaultProxy;
  /** Direct to moto (no faults), for the harness's reads and outside changes. */
  readonly ec2: EC2Client;
  readonly kms: KMSClient;
  readonly workspaces: WorkSpacesClient;
  /** The directory and WorkSpace that WorkSpaces images are made from (built on first use). */
  workspaceHost(): Promise<WorkspaceHost>;
  stop(): Promise<void>;
}

/**
 * Starts moto and the proxy, points the AWS SDK (the handlers' clients) at the proxy through the
 * environment and scales the SDK's backoff (`backoff`, default DEFAULT_BACKOFF); `stop()` undoes all
 * of it. Call before the handlers make their first call: their clients read AWS_ENDPOINT_URL and
 * their base delay once.
 */
export async function startReliabilityEnv(options: { backoff?: number } = {}): Promise<ReliabilityEnv> {
  const unscaleSdk = scaleSdkBackoff(options.backoff ?? DEFAULT_BACKOFF);
  // The handlers' own waits for AWS to catch up (lambda/common/retry.ts) shrink the same way, and
  // stay well above the strict test AWS's consistency window (see startMoto).
  const savedWaits = { ...waits };
  const savedFreshness = freshness.ms;
  waits.baseMs = 2;
  waits.maxDelayMs = 200;
  // A release note is trusted over a read for a second: the strict test AWS's reads lag
  // STRICT_CONSISTENCY_WINDOW_MS after a revoke, which comes a little after the note is written.
  freshness.ms = Math.max(1000, 10 * STRICT_CONSISTENCY_WINDOW_MS);
  const unscale = (): void => {
    unscaleSdk();
    Object.assign(waits, savedWaits);
    freshness.ms = savedFreshness;
  };
  let moto: Moto;
  try {
    moto = await startMoto();
  } catch (err) {
    unscale();
    throw err;
  }
  let proxy: FaultProxy | undefined;
  const saved: Record<string, string | undefined> = {};
  try {
    proxy = await startFaultProxy({ target: moto.endpoint, rates: NO_FAULTS });
    for (const [k, v] of Object.entries({ ...motoEnvironment(moto), AWS_ENDPOINT_URL: proxy.endpoint })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  } catch (err) {
    await moto.stop();
    unscale();
    throw err;
  }
  const ec2 = ec2Client(moto);
  const kms = kmsClient(moto);
  const workspaces = workspacesClient(moto);
  let host: Promise<WorkspaceHost> | undefined;
  let stopping: Promise<void> | undefined;
  return {
    moto,
    proxy,
    ec2,
    kms,
    workspaces,
    workspaceHost() {
      host ??= buildWorkspaceHost(moto, ec2, workspaces);
      return host;
    },
    stop() {
      stopping ??= (async () => {
        ec2.destroy();
        kms.destroy();
        workspaces.destroy();
        await proxy!.close();
        await moto.stop();
        unscale();
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      })();
      return stopping;
    },
  };
}

/** Sorted copy, for comparing sets. */
export function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

export function sameSet(a: Iterable<string>, b: Iterable<string>): boolean {
  const x = sorted(a);
  const y = sorted(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

// ---------------------------------------------------------------------------------------------
// Observing the handlers' SDK calls
// ---------------------------------------------------------------------------------------------

export interface SdkCall {
  readonly service: 'EC2' | 'KMS' | 'WorkSpaces';
  /** The command without `Command`, e.g. `ModifyImageAttribute`. */
  readonly name: string;
  readonly mutating: boolean;
  /** When the call failed: its code and how many attempts the SDK made. */
  failure?: { readonly code: string; readonly attempts?: number; readonly retryable: boolean };
}

export interface SdkRecorder {
  readonly calls: SdkCall[];
  mutating(): number;
  /** Failed calls the SDK gave up on before its attempts ran out although the error was retryable. */
  gaveUpEarly(): SdkCall[];
  restore(): void;
}

const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/** Whether the SDK's standard retry mode retries this error (throttling, 5xx, a broken connection). */
export function isRetryable(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; code?: unknown; name?: unknown };
  const status = e?.$metadata?.httpStatusCode ?? 0;
  return isThrottling(awsErrorCode(err)) || status >= 500 || CONNECTION_ERRORS.has(String(e?.code)) || e?.name === 'TimeoutError';
}

/**
 * Records every command any EC2, KMS or WorkSpaces client in this process sends (the handlers' own
 * clients included), passing it on unchanged, and how each failure ended.
 */
export function recordSdk(): SdkRecorder {
  const calls: SdkCall[] = [];
  type Sender = { send: (...args: unknown[]) => Promise<unknown> };
  const protos: Array<[SdkCall['service'], Sender]> = [
    ['EC2', EC2Client.prototype as unknown as Sender],
    ['KMS', KMSClient.prototype as unknown as Sender],
    ['WorkSpaces', WorkSpacesClient.prototype as unknown as Sender],
  ];
  const restores = protos.map(([service, proto]) => {
    const hadOwn = Object.prototype.hasOwnProperty.call(proto, 'send');
    const original = proto.send;
    proto.send = function send(this: unknown, ...args: unknown[]): Promise<unknown> {
      const name = (args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, '');
      const call: SdkCall = { service, name, mutating: !/^(Describe|Get|List)/.test(name) };
      calls.push(call);
      return original.apply(this, args).catch((err: unknown) => {
        const attempts = (err as { $metadata?: { attempts?: number } })?.$metadata?.attempts;
        call.failure = { code: awsErrorCode(err) ?? 'error', attempts, retryable: isRetryable(err) };
        throw err;
      });
    };
    return () => {
      if (hadOwn) proto.send = original;
      else delete (proto as { send?: unknown }).send;
    };
  });
  return {
    calls,
    mutating: () => calls.filter((c) => c.mutating).length,
    gaveUpEarly: () => calls.filter((c) => c.failure?.retryable && (c.failure.attempts ?? MAX_ATTEMPTS) < MAX_ATTEMPTS),
    restore: () => {
      for (const restore of restores.reverse()) restore();
    },
  };
}
