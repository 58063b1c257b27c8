/**
 * The demo's tables and verdict lines (example/report.ts): the verdict names every difference
 * between what the app declares and what AWS holds, and the tables fit in 100 columns for the
 * example app's own recipients.
 */
import { CONSUMERS_V1, CONSUMERS_V2, DESKTOP_TEAMS_V2, ORGANIZATION, WORKLOAD_OU } from '../../example/golden-image-app';
import { Aspect, recipientLabel, tableLines, verdict } from '../../example/report';

const A = 'UserId:111111111111';
const B = 'UserId:222222222222';
const OUTSIDE = 'UserId:444455556666';
const ORG = `OrganizationArn:${ORGANIZATION}`;

test('recipients read as account ids, "organization o-..." and "OU ou-..."', () => {
  expect([A, ORG, `OrganizationalUnitArn:${WORKLOAD_OU}`, '555555555555'].map(recipientLabel))
    .toEqual(['111111111111', 'organization o-goldenorg01', 'OU ou-gold-workload1', '555555555555']);
});

test('as declared: the declared shares and those made outside, nothing else; counts per aspect', () => {
  const aspects: Aspect[] = [
    { name: 'launch', declared: [A, ORG], outside: [OUTSIDE], actual: [ORG, OUTSIDE, A] },
    { name: 'snapshots', declared: [], outside: [], actual: [] },
  ];
  expect(verdict('golden AMI ami-0123', aspects)).toEqual({
    ok: true, line: `${'golden AMI ami-0123'.padEnd(32)}  as declared  launch 2 (+1 outside), snapshots 0`,
  });
});

test('a missing share, an undeclared one, and a share made outside that went away each make the image differ, by name', () => {
  const result = verdict('golden AMI ami-0123', [
    { name: 'launch', declared: [A, ORG], outside: [OUTSIDE], actual: [A, B] },
    { name: 'KMS grants', declared: [A], outside: [], actual: [A] },
  ]);
  expect(result.ok).toBe(false);
  expect(result.line).toBe(`${'golden AMI ami-0123'.padEnd(32)}  DIFFERS      `
    + 'launch lacks organization o-goldenorg01, 444455556666; launch has undeclared 222222222222');
});

test('the demo\'s tables and as-declared lines fit in 100 columns', () => {
  const ami = 'ami-0123456789abcdef0';
  const amiRows = [...CONSUMERS_V1, ...CONSUMERS_V2, ORGANIZATION, WORKLOAD_OU]
    .map((who) => [ami, recipientLabel(who), 'yes', 'yes', 'n/a']);
  const desktopRows = DESKTOP_TEAMS_V2.map((who) => ['wsi-0123abcde', who, 'yes']);
  const lines = [
    ...tableLines(['AMI', 'recipient', 'launch', 'snapshots', 'KMS grant'], amiRows),
    ...tableLines(['WorkSpaces image', 'recipient', 'shared'], desktopRows),
    `  ${verdict(`golden AMI ${ami}`, [
      { name: 'launch', declared: [A, B], outside: [OUTSIDE], actual: [A, B, OUTSIDE] },
      { name: 'snapshots', declared: [A, B], outside: [], actual: [A, B] },
      { name: 'KMS grants', declared: [A, B], outside: [], actual: [A, B] },
    ]).line}`,
  ];
  expect(lines.filter((line) => line.length > 100)).toEqual([]);
  // One column, one meaning: the header names each column once.
  expect(lines[0].split(/\s{2,}/)).toEqual(['AMI', 'recipient', 'launch', 'snapshots', 'KMS grant']);
});
