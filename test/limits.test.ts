import { App, NestedStack, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SharedAmi, SharedWorkspaceImage } from '../src';
import { StackLimits } from '../src/private/limits';
import { IAM_ROLE_INLINE_POLICY_LIMIT, approximateIntrinsics, policyChars } from '../src/private/policy-size';
import { ShareProvider } from '../src/private/provider';

// The synth-time check counts what IAM and CloudFormation will count (each share role's inline and
// trust policy, each handler role's inline policies, the stack's resources and template bytes),
// warns from 90 % of a cap and refuses the stack past it, with one sentence naming the limit, the
// stack and the fix.

function stack(props: { suppressTemplateIndentation?: boolean } = {}): Stack {
  return new Stack(new App(), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' }, ...props });
}

function amis(s: Stack, n: number, kmsGrants = true): void {
  for (let i = 0; i < n; i++) {
    new SharedAmi(s, `Ami${i}`, {
      imageId: `ami-${(0x10000000 + i).toString(16)}`,
      accounts: ['111111111111', '222222222222'],
      kmsGrants,
    });
  }
}

function limitWarnings(s: Stack): string[] {
  return Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('ack: cdk-shared-images:limits'))
    .map((w) => String(w.entry.data).replace(/ \[ack: cdk-shared-images:limits\]$/, ''));
}

const ACCOUNTS = Array.from({ length: 25 }, (_, i) => String(100000000000 + i));
/** Literal key ARNs: each one is listed twice in the share's policy (read and revoke, create grants). */
function keys(s: Stack, n: number): kms.IKey[] {
  return Array.from({ length: n }, (_, i) => kms.Key.fromKeyArn(s, `Key${n}-${i}`,
    `arn:aws:kms:eu-west-1:123456789012:key/${String(i).padStart(8, '0')}-12ab-34cd-56ef-1234567890ab`));
}

describe('each share role\'s inline policy stays under IAM\'s 10,240 characters per role', () => {
  test('a typical share: far from the cap, no warning', () => {
    const s = stack();
    amis(s, 3);
    new SharedWorkspaceImage(s, 'Wsi', { imageId: 'wsi-123456789', accounts: ['111111111111'] });
    Template.fromStack(s);
    expect(limitWarnings(s)).toEqual([]);
  });

  test('close to the cap: a warning that names the share, the count, the stack and the fix', () => {
    const s = stack();
    new SharedAmi(s, 'ManyKeys', { imageId: 'ami-12345678', accounts: ACCOUNTS, kmsGrantsForAutoScaling: true, encryptionKeys: keys(s, 35) });
    Template.fromStack(s);
    expect(limitWarnings(s)).toEqual([expect.stringMatching(
      /^SharedAmi Golden\/ManyKeys needs about (9,[3-9]\d\d|10,[0-2]\d\d) characters of inline policy on its role in stack Golden, close to IAM's 10,240 per role: declare fewer encryptionKeys, or set kmsGrants: false for unencrypted AMIs\.$/,
    )]);
  });

  test('over the cap: synth fails before anything is deployed, in one sentence', () => {
    const s = stack();
    new SharedAmi(s, 'ManyKeys', { imageId: 'ami-12345678', accounts: ACCOUNTS, kmsGrantsForAutoScaling: true, encryptionKeys: keys(s, 40) });
    expect(() => Template.fromStack(s)).toThrow(
      /\[Golden\/cdk-shared-images\.Limits\] SharedAmi Golden\/ManyKeys needs about 10,\d{3} characters of inline policy on its role in stack Golden, over IAM's 10,240 per role: declare fewer encryptionKeys, or set kmsGrants: false for unencrypted AMIs\./,
    );
  });

  test('the count is what IAM counts, with the longest partition and region names where the template leaves them open', () => {
    const s = new Stack(new App(), 'Golden'); // environment-agnostic: partition, region and account are tokens
    new SharedAmi(s, 'Share', { imageId: 'ami-12345678', accounts: ACCOUNTS, kmsGrantsForAutoScaling: true, shareSnapshots: true });
    const t = Template.fromStack(s);
    const [, role] = Object.entries(t.findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('ShareRole'))!;
    const doc = role.Properties.Policies[0].PolicyDocument;
    const longest = policyChars(doc);
    expect(longest).toBe(policyChars(doc, { partition: 'aws-us-gov', region: 'us-isof-south-1' }));
    expect(longest).toBeGreaterThan(policyChars(doc, { partition: 'aws', region: 'us-east-1' }));
    expect(longest).toBeLessThan(IAM_ROLE_INLINE_POLICY_LIMIT * 0.9);
    const check = (s.node.findChild('cdk-shared-images.Limits') as StackLimits).check();
    expect(check).toEqual([]);
  });

  test('past 25 accounts the grantee condition is a pattern, so a share of 1,000 accounts costs no more than one of 25', () => {
    const size = (accounts: string[]) => {
      const s = stack();
      new SharedAmi(s, 'Share', { imageId: 'ami-12345678', accounts, kmsGrantsForAutoScaling: true });
      const [, role] = Object.entries(Template.fromStack(s).findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('ShareRole'))!;
      return policyChars(role.Properties.Policies[0].PolicyDocument);
    };
    const many = Array.from({ length: 1000 }, (_, i) => String(100000000000 + i));
    expect(size(many)).toBeLessThan(size(ACCOUNTS));
  });
});

describe('each handler role\'s inline policies stay under IAM\'s cap', () => {
  test('the library\'s own policy is fixed: 200 shares add nothing to it', () => {
    const small = stack();
    amis(small, 1);
    const large = stack();
    amis(large, 200, false);
    const handlerPolicy = (s: Stack) => Object.entries(Template.fromStack(s).findResources('AWS::IAM::Policy'))
      .find(([id]) => id.includes('SharedAmiProviderHandlerRoleDefaultPolicy'))![1].Properties.PolicyDocument;
    expect(handlerPolicy(large)).toEqual(handlerPolicy(small));
  });

  test('a policy a user attaches to the handler role counts', () => {
    const s = stack();
    amis(s, 1);
    const role = (s.node.findChild('cdk-shared-images.SharedAmiProvider') as ShareProvider).role;
    new iam.Policy(s, 'Extra', {
      roles: [role],
      statements: [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: Array.from({ length: 250 }, (_, i) => `arn:aws:s3:::golden-images-bucket-${i}/*`) })],
    });
    expect(() => Template.fromStack(s)).toThrow(
      /The SharedAmi handler role in stack Golden holds about [\d,]+ characters of inline policy, over IAM's 10,240 per role: remove the policies attached to it outside this library\./,
    );
  });
});

describe('the stack stays under CloudFormation\'s 500 resources and 1 MB template', () => {
  test('close to 500 resources: a warning naming the count, the stack and the fix', () => {
    const s = stack({ suppressTemplateIndentation: true });
    amis(s, 225, false);
    const resources = Object.keys(Template.fromStack(s).toJSON().Resources).length;
    expect(resources).toBeGreaterThan(450);
    expect(limitWarnings(s)).toEqual([
      `Stack Golden holds ${resources} resources (225 shares, two resources each), close to CloudFormation's 500 per stack: move some shares to another stack or a NestedStack.`,
    ]);
  });

  test('past 500 resources: synth fails, naming the limit, the stack and the fix', () => {
    const s = stack({ suppressTemplateIndentation: true });
    amis(s, 250, false);
    expect(() => Template.fromStack(s)).toThrow(
      /Stack Golden holds 5\d\d resources \(250 shares, two resources each\), over CloudFormation's 500 per stack: move some shares to another stack or a NestedStack\./,
    );
  });

  test('a nested stack is a stack of its own: its shares count there', () => {
    const s = stack({ suppressTemplateIndentation: true });
    amis(s, 200, false);
    const nested = new NestedStack(s, 'More');
    amis(nested, 200, false);
    expect(() => Template.fromStack(s)).not.toThrow();
    expect(limitWarnings(s)).toEqual([]);
  });

  /** 220 SharedAmi of 20 accounts; every `heavy`-th with snapshots and Auto Scaling grantees (twice the grantee ARNs). */
  function catalogue(suppressTemplateIndentation: boolean, heavy: number): Stack {
    const s = stack({ suppressTemplateIndentation });
    for (let i = 0; i < 220; i++) {
      new SharedAmi(s, `Golden${i}`, {
        imageId: `ami-${(0x10000000 + i).toString(16)}00000000f`,
        accounts: ACCOUNTS.slice(0, 20),
        kmsGrantsForAutoScaling: i % heavy === 1,
        shareSnapshots: i % heavy === 1,
      });
    }
    return s;
  }

  test('a template past 1 MB as `cdk synth` writes it (indented) fails, and the sentence points at suppressTemplateIndentation', () => {
    expect(() => Template.fromStack(catalogue(false, 3))).toThrow(
      /Stack Golden's template is about 1,\d{3},\d{3} bytes \(220 shares\), over CloudFormation's 1,000,000: set suppressTemplateIndentation: true on the stack, or move some shares to another stack or a NestedStack\./,
    );
    const minified = catalogue(true, 3);
    expect(() => Template.fromStack(minified)).not.toThrow();
    expect(limitWarnings(minified)).toEqual([]);
  });

  test('close to 1 MB: a warning; with indentation already suppressed, the fix is to move shares', () => {
    const s = catalogue(true, 2);
    expect(() => Template.fromStack(s)).not.toThrow();
    // Each synthesis warns once; the assertions synthesize twice, the second time with the
    // synthesizer's bootstrap check already in the template (counted, not estimated).
    const warnings = limitWarnings(s);
    expect(warnings.length).toBeGreaterThan(0);
    for (const w of warnings) {
      expect(w).toMatch(/^Stack Golden's template is about 9\d\d,\d{3} bytes \(220 shares\), close to CloudFormation's 1,000,000: move some shares to another stack or a NestedStack\.$/);
    }
  });
});

describe('policyChars: intrinsics replaced by literals at least as long as the real values', () => {
  test('pseudo parameters, joins, Fn::Sub and Fn::Split resolve to the given values', () => {
    const doc = {
      Resource: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, '::image/ami-12345678']] },
        { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' },
      ],
      Grantees: { 'Fn::Split': [',', { 'Fn::Sub': 'arn:${AWS::Partition}:iam::111111111111:root,arn:${AWS::Partition}:iam::222222222222:root' }] },
    };
    expect(approximateIntrinsics(doc, { partition: 'aws', region: 'eu-west-1', account: '111122223333' })).toEqual({
      Resource: ['arn:aws:ec2:eu-west-1::image/ami-12345678', 'arn:aws:kms:eu-west-1:111122223333:key/*'],
      Grantees: ['arn:aws:iam::111111111111:root', 'arn:aws:iam::222222222222:root'],
    });
  });

  test('without values, the longest partition and region names', () => {
    expect(approximateIntrinsics({ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}::image/*' })).toBe('arn:aws-us-gov:ec2:us-isof-south-1::image/*');
  });

  test('Fn::Sub variables and intrinsics the estimate does not know still count as text', () => {
    expect(approximateIntrinsics({ 'Fn::Sub': ['arn:aws:s3:::${Bucket}/*', { Bucket: 'golden' }] })).toBe('arn:aws:s3:::golden/*');
    expect(approximateIntrinsics({ 'Fn::Join': ['', ['key:', { 'Fn::ImportValue': 'KeyId' }]] }, { partition: 'aws', region: 'us-east-1' }))
      .toBe(`key:arn:aws:service:us-east-1:123456789012:resource/${'Value'.padEnd(64, '0')}`);
  });

  test('references become an ARN with a resource name of IAM\'s longest role name; length is whitespace-free JSON', () => {
    const arn = approximateIntrinsics({ 'Fn::GetAtt': ['Logs1234', 'Arn'] }, { partition: 'aws', region: 'us-east-1' }) as string;
    expect(arn).toBe(`arn:aws:service:us-east-1:123456789012:resource/${'Logs1234'.padEnd(64, '0')}`);
    expect(approximateIntrinsics({ Ref: 'Key1234' }, { partition: 'aws', region: 'us-east-1' })).toBe(`arn:aws:service:us-east-1:123456789012:resource/${'Key1234'.padEnd(64, '0')}`);
    expect(policyChars({ Version: '2012-10-17', Statement: [] })).toBe('{"Version":"2012-10-17","Statement":[]}'.length);
  });
});
