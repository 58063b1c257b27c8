/**
 * Pure-function tests of the SharedAmi handler's decisions (lambda/ami/plan.ts) and of the shared
 * helpers it is built on (lambda/common/sets.ts, lambda/common/event.ts). No AWS, no mocks.
 */
import { EC2ServiceException, Image } from '@aws-sdk/client-ec2';
import { amiSpec } from './ami-spec';
import {
  AmiShareSpec, AMI_ID, declaredLaunchPermissions, declaredSnapshotAccounts, describeDelta, explainFailure,
  explainPartialFailure, imageProblem, involvesSnapshots, isGone, LAUNCH_PERMISSION_BATCH, launchPermissionFromKey,
  launchPermissionKey, LaunchStep, parseAmiProperties, planChanges, recipientName, snapshotIdsOf, SnapshotStep, SNAPSHOT_PERMISSION_BATCH, Step,
  StepShape,
  explainSnapshotsLeft,
} from '../../lambda/ami/plan';
import { ShareError } from '../../lambda/common/errors';
import { imageIdFromPhysicalId, ownProperties, physicalIdFor, stackContext } from '../../lambda/common/event';
import { chunks, reconcileLagging, summarize, unique } from '../../lambda/common/sets';
import { SHARED_AMI_PHYSICAL_ID_PREFIX, SHARED_AMI_PROPERTY_KEYS, SharedAmiResourceProperties } from '../../src/private/contract';
import { MAX_AMI_RECIPIENTS } from '../../src/private/validation';

const IMAGE = 'ami-0123456789abcdef0';
const SHORT_IMAGE = 'ami-12345678';
const OWNER = '123456789012';
const REGION = 'us-east-1';
const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const FOREIGN = '999999999999';
const ORG = 'arn:aws:organizations::123456789012:organization/o-exampleorg1';
const OU = 'arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-ab12-cdef3456';
const KEY_1 = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_2 = 'arn:aws:kms:us-east-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321';
const ROOT_A = `arn:aws:iam::${A}:root`;
const ASG_B = `arn:aws:iam::${B}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;

/** 12-digit account ids 100000000000, 100000000001, ... */
function accounts(n: number, start = 0): string[] {
  return Array.from({ length: n }, (_, i) => String(100000000000 + start + i));
}

function props(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ImageId: IMAGE,
    Accounts: [A, B],
    OrganizationArns: [ORG],
    OrganizationalUnitArns: [OU],
    ShareSnapshots: 'false',
    ...overrides,
  };
}

const spec = (overrides: Partial<AmiShareSpec> = {}): AmiShareSpec => amiSpec({ imageId: IMAGE, ...overrides });

/** The error a strict parse throws (fails the test if it does not throw). */
function strictError(raw: Record<string, unknown>): ShareError {
  try {
    parseAmiProperties(raw, 'strict');
  } catch (err) {
    expect(err).toBeInstanceOf(ShareError);
    return err as ShareError;
  }
  throw new Error('parseAmiProperties(strict) accepted invalid properties');
}

function awsError(name: string, message = `${name} message`): EC2ServiceException {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: {} });
}


/** The steps of a plan that change permissions (launch, snapshot); fails if the plan holds any other. */
function permissionSteps(steps: Step[]): Array<LaunchStep | SnapshotStep> {
  const changes = steps.filter((s): s is LaunchStep | SnapshotStep => s.kind === 'launch' || s.kind === 'snapshot');
  expect(changes).toHaveLength(steps.length);
  return changes;
}

describe('parseAmiProperties (strict)', () => {
  test('reads well-formed properties into a spec', () => {
    expect(parseAmiProperties(props({ ShareSnapshots: 'true' }), 'strict')).toEqual({
      imageId: IMAGE,
      accounts: [A, B],
      organizationArns: [ORG],
      organizationalUnitArns: [OU],
      shareSnapshots: true,
      kmsGrants: true,
      autoScalingRoleGrants: false,
      declaredKeyArns: [],
      guardImage: false,
      deleteImage: false,
      deleteSnapshots: false,
      forceUnshare: false,
      takeOver: false,
      protection: true,
      protectionCooldown: false,
    });
  });

  test('accepts an 8-hex AMI id; defaults: ShareSnapshots false, KmsGrants on, AutoScalingRoleGrants off, no declared keys', () => {
    const parsed = parseAmiProperties({ ImageId: SHORT_IMAGE, Accounts: [A] }, 'strict');
    expect(parsed).toEqual(spec({ imageId: SHORT_IMAGE, accounts: [A] }));
  });

  test('ShareSnapshots "false" and boolean values are read as flags', () => {
    expect(parseAmiProperties(props({ ShareSnapshots: 'false' }), 'strict').shareSnapshots).toBe(false);
    expect(parseAmiProperties(props({ ShareSnapshots: true }), 'strict').shareSnapshots).toBe(true);
    expect(parseAmiProperties(props({ ShareSnapshots: false }), 'strict').shareSnapshots).toBe(false);
  });

  test('missing, null and empty-string recipient lists count as empty lists', () => {
    const parsed = parseAmiProperties({ ImageId: IMAGE, Accounts: [A], OrganizationArns: null, OrganizationalUnitArns: '' }, 'strict');
    expect(parsed.organizationArns).toEqual([]);
    expect(parsed.organizationalUnitArns).toEqual([]);
  });

  test('a single kind of recipient is enough (an organization alone)', () => {
    const parsed = parseAmiProperties({ ImageId: IMAGE, OrganizationArns: [ORG] }, 'strict');
    expect(parsed.accounts).toEqual([]);
    expect(parsed.organizationArns).toEqual([ORG]);
  });

  test('duplicates are de-duplicated, keeping first-seen order', () => {
    const parsed = parseAmiProperties(props({
      Accounts: [B, A, B, A, C],
      OrganizationArns: [ORG, ORG],
      OrganizationalUnitArns: [OU, OU, OU],
    }), 'strict');
    expect(parsed.accounts).toEqual([B, A, C]);
    expect(parsed.organizationArns).toEqual([ORG]);
    expect(parsed.organizationalUnitArns).toEqual([OU]);
  });

  test.each([
    ['too short', 'ami-1234567'],
    ['9 hex digits', 'ami-123456789'],
    ['uppercase hex', 'ami-0123456789ABCDEF0'],
    ['wrong prefix', 'wsi-0123456789abcdef0'],
    ['empty', ''],
  ])('rejects a bad image id (%s)', (_, imageId) => {
    const err = strictError(props({ ImageId: imageId }));
    expect(err.message).toContain(`imageId ${JSON.stringify(imageId)} is not an AMI id`);
    expect(err.message).toContain('was not changed because its properties are invalid');
    expect(err.message).toContain("Fix the SharedAmi construct's props and deploy again.");
  });

  test('rejects a missing image id', () => {
    const { ImageId: _, ...rest } = props();
    expect(strictError(rest).message).toContain('imageId undefined is not an AMI id');
  });

  test.each([
    ['11 digits', '12345678901'],
    ['13 digits', '1234567890123'],
    ['letters', '12345678901a'],
    ['an ARN', 'arn:aws:iam::111111111111:root'],
  ])('rejects a bad account id (%s) and names it', (_, account) => {
    const err = strictError(props({ Accounts: [A, account] }));
    expect(err.message).toContain(`Accounts: ${JSON.stringify(account)} is not a valid account id`);
    expect(err.message).toContain(IMAGE);
  });

  test('rejects an account id sent as a number (CloudFormation sends strings)', () => {
    expect(strictError(props({ Accounts: [111111111111] })).message).toContain('Accounts: 111111111111 is not a valid account id');
  });

  test.each([
    ['an OU ARN', OU],
    ['a short org id', 'arn:aws:organizations::123456789012:organization/o-abc'],
    ['no account', 'arn:aws:organizations:::organization/o-exampleorg1'],
    ['a bare org id', 'o-exampleorg1'],
  ])('rejects a bad organization ARN (%s)', (_, arn) => {
    const err = strictError(props({ OrganizationArns: [arn] }));
    expect(err.message).toContain(`OrganizationArns: ${JSON.stringify(arn)} is not a valid organization ARN`);
  });

  test.each([
    ['an organization ARN', ORG],
    ['a bad ou id', 'arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-x'],
    ['a bare ou id', 'ou-ab12-cdef3456'],
  ])('rejects a bad OU ARN (%s)', (_, arn) => {
    const err = strictError(props({ OrganizationalUnitArns: [arn] }));
    expect(err.message).toContain(`OrganizationalUnitArns: ${JSON.stringify(arn)} is not a valid organizational unit ARN`);
  });

  test.each([
    ['Accounts', A],
    ['OrganizationArns', ORG],
    ['OrganizationalUnitArns', { Arn: OU }],
  ])('rejects %s that is not a list', (key, value) => {
    const err = strictError(props({ [key]: value }));
    expect(err.message).toContain(`${key} must be a list, got `);
  });

  test('rejects unknown keys and names them', () => {
    const err = strictError(props({ Foo: 'x', Bar: 'y' }));
    expect(err.message).toContain('unknown properties Foo, Bar');
  });

  test('accepts every key of the contract (the compiler makes this object name each one)', () => {
    const every: Required<SharedAmiResourceProperties> = {
      ImageId: IMAGE,
      Accounts: [A],
      OrganizationArns: [ORG],
      OrganizationalUnitArns: [OU],
      ShareSnapshots: 'true',
      KmsGrants: 'true',
      AutoScalingRoleGrants: 'false',
      DeclaredKeyArns: [KEY_1],
      GuardImage: 'true',
      DeleteImage: 'false',
      DeleteSnapshots: 'false',
      ForceUnshare: 'false',
      TakeOverExistingShares: 'false',
      DeregistrationProtection: 'true',
      ProtectionCooldown: 'false',
      ShareRoleArn: `arn:aws:iam::${OWNER}:role/cdk-shared-images/us-east-1/s/SharedAmi/ShareRole`,
    };
    expect([...SHARED_AMI_PROPERTY_KEYS].sort()).toEqual(Object.keys(every).sort());
    expect(parseAmiProperties({ ...every }, 'strict')).toMatchObject({ imageId: IMAGE, accounts: [A], guardImage: true });
  });

  test('rejects a declaration without any recipient', () => {
    const err = strictError({ ImageId: IMAGE, Accounts: [], OrganizationArns: [], OrganizationalUnitArns: [] });
    expect(err.message).toContain('no recipient: give at least one account, organization ARN or OU ARN');
  });

  test('accepts more than 1000 recipients: AWS lets users raise the quota, so AWS answers', () => {
    const parsed = parseAmiProperties(props({ Accounts: accounts(MAX_AMI_RECIPIENTS - 1), OrganizationArns: [ORG], OrganizationalUnitArns: [OU] }), 'strict');
    expect(parsed.accounts.length + parsed.organizationArns.length + parsed.organizationalUnitArns.length).toBe(MAX_AMI_RECIPIENTS + 1);
  });

  test('accepts exactly 1000 recipients', () => {
    const parsed = parseAmiProperties(props({ Accounts: accounts(MAX_AMI_RECIPIENTS - 2) }), 'strict');
    expect(parsed.accounts.length + parsed.organizationArns.length + parsed.organizationalUnitArns.length).toBe(MAX_AMI_RECIPIENTS);
  });

  test('counts the quota after de-duplication', () => {
    const list = accounts(MAX_AMI_RECIPIENTS);
    const parsed = parseAmiProperties({ ImageId: IMAGE, Accounts: [...list, ...list] }, 'strict');
    expect(parsed.accounts).toHaveLength(MAX_AMI_RECIPIENTS);
  });

  test.each(['yes', 'TRUE', '1', ''])('rejects a bad ShareSnapshots value %j', (flag) => {
    const err = strictError(props({ ShareSnapshots: flag }));
    expect(err.message).toContain(`ShareSnapshots must be "true" or "false", got ${JSON.stringify(flag)}`);
  });

  test('reads the deletion-guard flags; DeleteImage implies the guard; DeleteSnapshots only with DeleteImage', () => {
    expect(parseAmiProperties(props({ GuardImage: 'true', ForceUnshare: 'true' }), 'strict'))
      .toMatchObject({ guardImage: true, deleteImage: false, deleteSnapshots: false, forceUnshare: true });
    expect(parseAmiProperties(props({ DeleteImage: 'true', DeleteSnapshots: 'true' }), 'strict'))
      .toMatchObject({ guardImage: true, deleteImage: true, deleteSnapshots: true });
    expect(parseAmiProperties(props({ DeleteSnapshots: 'true' }), 'strict')).toMatchObject({ deleteImage: false, deleteSnapshots: false });
    expect(() => parseAmiProperties(props({ GuardImage: 'yes' }), 'strict')).toThrow(/GuardImage must be "true" or "false", got "yes"/);
  });

  test('reads the KMS properties: KmsGrants, AutoScalingRoleGrants and DeclaredKeyArns (de-duplicated)', () => {
    const parsed = parseAmiProperties(props({ KmsGrants: 'false', AutoScalingRoleGrants: 'true', DeclaredKeyArns: [KEY_1, KEY_2, KEY_1] }), 'strict');
    expect(parsed).toEqual(spec({
      accounts: [A, B],
      organizationArns: [ORG],
      organizationalUnitArns: [OU],
      kmsGrants: false,
      autoScalingRoleGrants: true,
      declaredKeyArns: [KEY_1, KEY_2],
    }));
    expect(parseAmiProperties(props({ KmsGrants: 'true', AutoScalingRoleGrants: 'false' }), 'strict'))
      .toMatchObject({ kmsGrants: true, autoScalingRoleGrants: false });
    expect(parseAmiProperties(props({ KmsGrants: false, AutoScalingRoleGrants: true }), 'strict'))
      .toMatchObject({ kmsGrants: false, autoScalingRoleGrants: true });
  });

  test('accepts key ARNs of other partitions and an empty DeclaredKeyArns', () => {
    const gov = 'arn:aws-us-gov:kms:us-gov-west-1:210987654321:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    expect(parseAmiProperties(props({ DeclaredKeyArns: [gov] }), 'strict').declaredKeyArns).toEqual([gov]);
    expect(parseAmiProperties(props({ DeclaredKeyArns: '' }), 'strict').declaredKeyArns).toEqual([]);
    expect(parseAmiProperties(props({ DeclaredKeyArns: [] }), 'strict').declaredKeyArns).toEqual([]);
  });

  test.each([
    ['a key id', '1234abcd-12ab-34cd-56ef-1234567890ab'],
    ['an alias ARN', 'arn:aws:kms:us-east-1:111122223333:alias/aws/ebs'],
    ['a short account', 'arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
    ['another service', 'arn:aws:s3:us-east-1:111122223333:key/1234abcd'],
  ])('rejects a DeclaredKeyArns entry that is not a key ARN (%s) and names it', (_, arn) => {
    const err = strictError(props({ DeclaredKeyArns: [KEY_1, arn] }));
    expect(err.message).toContain(`DeclaredKeyArns: ${JSON.stringify(arn)} is not a valid KMS key ARN`);
  });

  test('rejects DeclaredKeyArns that is not a list', () => {
    expect(strictError(props({ DeclaredKeyArns: KEY_1 })).message).toContain('DeclaredKeyArns must be a list, got ');
  });

  test.each([['KmsGrants', 'yes'], ['KmsGrants', ''], ['AutoScalingRoleGrants', 'TRUE'], ['AutoScalingRoleGrants', 1]])(
    'rejects a bad %s value %j', (key, flag) => {
      const err = strictError(props({ [key]: flag }));
      expect(err.message).toContain(`${key} must be "true" or "false", got ${JSON.stringify(flag)}`);
    });

  test('reports every problem in one sentence', () => {
    const err = strictError(props({ ImageId: 'ami-x', Accounts: ['1'], ShareSnapshots: 'yes', Extra: 1 }));
    expect(err.message).toMatch(/^SharedAmi for "ami-x" was not changed because its properties are invalid: /);
    expect(err.message).toContain('imageId "ami-x" is not an AMI id');
    expect(err.message).toContain('unknown properties Extra');
    expect(err.message).toContain('Accounts: "1" is not a valid account id');
    expect(err.message).toContain('ShareSnapshots must be');
    expect(err.message).not.toContain('\n');
  });

  // Found by the reliability harness (test/reliability/bad-input.ts): thousands of bad entries
  // filled the 1,500-character message and cut off what to do.
  test('thousands of bad entries: the first five are named, the rest counted, and the sentence keeps its ending', () => {
    const err = strictError(props({ Accounts: Array.from({ length: 5000 }, (_, i) => `acct-${i}`) }));
    expect(err.message).toBe(`SharedAmi for "${IMAGE}" was not changed because its properties are invalid: `
      + [0, 1, 2, 3, 4].map((i) => `Accounts: "acct-${i}" is not a valid account id (12 digits, e.g. 111122223333)`).join('; ')
      + '; and 4995 more problems. Fix the SharedAmi construct\'s props and deploy again.');
  });

  test('an unknown key too long for a sentence is quoted and cut short; the sentence keeps its ending', () => {
    const err = strictError(props({ ['K'.repeat(5000)]: 'x' }));
    expect(err.message).toContain(`unknown properties "${'K'.repeat(76)}... (the handler and the construct are from different versions?)`);
    expect(err.message.length).toBeLessThan(500);
    expect(err.message).toMatch(/Fix the SharedAmi construct's props and deploy again\.$/);
  });

  test('six problems: five named, "and 1 more problem"', () => {
    const err = strictError(props({ Accounts: ['1', '2', '3', '4', '5', '6'] }));
    expect(err.message).toContain('Accounts: "5" is not a valid account id (12 digits, e.g. 111122223333); and 1 more problem. Fix');
    expect(err.message).not.toContain('"6"');
  });
});

describe('parseAmiProperties (lenient)', () => {
  test('never throws and keeps only well-formed recipients', () => {
    const parsed = parseAmiProperties(props({
      Accounts: [A, 'nope', A, B],
      OrganizationArns: ['bad-org', ORG],
      OrganizationalUnitArns: 'not a list',
      ShareSnapshots: 'maybe',
      Unknown: 'x',
    }), 'lenient');
    expect(parsed).toEqual({
      imageId: IMAGE,
      accounts: [A, B],
      organizationArns: [ORG],
      organizationalUnitArns: [],
      shareSnapshots: false,
      kmsGrants: true,
      autoScalingRoleGrants: false,
      declaredKeyArns: [],
      guardImage: false,
      deleteImage: false,
      deleteSnapshots: false,
      forceUnshare: false,
      takeOver: false,
      protection: true,
      protectionCooldown: false,
    });
  });

  test('accepts an empty declaration and an invalid image id (a Delete must not get stuck)', () => {
    expect(parseAmiProperties({}, 'lenient')).toEqual(spec({ imageId: 'undefined' }));
    expect(parseAmiProperties({ ImageId: 'ami-bad' }, 'lenient').imageId).toBe('ami-bad');
  });

  test('accepts more than 1000 recipients', () => {
    expect(parseAmiProperties({ ImageId: IMAGE, Accounts: accounts(1001) }, 'lenient').accounts).toHaveLength(1001);
  });

  test('keeps the KMS flags and the well-formed declared keys', () => {
    const parsed = parseAmiProperties(props({ KmsGrants: 'false', AutoScalingRoleGrants: 'true', DeclaredKeyArns: ['junk', KEY_2] }), 'lenient');
    expect(parsed).toMatchObject({ kmsGrants: false, autoScalingRoleGrants: true, declaredKeyArns: [KEY_2] });
  });

  test('keeps the snapshot flag', () => {
    const parsed = parseAmiProperties(props({ ShareSnapshots: 'true' }), 'lenient');
    expect(parsed.shareSnapshots).toBe(true);
  });
});

describe('ownProperties', () => {
  test('drops ServiceToken and keeps everything else', () => {
    expect(ownProperties({ ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:f', ImageId: IMAGE, Accounts: [A] }))
      .toEqual({ ImageId: IMAGE, Accounts: [A] });
  });

  test.each([undefined, null, 'text', [1, 2]])('turns %j into no properties', (raw) => {
    expect(ownProperties(raw)).toEqual({});
  });
});

describe('sets', () => {
  test('chunks splits into consecutive pieces of at most the given size', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunks([1, 2], 2)).toEqual([[1, 2]]);
    expect(chunks([], 2)).toEqual([]);
  });

  test('unique keeps first-seen order', () => {
    expect(unique([C, A, C, B, A])).toEqual([C, A, B]);
  });

  test('summarize lists up to max items, then counts the rest', () => {
    expect(summarize([])).toBe('none');
    expect(summarize([A, B])).toBe(`${A}, ${B}`);
    expect(summarize(['a', 'b', 'c', 'd', 'e'])).toBe('a, b, c, d, e');
    expect(summarize(['a', 'b', 'c', 'd', 'e', 'f', 'g'])).toBe('a, b, c, d, e and 2 more');
    expect(summarize(['a', 'b', 'c', 'd'], 3)).toBe('a, b, c and 1 more');
  });
});

describe('launch permission keys', () => {
  test('round-trip for accounts, organizations and OUs', () => {
    for (const p of [{ UserId: A }, { OrganizationArn: ORG }, { OrganizationalUnitArn: OU }]) {
      const key = launchPermissionKey(p)!;
      expect(launchPermissionFromKey(key)).toEqual(p);
    }
    expect(launchPermissionKey({ UserId: A })).toBe(`UserId:${A}`);
    expect(launchPermissionKey({ OrganizationArn: ORG })).toBe(`OrganizationArn:${ORG}`);
    expect(launchPermissionKey({ OrganizationalUnitArn: OU })).toBe(`OrganizationalUnitArn:${OU}`);
  });

  test('public (group all) is a key of its own that can never be built into a request', () => {
    expect(launchPermissionKey({ Group: 'all' })).toBe('Group:all');
    expect(() => launchPermissionFromKey('Group:all')).toThrow(/not a launch permission key/);
    expect(launchPermissionKey({})).toBeUndefined();
  });

  test('declared keys list accounts, then organizations, then OUs; snapshot accounts only when asked', () => {
    const s = spec({ accounts: [A], organizationArns: [ORG], organizationalUnitArns: [OU], shareSnapshots: true });
    expect(declaredLaunchPermissions(s)).toEqual([`UserId:${A}`, `OrganizationArn:${ORG}`, `OrganizationalUnitArn:${OU}`]);
    expect(declaredLaunchPermissions(undefined)).toEqual([]);
    expect(declaredSnapshotAccounts(s)).toEqual([A]);
    expect(declaredSnapshotAccounts({ ...s, shareSnapshots: false })).toEqual([]);
    expect(declaredSnapshotAccounts(undefined)).toEqual([]);
    expect(recipientName(`OrganizationalUnitArn:${OU}`)).toBe(OU);
  });

  test('involvesSnapshots only when some side shares snapshots with at least one account', () => {
    expect(involvesSnapshots(spec({ accounts: [A], shareSnapshots: true }), undefined)).toBe(true);
    expect(involvesSnapshots(undefined, spec({ accounts: [A], shareSnapshots: true }))).toBe(true);
    expect(involvesSnapshots(spec({ accounts: [A] }), spec({ accounts: [B] }))).toBe(false);
    expect(involvesSnapshots(spec({ organizationArns: [ORG], shareSnapshots: true }), undefined)).toBe(false);
  });

  test('snapshotIdsOf lists EBS snapshots once each, in mapping order', () => {
    const image: Image = {
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-2' } },
        { DeviceName: '/dev/xvdb', VirtualName: 'ephemeral0' },
        { DeviceName: '/dev/xvdc', Ebs: { SnapshotId: 'snap-1' } },
        { DeviceName: '/dev/xvdd', Ebs: { SnapshotId: 'snap-2' } },
      ],
    };
    expect(snapshotIdsOf(image)).toEqual(['snap-2', 'snap-1']);
    expect(snapshotIdsOf({})).toEqual([]);
  });
});

describe('planChanges', () => {
  const none = { launchPermissions: [], snapshotPermissions: {} };

  test('a create grants every recipient in one launch-permission step', () => {
    const after = spec({ accounts: [A, B], organizationArns: [ORG], organizationalUnitArns: [OU] });
    const steps = planChanges(undefined, after, IMAGE, none);
    expect(steps).toEqual([{
      kind: 'launch',
      target: IMAGE,
      add: [`UserId:${A}`, `UserId:${B}`, `OrganizationArn:${ORG}`, `OrganizationalUnitArn:${OU}`],
      remove: [],
      description: `launch permissions on ${IMAGE} +[${A}, ${B}, ${ORG} and 1 more]`,
    }]);
  });

  test('nothing to do when AWS already holds the declaration', () => {
    const s = spec({ accounts: [A, B], organizationArns: [ORG], shareSnapshots: true });
    const current = {
      launchPermissions: [`UserId:${A}`, `UserId:${B}`, `OrganizationArn:${ORG}`, `UserId:${FOREIGN}`, 'Group:all'],
      snapshotPermissions: { 'snap-1': [A, B], 'snap-2': [A, B, FOREIGN] },
    };
    expect(planChanges(s, s, IMAGE, current)).toEqual([]);
    expect(planChanges(undefined, s, IMAGE, current)).toEqual([]);
  });

  test('an update adds and removes in one call and leaves foreign permissions alone', () => {
    const before = spec({ accounts: [A, B], organizationArns: [ORG] });
    const after = spec({ accounts: [B, C] });
    const current = { launchPermissions: [`UserId:${A}`, `UserId:${B}`, `OrganizationArn:${ORG}`, `UserId:${FOREIGN}`, 'Group:all'], snapshotPermissions: {} };
    expect(planChanges(before, after, IMAGE, current)).toEqual([{
      kind: 'launch',
      target: IMAGE,
      add: [`UserId:${C}`],
      remove: [`UserId:${A}`, `OrganizationArn:${ORG}`],
      description: `launch permissions on ${IMAGE} +[${C}] -[${A}, ${ORG}]`,
    }]);
  });

  test('a delete removes every declared permission, whether or not the read shows it (reads lag writes), and nothing else', () => {
    const before = spec({ accounts: [A, B], organizationalUnitArns: [OU] });
    const current = { launchPermissions: [`UserId:${A}`, `OrganizationalUnitArn:${OU}`, `UserId:${FOREIGN}`], snapshotPermissions: {} };
    const steps = permissionSteps(planChanges(before, undefined, IMAGE, current));
    expect(steps).toHaveLength(1);
    expect(steps[0].add).toEqual([]);
    expect(steps[0].remove).toEqual([`UserId:${A}`, `UserId:${B}`, `OrganizationalUnitArn:${OU}`]);
  });

  test(`batches at LAUNCH_PERMISSION_BATCH (${LAUNCH_PERMISSION_BATCH}), adds and removes combined`, () => {
    const kept = accounts(10, 0);
    const dropped = accounts(30, 10);
    const added = accounts(150, 40);
    const before = spec({ accounts: [...kept, ...dropped] });
    const after = spec({ accounts: [...kept, ...added] });
    const current = { launchPermissions: [...kept, ...dropped].map((a) => `UserId:${a}`), snapshotPermissions: {} };
    const steps = permissionSteps(planChanges(before, after, IMAGE, current));
    expect(steps.map((s) => [s.add.length, s.remove.length])).toEqual([[100, 0], [50, 30]]);
    for (const s of steps) {
      expect(s.kind).toBe('launch');
      expect(s.add.length + s.remove.length).toBeLessThanOrEqual(LAUNCH_PERMISSION_BATCH);
    }
    expect(steps.flatMap((s) => s.add)).toEqual(added.map((a) => `UserId:${a}`));
    expect(steps.flatMap((s) => s.remove)).toEqual(dropped.map((a) => `UserId:${a}`));
  });

  test('adds and removes that fit one batch travel in one step', () => {
    const before = spec({ accounts: accounts(40, 0) });
    const after = spec({ accounts: accounts(60, 100) });
    const current = { launchPermissions: accounts(40, 0).map((a) => `UserId:${a}`), snapshotPermissions: {} };
    const steps = permissionSteps(planChanges(before, after, IMAGE, current));
    expect(steps).toHaveLength(1);
    expect([steps[0].add.length, steps[0].remove.length]).toEqual([60, 40]);
  });

  test('exactly one batch for 100 changes, two for 101', () => {
    expect(planChanges(undefined, spec({ accounts: accounts(100) }), IMAGE, none)).toHaveLength(1);
    expect(permissionSteps(planChanges(undefined, spec({ accounts: accounts(101) }), IMAGE, none)).map((s) => s.add.length)).toEqual([100, 1]);
  });

  test('snapshot steps go to accounts only, one per snapshot, and only for the missing ones', () => {
    const after = spec({ accounts: [A, B], organizationArns: [ORG], organizationalUnitArns: [OU], shareSnapshots: true });
    const current = { launchPermissions: [], snapshotPermissions: { 'snap-1': [], 'snap-2': [A, FOREIGN] } };
    const steps = planChanges(undefined, after, IMAGE, current);
    expect(steps.filter((s) => s.kind === 'snapshot')).toEqual([
      { kind: 'snapshot', target: 'snap-1', add: [A, B], remove: [], description: `createVolumePermission on snap-1 +[${A}, ${B}]` },
      { kind: 'snapshot', target: 'snap-2', add: [B], remove: [], description: `createVolumePermission on snap-2 +[${B}]` },
    ]);
    expect(steps[0].kind).toBe('launch');
  });

  test('no snapshot steps when ShareSnapshots is off, even with snapshots read', () => {
    const after = spec({ accounts: [A, B] });
    const steps = planChanges(undefined, after, IMAGE, { launchPermissions: [], snapshotPermissions: { 'snap-1': [] } });
    expect(steps.map((s) => s.kind)).toEqual(['launch']);
  });

  test('no snapshot steps for organizations and OUs alone', () => {
    const after = spec({ organizationArns: [ORG], organizationalUnitArns: [OU], shareSnapshots: true });
    const steps = planChanges(undefined, after, IMAGE, { launchPermissions: [], snapshotPermissions: { 'snap-1': [] } });
    expect(steps.map((s) => s.kind)).toEqual(['launch']);
  });

  test('ShareSnapshots true -> false revokes the accounts from every snapshot, keeping foreign holders', () => {
    const before = spec({ accounts: [A, B], shareSnapshots: true });
    const after = spec({ accounts: [A, B], shareSnapshots: false });
    const current = {
      launchPermissions: [`UserId:${A}`, `UserId:${B}`],
      snapshotPermissions: { 'snap-1': [A, B, FOREIGN], 'snap-2': [B] },
    };
    expect(planChanges(before, after, IMAGE, current)).toEqual([
      { kind: 'snapshot', target: 'snap-1', add: [], remove: [A, B], description: `createVolumePermission on snap-1 -[${A}, ${B}]` },
      { kind: 'snapshot', target: 'snap-2', add: [], remove: [A, B], description: `createVolumePermission on snap-2 -[${A}, ${B}]` },
    ]);
  });

  test('an account swap on shared snapshots is one add and one remove step per snapshot', () => {
    const before = spec({ accounts: [A], shareSnapshots: true });
    const after = spec({ accounts: [B], shareSnapshots: true });
    const current = { launchPermissions: [`UserId:${A}`], snapshotPermissions: { 'snap-1': [A] } };
    expect(permissionSteps(planChanges(before, after, IMAGE, current)).map((s) => [s.kind, s.target, s.add, s.remove])).toEqual([
      ['launch', IMAGE, [`UserId:${B}`], [`UserId:${A}`]],
      ['snapshot', 'snap-1', [B], []],
      ['snapshot', 'snap-1', [], [A]],
    ]);
  });

  test('more than 500 snapshot accounts: calls of at most 500, adds and removes never in one call', () => {
    const before = spec({ accounts: accounts(700, 0), shareSnapshots: true });
    const after = spec({ accounts: accounts(700, 600), shareSnapshots: true });
    const current = { launchPermissions: [], snapshotPermissions: { 'snap-1': accounts(700, 0) } };
    const steps = permissionSteps(planChanges(before, after, IMAGE, current)).filter((st) => st.kind === 'snapshot');
    expect(steps.map((st) => [st.add.length, st.remove.length])).toEqual([[500, 0], [100, 0], [0, 500], [0, 100]]);
    expect(SNAPSHOT_PERMISSION_BATCH).toBe(500);
    const added = steps.flatMap((st) => st.add);
    expect(new Set(added)).toEqual(new Set(accounts(600, 700)));
    expect(new Set(steps.flatMap((st) => st.remove))).toEqual(new Set(accounts(600, 0)));
  });

  test('KMS grants come first, then launch and snapshot permissions, then KMS revocations last', () => {
    const after = spec({ accounts: [A, B], shareSnapshots: true });
    const current = { launchPermissions: [], snapshotPermissions: { 'snap-1': [] } };
    const grants = {
      create: [{ keyArn: KEY_1, grantee: ROOT_A, listed: [] }, { keyArn: KEY_2, grantee: ASG_B, listed: [] }],
      revoke: [{ keyArn: KEY_1, grantId: 'g-old', grantee: `arn:aws:iam::${C}:root`, complete: true }],
    };
    expect(planChanges(undefined, after, IMAGE, current, grants)).toEqual([
      { kind: 'grant', target: KEY_1, grantee: ROOT_A, listed: [], description: `KMS grant on ${KEY_1} to ${A}` },
      { kind: 'grant', target: KEY_2, grantee: ASG_B, listed: [], description: `KMS grant on ${KEY_2} to ${B} (Auto Scaling role)` },
      { kind: 'await-grants', target: KEY_1, description: `wait until KMS lists the new grants on ${KEY_1}` },
      { kind: 'await-grants', target: KEY_2, description: `wait until KMS lists the new grants on ${KEY_2}` },
      {
        kind: 'launch',
        target: IMAGE,
        add: [`UserId:${A}`, `UserId:${B}`],
        remove: [],
        description: `launch permissions on ${IMAGE} +[${A}, ${B}]`,
      },
      { kind: 'snapshot', target: 'snap-1', add: [A, B], remove: [], description: `createVolumePermission on snap-1 +[${A}, ${B}]` },
      {
        kind: 'revoke-grant',
        target: KEY_1,
        grantee: `arn:aws:iam::${C}:root`,
        grantId: 'g-old',
        description: `revoke KMS grant g-old on ${KEY_1} from ${C}`,
      },
    ]);
  });

  test('KMS steps alone when the launch permissions are converged', () => {
    const s = spec({ accounts: [A] });
    const current = { launchPermissions: [`UserId:${A}`], snapshotPermissions: {} };
    const grants = { create: [{ keyArn: KEY_1, grantee: ROOT_A, listed: [] }], revoke: [] };
    expect(planChanges(s, s, IMAGE, current, grants).map((x) => x.kind)).toEqual(['grant', 'await-grants']);
    expect(planChanges(s, s, IMAGE, current, { create: [], revoke: [] })).toEqual([]);
  });

  test('describeDelta summarises long lists', () => {
    expect(describeDelta({ add: accounts(5).map((a) => `UserId:${a}`), remove: [`UserId:${A}`] }))
      .toBe('+[100000000000, 100000000001, 100000000002 and 2 more] -[111111111111]');
    expect(describeDelta({ add: [], remove: [] })).toBe('');
  });
});

describe('imageProblem', () => {
  const available: Image = { ImageId: IMAGE, OwnerId: OWNER, State: 'available' };

  test('an available image owned by this account can be shared', () => {
    expect(imageProblem(IMAGE, available, OWNER, REGION)).toBeUndefined();
  });

  test('a disabled image is named as disabled, with how to enable it (not as missing)', () => {
    expect(imageProblem(IMAGE, { ...available, State: 'disabled' }, OWNER, REGION))
      .toBe(`AMI ${IMAGE} is disabled, and a disabled AMI cannot be shared: enable it (ec2 enable-image --image-id ${IMAGE}) and deploy again; disabling removed its launch permissions, and the deployment puts the declared ones back.`);
  });

  test('snapshots EC2 left after deregistering are named with the fix', () => {
    expect(explainSnapshotsLeft(IMAGE, [{ snapshotId: 'snap-1', reason: 'InvalidSnapshot.InUse' }]))
      .toBe(`AMI ${IMAGE} was deregistered, but EC2 did not delete its snapshot snap-1 (InvalidSnapshot.InUse): delete it by hand (ec2 delete-snapshot --snapshot-id ...); the ids are also in the handler's log.`);
  });

  test('not found names the image, the account and the region', () => {
    expect(imageProblem(IMAGE, undefined, OWNER, REGION))
      .toBe(`AMI ${IMAGE} was not found in account ${OWNER} in ${REGION}: check the imageId (AMIs are regional).`);
  });

  test('an image owned by another account cannot be re-shared', () => {
    const msg = imageProblem(IMAGE, { ...available, OwnerId: FOREIGN }, OWNER, REGION);
    expect(msg).toBe(`AMI ${IMAGE} is owned by account ${FOREIGN}, not by account ${OWNER}: an AMI shared with you cannot be re-shared; copy it into ${OWNER} (ec2 copy-image) and share the copy.`);
  });

  test('a pending image: deploy again once available', () => {
    expect(imageProblem(IMAGE, { ...available, State: 'pending' }, OWNER, REGION))
      .toBe(`AMI ${IMAGE} is in state "pending" and cannot be shared: deploy again once it is available.`);
  });

  test.each(['failed', 'invalid', 'deregistered', 'error'] as const)('state "%s": share an available AMI instead', (state) => {
    expect(imageProblem(IMAGE, { ...available, State: state }, OWNER, REGION))
      .toBe(`AMI ${IMAGE} is in state "${state}" and cannot be shared: share an available AMI instead.`);
  });

  test('isGone: a missing or deregistered image has nothing left to revoke', () => {
    expect(isGone(undefined)).toBe(true);
    expect(isGone({ ...available, State: 'deregistered' })).toBe(true);
    expect(isGone(available)).toBe(false);
    expect(isGone({ ...available, State: 'pending' })).toBe(false);
  });
});

describe('explainFailure', () => {
  const launchStep: StepShape = {
    kind: 'launch', target: IMAGE, add: [`UserId:${A}`, `OrganizationArn:${ORG}`], remove: [`UserId:${B}`],
  };
  const snapshotStep: StepShape = {
    kind: 'snapshot', target: 'snap-0abc', add: [A], remove: [],
  };

  function expectOneSentence(msg: string): void {
    expect(msg).not.toContain('\n');
    expect(msg.length).toBeLessThan(1000);
    expect(msg.endsWith('.')).toBe(true);
  }

  test('a ShareError keeps its message', () => {
    expect(explainFailure(new ShareError('Already explained.'), IMAGE, launchStep, OWNER)).toBe('Already explained.');
  });

  test.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed'])('%s: the AMI was not found in the account', (code) => {
    const msg = explainFailure(awsError(code), IMAGE, launchStep, OWNER);
    expect(msg).toBe(`AMI ${IMAGE} was not found in account ${OWNER}: check the imageId (AMIs are regional).`);
    expectOneSentence(msg);
  });

  test('InvalidSnapshot.NotFound names the snapshot and the AMI', () => {
    const msg = explainFailure(awsError('InvalidSnapshot.NotFound'), IMAGE, snapshotStep, OWNER);
    expect(msg).toBe(`Snapshot snap-0abc of AMI ${IMAGE} no longer exists: deploy again to re-read the AMI's snapshots.`);
    expectOneSentence(msg);
  });

  test.each(['InvalidAMIAttributeItemValue', 'InvalidUserID.Malformed', 'InvalidParameterValue'])('%s: AWS refused the recipients', (code) => {
    const msg = explainFailure(awsError(code, 'bad value'), IMAGE, launchStep, OWNER);
    expect(msg).toBe(`AWS refused to share AMI ${IMAGE} with ${A}, ${ORG}, ${B} (${code}: bad value): check that each account id, organization ARN and OU ARN exists and is spelled right.`);
    expectOneSentence(msg);
  });

  test.each(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'AuthFailure'])('%s maps to the access-denied sentence', (code) => {
    const msg = explainFailure(awsError(code), IMAGE, launchStep, OWNER);
    expect(msg).toMatch(new RegExp(`^The share handler is not allowed to change AMI ${IMAGE}(?: for [^(]+)? \\(${code}\\)`));
    expect(msg).toContain(`the AMI must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call`);
    expectOneSentence(msg);
  });

  test('access denied names the recipients the refused call was for', () => {
    const msg = explainFailure(awsError('UnauthorizedOperation'), IMAGE, launchStep, OWNER);
    expect(msg).toContain(IMAGE);
    for (const recipient of [A, ORG, B]) expect(msg).toContain(recipient);
  });

  test.each(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestThrottled', 'RequestThrottledException', 'SlowDown'])(
    '%s maps to the throttling sentence', (code) => {
      const msg = explainFailure(awsError(code), IMAGE, launchStep, OWNER);
      expect(msg).toMatch(new RegExp(`^AWS kept throttling changes to AMI ${IMAGE}(?: for [^(]+)? \\(${code}\\) after all retries: deploy again later`));
      expectOneSentence(msg);
    });

  test('throttling names the recipients the throttled call was for', () => {
    const msg = explainFailure(awsError('RequestLimitExceeded'), IMAGE, launchStep, OWNER);
    expect(msg).toContain(IMAGE);
    for (const recipient of [A, ORG, B]) expect(msg).toContain(recipient);
  });

  test('any other code: names the AMI, the recipients, the code and the AWS message', () => {
    const msg = explainFailure(awsError('InternalError', 'We encountered an internal error.'), IMAGE, launchStep, OWNER);
    expect(msg).toBe(`Changing AMI ${IMAGE} for ${A}, ${ORG}, ${B} failed (InternalError: We encountered an internal error.): fix the cause and deploy again.`);
    expectOneSentence(msg);
  });

  test('an error without a code, outside any step', () => {
    expect(explainFailure(new Error('socket hang up'), IMAGE, undefined, OWNER))
      .toBe(`Changing AMI ${IMAGE} failed (error: socket hang up): fix the cause and deploy again.`);
    expect(explainFailure('boom', IMAGE, undefined, OWNER)).toBe(`Changing AMI ${IMAGE} failed (error: boom): fix the cause and deploy again.`);
  });

  test('outside any step, the messages still name the AMI', () => {
    expect(explainFailure(awsError('InvalidSnapshot.NotFound'), IMAGE, undefined, OWNER)).toContain(`of AMI ${IMAGE} no longer exists`);
    expect(explainFailure(awsError('InvalidParameterValue', 'v'), IMAGE, undefined, OWNER))
      .toBe(`AWS refused to share AMI ${IMAGE} with the recipients (InvalidParameterValue: v): check that each account id, organization ARN and OU ARN exists and is spelled right.`);
  });

  test('a failed snapshot step names the snapshot and its AMI', () => {
    const msg = explainFailure(awsError('IncorrectState', 'snapshot busy'), IMAGE, snapshotStep, OWNER);
    expect(msg).toBe(`Changing snapshot snap-0abc of AMI ${IMAGE} for ${A} failed (IncorrectState: snapshot busy): fix the cause and deploy again.`);
  });

  test('reads the EC2 `Code` field before `name`', () => {
    const err = Object.assign(new Error('Request limit exceeded.'), { Code: 'RequestLimitExceeded' });
    expect(explainFailure(err, IMAGE, undefined, OWNER)).toContain('AWS kept throttling changes to AMI');
  });

  test('many recipients are summarised, not listed', () => {
    const step = { kind: 'launch' as const, target: IMAGE, add: accounts(50).map((a) => `UserId:${a}`), remove: [] };
    const msg = explainFailure(awsError('InvalidAMIAttributeItemValue', 'x'), IMAGE, step, OWNER);
    expect(msg).toContain('100000000000, 100000000001, 100000000002 and 47 more');
    expect(msg).not.toContain('100000000049');
  });
});

describe('explainFailure for KMS steps', () => {
  const grantRoot: StepShape = { kind: 'grant', target: KEY_1, grantee: ROOT_A, listed: [] };
  const grantAsg: StepShape = { kind: 'grant', target: KEY_1, grantee: ASG_B, listed: [] };
  const revoke: StepShape = { kind: 'revoke-grant', target: KEY_2, grantee: ROOT_A, grantId: 'g-1' };

  test.each(['InvalidArnException', 'MalformedPolicyDocumentException'])('%s on an Auto Scaling role grantee: the account has no such role', (code) => {
    expect(explainFailure(awsError(code), IMAGE, grantAsg, OWNER)).toBe(
      `Account ${B} has no Auto Scaling service-linked role, so KMS key ${KEY_1} of AMI ${IMAGE} cannot be granted to it: create the role in ${B}`
      + ' (iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com) or turn kmsGrantsForAutoScaling off.',
    );
  });

  test.each(['InvalidArnException', 'MalformedPolicyDocumentException'])('%s on an account root grantee: check the account exists', (code) => {
    expect(explainFailure(awsError(code), IMAGE, grantRoot, OWNER))
      .toBe(`KMS refused ${ROOT_A} as a grantee of key ${KEY_1} of AMI ${IMAGE} (${code}): check that account ${A} exists.`);
  });

  test.each(['DisabledException', 'KMSInvalidStateException'])('%s: the key is disabled or pending deletion', (code) => {
    expect(explainFailure(awsError(code), IMAGE, grantRoot, OWNER)).toBe(
      `KMS key ${KEY_1} of AMI ${IMAGE} is disabled or pending deletion (${code}), so ${A} cannot be granted: enable the key, or share an AMI encrypted with an enabled key.`,
    );
  });

  test.each(['AccessDeniedException', 'AccessDenied'])('%s on a KMS step names the key, the account and the key policy', (code) => {
    expect(explainFailure(awsError(code), IMAGE, revoke, OWNER)).toBe(
      `The share handler may not manage grants on KMS key ${KEY_2} of AMI ${IMAGE} for ${A} (${code}): the key must be in account ${OWNER}`
      + " and its key policy must let the account's IAM policies allow kms:CreateGrant (the default key policy does).",
    );
  });

  test('other errors on a KMS step name the key, its AMI and the grantee account', () => {
    expect(explainFailure(awsError('KMSInternalException', 'oops'), IMAGE, grantRoot, OWNER))
      .toBe(`Changing KMS key ${KEY_1} of AMI ${IMAGE} for ${A} failed (KMSInternalException: oops): fix the cause and deploy again.`);
    expect(explainFailure(awsError('ThrottlingException'), IMAGE, revoke, OWNER))
      .toMatch(new RegExp(`^AWS kept throttling changes to KMS key ${KEY_2} of AMI ${IMAGE} for ${A} \\(ThrottlingException\\)`));
  });

  test('the KMS sentences are for KMS steps only: InvalidArnException on a launch step is the generic sentence', () => {
    const launch: StepShape = { kind: 'launch', target: IMAGE, add: [`UserId:${A}`], remove: [] };
    expect(explainFailure(awsError('InvalidArnException', 'x'), IMAGE, launch, OWNER))
      .toBe(`Changing AMI ${IMAGE} for ${A} failed (InvalidArnException: x): fix the cause and deploy again.`);
  });
});

describe('explainPartialFailure', () => {
  const step = (description: string): Step => ({ kind: 'launch', target: IMAGE, add: [], remove: [], description });

  test('nothing applied: says nothing was changed', () => {
    expect(explainPartialFailure('Cause.', [], [step('s1'), step('s2')])).toBe('Cause. Nothing was changed.');
  });

  test('names what was applied and what was not', () => {
    expect(explainPartialFailure('Cause.', [step('launch on x')], [step('snap-1 add'), step('snap-2 add')]))
      .toBe('Cause. Applied before the failure: launch on x; not applied: snap-1 add, snap-2 add. The automatic rollback or a new deployment converges from here.');
  });

  test('long step lists are summarised', () => {
    const msg = explainPartialFailure('Cause.', ['a', 'b', 'c', 'd'].map(step), ['e', 'f', 'g', 'h', 'i'].map(step));
    expect(msg).toContain('Applied before the failure: a, b, c and 1 more; not applied: e, f, g and 2 more.');
  });
});

describe('physical id and stack context', () => {
  test.each([IMAGE, SHORT_IMAGE])('round-trips %s', (imageId) => {
    const id = physicalIdFor(SHARED_AMI_PHYSICAL_ID_PREFIX, imageId);
    expect(id).toBe(`shared-ami:${imageId}`);
    expect(imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, id)).toBe(imageId);
  });

  test.each([
    'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED',
    'shared-ami:',
    'shared-ami:ami-xyz',
    'shared-ami:ami-0123456789ABCDEF0',
    `shared-ami:${IMAGE}-suffix`,
    `Shared-Ami:${IMAGE}`,
    `shared-workspace-image:${IMAGE}`,
    IMAGE,
    '2024/01/01/[$LATEST]0123456789abcdef',
    '',
  ])('does not parse %j', (physicalId) => {
    expect(imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, physicalId)).toBeUndefined();
  });

  test.each([undefined, null, 42, {}])('does not parse the non-string %j', (physicalId) => {
    expect(imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, physicalId)).toBeUndefined();
  });

  test.each([
    ['arn:aws:cloudformation:us-east-1:123456789012:stack/s/guid', { partition: 'aws', region: 'us-east-1', account: '123456789012' }],
    ['arn:aws-us-gov:cloudformation:us-gov-west-1:210987654321:stack/s/guid', { partition: 'aws-us-gov', region: 'us-gov-west-1', account: '210987654321' }],
    ['arn:aws-cn:cloudformation:cn-north-1:111122223333:stack/s/guid', { partition: 'aws-cn', region: 'cn-north-1', account: '111122223333' }],
  ])('stackContext reads %s', (stackId, expected) => {
    expect(stackContext({ StackId: stackId })).toEqual(expected);
  });

  test('stackContext rejects a missing StackId', () => {
    expect(() => stackContext({} as { StackId: string })).toThrow('The event\'s StackId undefined is not a CloudFormation stack ARN');
  });

  test.each([
    '',
    'not-an-arn',
    'arn:aws:cloudformation:us-east-1:1234:stack/s/guid',
    'urn:aws:cloudformation:us-east-1:123456789012:stack/s/guid',
    'arn:aws:cloudformation:us-east-1',
  ])('stackContext rejects %j with a ShareError', (stackId) => {
    expect(() => stackContext({ StackId: stackId })).toThrow(ShareError);
    expect(() => stackContext({ StackId: stackId })).toThrow(/is not a CloudFormation stack ARN; this handler only serves CloudFormation\.$/);
  });
});

describe('reconcileLagging', () => {
  test('revokes what was dropped even when the read no longer (or not yet) shows it', () => {
    expect(reconcileLagging(['a', 'b'], ['a'], ['a'])).toEqual({ add: [], remove: ['b'] });
  });

  test('an Update grants what it newly declares even when the read shows it (a revoke of moments ago may lag)', () => {
    expect(reconcileLagging(['a'], ['a', 'b'], ['a', 'b'])).toEqual({ add: ['b'], remove: [] });
  });

  test('recipients declared on both sides come from the read: nothing drifted, nothing sent; drifted, put back', () => {
    expect(reconcileLagging(['a'], ['a'], ['a'])).toEqual({ add: [], remove: [] });
    expect(reconcileLagging(['a'], ['a'], [])).toEqual({ add: ['a'], remove: [] });
  });

  test('a Create (nothing declared before) adds only what is missing; never what was not declared', () => {
    expect(reconcileLagging([], ['a', 'b'], ['a', 'x'])).toEqual({ add: ['b'], remove: [] });
  });

  test('never touches what was never declared, whatever the read shows', () => {
    expect(reconcileLagging([], [], [FOREIGN, A])).toEqual({ add: [], remove: [] });
    expect(reconcileLagging([A], [], [A, FOREIGN])).toEqual({ add: [], remove: [A] });
    expect(reconcileLagging([A], [B], [FOREIGN])).toEqual({ add: [B], remove: [A] });
  });

  test('de-duplicates its output', () => {
    expect(reconcileLagging([A, A], [B, B], [A])).toEqual({ add: [B], remove: [A] });
  });
});
