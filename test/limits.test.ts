import { App, NestedStack, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SharedAmi, SharedWorkspaceImage } from '../src';
import { IAM_ROLE_INLINE_POLICY_LIMIT, approximateIntrinsics, policyChars } from '../src/private/policy-size';
import { ShareProvider } from '../src/private/provider';

// Every share adds its own policy to the one handler role of its type, and IAM caps a role's
// inline policies at 10,240 characters: the stack is refused at synth time when the estimate (which
// errs low) is over, and warned about from 90 %.

function stack(): Stack {
  return new Stack(new App(), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
}

function amis(s: Stack, n: number, grantKeyUsage = true): void {
  for (let i = 0; i < n; i++) {
    new SharedAmi(s, `Ami${i}`, {
      imageId: `ami-${(0x10000000 + i).toString(16)}`,
      accounts: ['111111111111', '222222222222'],
      grantKeyUsage,
    });
  }
}

function workspaceImages(s: Stack, n: number): void {
  for (let i = 0; i < n; i++) new SharedWorkspaceImage(s, `Wsi${i}`, { imageId: `wsi-${100000000 + i}`, accounts: ['111111111111'] });
}

function sizeWarnings(s: Stack): string[] {
  return Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('inline policy on one handler role')).map((w) => String(w.entry.data));
}

describe('the handler role\'s inline policies stay under IAM\'s cap', () => {
  test('a few shares: no warning', () => {
    const s = stack();
    amis(s, 3);
    workspaceImages(s, 3);
    Template.fromStack(s);
    expect(sizeWarnings(s)).toEqual([]);
  });

  test('close to the cap: a warning that names the count, the stack and the fix', () => {
    const s = stack();
    amis(s, 14);
    Template.fromStack(s);
    const [warning, ...rest] = sizeWarnings(s);
    expect(rest).toEqual([]);
    expect(warning).toMatch(/^14 SharedAmi in stack Golden need about 10,\d{3} characters of inline policy on one handler role, close to IAM's 10,240: /);
    expect(warning).toContain('move some to another stack or a NestedStack, or set grantKeyUsage: false for unencrypted AMIs.');
  });

  test('over the cap: synth fails before anything is deployed (15 default SharedAmi of 2 accounts)', () => {
    const s = stack();
    amis(s, 15);
    expect(() => Template.fromStack(s)).toThrow(
      /Golden\/cdk-shared-images\.SharedAmiProvider\] 15 SharedAmi in stack Golden need about 10,\d{3} characters of inline policy on one handler role, over IAM's 10,240: move some to another stack or a NestedStack/,
    );
  });

  test('a policy a user attaches to the handler role counts too', () => {
    const s = stack();
    amis(s, 10);
    const role = (s.node.findChild('cdk-shared-images.SharedAmiProvider') as ShareProvider).role;
    new iam.Policy(s, 'Extra', {
      roles: [role],
      statements: [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: Array.from({ length: 100 }, (_, i) => `arn:aws:s3:::golden-images-bucket-${i}/*`) })],
    });
    expect(() => Template.fromStack(s)).toThrow(/10 SharedAmi in stack Golden need about [\d,]+ characters .* over IAM's 10,240/);
  });

  test('a nested stack has its own handler role and its own count', () => {
    const s = stack();
    amis(s, 10);
    amis(new NestedStack(s, 'More'), 10);
    expect(() => Template.fromStack(s)).not.toThrow();
    expect(sizeWarnings(s)).toEqual([]);
  });

  test('without KMS permissions a share\'s policy is small: 45 fit', () => {
    const s = stack();
    amis(s, 45, false);
    expect(() => Template.fromStack(s)).not.toThrow();
    expect(sizeWarnings(s)).toEqual([]);
  });

  test('SharedWorkspaceImage has its own role and its own count', () => {
    const ok = stack();
    amis(ok, 12);
    workspaceImages(ok, 30);
    expect(() => Template.fromStack(ok)).not.toThrow();

    const over = stack();
    workspaceImages(over, 60);
    expect(() => Template.fromStack(over)).toThrow(/60 SharedWorkspaceImage in stack Golden need about [\d,]+ characters .*over IAM's 10,240: move some to another stack or a NestedStack\.$/m);
  });

  test('the estimate agrees with the template: the AWS::IAM::Policy documents on the role add up to it', () => {
    const s = stack();
    amis(s, 14);
    const t = Template.fromStack(s);
    const role = Object.keys(t.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp('SharedAmiProvider') } }))[0];
    const total = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]))
      .reduce((sum, p) => sum + policyChars(p.Properties.PolicyDocument, { region: 'eu-west-1', account: '123456789012', stackName: 'Golden' }), 0);
    expect(sizeWarnings(s)[0]).toContain(`need about ${total.toLocaleString('en-US')} characters`);
    expect(total).toBeGreaterThan(IAM_ROLE_INLINE_POLICY_LIMIT * 0.9);
  });
});

describe('policyChars: intrinsics replaced by literals of plausible length', () => {
  test('pseudo parameters, joins and Fn::Sub resolve to the given values', () => {
    const doc = {
      Resource: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, '::image/ami-12345678']] },
        { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' },
      ],
    };
    expect(approximateIntrinsics(doc, { region: 'eu-west-1', account: '111122223333' })).toEqual({
      Resource: ['arn:aws:ec2:eu-west-1::image/ami-12345678', 'arn:aws:kms:eu-west-1:111122223333:key/*'],
    });
  });

  test('Fn::Sub variables and intrinsics the estimate does not know still count as text', () => {
    expect(approximateIntrinsics({ 'Fn::Sub': ['arn:aws:s3:::${Bucket}/*', { Bucket: 'golden' }] })).toBe('arn:aws:s3:::golden/*');
    expect(approximateIntrinsics({ 'Fn::Join': ['', ['key:', { 'Fn::ImportValue': 'KeyId' }]] }))
      .toBe('key:arn:aws:service:us-east-1:123456789012:resource/Value');
  });

  test('references become an ARN built from the logical id; length is whitespace-free JSON', () => {
    expect(approximateIntrinsics({ 'Fn::GetAtt': ['Logs1234', 'Arn'] })).toBe('arn:aws:service:us-east-1:123456789012:resource/Logs1234');
    expect(approximateIntrinsics({ Ref: 'Key1234' })).toBe('arn:aws:service:us-east-1:123456789012:resource/Key1234');
    expect(policyChars({ Version: '2012-10-17', Statement: [] })).toBe('{"Version":"2012-10-17","Statement":[]}'.length);
  });
});
