/**
 * Pure-function tests of the SharedAmi handler's KMS decisions (lambda/ami/kms-plan.ts): grant
 * names, grantees, key discovery bookkeeping, the aws/ebs and organization checks, which grants are
 * this resource's, and which grants to create and revoke. No AWS, no mocks.
 */
import type { GrantListEntry } from '@aws-sdk/client-kms';
import { amiSpec } from './ami-spec';
import {
  grantName, granteeAccount, granteesFor, KeyInfo, keyProblem, mergeByArn, OwnGrant, ownGrants, planGrants, snapshotsByKey,
} from '../../lambda/ami/kms-plan';
import type { AmiShareSpec } from '../../lambda/ami/plan';
import { KMS_GRANT_OPERATIONS } from '../../src/private/contract';

const IMAGE = 'ami-0123456789abcdef0';
const OTHER_IMAGE = 'ami-0fedcba9876543210';
const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const ORG = 'arn:aws:organizations::123456789012:organization/o-exampleorg1';
const ORG_2 = 'arn:aws:organizations::444455556666:organization/o-secondorg12';
const OU = 'arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-ab12-cdef3456';
const KEY_1 = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_2 = 'arn:aws:kms:us-east-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321';
const AWS_EBS = 'arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/golden-images/6f8e1a20-0000-11ee-8000-0a1b2c3d4e5f';
const NAME = `cdk-shared-images/golden-images/Share/${IMAGE}`;

const root = (account: string, partition = 'aws'): string => `arn:${partition}:iam::${account}:root`;
const asg = (account: string, partition = 'aws'): string =>
  `arn:${partition}:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;

const spec = (overrides: Partial<AmiShareSpec> = {}): AmiShareSpec => amiSpec({ imageId: IMAGE, ...overrides });

const customer = (arn: string, ...snapshots: string[]): KeyInfo => ({ arn, manager: 'CUSTOMER', snapshots });
const awsManaged = (arn: string, ...snapshots: string[]): KeyInfo => ({ arn, manager: 'AWS', snapshots });

function grant(grantee: string, overrides: Partial<GrantListEntry> = {}): GrantListEntry {
  return {
    KeyId: KEY_1,
    GrantId: `g-${grantee.split(':')[4]}`,
    Name: NAME,
    GranteePrincipal: grantee,
    Operations: [...KMS_GRANT_OPERATIONS],
    ...overrides,
  };
}

const own = (keyArn: string, grantId: string, grantee: string, complete = true): OwnGrant => ({ keyArn, grantId, grantee, complete });

describe('grantName', () => {
  test('is cdk-shared-images/<stack name>/<logical id>/<image id>', () => {
    expect(grantName(STACK_ID, 'Share', IMAGE)).toBe(NAME);
    expect(grantName(STACK_ID, 'SharedAmiShareAbc123', OTHER_IMAGE)).toBe(`cdk-shared-images/golden-images/SharedAmiShareAbc123/${OTHER_IMAGE}`);
  });

  test('differs per stack, per logical id and per image (so resources never take each other\'s grants)', () => {
    const names = [
      grantName(STACK_ID, 'Share', IMAGE),
      grantName(STACK_ID.replace('golden-images', 'other-stack'), 'Share', IMAGE),
      grantName(STACK_ID, 'Share2', IMAGE),
      grantName(STACK_ID, 'Share', OTHER_IMAGE),
    ];
    expect(new Set(names).size).toBe(4);
  });

  test('replaces every character KMS does not allow in a grant name with "-"', () => {
    const name = grantName(STACK_ID, 'Share.With space+plus@at', IMAGE);
    expect(name).toBe(`cdk-shared-images/golden-images/Share-With-space-plus-at/${IMAGE}`);
    expect(name).toMatch(/^[a-zA-Z0-9:/_-]+$/);
  });

  test('a StackId without "/" falls back to the stack name "stack"', () => {
    expect(grantName('not-a-stack-arn', 'Share', IMAGE)).toBe(`cdk-shared-images/stack/Share/${IMAGE}`);
  });

  test('too long: stack and logical id become a hash, the image id always stays (regression: a cut dropped it)', () => {
    const longStack = STACK_ID.replace('golden-images', 's'.repeat(128));
    const name = grantName(longStack, 'L'.repeat(255), IMAGE);
    expect(name.length).toBeLessThanOrEqual(256);
    expect(name).toMatch(new RegExp(`^cdk-shared-images/[0-9a-f]{32}/${IMAGE}$`));
    expect(name).toMatch(/^[a-zA-Z0-9:/_-]+$/);
    // a new image never shares the old image's grant name, and another resource never shares it either
    expect(grantName(longStack, 'L'.repeat(255), 'ami-0fedcba9876543210')).not.toBe(name);
    expect(grantName(longStack, 'M'.repeat(255), IMAGE)).not.toBe(name);
    expect(grantName(longStack, 'L'.repeat(255), IMAGE)).toBe(name);
  });

  test('at exactly 256 characters nothing is cut', () => {
    const prefix = 'cdk-shared-images/golden-images/';
    const logicalId = 'L'.repeat(256 - prefix.length - 1 - IMAGE.length);
    const name = grantName(STACK_ID, logicalId, IMAGE);
    expect(name).toHaveLength(256);
    expect(name.endsWith(`/${IMAGE}`)).toBe(true);
  });
});

describe('granteesFor', () => {
  test('each account root, in declaration order; organizations and OUs are never grantees', () => {
    expect(granteesFor(spec({ accounts: [A, B], organizationArns: [ORG], organizationalUnitArns: [OU] }), 'aws')).toEqual([root(A), root(B)]);
  });

  test('with AutoScalingRoleGrants, each account root and its Auto Scaling service-linked role', () => {
    expect(granteesFor(spec({ accounts: [A, B], autoScalingRoleGrants: true }), 'aws')).toEqual([root(A), asg(A), root(B), asg(B)]);
  });

  test('uses the stack\'s partition', () => {
    expect(granteesFor(spec({ accounts: [A], autoScalingRoleGrants: true }), 'aws-cn')).toEqual([root(A, 'aws-cn'), asg(A, 'aws-cn')]);
  });

  test('none with KmsGrants off (even with the Auto Scaling option), none without a spec (Delete), none without accounts', () => {
    expect(granteesFor(spec({ accounts: [A, B], kmsGrants: false, autoScalingRoleGrants: true }), 'aws')).toEqual([]);
    expect(granteesFor(undefined, 'aws')).toEqual([]);
    expect(granteesFor(spec({ organizationArns: [ORG] }), 'aws')).toEqual([]);
  });
});

describe('snapshotsByKey', () => {
  test('groups the snapshots by key id, in snapshot order', () => {
    expect(snapshotsByKey({ 'snap-1': KEY_1, 'snap-2': KEY_2, 'snap-3': KEY_1 })).toEqual({ [KEY_1]: ['snap-1', 'snap-3'], [KEY_2]: ['snap-2'] });
  });

  test('no encrypted snapshot, no key', () => {
    expect(snapshotsByKey({})).toEqual({});
  });

  test('ids and ARNs of one key stay apart here (DescribeKey resolves them later)', () => {
    expect(snapshotsByKey({ 'snap-1': KEY_1, 'snap-2': '1234abcd-12ab-34cd-56ef-1234567890ab' }))
      .toEqual({ [KEY_1]: ['snap-1'], '1234abcd-12ab-34cd-56ef-1234567890ab': ['snap-2'] });
  });
});

describe('mergeByArn', () => {
  test('merges keys that resolved to one ARN (id, ARN, alias), keeping each snapshot once', () => {
    const merged = mergeByArn([
      customer(KEY_1, 'snap-1'),
      customer(KEY_2, 'snap-2'),
      customer(KEY_1, 'snap-3', 'snap-1'),
      customer(KEY_1, 'snap-4'),
    ]);
    expect(merged).toEqual([customer(KEY_1, 'snap-1', 'snap-3', 'snap-4'), customer(KEY_2, 'snap-2')]);
  });

  test('distinct keys pass through unchanged', () => {
    const keys = [customer(KEY_1, 'snap-1'), awsManaged(AWS_EBS, 'snap-2')];
    expect(mergeByArn(keys)).toEqual(keys);
    expect(mergeByArn([])).toEqual([]);
  });
});

describe('keyProblem', () => {
  test('a snapshot under the AWS managed key aws/ebs: names the AMI, the snapshot, the key and the fix', () => {
    const msg = keyProblem(IMAGE, [customer(KEY_1, 'snap-1'), awsManaged(AWS_EBS, 'snap-2', 'snap-3')], spec({ accounts: [A] }));
    expect(msg).toBe(
      `AMI ${IMAGE} cannot be shared: its snapshot snap-2 is encrypted with the AWS managed key aws/ebs (${AWS_EBS}), which other accounts can never use;`
      + ' copy the AMI re-encrypted with a customer managed key (ec2 copy-image --encrypted --kms-key-id <key>) and share the copy.',
    );
  });

  test('aws/ebs blocks organizations too, and declaring it does not help', () => {
    const specs = [
      spec({ organizationArns: [ORG] }),
      spec({ organizationalUnitArns: [OU], declaredKeyArns: [AWS_EBS] }),
      spec({ accounts: [A], declaredKeyArns: [AWS_EBS] }),
    ];
    for (const s of specs) {
      expect(keyProblem(IMAGE, [awsManaged(AWS_EBS, 'snap-1')], s)).toMatch(/^AMI ami-0123456789abcdef0 cannot be shared: its snapshot snap-1 is encrypted with the AWS managed key aws\/ebs/);
    }
  });

  test('an organization recipient and a customer managed key the app does not declare: names the key, the snapshot, the organization and the fix', () => {
    const msg = keyProblem(IMAGE, [customer(KEY_1, 'snap-1')], spec({ accounts: [A], organizationArns: [ORG] }));
    expect(msg).toBe(
      `AMI ${IMAGE} is encrypted with customer managed key ${KEY_1} (snapshot snap-1), and ${ORG} cannot receive a KMS grant:`
      + ' pass that key to the SharedAmi as encryptionKeys (a kms.Key defined in your app) so its key policy admits the organization,'
      + ' or share with accounts instead.',
    );
  });

  test('an OU recipient and an undeclared key: names the OU', () => {
    const msg = keyProblem(IMAGE, [customer(KEY_1, 'snap-1')], spec({ organizationalUnitArns: [OU] }));
    expect(msg).toContain(`customer managed key ${KEY_1} (snapshot snap-1), and ${OU} cannot receive a KMS grant`);
  });

  test('names the first undeclared key only and summarises many organization recipients', () => {
    const msg = keyProblem(IMAGE, [customer(KEY_1, 'snap-1'), customer(KEY_2, 'snap-2')],
      spec({ organizationArns: [ORG, ORG_2], organizationalUnitArns: [OU], declaredKeyArns: [KEY_1] }));
    expect(msg).toContain(`customer managed key ${KEY_2} (snapshot snap-2), and ${ORG}, ${ORG_2} and 1 more cannot receive a KMS grant`);
    expect(msg).not.toContain(`key ${KEY_1}`);
  });

  test('every key declared: organizations and OUs may proceed', () => {
    const keys = [customer(KEY_1, 'snap-1'), customer(KEY_2, 'snap-2')];
    const s = spec({ accounts: [A], organizationArns: [ORG], organizationalUnitArns: [OU], declaredKeyArns: [KEY_2, KEY_1] });
    expect(keyProblem(IMAGE, keys, s)).toBeUndefined();
  });

  test('KmsGrants off: an undeclared key does not block organizations', () => {
    expect(keyProblem(IMAGE, [customer(KEY_1, 'snap-1')], spec({ organizationArns: [ORG], kmsGrants: false }))).toBeUndefined();
  });

  test('accounts only: customer managed keys are granted, never a problem', () => {
    expect(keyProblem(IMAGE, [customer(KEY_1, 'snap-1'), customer(KEY_2, 'snap-2')], spec({ accounts: [A, B] }))).toBeUndefined();
  });

  test('no keys (unencrypted AMI): never a problem', () => {
    expect(keyProblem(IMAGE, [], spec({ organizationArns: [ORG], organizationalUnitArns: [OU] }))).toBeUndefined();
  });
});

describe('ownGrants', () => {
  test('keeps only the grants carrying this resource\'s name', () => {
    const grants = [
      grant(root(A)),
      grant(root(B), { Name: `cdk-shared-images/golden-images/Share/${OTHER_IMAGE}` }),
      grant(root(C), { Name: undefined }),
      grant(asg(A), { GrantId: 'g-asg' }),
      grant(root(B), { Name: `${NAME}-suffix`, GrantId: 'g-suffix' }),
    ];
    expect(ownGrants(KEY_1, grants, NAME)).toEqual([own(KEY_1, `g-${A}`, root(A)), own(KEY_1, 'g-asg', asg(A))]);
  });

  test('records the key ARN the caller listed on, not the grant\'s KeyId', () => {
    expect(ownGrants(KEY_2, [grant(root(A), { KeyId: '0987dcba-09fe-87dc-65ba-ab0987654321' })], NAME)).toEqual([own(KEY_2, `g-${A}`, root(A))]);
  });

  test('a grant is complete with every operation a consumer needs (extra operations allowed, any order)', () => {
    const [complete, extra, missing, none] = ownGrants(KEY_1, [
      grant(root(A), { GrantId: 'g-1', Operations: [...KMS_GRANT_OPERATIONS].reverse() }),
      grant(root(A), { GrantId: 'g-2', Operations: [...KMS_GRANT_OPERATIONS, 'Encrypt'] }),
      grant(root(A), { GrantId: 'g-3', Operations: KMS_GRANT_OPERATIONS.filter((op) => op !== 'ReEncryptTo') }),
      grant(root(A), { GrantId: 'g-4', Operations: undefined }),
    ], NAME);
    expect([complete.complete, extra.complete, missing.complete, none.complete]).toEqual([true, true, false, false]);
  });

  test.each(KMS_GRANT_OPERATIONS)('a grant without %s is incomplete', (op) => {
    const [g] = ownGrants(KEY_1, [grant(root(A), { Operations: KMS_GRANT_OPERATIONS.filter((o) => o !== op) })], NAME);
    expect(g.complete).toBe(false);
  });

  test('skips entries without a grant id or grantee (nothing to revoke or compare)', () => {
    expect(ownGrants(KEY_1, [grant(root(A), { GrantId: undefined }), grant(root(B), { GranteePrincipal: undefined })], NAME)).toEqual([]);
    expect(ownGrants(KEY_1, [], NAME)).toEqual([]);
  });
});

describe('planGrants', () => {
  /** Every grantee of the test was wanted before this event too (an Update that keeps them). */
  const settled = (...grantees: string[]): Set<string> => new Set(grantees);

  test('Create (nothing settled): makes sure of every key and grantee by name, whatever ListGrants shows', () => {
    const ours = [own(KEY_1, 'g-1', root(A))];
    expect(planGrants([KEY_1, KEY_2], [root(A), root(B)], ours)).toEqual({
      create: [
        { keyArn: KEY_1, grantee: root(A), listed: ['g-1'] }, { keyArn: KEY_1, grantee: root(B), listed: [] },
        { keyArn: KEY_2, grantee: root(A), listed: [] }, { keyArn: KEY_2, grantee: root(B), listed: [] },
      ],
      revoke: [],
    });
  });

  test('a settled grantee with exactly one complete grant needs nothing; only the missing are made', () => {
    const ours = [own(KEY_1, 'g-1', root(A)), own(KEY_2, 'g-2', root(B))];
    expect(planGrants([KEY_1, KEY_2], [root(A), root(B)], ours, settled(root(A), root(B)))).toEqual({
      create: [{ keyArn: KEY_1, grantee: root(B), listed: [] }, { keyArn: KEY_2, grantee: root(A), listed: [] }],
      revoke: [],
    });
  });

  test('nothing to do when every settled key and grantee has exactly one complete grant', () => {
    const ours = [own(KEY_1, 'g-1', root(A)), own(KEY_1, 'g-2', asg(A)), own(KEY_2, 'g-3', root(A)), own(KEY_2, 'g-4', asg(A))];
    expect(planGrants([KEY_1, KEY_2], [root(A), asg(A)], ours, settled(root(A), asg(A)))).toEqual({ create: [], revoke: [] });
  });

  test('a newly wanted grantee is made sure of even when ListGrants still lists a grant (revoked a moment ago, still listed)', () => {
    const ours = [own(KEY_1, 'g-stale', root(A)), own(KEY_1, 'g-b', root(B))];
    expect(planGrants([KEY_1], [root(A), root(B)], ours, settled(root(B)))).toEqual({
      create: [{ keyArn: KEY_1, grantee: root(A), listed: ['g-stale'] }],
      revoke: [],
    });
  });

  test('revokes the grants of a grantee no longer wanted, on every key, and keeps the others', () => {
    const ours = [own(KEY_1, 'g-a1', root(A)), own(KEY_1, 'g-b1', root(B)), own(KEY_2, 'g-a2', root(A)), own(KEY_2, 'g-b2', root(B))];
    expect(planGrants([KEY_1, KEY_2], [root(A)], ours, settled(root(A), root(B)))).toEqual({ create: [], revoke: [ours[1], ours[3]] });
  });

  test('revokes the Auto Scaling role grants when that option is turned off', () => {
    const ours = [own(KEY_1, 'g-1', root(A)), own(KEY_1, 'g-2', asg(A))];
    expect(planGrants([KEY_1], [root(A)], ours, settled(root(A), asg(A)))).toEqual({ create: [], revoke: [ours[1]] });
  });

  test('several listed grants for one grantee: CreateGrant by name tells which is the grant; the rest go then', () => {
    const ours = [own(KEY_1, 'g-1', root(A)), own(KEY_1, 'g-2', root(A)), own(KEY_1, 'g-3', root(A))];
    expect(planGrants([KEY_1], [root(A)], ours, settled(root(A)))).toEqual({
      create: [{ keyArn: KEY_1, grantee: root(A), listed: ['g-1', 'g-2', 'g-3'] }],
      revoke: [],
    });
  });

  test('revokes an incomplete grant and makes a complete one in its place', () => {
    const ours = [own(KEY_1, 'g-partial', root(A), false), own(KEY_1, 'g-b', root(B))];
    expect(planGrants([KEY_1], [root(A), root(B)], ours, settled(root(A), root(B)))).toEqual({
      create: [{ keyArn: KEY_1, grantee: root(A), listed: [] }],
      revoke: [ours[0]],
    });
  });

  test('an incomplete grant next to a complete one for the same grantee is revoked, and nothing is made', () => {
    const ours = [own(KEY_1, 'g-partial', root(A), false), own(KEY_1, 'g-full', root(A))];
    expect(planGrants([KEY_1], [root(A)], ours, settled(root(A)))).toEqual({ create: [], revoke: [ours[0]] });
  });

  test('Delete (no grantees) revokes every grant of ours, complete or not', () => {
    const ours = [own(KEY_1, 'g-1', root(A)), own(KEY_1, 'g-2', asg(A), false), own(KEY_2, 'g-3', root(B))];
    expect(planGrants([KEY_1, KEY_2], [], ours, settled(root(A), asg(A), root(B)))).toEqual({ create: [], revoke: ours });
  });

  test('no keys (unencrypted AMI): nothing to grant', () => {
    expect(planGrants([], [root(A), root(B)], [])).toEqual({ create: [], revoke: [] });
  });

  test('grants on keys the AMI no longer uses are not considered (only the listed keys are planned)', () => {
    expect(planGrants([KEY_1], [root(A)], [own(KEY_1, 'g-1', root(A)), own(KEY_2, 'g-2', root(A))], settled(root(A)))).toEqual({ create: [], revoke: [] });
  });
});

describe('granteeAccount', () => {
  test('reads the account of a root or role principal', () => {
    expect(granteeAccount(root(A))).toBe(A);
    expect(granteeAccount(asg(B, 'aws-us-gov'))).toBe(B);
  });

  test('gives back anything that is not an ARN as it is', () => {
    expect(granteeAccount('someone')).toBe('someone');
  });
});
