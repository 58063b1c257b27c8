/**
 * A small loopback HTTP proxy between the handlers' SDK clients (AWS_ENDPOINT_URL) and moto that
 * injects the faults AWS really produces, at configurable rates, from a seeded random generator:
 *
 * - throttling: EC2's `RequestLimitExceeded` (XML, HTTP 503 or 400 as EC2 answers it), KMS's and
 *   WorkSpaces' `ThrottlingException` (JSON, HTTP 400);
 * - server errors: HTTP 500 / 503 with the service's own error body, or a bare 502 / 503 page
 *   from a load balancer (HTML, no error code);
 * - connection resets: the socket is destroyed before the request reaches moto, or, for calls that
 *   are idempotent in AWS, after moto applied it (the answer is lost and the SDK retries). KMS
 *   CreateGrant is never "lost after applying": KMS makes a retried CreateGrant with the same Name
 *   return the same grant, moto does not, so a lost CreateGrant answer would be a moto artefact.
 *
 * A burst fails one chosen request and every retry of it (same service, action and body) a given
 * number of times, so that the SDK's retries run out at a chosen point of a sequence.
 *
 * The proxy listens on 127.0.0.1 on a free port, never keeps the process alive (its server and
 * sockets are unref'd), closes itself after `idleMs` without a request, and `close()` stops it.
 * A hard cap on requests per window turns a runaway request loop into a non-retryable error.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';

export type ServiceName = 'ec2' | 'kms' | 'workspaces' | 'other';

/** What the proxy understood of one request. */
export interface RequestInfo {
  readonly service: ServiceName;
  /** The API action, e.g. `ModifyImageAttribute`, `CreateGrant`, `UpdateWorkspaceImagePermission`. */
  readonly action: string;
  /** Changes AWS (anything but Describe/Get/List). */
  readonly mutating: boolean;
}

export interface FaultRates {
  /** Share of requests answered with the service's throttling error. */
  readonly throttle: number;
  /** Share of requests answered with HTTP 5xx (a quarter of them a load balancer's HTML page). */
  readonly serverError: number;
  /** Share of requests whose connection is reset (before or, when safe, after moto handled them). */
  readonly reset: number;
}

export const NO_FAULTS: FaultRates = { throttle: 0, serverError: 0, reset: 0 };

/**
 * throttle: the service's throttling error; server-error: HTTP 500/503 with the service's error
 * body; gateway-error: HTTP 502/503 with a load balancer's HTML page (no error code); reset: the
 * connection is reset.
 */
export type FaultKind = 'throttle' | 'server-error' | 'gateway-error' | 'reset';

/** One request (and its retries) to fail `count` times. */
export interface Burst {
  /** Let this many requests through (or fault them at the normal rates) before the burst starts. */
  readonly after: number;
  readonly kind: FaultKind;
  /** How many times the chosen request is failed: the SDK's attempt count makes its retries run out. */
  readonly count: number;
  /** Only a request of this action (e.g. `ModifyImageAttribute`) starts the burst. @default any */
  readonly action?: string;
}

export interface FaultStats {
  requests: number;
  forwarded: number;
  throttled: number;
  serverErrors: number;
  resets: number;
  /** Resets after moto applied the call (included in `resets`). */
  lostAnswers: number;
  /** Faults that belonged to a burst (included in the counts above). */
  burstFaults: number;
  /** Requests refused because a window exceeded `maxRequestsPerWindow`. */
  overLimit: number;
}

export interface FaultProxy {
  /** Use as AWS_ENDPOINT_URL: `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Totals since start (or the last `resetStats`). */
  readonly stats: FaultStats;
  /** Restarts the random fault schedule from `seed` and sets the rates. */
  configure(seed: number, rates: FaultRates): void;
  /**
   * Changes the next `count` successful answers to `action` (replacing any rewrite still pending),
   * e.g. to show an image in a state moto cannot produce.
   */
  rewriteNext(action: string, count: number, change: (body: string) => string): void;
  /** Arms a burst (replacing any armed one). */
  armBurst(burst: Burst | undefined): void;
  /** Whether the armed burst has run its course (or none was armed). */
  burstDone(): boolean;
  /** Starts a new request window (the cap applies per window) and returns the requests of the previous one. */
  window(): number;
  resetStats(): void;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** moto's endpoint, `http://127.0.0.1:<port>`. */
  readonly target: string;
  /** @default 0 */
  readonly seed?: number;
  /** @default NO_FAULTS */
  readonly rates?: FaultRates;
  /** Close after this long without a request (a guard against a forgotten proxy). @default 600000 */
  readonly idleMs?: number;
  /** Refuse requests beyond this many per window. @default 2000 */
  readonly maxRequestsPerWindow?: number;
}

/**
 * A seeded generator in [0, 1): Park and Miller's minimal standard (multiplier 48271 modulo
 * 2^31 - 1, exact in floating point), good enough for a fault schedule.
 */
export function seededRandom(seed: number): () => number {
  const m = 2147483647;
  let state = (((Math.trunc(seed) % (m - 1)) + (m - 1)) % (m - 1)) + 1;
  return () => {
    state = (state * 48271) % m;
    return (state - 1) / (m - 1);
  };
}

/** Reads the service and action of an SDK request: EC2 is form-encoded (`Action=`), KMS and WorkSpaces are JSON (`X-Amz-Target`). */
export function describeRequest(headers: http.IncomingHttpHeaders, body: string): RequestInfo {
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) {
    const [prefix, action] = target.split('.');
    const service: ServiceName = prefix === 'TrentService' ? 'kms' : prefix === 'WorkspacesService' ? 'workspaces' : 'other';
    return { service, action, mutating: isMutating(action) };
  }
  const action = new URLSearchParams(body).get('Action');
  if (action) return { service: 'ec2', action, mutating: isMutating(action) };
  return { service: 'other', action: 'unknown', mutating: false };
}

function isMutating(action: string): boolean {
  return !/^(Describe|Get|List)/.test(action);
}

/** Whether a lost answer (moto applied the call, the client never heard) is faithful to AWS for this call. */
function safeToLoseAnswer(info: RequestInfo): boolean {
  return !(info.service === 'kms' && info.action === 'CreateGrant');
}

interface Fault {
  readonly kind: FaultKind;
  readonly burst: boolean;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const upstream = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const sockets = new Set<Socket>();
  const idleMs = options.idleMs ?? 600_000;
  const cap = options.maxRequestsPerWindow ?? 2000;
  let random = seededRandom(options.seed ?? 0);
  let rates = options.rates ?? NO_FAULTS;
  let burst: (Burst & { seen: number; failed: number; signature?: string }) | undefined;
  let inWindow = 0;
  const rewrites: Array<{ action: string; count: number; change: (body: string) => string }> = [];
  const stats: FaultStats = { requests: 0, forwarded: 0, throttled: 0, serverErrors: 0, resets: 0, lostAnswers: 0, burstFaults: 0, overLimit: 0 };

  const pick = (info: RequestInfo, signature: string): Fault | undefined => {
    if (burst && burst.failed < burst.count) {
      if (burst.signature === undefined && info.service !== 'other' && (!burst.action || burst.action === info.action) && burst.seen++ >= burst.after) {
        burst.signature = signature;
      }
      if (burst.signature === signature) {
        burst.failed++;
        return { kind: burst.kind, burst: true };
      }
    }
    const r = random();
    if (r < rates.throttle) return { kind: 'throttle', burst: false };
    if (r < rates.throttle + rates.serverError) return { kind: random() < 0.25 ? 'gateway-error' : 'server-error', burst: false };
    if (r < rates.throttle + rates.serverError + rates.reset) return { kind: 'reset', burst: false };
    return undefined;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      touch();
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const info = describeRequest(req.headers, text);
      stats.requests++;
      if (++inWindow > cap) {
        stats.overLimit++;
        answerError(res, info, 400, 'RequestLoopLimit', `the fault proxy refused request ${inWindow} of one window: a request loop that does not end`);
        return;
      }
      const fault = pick(info, `${info.service} ${info.action} ${text}`);
      if (fault?.burst) stats.burstFaults++;
      if (fault?.kind === 'throttle') {
        stats.throttled++;
        throttle(res, info, random);
        return;
      }
      if (fault?.kind === 'server-error' || fault?.kind === 'gateway-error') {
        stats.serverErrors++;
        if (fault.kind === 'gateway-error') gatewayError(res, random);
        else serverError(res, info, random);
        return;
      }
      const loseAnswer = fault?.kind === 'reset' && !fault.burst && safeToLoseAnswer(info) && random() < 0.5;
      if (fault?.kind === 'reset' && !loseAnswer) {
        stats.resets++;
        req.socket.destroy();
        return;
      }
      forward(req, body, (status, headers, answer) => {
        stats.forwarded++;
        if (loseAnswer) {
          stats.resets++;
          stats.lostAnswers++;
          req.socket.destroy();
          return;
        }
        const rewrite = rewrites.find((r) => r.action === info.action && r.count > 0 && status < 300);
        if (rewrite) {
          rewrite.count--;
          const changed = Buffer.from(rewrite.change(answer.toString('utf8')), 'utf8');
          res.writeHead(status, { ...headers, 'content-length': String(changed.length) });
          res.end(changed);
          return;
        }
        res.writeHead(status, headers);
        res.end(answer);
      }, (err) => {
        answerError(res, info, 502, 'ProxyUpstreamError', `moto did not answer: ${err.message}`);
      });
    });
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.unref();
    socket.on('close', () => sockets.delete(socket));
  });

  const forward = (
    req: http.IncomingMessage, body: Buffer,
    done: (status: number, headers: http.OutgoingHttpHeaders, answer: Buffer) => void, failed: (err: Error) => void,
  ): void => {
    const headers = { ...req.headers, host: target.host };
    delete headers.connection;
    const out = http.request({
      host: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent: upstream,
    }, (answer) => {
      const parts: Buffer[] = [];
      answer.on('data', (c: Buffer) => parts.push(c));
      answer.on('end', () => {
        const h: http.OutgoingHttpHeaders = { ...answer.headers };
        delete h.connection;
        delete h['transfer-encoding'];
        const payload = Buffer.concat(parts);
        h['content-length'] = String(payload.length);
        done(answer.statusCode ?? 502, h, payload);
      });
      answer.on('error', failed);
    });
    out.on('error', failed);
    out.end(body);
  };

  let idle: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const touch = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => void close(), idleMs);
    idle.unref();
  };
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      if (idle) clearTimeout(idle);
      for (const s of sockets) s.destroy();
      upstream.destroy();
      server.close(() => resolve());
    });
    return closing;
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  touch();
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    configure(seed, newRates) {
      random = seededRandom(seed);
      rates = newRates;
    },
    rewriteNext(action, count, change) {
      rewrites.splice(0, rewrites.length, ...(count > 0 ? [{ action, count, change }] : []));
    },
    armBurst(b) {
      burst = b ? { ...b, seen: 0, failed: 0 } : undefined;
    },
    burstDone() {
      return !burst || burst.failed >= burst.count;
    },
    window() {
      const n = inWindow;
      inWindow = 0;
      return n;
    },
    resetStats() {
      for (const k of Object.keys(stats) as Array<keyof FaultStats>) stats[k] = 0;
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// Error answers, shaped as each service sends them
// ---------------------------------------------------------------------------------------------

function throttle(res: http.ServerResponse, info: RequestInfo, random: () => number): void {
  if (info.service === 'ec2') {
    // EC2 throttles with RequestLimitExceeded; seen with HTTP 503 and with 400.
    ec2Error(res, random() < 0.5 ? 503 : 400, 'RequestLimitExceeded', 'Request limit exceeded.');
  } else {
    jsonError(res, 400, 'ThrottlingException', 'Rate exceeded');
  }
}

/** A load balancer's page in front of the service: no AWS error code at all. */
function gatewayError(res: http.ServerResponse, random: () => number): void {
  const [status, title] = random() < 0.5 ? [502, 'Bad Gateway'] : [503, 'Service Temporarily Unavailable'];
  const body = `<html>\r\n<head><title>${status} ${title}</title></head>\r\n<body>\r\n<center><h1>${status} ${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
  res.writeHead(status, { 'content-type': 'text/html', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function serverError(res: http.ServerResponse, info: RequestInfo, random: () => number): void {
  const unavailable = random() < 0.5;
  if (info.service === 'ec2') {
    if (unavailable) ec2Error(res, 503, 'Unavailable', 'The server is overloaded and can\'t handle the request.');
    else ec2Error(res, 500, 'InternalError', 'An internal error has occurred.');
  } else if (info.service === 'kms') {
    if (unavailable) jsonError(res, 503, 'ServiceUnavailableException', 'Service unavailable');
    else jsonError(res, 500, 'KMSInternalException', 'An internal error has occurred.');
  } else {
    if (unavailable) jsonError(res, 503, 'ServiceUnavailable', 'Service unavailable');
    else jsonError(res, 500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.');
  }
}

function answerError(res: http.ServerResponse, info: RequestInfo, status: number, code: string, message: string): void {
  if (info.service === 'ec2') ec2Error(res, status, code, message);
  else jsonError(res, status, code, message);
}

function ec2Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
  res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function jsonError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ __type: code, message });
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': String(Buffer.byteLength(body)),
    'x-amzn-requestid': randomUUID(),
    'x-amzn-errortype': code,
  });
  res.end(body);
}
