import { App, CfnParameter, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { parseAmiProperties } from '../lambda/ami/plan';
import { parseWorkspaceImageProperties } from '../lambda/workspaces/plan';
import { SharedAmi, SharedAmiProps, SharedWorkspaceImage, SharedWorkspaceImageProps } from '../src';
import { SHARED_AMI_RESOURCE_TYPE, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE } from '../src/private/contract';

/**
 * Every prop that may be a token: a literal value is validated at synth time; a token passes synth
 * unvalidated and reaches the handler, whose strict property check (the same checks, run before
 * any AWS call) refuses the bad value it resolves to.
 */

const AMI = 'ami-0123456789abcdef0';
const WSI = 'wsi-0123abcde';
const A = '111111111111';
const ORG = 'arn:aws:organizations::111122223333:organization/o-exampleorg1';
const OU = 'arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-cdef3456';
const ALIAS = 'arn:aws:kms:eu-west-1:123456789012:alias/golden';

function stack(): Stack {
  return new Stack(new App(), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
}

/** The share's properties as CloudFormation would deliver them with the parameter resolved to `value`. */
function delivered(s: Stack, type: string, value: string): Record<string, unknown> {
  const props = Object.values(Template.fromStack(s).findResources(type))[0].Properties;
  const { ServiceToken: _token, ShareRoleArn: _role, ...rest } = props;
  return JSON.parse(JSON.stringify(rest).split('{"Ref":"Value"}').join(JSON.stringify(value)));
}

type AmiCase = [string, (v: string, s: Stack) => SharedAmiProps, string, RegExp];
const AMI_CASES: AmiCase[] = [
  ['imageId', (v) => ({ imageId: v, accounts: [A] }), 'ami-123', /imageId "ami-123" is not an AMI id/],
  ['accounts', (v) => ({ imageId: AMI, accounts: [v] }), '12345', /"12345" is not a valid account id/],
  ['organizationArns', (v) => ({ imageId: AMI, organizationArns: [v], kmsGrants: false }), 'o-exampleorg1', /"o-exampleorg1" is not a valid organization ARN/],
  ['organizationalUnitArns', (v) => ({ imageId: AMI, organizationalUnitArns: [v], kmsGrants: false }), ORG, /is not a valid organizational unit ARN/],
  ['encryptionKeys', (v, s) => ({ imageId: AMI, accounts: [A], encryptionKeys: [kms.Key.fromKeyArn(s, 'Key', v)] }), ALIAS, /alias/],
];

describe.each(AMI_CASES)('SharedAmi %s', (_prop, props, bad, message) => {
  test('a literal value is validated at synth time', () => {
    expect(() => new SharedAmi(stack(), 'Bad', props(bad, stack()))).toThrow(message);
  });

  test('a token passes synth, reaches the handler, and the handler refuses the bad value it resolves to', () => {
    const s = stack();
    const token = new CfnParameter(s, 'Value').valueAsString;
    new SharedAmi(s, 'Share', props(token, s));
    const raw = delivered(s, SHARED_AMI_RESOURCE_TYPE, bad);
    expect(JSON.stringify(raw)).toContain(JSON.stringify(bad));
    expect(() => parseAmiProperties(raw, 'strict')).toThrow(message);
    // and the same token resolving to a good value passes the handler's check
    const good = { imageId: AMI, accounts: A, organizationArns: ORG, organizationalUnitArns: OU, encryptionKeys: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' }[_prop]!;
    expect(() => parseAmiProperties(delivered(s, SHARED_AMI_RESOURCE_TYPE, good), 'strict')).not.toThrow();
  });
});

type WsiCase = [string, (v: string) => SharedWorkspaceImageProps, string, RegExp];
const WSI_CASES: WsiCase[] = [
  ['imageId', (v) => ({ imageId: v, accounts: [A] }), 'wsi-12345678', /imageId "wsi-12345678" is not a WorkSpaces image id/],
  ['accounts', (v) => ({ imageId: WSI, accounts: [v] }), '12345', /"12345" is not a valid account id/],
];

describe.each(WSI_CASES)('SharedWorkspaceImage %s', (_prop, props, bad, message) => {
  test('a literal value is validated at synth time', () => {
    expect(() => new SharedWorkspaceImage(stack(), 'Bad', props(bad))).toThrow(message);
  });

  test('a token passes synth, reaches the handler, and the handler refuses the bad value it resolves to', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', props(new CfnParameter(s, 'Value').valueAsString));
    const raw = delivered(s, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, bad);
    expect(() => parseWorkspaceImageProperties(raw, 'strict')).toThrow(message);
    const good = { imageId: WSI, accounts: A }[_prop]!;
    expect(() => parseWorkspaceImageProperties(delivered(s, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, good), 'strict')).not.toThrow();
  });
});

/**
 * List tokens: a CommaDelimitedList parameter's `valueAsList` (or an `Fn.split`) stands for a list
 * whose length is known at deploy time only. It passes synth whole, alone or beside literal values,
 * and the handler checks every element CloudFormation resolves it to.
 */
describe('list tokens', () => {
  const B = '222222222222';
  const listParameter = (s: Stack): string[] => new CfnParameter(s, 'Values', { type: 'CommaDelimitedList' }).valueAsList;

  /** Evaluates Ref, Fn::Join and Fn::Split as CloudFormation would, with the parameter `Values` set to `values`. */
  function evaluate(node: unknown, values: string[]): unknown {
    if (Array.isArray(node)) return node.map((n) => evaluate(n, values));
    if (node && typeof node === 'object') {
      const [[fn, arg]] = Object.entries(node as Record<string, unknown>);
      if (fn === 'Ref' && arg === 'Values') return values;
      if (fn === 'Fn::Join') {
        const [sep, list] = arg as [string, unknown];
        return (evaluate(list, values) as unknown[]).flat().join(sep);
      }
      if (fn === 'Fn::Split') {
        const [sep, text] = arg as [string, unknown];
        return (evaluate(text, values) as string).split(sep);
      }
      throw new Error(`unexpected ${fn}`);
    }
    return node;
  }

  function deliveredList(s: Stack, type: string, values: string[]): Record<string, unknown> {
    const props = Object.values(Template.fromStack(s).findResources(type))[0].Properties;
    const { ServiceToken: _token, ShareRoleArn: _role, ...rest } = props;
    return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, evaluate(v, values)]));
  }

  test('SharedAmi accounts: a lone list token passes synth as the property itself, and the handler checks each account', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: listParameter(s) });
    const raw = Object.values(Template.fromStack(s).findResources(SHARED_AMI_RESOURCE_TYPE))[0].Properties;
    expect(raw.Accounts).toEqual({ Ref: 'Values' });
    expect(parseAmiProperties(deliveredList(s, SHARED_AMI_RESOURCE_TYPE, [A, B]), 'strict').accounts).toEqual([A, B]);
    expect(() => parseAmiProperties(deliveredList(s, SHARED_AMI_RESOURCE_TYPE, [A, '12345']), 'strict')).toThrow(/"12345" is not a valid account id/);
  });

  test('SharedAmi accounts: a list token beside literal accounts is joined in by CloudFormation', () => {
    const s = stack();
    const share = new SharedAmi(s, 'Share', { imageId: AMI, accounts: [A] });
    share.addAccounts(...listParameter(s));
    expect(parseAmiProperties(deliveredList(s, SHARED_AMI_RESOURCE_TYPE, [B, '333333333333']), 'strict').accounts).toEqual([A, B, '333333333333']);
  });

  test('SharedAmi accounts: with a list token the KMS grantee condition is the any-account pattern', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: listParameter(s) });
    const policies = JSON.stringify(Template.fromStack(s).findResources('AWS::IAM::Role'));
    expect(policies).toContain(':iam::*:root');
  });

  test('SharedAmi organizationArns and organizationalUnitArns: list tokens pass synth', () => {
    const s = stack();
    const list = listParameter(s);
    new SharedAmi(s, 'Org', { imageId: AMI, organizationArns: list });
    new SharedAmi(s, 'Ou', { imageId: AMI, organizationalUnitArns: list });
    const shares = Object.values(Template.fromStack(s).findResources(SHARED_AMI_RESOURCE_TYPE)).map((r) => r.Properties);
    expect(shares.map((p) => [p.OrganizationArns, p.OrganizationalUnitArns])).toEqual([[{ Ref: 'Values' }, []], [[], { Ref: 'Values' }]]);
  });

  test('SharedAmi organizationArns: a list token with encryptionKeys is refused at synth (the key policy needs each organization id)', () => {
    const s = stack();
    const key = new kms.Key(s, 'Key');
    expect(() => new SharedAmi(s, 'Share', { imageId: AMI, organizationArns: listParameter(s), encryptionKeys: [key] }))
      .toThrow(/organizationArns: a list token cannot be split into the ids the key policy of encryptionKeys needs/);
  });

  test('SharedWorkspaceImage accounts: a list token passes synth, and the handler checks each account', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: listParameter(s) });
    expect(parseWorkspaceImageProperties(deliveredList(s, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, [A, B]), 'strict').accounts).toEqual([A, B]);
    expect(() => parseWorkspaceImageProperties(deliveredList(s, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, ['12345']), 'strict')).toThrow(/"12345" is not a valid account id/);
  });
});
