import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SharedAmi, SharedWorkspaceImage } from '../src';
import {
  CFN_RESOURCE_LIMIT, CFN_TEMPLATE_LIMIT, IAM_ROLE_INLINE_POLICY_LIMIT, IAM_ROLE_TRUST_POLICY_LIMIT, approximateIntrinsics, policyChars,
} from '../src/private/policy-size';

const accounts = (seed: number): string[] => Array.from({ length: 20 }, (_, i) => String(100000000000 + seed * 100 + i));

function catalogue(nAmi: number, nWsi: number, suppressTemplateIndentation: boolean): Stack {
  const app = new App({ context: { 'aws:cdk:enable-path-metadata': true }, analyticsReporting: true });
  const s = new Stack(app, 'GoldenImageCatalogue', { suppressTemplateIndentation });
  const keys = Array.from({ length: 4 }, (_, i) => new kms.Key(s, `Key${i}`));
  for (let i = 0; i < nAmi; i++) {
    new SharedAmi(s, `Golden${i}`, {
      imageId: `ami-${(0x10000000 + i).toString(16)}00000000f`,
      accounts: accounts(i),
      shareSnapshots: i % 10 === 1,
      kmsGrantsForAutoScaling: i % 10 === 1,
      ...(i % 10 === 3 ? { organizationArns: ['arn:aws:organizations::999999999999:organization/o-exampleorg1'], encryptionKeys: [keys[i % 4]] } : {}),
    });
  }
  for (let i = 0; i < nWsi; i++) new SharedWorkspaceImage(s, `Desktop${i}`, { imageId: `wsi-${100000000 + i}`, accounts: accounts(1000 + i) });
  return s;
}

const PSEUDO = { partition: 'aws', region: 'eu-west-1', account: '123456789012' };
const literal = (v: unknown): any => approximateIntrinsics(v, PSEUDO);
const OPERATIONS = ['Decrypt', 'DescribeKey', 'CreateGrant', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo'];
const SHARE_ACTIONS = [
  'ec2:DescribeImageAttribute', 'ec2:ModifyImageAttribute', 'workspaces:DescribeWorkspaceImagePermissions', 'workspaces:UpdateWorkspaceImagePermission',
  'ec2:EnableImageDeregistrationProtection', 'ec2:DisableImageDeregistrationProtection',
];
const ASG = 'role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling';

interface Statement {
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: any;
}

type Resources = Record<string, { Type: string; Properties: Record<string, any>; DependsOn?: string[] }>;

/**
 * What a share's role may do, derived from the share's own properties: its image (snapshots only
 * with ShareSnapshots, deregistering only with DeleteImage), its keys (or this account's keys when
 * none are declared), grants only to its own accounts with the launch operations. Throws on the
 * first statement that reaches further.
 */
function expectConfined(resources: Resources, shareId: string): void {
  const share = resources[shareId];
  const p = share.Properties;
  const roleId = p.ShareRoleArn['Fn::GetAtt'][0] as string;
  const role = resources[roleId];
  expect(role.Type).toBe('AWS::IAM::Role');
  expect(share.DependsOn).toContain(roleId);
  const type = share.Type === 'Custom::SharedAmi' ? 'SharedAmi' : 'SharedWorkspaceImage';
  expect(role.Properties.Path).toEqual({ 'Fn::Sub': `/cdk-shared-images/\${AWS::Region}/GoldenImageCatalogue/${type}/` });
  const trusted = role.Properties.AssumeRolePolicyDocument.Statement;
  expect(trusted).toHaveLength(1);
  expect(trusted[0].Principal.AWS['Fn::GetAtt'][0]).toMatch(new RegExp(`^cdksharedimages${type}ProviderHandlerRole`));
  expect(role.Properties.Policies).toHaveLength(1);
  const statements = literal(role.Properties.Policies[0].PolicyDocument).Statement as Statement[];
  const image = type === 'SharedAmi' ? `arn:aws:ec2:eu-west-1::image/${p.ImageId}` : `arn:aws:workspaces:eu-west-1:123456789012:workspaceimage/${p.ImageId}`;
  const keys = p.DeclaredKeyArns?.length ? literal(p.DeclaredKeyArns) : ['arn:aws:kms:eu-west-1:123456789012:key/*'];
  for (const st of statements) {
    const actions = [st.Action].flat();
    const targets = [st.Resource].flat();
    for (const action of actions) {
      if (SHARE_ACTIONS.includes(action)) {
        expect(targets).toEqual([image]);
      } else if (action === 'ec2:DeregisterImage' || action === 'workspaces:DeleteWorkspaceImage') {
        expect(p.DeleteImage).toBe('true');
        expect(targets).toEqual([image]);
      } else if (action === 'ec2:DescribeSnapshotAttribute' || action === 'ec2:ModifySnapshotAttribute') {
        expect(p.ShareSnapshots).toBe('true');
        expect(targets).toEqual(['arn:aws:ec2:eu-west-1::snapshot/*']);
      } else if (action === 'ec2:DeleteSnapshot') {
        expect(p.DeleteSnapshots).toBe('true');
        expect(targets).toEqual(['arn:aws:ec2:eu-west-1::snapshot/*']);
      } else if (['kms:DescribeKey', 'kms:ListGrants', 'kms:RevokeGrant'].includes(action)) {
        expect(p.KmsGrants).toBe('true');
        expect(targets).toEqual(keys);
      } else if (action === 'kms:CreateGrant') {
        expect(p.KmsGrants).toBe('true');
        expect(targets).toEqual(keys);
        const roots = (p.Accounts as string[]).flatMap((a) => (p.AutoScalingRoleGrants === 'true'
          ? [`arn:aws:iam::${a}:root`, `arn:aws:iam::${a}:${ASG}`] : [`arn:aws:iam::${a}:root`]));
        expect(st.Condition).toEqual({
          'ForAllValues:StringEquals': { 'kms:GrantOperations': OPERATIONS },
          'StringLike': { 'kms:GranteePrincipal': roots },
        });
      } else {
        throw new Error(`${shareId}: unexpected action ${action} on its role`);
      }
    }
  }
  // and the image's own statement is there (the handler can act at all)
  expect(statements.some((st) => [st.Resource].flat().includes(image))).toBe(true);
}

test('200 SharedAmi and 20 SharedWorkspaceImage of 20 accounts each fit one stack, inside every cap, each share confined to its own image and keys', () => {
  const s = catalogue(200, 20, true);
  // synthesis runs the library's own checks (validation on): an error would throw here
  const t = Template.fromStack(s).toJSON();
  const resources = t.Resources as Resources;
  const entries = Object.entries(resources);
  expect(entries.length).toBeLessThanOrEqual(CFN_RESOURCE_LIMIT);
  expect(Buffer.byteLength(JSON.stringify(t))).toBeLessThan(CFN_TEMPLATE_LIMIT * 0.9);
  const shareRoles = entries.filter(([, r]) => r.Type === 'AWS::IAM::Role' && JSON.stringify(r.Properties.Path ?? '').includes('cdk-shared-images'));
  expect(shareRoles).toHaveLength(220);
  // environment-agnostic stack: counted with the longest partition and region names
  for (const [, r] of shareRoles) {
    const chars = (r.Properties.Policies as Array<{ PolicyDocument: unknown }>).reduce((sum, p) => sum + policyChars(p.PolicyDocument), 0);
    expect(chars).toBeLessThan(IAM_ROLE_INLINE_POLICY_LIMIT * 0.9);
    expect(policyChars(r.Properties.AssumeRolePolicyDocument)).toBeLessThan(IAM_ROLE_TRUST_POLICY_LIMIT * 0.9);
  }
  const handlerPolicies = entries.filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.includes('HandlerRoleDefaultPolicy'));
  expect(handlerPolicies).toHaveLength(2);
  for (const [, r] of handlerPolicies) expect(policyChars(r.Properties.PolicyDocument)).toBeLessThan(IAM_ROLE_INLINE_POLICY_LIMIT * 0.2);

  const shares = entries.filter(([, r]) => r.Type === 'Custom::SharedAmi' || r.Type === 'Custom::SharedWorkspaceImage');
  expect(shares).toHaveLength(220);
  for (const [id] of shares) expectConfined(resources, id);
  // the variants are all there: snapshots with Auto Scaling grantees, organizations with a key defined in the app
  const props = shares.map(([, r]) => r.Properties);
  expect(props.filter((p) => p.ShareSnapshots === 'true' && p.AutoScalingRoleGrants === 'true')).toHaveLength(20);
  expect(props.filter((p) => p.OrganizationArns?.length && p.DeclaredKeyArns?.length)).toHaveLength(20);
  expect(new Set(shareRoles.map(([id]) => id)).size).toBe(220);
});

test('the role path fits IAM\'s 512 characters with CloudFormation\'s longest stack name', () => {
  const name = `S${'x'.repeat(127)}`;
  const s = new Stack(new App(), name);
  new SharedWorkspaceImage(s, 'Desktop', { imageId: 'wsi-123456789', accounts: ['111111111111'] });
  const [, role] = Object.entries(Template.fromStack(s).findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('DesktopRole'))!;
  const path = literal(role.Properties.Path) as string;
  expect(path).toBe(`/cdk-shared-images/eu-west-1/${name}/SharedWorkspaceImage/`);
  expect(String(approximateIntrinsics(role.Properties.Path)).length).toBeLessThan(512);
});

test('each share\'s role holds only that share\'s image and keys; the handler may assume only its stack\'s share roles', () => {
  const s = new Stack(new App(), 'Golden');
  new SharedAmi(s, 'A', { imageId: 'ami-12345678', accounts: ['111111111111'] });
  new SharedAmi(s, 'B', { imageId: 'ami-87654321', accounts: ['222222222222'] });
  const t = Template.fromStack(s).toJSON();
  const roles = Object.entries(t.Resources as Record<string, any>).filter(([id, r]) => r.Type === 'AWS::IAM::Role' && /^[AB]Role/.test(id));
  expect(roles).toHaveLength(2);
  const doc = (id: string) => approximateIntrinsics(roles.find(([x]) => x.startsWith(id))![1].Properties.Policies[0].PolicyDocument, { partition: 'aws', region: 'eu-west-1', account: '123456789012' });
  expect(doc('ARole')).toEqual({
    Version: '2012-10-17',
    Statement: [
      {
        Action: ['ec2:DescribeImageAttribute', 'ec2:ModifyImageAttribute', 'ec2:EnableImageDeregistrationProtection', 'ec2:DisableImageDeregistrationProtection'],
        Effect: 'Allow',
        Resource: 'arn:aws:ec2:eu-west-1::image/ami-12345678',
      },
      { Action: ['kms:DescribeKey', 'kms:ListGrants', 'kms:RevokeGrant'], Effect: 'Allow', Resource: 'arn:aws:kms:eu-west-1:123456789012:key/*' },
      {
        Action: 'kms:CreateGrant',
        Effect: 'Allow',
        Resource: 'arn:aws:kms:eu-west-1:123456789012:key/*',
        Condition: {
          'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'DescribeKey', 'CreateGrant', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo'] },
          'StringLike': { 'kms:GranteePrincipal': ['arn:aws:iam::111111111111:root'] },
        },
      },
    ],
  });
  expect(JSON.stringify(doc('BRole'))).not.toContain('ami-12345678');
  const handlerPolicy = Object.entries(t.Resources as Record<string, any>).find(([id]) => id.includes('SharedAmiProviderHandlerRoleDefaultPolicy'))![1];
  expect(handlerPolicy.Properties.PolicyDocument.Statement).toContainEqual({
    Action: 'sts:AssumeRole',
    Effect: 'Allow',
    Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-shared-images/${AWS::Region}/Golden/SharedAmi/*' },
  });
  expect(roles[0][1].Properties.Path).toEqual({ 'Fn::Sub': '/cdk-shared-images/${AWS::Region}/Golden/SharedAmi/' });
});

test('ordering: each share DependsOn its role, and a new image means a new role (new logical id), deleted after the old share', () => {
  const synth = (imageId: string) => {
    const s = new Stack(new App(), 'Golden');
    new SharedAmi(s, 'A', { imageId, accounts: ['111111111111'] });
    return Template.fromStack(s).toJSON().Resources as Record<string, any>;
  };
  const before = synth('ami-12345678');
  const after = synth('ami-87654321');
  const roleId = (r: Record<string, any>) => Object.keys(r).find((id) => id.startsWith('ARole'))!;
  const share = (r: Record<string, any>) => Object.values(r).find((x) => x.Type === 'Custom::SharedAmi');
  expect(share(before).DependsOn).toContain(roleId(before));
  expect(share(before).Properties.ShareRoleArn).toEqual({ 'Fn::GetAtt': [roleId(before), 'Arn'] });
  expect(roleId(after)).not.toEqual(roleId(before));
  expect(share(after).DependsOn).toContain(roleId(after));
});

describe('the permissions outlive every Delete that needs them (the dependency graph CloudFormation orders by)', () => {
  const synth = (build: (s: Stack) => void) => {
    const s = new Stack(new App(), 'Golden');
    build(s);
    return Template.fromStack(s).toJSON().Resources as Record<string, any>;
  };
  const roleOf = (r: Record<string, any>, shareId: string) => r[shareId].Properties.ShareRoleArn['Fn::GetAtt'][0] as string;
  const shareIdOf = (r: Record<string, any>, prefix: string) => Object.keys(r).find((id) => id.startsWith(prefix) && r[id].Type.startsWith('Custom::'))!;
  /** Every resource a resource waits for (Ref, Fn::GetAtt, Fn::Sub references, DependsOn), transitively: CloudFormation deletes it before all of them. */
  const closure = (r: Record<string, any>, from: string): Set<string> => {
    const seen = new Set<string>();
    const visit = (id: string) => {
      const direct = new Set<string>([r[id].DependsOn ?? []].flat());
      JSON.stringify(r[id].Properties ?? {}).replace(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)/g, (_m, dep: string) => { direct.add(dep); return ''; });
      for (const dep of direct) if (r[dep] && !seen.has(dep)) { seen.add(dep); visit(dep); }
    };
    visit(from);
    return seen;
  };
  const handlerPolicyOf = (r: Record<string, any>, type: string) => Object.keys(r).find((id) => id.startsWith(`cdksharedimages${type}ProviderHandlerRoleDefaultPolicy`))!;

  test('a changed setting (an account added): a new role, created before the share is updated; the old one stays for a rollback and goes in cleanup', () => {
    const before = synth((s) => new SharedAmi(s, 'A', { imageId: 'ami-12345678', accounts: ['111111111111'] }));
    const after = synth((s) => new SharedAmi(s, 'A', { imageId: 'ami-12345678', accounts: ['111111111111', '222222222222'] }));
    const share = shareIdOf(after, 'A');
    expect(shareIdOf(before, 'A')).toBe(share); // the same share, updated in place
    const [oldRole, newRole] = [roleOf(before, share), roleOf(after, share)];
    expect(newRole).not.toBe(oldRole);
    // the update references (and depends on) the new role: CloudFormation creates it first
    expect(after[share].DependsOn).toContain(newRole);
    // the old role is gone from the new template: deleted only in the cleanup phase, after the
    // update succeeded; a rollback updates the share back to the old role, which still exists
    expect(after[oldRole]).toBeUndefined();
    expect(before[oldRole].Type).toBe('AWS::IAM::Role');
  });

  test('a share removed from the stack: the previous template has it depend on its role, so its Delete (which revokes) runs before the role\'s', () => {
    const before = synth((s) => {
      new SharedAmi(s, 'A', { imageId: 'ami-12345678', accounts: ['111111111111'] });
      new SharedWorkspaceImage(s, 'W', { imageId: 'wsi-123456789', accounts: ['111111111111'] });
    });
    const after = synth((s) => new SharedAmi(s, 'A', { imageId: 'ami-12345678', accounts: ['111111111111'] }));
    const removed = shareIdOf(before, 'W');
    const role = roleOf(before, removed);
    expect(after[removed]).toBeUndefined();
    expect(after[role]).toBeUndefined();
    expect(before[removed].DependsOn).toContain(role);
    // the WorkSpaces handler goes too (its last share left), but after the share: the share waits
    // for the handler's permission to assume (its role's policy) and for the role it assumes
    const waitsFor = closure(before, removed);
    expect(waitsFor).toContain(role);
    expect(waitsFor).toContain(handlerPolicyOf(before, 'SharedWorkspaceImage'));
    expect(after[handlerPolicyOf(before, 'SharedWorkspaceImage')]).toBeUndefined();
  });

  test('a stack delete: every share waits for its role and for the handler\'s permission to assume it, so each share is deleted first', () => {
    const r = synth((s) => {
      new SharedAmi(s, 'A', { imageId: 'ami-12345678', accounts: ['111111111111'], shareSnapshots: true });
      new SharedWorkspaceImage(s, 'W', { imageId: 'wsi-123456789', accounts: ['111111111111'] });
    });
    for (const prefix of ['A', 'W']) {
      const share = shareIdOf(r, prefix);
      expect(r[share].DependsOn).toContain(roleOf(r, share));
      const waitsFor = closure(r, share);
      expect(waitsFor).toContain(handlerPolicyOf(r, prefix === 'A' ? 'SharedAmi' : 'SharedWorkspaceImage'));
      // and nothing the share needs waits for the share (no cycle, nothing deleted before it)
      for (const dep of waitsFor) expect(closure(r, dep).has(share)).toBe(false);
    }
  });
});
