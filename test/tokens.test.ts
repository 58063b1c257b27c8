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
