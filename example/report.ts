/**
 * The demo's output, as pure functions: tables and one verdict line per image. Kept apart from
 * example/demo.ts so that test/example/report.test.ts can check them without AWS.
 */

/** One kind of share on one image: what the app declares, what it must leave alone, what AWS holds. */
export interface Aspect {
  readonly name: string;
  readonly declared: string[];
  readonly outside: string[];
  readonly actual: string[];
}

/** A recipient as a table cell: an account id, or the organization / OU id out of its ARN. */
export function recipientLabel(who: string): string {
  const id = who.replace(/^(UserId|OrganizationArn|OrganizationalUnitArn):/, '');
  if (id.includes(':organization/')) return `organization ${id.split('/').pop()}`;
  if (id.includes(':ou/')) return `OU ${id.split('/').pop()}`;
  return id;
}

/** One line: the image's shares are exactly what the app declares (plus the shares made outside it), or what differs. */
export function verdict(image: string, aspects: Aspect[]): { line: string; ok: boolean } {
  const differences = aspects.flatMap((a) => {
    const want = [...a.declared, ...a.outside];
    const missing = want.filter((x) => !a.actual.includes(x)).map(recipientLabel);
    const extra = a.actual.filter((x) => !want.includes(x)).map(recipientLabel);
    return [
      ...(missing.length ? [`${a.name} lacks ${missing.join(', ')}`] : []),
      ...(extra.length ? [`${a.name} has undeclared ${extra.join(', ')}`] : []),
    ];
  });
  if (differences.length) return { line: `${image.padEnd(32)}  DIFFERS      ${differences.join('; ')}`, ok: false };
  const counts = aspects.map((a) => `${a.name} ${a.declared.length}${a.outside.length ? ` (+${a.outside.length} outside)` : ''}`);
  return { line: `${image.padEnd(32)}  as declared  ${counts.join(', ')}`, ok: true };
}

/** A table's lines: the header, a rule, then the rows, each column as wide as its widest cell. */
export function tableLines(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}
