import { App, CfnParameter, CfnResource, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { DeletionGuard, SharedAmi } from '../src';
import { nagFindings } from './nag';
import { SHARED_AMI_PROPERTY_KEYS, SHARED_AMI_RESOURCE_TYPE } from '../src/private/contract';

const AMI = 'ami-0123456789abcdef0';
const ORG = 'arn:aws:organizations::111122223333:organization/o-exampleorg1';
const OU = 'arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-cdef3456';

function stack(): Stack {
  return new Stack(new App(), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
}

function handlerFunctions(template: Template) {
  return Object.values(template.findResources('AWS::Lambda::Function', {
    Properties: { Description: Match.stringLikeRegexp('SharedAmiProvider handler') },
  }));
}

/** The share roles (one per share) of a stack, by logical id. */
function shareRoles(t: Template) {
  return Object.entries(t.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('Share'));
}

/** The one inline policy of the stack's only (or first) share role. */
function sharePolicy(t: Template) {
  return shareRoles(t)[0][1].Properties.Policies[0].PolicyDocument;
}

function handlerPolicy(t: Template) {
  return Object.entries(t.findResources('AWS::IAM::Policy')).find(([id]) => id.includes('SharedAmiProviderHandlerRoleDefaultPolicy'))![1].Properties.PolicyDocument;
}

describe('SharedAmi resource properties', () => {
  test('sends exactly the contract keys, scalars as strings', () => {
    const s = stack();
    new SharedAmi(s, 'Share', {
      imageId: AMI,
      accounts: ['111111111111', '222222222222'],
      organizationArns: [ORG],
      organizationalUnitArns: [OU],
      shareSnapshots: true,
    });
    const t = Template.fromStack(s);
    const resources = t.findResources(SHARED_AMI_RESOURCE_TYPE);
    expect(Object.keys(resources)).toHaveLength(1);
    const props = Object.values(resources)[0].Properties;
    // the keys whose value is the handler's default travel only when set (a catalogue stays small)
    const optional = ['TakeOverExistingShares', 'DeregistrationProtection', 'ProtectionCooldown'];
    expect(Object.keys(props).sort()).toEqual(['ServiceToken', ...SHARED_AMI_PROPERTY_KEYS.filter((k) => !optional.includes(k))].sort());
    expect(props).toMatchObject({
      ImageId: AMI,
      Accounts: ['111111111111', '222222222222'],
      OrganizationArns: [ORG],
      OrganizationalUnitArns: [OU],
      ShareSnapshots: 'true',
    });
  });

  test('defaults: no snapshot sharing, empty lists present', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, organizationArns: [ORG] });
    Template.fromStack(s).hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, {
      Accounts: [], OrganizationArns: [ORG], OrganizationalUnitArns: [], ShareSnapshots: 'false',
    });
  });

  test('takeOverExistingShares reaches the handler; off by default', () => {
    const s = stack();
    new SharedAmi(s, 'Default', { imageId: AMI, accounts: ['111111111111'] });
    new SharedAmi(s, 'Migrating', { imageId: 'ami-0fedcba9876543210', accounts: ['111111111111'], takeOverExistingShares: true });
    const t = Template.fromStack(s);
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { ImageId: AMI, TakeOverExistingShares: Match.absent() });
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { ImageId: 'ami-0fedcba9876543210', TakeOverExistingShares: 'true' });
  });

  test('addAccounts / addOrganizationArns / addOrganizationalUnitArns after construction reach the resource', () => {
    const s = stack();
    const share = new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    share.addAccounts('222222222222', '333333333333');
    share.addOrganizationArns(ORG);
    share.addOrganizationalUnitArns(OU);
    Template.fromStack(s).hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, {
      Accounts: ['111111111111', '222222222222', '333333333333'], OrganizationArns: [ORG], OrganizationalUnitArns: [OU],
    });
  });

  test('a recipient list can start empty and be filled by addAccounts', () => {
    const s = stack();
    const share = new SharedAmi(s, 'Share', { imageId: AMI });
    share.addAccounts('111111111111');
    expect(() => Template.fromStack(s)).not.toThrow();
  });

  test('duplicates are shared once, with a warning on the construct', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111', '111111111111'] });
    Template.fromStack(s).hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { Accounts: ['111111111111'] });
    Annotations.fromStack(s).hasWarning('/Golden/Share', Match.stringLikeRegexp('111111111111 is listed more than once'));
  });

  test('a token image id passes synth and reaches the handler unresolved', () => {
    const s = stack();
    const id = ssm.StringParameter.valueForStringParameter(s, '/golden/ami');
    new SharedAmi(s, 'Share', { imageId: id, accounts: ['111111111111'] });
    const props = Object.values(Template.fromStack(s).findResources(SHARED_AMI_RESOURCE_TYPE))[0].Properties;
    expect(props.ImageId).toEqual({ Ref: expect.stringMatching(/^SsmParameterValuegoldenami/) });
  });

  test('sharedAmiId is the resource attribute, so consumers wait for the share', () => {
    const s = stack();
    const share = new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    new ssm.StringParameter(s, 'Out', { stringValue: share.sharedAmiId });
    const logicalId = Object.keys(Template.fromStack(s).findResources(SHARED_AMI_RESOURCE_TYPE))[0];
    Template.fromStack(s).hasResourceProperties('AWS::SSM::Parameter', { Value: { 'Fn::GetAtt': [logicalId, 'ImageId'] } });
  });
});

describe('one provider per stack', () => {
  test('three SharedAmi in one stack share one handler function and one provider framework', () => {
    const s = stack();
    for (const i of [1, 2, 3]) new SharedAmi(s, `Share${i}`, { imageId: AMI, accounts: [`${i}`.repeat(12)] });
    const t = Template.fromStack(s);
    t.resourceCountIs(SHARED_AMI_RESOURCE_TYPE, 3);
    expect(handlerFunctions(t)).toHaveLength(1);
    // our handler + the provider framework's onEvent function, nothing per share
    t.resourceCountIs('AWS::Lambda::Function', 2);
    const tokens = new Set(Object.values(t.findResources(SHARED_AMI_RESOURCE_TYPE)).map((r) => JSON.stringify(r.Properties.ServiceToken)));
    expect(tokens.size).toBe(1);
  });

  test('each stack gets its own provider', () => {
    const app = new App();
    const a = new Stack(app, 'A');
    const b = new Stack(app, 'B');
    new SharedAmi(a, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    new SharedAmi(b, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    expect(handlerFunctions(Template.fromStack(a))).toHaveLength(1);
    expect(handlerFunctions(Template.fromStack(b))).toHaveLength(1);
  });

  test('the handler runs the bundled asset on Node.js 24 with a bounded timeout', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    const [fn] = handlerFunctions(Template.fromStack(s));
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Handler: 'index.onEvent', Timeout: 300 });
  });
});

describe('IAM: one role per share, holding only that share\'s permissions', () => {
  test('launch permissions are scoped to the literal image ARN; Describe* (no resource-level support) sits on the handler role', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], kmsGrants: false });
    const t = Template.fromStack(s);
    const roles = shareRoles(t);
    expect(roles).toHaveLength(1);
    const [, role] = roles[0];
    expect(role.Properties.Policies).toHaveLength(1);
    expect(sharePolicy(t).Statement).toEqual([{
      Action: ['ec2:DescribeImageAttribute', 'ec2:ModifyImageAttribute', 'ec2:EnableImageDeregistrationProtection', 'ec2:DisableImageDeregistrationProtection'],
      Effect: 'Allow',
      Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:ec2:eu-west-1::image/${AMI}` },
    }]);
    // the handler role holds only logs, Describe* and assuming this stack's share roles
    const actions = handlerPolicy(t).Statement.flatMap((st: { Action: string | string[] }) => [st.Action].flat());
    expect(actions.sort()).toEqual([
      'ec2:DescribeImages', 'ec2:DescribeSnapshots', 'logs:CreateLogStream', 'logs:PutLogEvents',
      'ssm:DeleteParameter', 'ssm:GetParametersByPath', 'ssm:PutParameter', 'sts:AssumeRole',
    ]);
    // the record of ownership: the library's own Parameter Store folder, nothing else
    const record = handlerPolicy(t).Statement.find((st: { Action: string[] }) => [st.Action].flat().includes('ssm:PutParameter'));
    expect(record.Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:eu-west-1:123456789012:parameter/cdk-shared-images/claims/*']] });
    expect(Object.keys(t.findResources('AWS::IAM::Policy')).filter((id) => id.startsWith('Share'))).toEqual([]);
  });

  test('the share role trusts the handler role only, and lives under the stack\'s own path; the handler may assume only that path', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    const t = Template.fromStack(s);
    const [, role] = shareRoles(t)[0];
    const handlerRoleId = Object.keys(t.findResources('AWS::IAM::Role')).find((id) => id.includes('SharedAmiProviderHandlerRole'))!;
    expect(role.Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: { 'Fn::GetAtt': [handlerRoleId, 'Arn'] } } }],
    });
    expect(role.Properties.Path).toBe('/cdk-shared-images/eu-west-1/Golden/SharedAmi/');
    expect(handlerPolicy(t).Statement).toContainEqual({
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::123456789012:role/cdk-shared-images/eu-west-1/Golden/SharedAmi/*' },
    });
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { ShareRoleArn: { 'Fn::GetAtt': [shareRoles(t)[0][0], 'Arn'] } });
  });

  test('snapshot permissions only when shareSnapshots, scoped to the region\'s snapshots', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], shareSnapshots: true, kmsGrants: false });
    const policy = sharePolicy(Template.fromStack(s));
    expect(policy.Statement).toHaveLength(2);
    expect(policy.Statement[1]).toEqual({
      Action: ['ec2:DescribeSnapshotAttribute', 'ec2:ModifySnapshotAttribute'],
      Effect: 'Allow',
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:eu-west-1::snapshot/*' },
    });
  });

  test('a token image id gets the region\'s images, so the old image can still be revoked after a replacement', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/ami'), accounts: ['111111111111'] });
    expect(sharePolicy(Template.fromStack(s)).Statement[0].Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:eu-west-1::image/*' });
  });

  test('the share depends on its own role, so the permissions outlive its Delete', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    const t = Template.fromStack(s);
    const [roleId] = shareRoles(t)[0];
    const share = Object.values(t.findResources(SHARED_AMI_RESOURCE_TYPE))[0];
    expect(share.DependsOn).toContain(roleId);
  });

  test('a new image id means a new role (new logical id), so the old one is removed only after the cleanup revoked', () => {
    const ids = ['ami-0123456789abcdef0', 'ami-0fedcba9876543210'].map((imageId) => {
      const s = stack();
      new SharedAmi(s, 'Share', { imageId, accounts: ['111111111111'] });
      return shareRoles(Template.fromStack(s))[0][0];
    });
    expect(ids[0]).not.toEqual(ids[1]);
  });

  test('the same settings keep the same role: a redeploy replaces nothing', () => {
    const ids = [1, 2].map(() => {
      const s = stack();
      new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
      return shareRoles(Template.fromStack(s))[0][0];
    });
    expect(ids[0]).toEqual(ids[1]);
  });

  test('two shares in one stack: two roles, each holding only its own image, both assumable by the one handler role', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    new SharedAmi(s, 'Share2', { imageId: 'ami-0fedcba9876543210', accounts: ['111111111111'] });
    const t = Template.fromStack(s);
    const roles = shareRoles(t);
    expect(roles).toHaveLength(2);
    const images = roles.map(([, r]) => r.Properties.Policies[0].PolicyDocument.Statement[0].Resource['Fn::Sub']);
    expect(images.sort()).toEqual([
      `arn:\${AWS::Partition}:ec2:eu-west-1::image/${AMI}`, 'arn:${AWS::Partition}:ec2:eu-west-1::image/ami-0fedcba9876543210',
    ]);
    expect(new Set(roles.map(([, r]) => JSON.stringify(r.Properties.AssumeRolePolicyDocument))).size).toBe(1);
    expect(handlerFunctions(t)).toHaveLength(1);
  });
});

const OPERATIONS = ['Decrypt', 'DescribeKey', 'CreateGrant', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo'];
const root = (a: string) => `arn:\${AWS::Partition}:iam::${a}:root`;
const asgRole = (a: string) => `arn:\${AWS::Partition}:iam::${a}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
/** The grantee condition as the template writes it: one Fn::Split of one Fn::Sub. */
const grantees = (...arns: string[]) => ({ 'Fn::Split': [',', { 'Fn::Sub': arns.join(',') }] });

describe('KMS: grants to account recipients, key policy for organizations', () => {
  function kmsStatements(t: Template) {
    return sharePolicy(t).Statement.filter((st: { Action: string | string[] }) => [st.Action].flat().some((a) => a.startsWith('kms:')));
  }

  test('on by default: the handler is told to grant, and may create grants only to the declared accounts with the launch operations', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111', '222222222222'] });
    const t = Template.fromStack(s);
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { KmsGrants: 'true', AutoScalingRoleGrants: 'false', DeclaredKeyArns: [] });
    const anyKey = { 'Fn::Sub': 'arn:${AWS::Partition}:kms:eu-west-1:123456789012:key/*' };
    expect(kmsStatements(t)).toEqual([
      { Action: ['kms:DescribeKey', 'kms:ListGrants', 'kms:RevokeGrant'], Effect: 'Allow', Resource: anyKey },
      {
        Action: 'kms:CreateGrant',
        Effect: 'Allow',
        Resource: anyKey,
        Condition: {
          'ForAllValues:StringEquals': { 'kms:GrantOperations': OPERATIONS },
          'StringLike': { 'kms:GranteePrincipal': grantees(root('111111111111'), root('222222222222')) },
        },
      },
    ]);
  });

  test('declared keys scope the KMS permissions to those keys; the Auto Scaling option adds each account\'s service-linked role as grantee', () => {
    const s = stack();
    const key = new kms.Key(s, 'GoldenKey', { enableKeyRotation: true });
    const share = new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], encryptionKeys: [key], kmsGrantsForAutoScaling: true });
    share.addAccounts('222222222222');
    const t = Template.fromStack(s);
    const keyArn = { 'Fn::GetAtt': [Object.keys(t.findResources('AWS::KMS::Key'))[0], 'Arn'] };
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { AutoScalingRoleGrants: 'true', DeclaredKeyArns: [keyArn] });
    const [read, create] = kmsStatements(t);
    expect(read.Resource).toEqual(keyArn);
    expect(create.Resource).toEqual(keyArn);
    expect(create.Condition.StringLike['kms:GranteePrincipal']).toEqual(grantees(
      root('111111111111'), asgRole('111111111111'), root('222222222222'), asgRole('222222222222'),
    ));
  });

  test('past 25 accounts the grantee condition becomes a pattern, keeping the policy small', () => {
    const s = stack();
    const accounts = Array.from({ length: 26 }, (_, i) => String(100000000000 + i));
    new SharedAmi(s, 'Share', { imageId: AMI, accounts });
    const [, create] = kmsStatements(Template.fromStack(s));
    expect(create.Condition.StringLike['kms:GranteePrincipal']).toEqual(grantees(root('*')));
  });

  test('kmsGrants: false sends KmsGrants "false" and holds no KMS permission', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], kmsGrants: false });
    const t = Template.fromStack(s);
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { KmsGrants: 'false' });
    expect(kmsStatements(t)).toEqual([]);
  });

  test('organization and OU recipients: a key defined in the app admits them in its key policy, conditioned on the organization', () => {
    const s = stack();
    const key = new kms.Key(s, 'GoldenKey', { enableKeyRotation: true });
    const share = new SharedAmi(s, 'Share', { imageId: AMI, organizationArns: [ORG], encryptionKeys: [key] });
    share.addOrganizationalUnitArns(OU);
    const policy = Object.values(Template.fromStack(s).findResources('AWS::KMS::Key'))[0].Properties.KeyPolicy;
    const usage = ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'];
    const orgCondition = { StringEquals: { 'aws:PrincipalOrgID': ['o-exampleorg1'] } };
    const ouCondition = { 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': ['o-exampleorg1/*/ou-ab12-cdef3456/*'] } };
    expect(policy.Statement.slice(1)).toEqual([
      { Action: usage, Condition: orgCondition, Effect: 'Allow', Principal: { AWS: '*' }, Resource: '*' },
      { Action: 'kms:CreateGrant', Condition: { ...orgCondition, Bool: { 'kms:GrantIsForAWSResource': 'true' } }, Effect: 'Allow', Principal: { AWS: '*' }, Resource: '*' },
      { Action: usage, Condition: ouCondition, Effect: 'Allow', Principal: { AWS: '*' }, Resource: '*' },
      { Action: 'kms:CreateGrant', Condition: { ...ouCondition, Bool: { 'kms:GrantIsForAWSResource': 'true' } }, Effect: 'Allow', Principal: { AWS: '*' }, Resource: '*' },
    ]);
  });

  test('token organization and OU ARNs are admitted too: their ids are cut out of the ARN at deploy time', () => {
    const s = stack();
    const key = new kms.Key(s, 'GoldenKey', { enableKeyRotation: true });
    const orgArn = new CfnParameter(s, 'OrgArn').valueAsString;
    const ouArn = new CfnParameter(s, 'OuArn').valueAsString;
    new SharedAmi(s, 'Share', { imageId: AMI, organizationArns: [orgArn], organizationalUnitArns: [ouArn], encryptionKeys: [key] });
    const policy = Object.values(Template.fromStack(s).findResources('AWS::KMS::Key'))[0].Properties.KeyPolicy;
    const conditions = policy.Statement.slice(1).map((st: { Condition: unknown }) => st.Condition);
    expect(conditions[0]).toEqual({ StringEquals: { 'aws:PrincipalOrgID': [{ 'Fn::Select': [1, { 'Fn::Split': ['/', { Ref: 'OrgArn' }] }] }] } });
    expect(conditions[2]).toEqual({
      'ForAnyValue:StringLike': {
        'aws:PrincipalOrgPaths': [{
          'Fn::Join': ['', [
            { 'Fn::Select': [1, { 'Fn::Split': ['/', { Ref: 'OuArn' }] }] }, '/*/',
            { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'OuArn' }] }] }, '/*',
          ]],
        }],
      },
    });
  });

  test('an imported key cannot admit organizations: synth error naming the construct and the way out', () => {
    const s = stack();
    const key = kms.Key.fromKeyArn(s, 'Imported', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(() => new SharedAmi(s, 'Share', { imageId: AMI, organizationArns: [ORG], encryptionKeys: [key] }))
      .toThrow(/Golden\/Share: encryptionKeys: Golden\/Imported is not a kms.Key defined in this app/);
  });

  test('an alias is not a key: synth error naming the construct and the alias', () => {
    const s = stack();
    const alias = kms.Alias.fromAliasName(s, 'Alias', 'alias/golden');
    expect(() => new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], encryptionKeys: [alias] }))
      .toThrow(/Golden\/Share: encryptionKeys: Golden\/Alias is an alias, not a key/);
  });

  test('grant ids, count and name are attributes of the share resource', () => {
    const s = stack();
    const share = new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    const logicalId = Object.keys(Template.fromStack(s).findResources(SHARED_AMI_RESOURCE_TYPE))[0];
    expect(s.resolve(share.sharedAmiKmsGrantIds)).toEqual({ 'Fn::GetAtt': [logicalId, 'GrantIds'] });
    expect(s.resolve(share.sharedAmiKmsGrantCount)).toEqual({ 'Fn::GetAtt': [logicalId, 'GrantCount'] });
    expect(s.resolve(share.sharedAmiKmsGrantName)).toEqual({ 'Fn::GetAtt': [logicalId, 'GrantName'] });
  });

  test('an imported key is fine for account recipients: it only scopes the permissions', () => {
    const s = stack();
    const arn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], encryptionKeys: [kms.Key.fromKeyArn(s, 'Imported', arn)] });
    expect(kmsStatements(Template.fromStack(s))[0].Resource).toBe(arn);
  });

  test('cdk-nag: KMS permissions and key policy raise no unacknowledged finding', () => {
    const s = stack();
    const key = new kms.Key(s, 'GoldenKey', { enableKeyRotation: true });
    new SharedAmi(s, 'Declared', { imageId: AMI, accounts: ['111111111111'], organizationArns: [ORG], encryptionKeys: [key] });
    new SharedAmi(s, 'Discovered', { imageId: 'ami-0fedcba9876543210', accounts: ['111111111111'], kmsGrantsForAutoScaling: true });
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('deletion guard (retiring an image)', () => {
  test('an image created in the app: the share depends on it and tells the handler to guard', () => {
    const s = stack();
    const image = new CfnResource(s, 'GoldenImage', { type: 'AWS::ImageBuilder::Image', properties: {} });
    new SharedAmi(s, 'Share', { imageId: image.getAtt('ImageId').toString(), accounts: ['111111111111'], deletionGuard: DeletionGuard.beforeDeleting(image) });
    const t = Template.fromStack(s);
    const share = Object.values(t.findResources(SHARED_AMI_RESOURCE_TYPE))[0];
    expect(share.DependsOn).toContain('GoldenImage');
    expect(share.Properties).toMatchObject({ GuardImage: 'true', DeleteImage: 'false', DeleteSnapshots: 'false', ForceUnshare: 'false' });
  });

  test('without deletionGuard or deleteImageOnRemoval there is no guard', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    Template.fromStack(s).hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { GuardImage: 'false', DeleteImage: 'false' });
  });

  test('deleteImageOnRemoval: guard on, deregister (and with snapshots, delete them) allowed on exactly that image and the region\'s snapshots', () => {
    const s = stack();
    new SharedAmi(s, 'Share', {
      imageId: AMI,
      accounts: ['111111111111'],
      kmsGrants: false,
      deleteImageOnRemoval: true,
      deleteSnapshotsOnRemoval: true,
      forceUnshareOnRemoval: true,
    });
    const t = Template.fromStack(s);
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { GuardImage: 'true', DeleteImage: 'true', DeleteSnapshots: 'true', ForceUnshare: 'true' });
    expect(sharePolicy(t).Statement.slice(1)).toEqual([
      { Action: 'ec2:DeregisterImage', Effect: 'Allow', Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:ec2:eu-west-1::image/${AMI}` } },
      { Action: 'ec2:DeleteSnapshot', Effect: 'Allow', Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:eu-west-1::snapshot/*' } },
    ]);
    expect(nagFindings(s)).toEqual([]);
  });

  test('no deregister permission without deleteImageOnRemoval', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], kmsGrants: false });
    const actions = sharePolicy(Template.fromStack(s)).Statement.flatMap((st: { Action: string | string[] }) => [st.Action].flat());
    expect(actions).not.toContain('ec2:DeregisterImage');
    expect(actions).not.toContain('ec2:DeleteSnapshot');
  });

  test('keeping the shares while deleting the image is a synth error', () => {
    expect(() => new SharedAmi(stack(), 'Share', {
      imageId: AMI, accounts: ['111111111111'], removalPolicy: RemovalPolicy.RETAIN, deleteImageOnRemoval: true,
    })).toThrow(/Golden\/Share: removalPolicy RETAIN keeps the shares, so the AMI cannot be deleted on removal/);
  });

  test('keeping the shares while deleting the snapshots names the prop that was set', () => {
    expect(() => new SharedAmi(stack(), 'Share', {
      imageId: AMI, accounts: ['111111111111'], removalPolicy: RemovalPolicy.RETAIN, deleteSnapshotsOnRemoval: true,
    })).toThrow(/removalPolicy RETAIN keeps the shares, so the AMI cannot be deleted on removal: drop deleteSnapshotsOnRemoval or use RemovalPolicy\.DESTROY$/);
  });

  test('RETAIN with deletionGuard, and forceUnshareOnRemoval without a guard, are warned about', () => {
    const s = stack();
    const image = new CfnResource(s, 'GoldenImage', { type: 'AWS::ImageBuilder::Image', properties: {} });
    new SharedAmi(s, 'Kept', { imageId: AMI, accounts: ['111111111111'], deletionGuard: DeletionGuard.beforeDeleting(image), removalPolicy: RemovalPolicy.RETAIN });
    new SharedAmi(s, 'Forced', { imageId: AMI, accounts: ['111111111111'], forceUnshareOnRemoval: true });
    const annotations = Annotations.fromStack(s);
    annotations.hasWarning('/Golden/Kept', Match.stringLikeRegexp('the deletion guard does not run: Golden/GoldenImage can delete the AMI'));
    annotations.hasWarning('/Golden/Forced', Match.stringLikeRegexp('forceUnshareOnRemoval has no effect'));
  });

  test('deleting snapshots without deleting the image is a synth error', () => {
    expect(() => new SharedAmi(stack(), 'Share', { imageId: AMI, accounts: ['111111111111'], deleteSnapshotsOnRemoval: true }))
      .toThrow(/Golden\/Share: deleteSnapshotsOnRemoval needs deleteImageOnRemoval/);
  });
});

describe('synth-time validation', () => {
  test.each([
    ['image id', { imageId: 'ami-123', accounts: ['111111111111'] }, /Golden\/Bad: imageId "ami-123" is not an AMI id/],
    ['upper-case image id', { imageId: 'ami-0123456789ABCDEF0', accounts: ['111111111111'] }, /is not an AMI id/],
    ['account id', { imageId: AMI, accounts: ['12345'] }, /Golden\/Bad: accounts: "12345" is not a valid account id/],
    ['organization ARN', { imageId: AMI, organizationArns: ['o-exampleorg1'] }, /organizationArns: "o-exampleorg1" is not a valid organization ARN/],
    ['OU ARN', { imageId: AMI, organizationalUnitArns: [ORG] }, /organizationalUnitArns: .* is not a valid organizational unit ARN/],
    ['removal policy', { imageId: AMI, accounts: ['111111111111'], removalPolicy: RemovalPolicy.SNAPSHOT }, /^Golden\/Bad: removalPolicy SNAPSHOT is not supported: a share has no snapshot/],
  ])('rejects a bad %s, naming the construct path and the value', (_name, props, message) => {
    expect(() => new SharedAmi(stack(), 'Bad', props)).toThrow(message);
  });

  test('rejects a bad account added later', () => {
    const share = new SharedAmi(stack(), 'Bad', { imageId: AMI, accounts: ['111111111111'] });
    expect(() => share.addAccounts('1111-1111-1111')).toThrow(/Golden\/Bad: accounts: "1111-1111-1111" is not a valid account id/);
  });

  test('no recipient at all is a synth error', () => {
    const s = stack();
    new SharedAmi(s, 'Empty', { imageId: AMI });
    expect(() => Template.fromStack(s)).toThrow(/Golden\/Empty.*no recipient/s);
  });

  test('more than 1,000 recipients synthesizes with a warning: AWS lets users raise the quota, so AWS decides', () => {
    const s = stack();
    const accounts = Array.from({ length: 1001 }, (_, i) => String(100000000000 + i));
    new SharedAmi(s, 'Big', { imageId: AMI, accounts, kmsGrants: false });
    expect(() => Template.fromStack(s)).not.toThrow();
    Annotations.fromStack(s).hasWarning('/Golden/Big', Match.stringLikeRegexp("1001 recipients exceed AWS's default AMI sharing quota of 1000: the deployment fails unless the quota was raised"));
  });

  test('exactly 1,000 recipients: no warning', () => {
    const s = stack();
    const accounts = Array.from({ length: 1000 }, (_, i) => String(100000000000 + i));
    new SharedAmi(s, 'Big', { imageId: AMI, accounts, kmsGrants: false });
    expect(() => Template.fromStack(s)).not.toThrow();
    Annotations.fromStack(s).hasNoWarning('/Golden/Big', Match.stringLikeRegexp('sharing quota'));
  });
});

describe('cdk-nag AwsSolutions', () => {
  test('a stack with shares synthesizes with the AwsSolutions pack and no unacknowledged finding', () => {
    const app = new App();
    const s = new Stack(app, 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], shareSnapshots: true });
    new SharedAmi(s, 'ByToken', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/ami'), organizationArns: [ORG] });
    expect(nagFindings(s)).toEqual([]);
  });

  test('the pack does fire on this stack without our acknowledgements (the check is live)', () => {
    const app = new App();
    const s = new Stack(app, 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'] });
    // a wildcard we do not acknowledge
    new iam.Role(s, 'Extra', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') })
      .addToPolicy(new iam.PolicyStatement({ actions: ['ec2:Describe*'], resources: ['*'] }));
    const findings = nagFindings(s);
    expect(findings).toHaveLength(2);
    expect(findings.sort()).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Action::ec2:Describe\*\] at Golden\/Extra/),
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::\*\] at Golden\/Extra/),
    ]);
  });

  test('every acknowledgement carries a written reason', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/ami'), accounts: ['111111111111'], shareSnapshots: true });
    const acks = s.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    expect(acks.length).toBeGreaterThan(0);
    for (const m of acks) {
      for (const reason of Object.values(m.data as Record<string, string>)) expect(reason.length).toBeGreaterThan(40);
    }
  });
});

describe('deregistration protection', () => {
  test('on by default: the share may turn protection on and off on exactly its image', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], kmsGrants: false });
    const [first] = sharePolicy(Template.fromStack(s)).Statement;
    expect(first.Action).toEqual(expect.arrayContaining(['ec2:EnableImageDeregistrationProtection', 'ec2:DisableImageDeregistrationProtection']));
    expect(first.Resource).toEqual({ 'Fn::Sub': `arn:\${AWS::Partition}:ec2:eu-west-1::image/${AMI}` });
  });

  test('opted out: no protection permission, and the handler is told', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], kmsGrants: false, deregistrationProtection: false });
    const t = Template.fromStack(s);
    t.hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { DeregistrationProtection: 'false' });
    const actions = sharePolicy(t).Statement.flatMap((st: { Action: string | string[] }) => [st.Action].flat());
    expect(actions.filter((a: string) => a.includes('Protection'))).toEqual([]);
  });

  test('the cooldown reaches the handler; with deleteImageOnRemoval it is a synth error naming both', () => {
    const s = stack();
    new SharedAmi(s, 'Share', { imageId: AMI, accounts: ['111111111111'], deregistrationProtectionCooldown: true });
    Template.fromStack(s).hasResourceProperties(SHARED_AMI_RESOURCE_TYPE, { ProtectionCooldown: 'true' });
    expect(() => new SharedAmi(stack(), 'Retired', { imageId: AMI, accounts: ['111111111111'], deregistrationProtectionCooldown: true, deleteImageOnRemoval: true }))
      .toThrow(/Golden\/Retired: deregistrationProtectionCooldown keeps EC2 from deregistering the AMI for 24 hours .* drop one of the two/);
  });
});
