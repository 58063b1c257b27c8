/**
 * Small numeric and formatting helpers shared by the benchmark sections. Figures are medians;
 * a time is never reported without the ratio or reference it is compared with.
 */

/** The median of the samples (mean of the middle two for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error('median of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs `fn` and returns its result with its wall time in milliseconds. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const start = nowMs();
  const value = await fn();
  return { value, ms: nowMs() - start };
}

/** `1,234` */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `12.3 ms`, `1.23 s` */
export function ms(n: number): string {
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 1000) return `${(n / 1000).toFixed(2)} s`;
  if (n >= 100) return `${n.toFixed(0)} ms`;
  return `${n.toFixed(1)} ms`;
}

/** `1.53 MB`, `12.4 kB`, `512 B` (decimal units) */
export function bytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

/** `0.42x` */
export function ratio(numerator: number, denominator: number): string {
  if (denominator === 0) return 'n/a';
  const r = numerator / denominator;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

/** Accounts `base`, `base + 1`, ... as 12-digit ids. */
export function accountIds(count: number, base = 200_000_000_000): string[] {
  return Array.from({ length: count }, (_, i) => String(base + i));
}

/** A markdown table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: ReadonlyArray<'l' | 'r'>): string {
  const sep = header.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** Progress for the console (stderr, so stdout carries only the figures). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
