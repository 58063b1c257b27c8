/**
 * The handlers' log: one JSON line per decision, readable in CloudWatch, silent in tests unless
 * asked for (SHARED_IMAGES_QUIET=1 silences it).
 */
export function log(entry: Record<string, unknown>): void {
  if (process.env.SHARED_IMAGES_QUIET !== '1') console.log(JSON.stringify(entry));
}
