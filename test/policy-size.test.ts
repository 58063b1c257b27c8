import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { SharedAmi, SharedWorkspaceImage } from '../src';
import { IAM_ROLE_INLINE_POLICY_LIMIT, approximateIntrinsics, policyChars } from '../src/private/policy-size';

// Every share adds its own policy to the one handler role of its type, and IAM caps a role's
// inline policies at 10,240 characters: the stack is refused at synth time when the estimate is
// clearly over, and warned about when it comes close.

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
  return Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('inline IAM policy')).map((w) => String(w.entry.data));
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
    expect(warning).toMatch(/^14 SharedAmi in stack Golden need about [\d,]+ characters of inline IAM policy on their shared handler role, close to IAM's limit of 10,240 per role/);
    expect(warning).toContain('split the shares across stacks, or set grantKeyUsage: false on the shares of unencrypted AMIs');
  });

  test('clearly over the cap: synth fails before anything is deployed', () => {
    const s = stack();
    amis(s, 16);
    expect(() => Template.fromStack(s)).toThrow(
      /Golden\/cdk-shared-images\.SharedAmiProvider\] 16 SharedAmi in stack Golden need about 1[01],\d{3} characters .* over IAM's limit of 10,240 per role \(the deployment would fail\): split the shares across stacks/,
    );
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
    expect(() => Template.fromStack(over)).toThrow(/60 SharedWorkspaceImage in stack Golden need about [\d,]+ characters .*: split the shares across stacks\./);
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

  test('references become an ARN built from the logical id; length is whitespace-free JSON', () => {
    expect(approximateIntrinsics({ 'Fn::GetAtt': ['Logs1234', 'Arn'] })).toBe('arn:aws:service:us-east-1:123456789012:resource/Logs1234');
    expect(approximateIntrinsics({ Ref: 'Key1234' })).toBe('arn:aws:service:us-east-1:123456789012:resource/Key1234');
    expect(policyChars({ Version: '2012-10-17', Statement: [] })).toBe('{"Version":"2012-10-17","Statement":[]}'.length);
  });
});
