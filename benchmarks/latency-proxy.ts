/**
 * A loopback HTTP proxy between the AWS SDK and moto, for the benchmarks: it forwards every request
 * to one fixed upstream (moto on 127.0.0.1), adds a fixed latency to each call, optionally throttles
 * above a set rate (a token bucket; excess calls get the service's throttling error, which the SDK
 * retries with backoff), and counts calls per action.
 *
 * Run as its own process (`node -r ts-node/register/transpile-only benchmarks/latency-proxy.ts
 * <upstream>`), so its timers never share an event loop with the handler under test. It binds
 * 127.0.0.1 on a free port, prints one JSON line `{"endpoint": "http://127.0.0.1:<port>"}`, and
 * exits by itself when stdin closes (the parent went away or asked it to stop) or after
 * `BENCH_PROXY_MAX_LIFETIME_MS` (default 20 minutes), whichever comes first.
 *
 * Control (same port, path prefix /__bench/, never used by AWS):
 * - POST /__bench/config {"latencyMs": 50, "ratePerSecond": 0, "burst": 5}: 0 rate = no throttling.
 * - POST /__bench/reset: zeroes the counters.
 * - GET  /__bench/stats: {"requests", "throttled", "byAction": {...}, "upstreamMs": [median, p90]}.
 */
import * as http from 'http';

export interface ProxyConfig {
  /** Added before each call is forwarded (throttled answers wait it too). */
  readonly latencyMs: number;
  /** Calls per second allowed; above it the proxy answers with a throttling error. 0 = unlimited. */
  readonly ratePerSecond: number;
  /** Token-bucket size: calls allowed back to back before the rate applies. */
  readonly burst: number;
}

export interface ProxyStats {
  /** Every request forwarded or throttled. */
  readonly requests: number;
  readonly throttled: number;
  /** Action name (EC2 `Action=`, JSON `X-Amz-Target` operation) → calls, throttled ones included. */
  readonly byAction: Record<string, number>;
  /** moto's own time per forwarded call (without the added latency): median and 90th percentile, ms. */
  readonly upstreamMs: [number, number];
}

function main(): void {
  const upstream = new URL(process.argv[2] ?? '');
  if (upstream.hostname !== '127.0.0.1' && upstream.hostname !== 'localhost') {
    throw new Error(`the benchmark proxy forwards to loopback only, got ${upstream.href}`);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let config: ProxyConfig = { latencyMs: 0, ratePerSecond: 0, burst: 5 };
  let tokens = config.burst;
  let refilledAt = Date.now();
  let stats = { requests: 0, throttled: 0, byAction: {} as Record<string, number>, upstream: [] as number[] };

  const takeToken = (): boolean => {
    if (config.ratePerSecond <= 0) return true;
    const now = Date.now();
    tokens = Math.min(config.burst, tokens + ((now - refilledAt) / 1000) * config.ratePerSecond);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url?.startsWith('/__bench/')) {
        control(req.url, body, res);
        return;
      }
      const action = actionOf(req.headers, body);
      stats.requests++;
      stats.byAction[action] = (stats.byAction[action] ?? 0) + 1;
      // The throttling decision is taken when the call arrives, like a service's rate limiter.
      const allowed = takeToken();
      setTimeout(() => {
        if (!allowed) {
          stats.throttled++;
          throttle(req.headers, res);
          return;
        }
        forward(req, body, res);
      }, config.latencyMs);
    });
  });

  const control = (url: string, body: Buffer, res: http.ServerResponse): void => {
    const answer = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (url === '/__bench/config') {
      const next = JSON.parse(body.toString('utf8') || '{}') as Partial<ProxyConfig>;
      config = { ...config, ...next };
      tokens = config.burst;
      refilledAt = Date.now();
      answer(200, config);
    } else if (url === '/__bench/reset') {
      stats = { requests: 0, throttled: 0, byAction: {}, upstream: [] };
      answer(200, {});
    } else if (url === '/__bench/stats') {
      const sorted = [...stats.upstream].sort((a, b) => a - b);
      const at = (q: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
      const out: ProxyStats = { requests: stats.requests, throttled: stats.throttled, byAction: stats.byAction, upstreamMs: [at(0.5), at(0.9)] };
      answer(200, out);
    } else {
      answer(404, { error: `unknown control ${url}` });
    }
  };

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void => {
    const started = process.hrtime.bigint();
    const out = http.request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      agent,
      headers: { ...req.headers, 'host': upstream.host, 'content-length': String(body.length) },
    }, (up) => {
      const parts: Buffer[] = [];
      up.on('data', (c: Buffer) => parts.push(c));
      up.on('end', () => {
        stats.upstream.push(Number(process.hrtime.bigint() - started) / 1e6);
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.end(Buffer.concat(parts));
      });
    });
    out.on('error', (err) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`benchmark proxy: upstream failed: ${err.message}`);
    });
    out.end(body);
  };

  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address() as { port: number };
    process.stdout.write(`${JSON.stringify({ endpoint: `http://127.0.0.1:${address.port}` })}\n`);
  });

  const stop = (): void => {
    server.close();
    agent.destroy();
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  setTimeout(stop, Number(process.env.BENCH_PROXY_MAX_LIFETIME_MS ?? 20 * 60_000)).unref();
}

/** The operation: EC2's query protocol names it in the body, JSON protocols in X-Amz-Target. */
function actionOf(headers: http.IncomingHttpHeaders, body: Buffer): string {
  const target = headers['x-amz-target'];
  if (typeof target === 'string') return target.slice(target.lastIndexOf('.') + 1);
  const match = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('utf8'));
  return match ? match[1] : 'unknown';
}

/** The service's own throttling answer: the SDK classifies both as throttling and backs off. */
function throttle(headers: http.IncomingMessage['headers'], res: http.ServerResponse): void {
  if (typeof headers['x-amz-target'] === 'string') {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'ThrottlingException' });
    res.end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
    return;
  }
  res.writeHead(503, { 'content-type': 'text/xml' });
  res.end('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    + '<Message>Request limit exceeded.</Message></Error></Errors><RequestID>bench</RequestID></Response>');
}

if (require.main === module) main();
