/**
 * Starts ../latency-proxy.ts in its own process and talks to its control endpoints.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import type { ProxyConfig, ProxyStats } from '../latency-proxy';

export interface LatencyProxy {
  /** Point AWS_ENDPOINT_URL (or a client's `endpoint`) here. */
  readonly endpoint: string;
  configure(config: Partial<ProxyConfig>): Promise<void>;
  reset(): Promise<void>;
  stats(): Promise<ProxyStats>;
  /** Closes the proxy's stdin (its stop signal) and waits for it to exit. */
  stop(): Promise<void>;
}

export async function startLatencyProxy(upstream: string, repoRoot: string): Promise<LatencyProxy> {
  const script = path.join(__dirname, '..', 'latency-proxy.ts');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script, upstream], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '..', 'tsconfig.json') },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the latency proxy printed no endpoint within 30 s'));
    }, 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve((JSON.parse(out.slice(0, nl)) as { endpoint: string }).endpoint);
      } catch (err) {
        reject(new Error(`the latency proxy printed ${JSON.stringify(out.slice(0, nl))}: ${(err as Error).message}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the latency proxy exited (code ${code}) before printing its endpoint`));
    });
  });
  child.stdout!.resume();

  const call = async (method: 'GET' | 'POST', command: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${endpoint}/__bench/${command}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`latency proxy ${command}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    configure: async (config) => {
      await call('POST', 'config', config);
    },
    reset: async () => {
      await call('POST', 'reset', {});
    },
    stats: async () => call('GET', 'stats') as Promise<ProxyStats>,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const guard = setTimeout(() => child.kill('SIGTERM'), 10_000);
        guard.unref();
        child.stdin?.end();
        await exited;
        clearTimeout(guard);
      })();
      return stopping;
    },
  };
}
