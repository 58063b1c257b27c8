import { App, CfnResource, CustomResource, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { nagFindings } from './nag';
import { PENDING_WAIT_LIMIT_MINUTES } from '../lambda/workspaces/plan';
import { DeletionGuard } from '../src/deletion-guard';
import { SHARED_AMI_RESOURCE_TYPE, SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE } from '../src/private/contract';
import { SharedAmi } from '../src/shared-ami';
import { SharedWorkspaceImage } from '../src/shared-workspace-image';

const WSI = 'wsi-0123abcde';
const WSI_2 = 'wsi-9876zyxwv';
const A = '111111111111';
const B = '222222222222';

function stack(): Stack {
  return new Stack(new App(), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
}

/** The handler functions of one construct type, `entry` the call they serve. */
function handlerFunctions(template: Template, type = 'SharedWorkspaceImageProvider', entry: 'onEvent' | 'isComplete' = 'onEvent') {
  return Object.values(template.findResources('AWS::Lambda::Function', {
    Properties: { Description: Match.stringLikeRegexp(`${type} handler \\(${entry}\\)`) },
  }));
}

/** The share roles (one per share) of a stack, by logical id. */
function shareRoles(t: Template) {
  return Object.entries(t.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('Share'));
}

/** Each share role's one inline policy, by the role's logical id. */
function sharePolicies(t: Template): Array<[string, { Statement: any[] }]> {
  return shareRoles(t).map(([id, r]) => [id, r.Properties.Policies[0].PolicyDocument]);
}

const imageArn = (rest: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:workspaces:eu-west-1:123456789012:workspaceimage/${rest}` });

describe('SharedWorkspaceImage resource properties', () => {
  test('takeOverExistingShares reaches the handler; off by default', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Default', { imageId: WSI, accounts: [A] });
    new SharedWorkspaceImage(s, 'Migrating', { imageId: WSI_2, accounts: [A], takeOverExistingShares: true });
    const t = Template.fromStack(s);
    t.hasResourceProperties(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, { ImageId: WSI, TakeOverExistingShares: Match.absent() });
    t.hasResourceProperties(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, { ImageId: WSI_2, TakeOverExistingShares: 'true' });
  });

  test('sends exactly the contract keys', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A, B] });
    const resources = Template.fromStack(s).findResources(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE);
    expect(Object.keys(resources)).toHaveLength(1);
    const props = Object.values(resources)[0].Properties;
    expect(Object.keys(props).sort()).toEqual(['ServiceToken', ...SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS.filter((k) => k !== 'TakeOverExistingShares')].sort());
    expect(props).toMatchObject({ ImageId: WSI, Accounts: [A, B], GuardImage: 'false', DeleteImage: 'false', ForceUnshare: 'false' });
  });

  test('addAccounts after construction reaches the resource; the list can start empty', () => {
    const s = stack();
    const share = new SharedWorkspaceImage(s, 'Share', { imageId: WSI });
    share.addAccounts(A);
    share.addAccounts(B);
    Template.fromStack(s).hasResourceProperties(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, { Accounts: [A, B] });
  });

  test('duplicates are shared once, with a warning on the construct', () => {
    const s = stack();
    const share = new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A, B] });
    share.addAccounts(A);
    Template.fromStack(s).hasResourceProperties(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, { Accounts: [A, B] });
    Annotations.fromStack(s).hasWarning('/Golden/Share', Match.stringLikeRegexp(`${A} is listed more than once`));
  });

  test('a token image id passes synth and reaches the handler unresolved', () => {
    const s = stack();
    const id = ssm.StringParameter.valueForStringParameter(s, '/golden/wsi');
    new SharedWorkspaceImage(s, 'Share', { imageId: id, accounts: [A] });
    const props = Object.values(Template.fromStack(s).findResources(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE))[0].Properties;
    expect(props.ImageId).toEqual({ Ref: expect.stringMatching(/^SsmParameterValuegoldenwsi/) });
  });

  test('token accounts pass synth unvalidated', () => {
    const s = stack();
    const account = ssm.StringParameter.valueForStringParameter(s, '/consumer/account');
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [account] });
    const props = Object.values(Template.fromStack(s).findResources(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE))[0].Properties;
    expect(props.Accounts).toEqual([{ Ref: expect.stringMatching(/^SsmParameterValueconsumeraccount/) }]);
  });

  test('sharedWorkspaceImageId is the resource attribute, so consumers wait for the share', () => {
    const s = stack();
    const share = new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    new ssm.StringParameter(s, 'Out', { stringValue: share.sharedWorkspaceImageId });
    const t = Template.fromStack(s);
    const logicalId = Object.keys(t.findResources(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE))[0];
    t.hasResourceProperties('AWS::SSM::Parameter', { Value: { 'Fn::GetAtt': [logicalId, 'ImageId'] } });
  });
});

describe('one provider per stack, with a waiter for PENDING images', () => {
  test('three shares in one stack, next to SharedAmi: one handler per construct type, one service token each', () => {
    const s = stack();
    for (const i of [1, 2, 3]) new SharedWorkspaceImage(s, `Share${i}`, { imageId: WSI, accounts: [`${i}`.repeat(12)] });
    new SharedAmi(s, 'Ami1', { imageId: 'ami-0123456789abcdef0', accounts: [A] });
    new SharedAmi(s, 'Ami2', { imageId: 'ami-0fedcba9876543210', accounts: [A] });
    const t = Template.fromStack(s);
    t.resourceCountIs(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, 3);
    t.resourceCountIs(SHARED_AMI_RESOURCE_TYPE, 2);
    expect(handlerFunctions(t)).toHaveLength(1);
    expect(handlerFunctions(t, 'SharedWorkspaceImageProvider', 'isComplete')).toHaveLength(1);
    expect(handlerFunctions(t, 'SharedAmiProvider')).toHaveLength(1);
    // AMI onEvent + WorkSpaces onEvent and isComplete handlers + AMI framework onEvent +
    // WorkSpaces framework onEvent, isComplete, onTimeout
    t.resourceCountIs('AWS::Lambda::Function', 7);
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    const tokens = (type: string) => new Set(Object.values(t.findResources(type)).map((r) => JSON.stringify(r.Properties.ServiceToken)));
    expect(tokens(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE).size).toBe(1);
    expect(tokens(SHARED_AMI_RESOURCE_TYPE).size).toBe(1);
    expect([...tokens(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE)]).not.toEqual([...tokens(SHARED_AMI_RESOURCE_TYPE)]);
  });

  test('each stack gets its own provider', () => {
    const app = new App();
    const a = new Stack(app, 'A');
    const b = new Stack(app, 'B');
    new SharedWorkspaceImage(a, 'Share', { imageId: WSI, accounts: [A] });
    new SharedWorkspaceImage(b, 'Share', { imageId: WSI, accounts: [A] });
    expect(handlerFunctions(Template.fromStack(a))).toHaveLength(1);
    expect(handlerFunctions(Template.fromStack(b))).toHaveLength(1);
  });

  test('the handler runs the bundled asset on Node.js 24 with a bounded timeout', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    const t = Template.fromStack(s);
    const [onEvent] = handlerFunctions(t);
    const [isComplete] = handlerFunctions(t, 'SharedWorkspaceImageProvider', 'isComplete');
    expect(onEvent.Properties).toMatchObject({ Runtime: 'nodejs24.x', Handler: 'index.onEvent', Timeout: 300 });
    // The same bundle at its other export, with the same role and log group.
    expect(isComplete.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Handler: 'index.isComplete',
      Timeout: 300,
      Code: onEvent.Properties.Code,
      Role: onEvent.Properties.Role,
      LoggingConfig: onEvent.Properties.LoggingConfig,
    });
  });

  test('onEvent and isComplete are separate functions; the waiter polls every 30 s for at most 45 minutes', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    const t = Template.fromStack(s);
    const functionId = (entry: string) => Object.keys(t.findResources('AWS::Lambda::Function', {
      Properties: { Handler: `index.${entry}`, Description: Match.stringLikeRegexp('SharedWorkspaceImageProvider handler') },
    }))[0];
    const frameworkEnv = (name: string) => Object.entries(t.findResources('AWS::Lambda::Function'))
      .find(([id]) => id.includes(`framework${name}`))![1].Properties.Environment.Variables;
    expect(frameworkEnv('onEvent').USER_ON_EVENT_FUNCTION_ARN).toEqual({ 'Fn::GetAtt': [functionId('onEvent'), 'Arn'] });
    expect(frameworkEnv('onEvent').USER_IS_COMPLETE_FUNCTION_ARN).toEqual({ 'Fn::GetAtt': [functionId('isComplete'), 'Arn'] });
    expect(frameworkEnv('isComplete').USER_IS_COMPLETE_FUNCTION_ARN).toEqual({ 'Fn::GetAtt': [functionId('isComplete'), 'Arn'] });

    const machine = Object.values(t.findResources('AWS::StepFunctions::StateMachine'))[0];
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    expect(definition).toContain('\\"IntervalSeconds\\":30');
    expect(definition).toContain('\\"MaxAttempts\\":90');
    expect(definition).toContain('\\"BackoffRate\\":1');
  });

  test('the waiter outlasts the handler\'s own PENDING limit by at least one poll, and ends inside CloudFormation\'s hour', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    const machine = Object.values(Template.fromStack(s).findResources('AWS::StepFunctions::StateMachine'))[0];
    const definition = JSON.parse((machine.Properties.DefinitionString['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'arn')).join(''));
    const retry = definition.States['framework-isComplete-task'].Retry[0];
    const waitSeconds = retry.IntervalSeconds * retry.MaxAttempts;
    expect(waitSeconds).toBeGreaterThanOrEqual(PENDING_WAIT_LIMIT_MINUTES * 60 + retry.IntervalSeconds);
    // plus the handler's own time on either side (5 minutes each at most)
    expect(waitSeconds + 2 * 300).toBeLessThanOrEqual(3600);
  });

  test('SharedAmi keeps its synchronous provider (no waiter)', () => {
    const s = stack();
    new SharedAmi(s, 'Ami', { imageId: 'ami-0123456789abcdef0', accounts: [A] });
    const t = Template.fromStack(s);
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    t.resourceCountIs('AWS::Lambda::Function', 2);
  });
});

describe('IAM: one role per share, holding only that share\'s permissions', () => {
  test('permission calls are scoped to the literal image ARN; DescribeWorkspaceImages (no resource-level support) sits on the handler role', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    const t = Template.fromStack(s);
    const roles = shareRoles(t);
    expect(roles).toHaveLength(1);
    expect(roles[0][1].Properties.Policies).toHaveLength(1);
    expect(roles[0][1].Properties.Path).toBe('/cdk-shared-images/eu-west-1/Golden/SharedWorkspaceImage/');
    const [, policy] = sharePolicies(t)[0];
    expect(policy.Statement).toEqual([{
      Action: ['workspaces:DescribeWorkspaceImagePermissions', 'workspaces:UpdateWorkspaceImagePermission'],
      Effect: 'Allow',
      Resource: imageArn(WSI),
    }]);

    const roleDefault = Object.entries(t.findResources('AWS::IAM::Policy'))
      .find(([id]) => id.includes('SharedWorkspaceImageProviderHandlerRoleDefaultPolicy'))![1];
    const statements = roleDefault.Properties.PolicyDocument.Statement;
    expect(statements).toContainEqual({ Action: 'workspaces:DescribeWorkspaceImages', Effect: 'Allow', Resource: '*' });
    expect(statements).toContainEqual({
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::123456789012:role/cdk-shared-images/eu-west-1/Golden/SharedWorkspaceImage/*' },
    });
    const actions = statements.flatMap((st: { Action: string | string[] }) => [st.Action].flat());
    expect(actions.sort()).toEqual([
      'logs:CreateLogStream', 'logs:PutLogEvents', 'ssm:DeleteParameter', 'ssm:GetParametersByPath', 'ssm:PutParameter', 'sts:AssumeRole',
      'workspaces:DescribeWorkspaceImages',
    ]);
  });

  test('a token image id gets this account\'s images in this region, so the old image can still be unshared after a replacement', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [A] });
    const [, policy] = sharePolicies(Template.fromStack(s))[0];
    expect(policy.Statement).toEqual([{
      Action: ['workspaces:DescribeWorkspaceImagePermissions', 'workspaces:UpdateWorkspaceImagePermission'],
      Effect: 'Allow',
      Resource: imageArn('*'),
    }]);
  });

  test('the share depends on its own role, so the permissions outlive its Delete', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    const t = Template.fromStack(s);
    const [roleId] = shareRoles(t)[0];
    const share = Object.values(t.findResources(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE))[0];
    expect(share.DependsOn).toContain(roleId);
    expect(share.Properties.ShareRoleArn).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
  });

  test('a new image id means a new role (new logical id), so the old one is removed only after the old image was unshared', () => {
    const ids = [WSI, WSI_2].map((imageId) => {
      const s = stack();
      new SharedWorkspaceImage(s, 'Share', { imageId, accounts: [A] });
      return shareRoles(Template.fromStack(s))[0][0];
    });
    expect(ids[0]).not.toEqual(ids[1]);
  });

  test('the WorkSpaces and AMI shares have separate roles under separate paths, each trusting only its own handler role', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    new SharedAmi(s, 'ShareAmi', { imageId: 'ami-0123456789abcdef0', accounts: [A] });
    const t = Template.fromStack(s);
    const roleOf = (prefix: string) => shareRoles(t).find(([id]) => id.startsWith(prefix))![1].Properties;
    expect(JSON.stringify(roleOf('ShareRole').AssumeRolePolicyDocument)).toContain('SharedWorkspaceImageProviderHandlerRole');
    expect(JSON.stringify(roleOf('ShareAmiRole').AssumeRolePolicyDocument)).toContain('SharedAmiProviderHandlerRole');
    expect(roleOf('ShareRole').Path).toBe('/cdk-shared-images/eu-west-1/Golden/SharedWorkspaceImage/');
    expect(roleOf('ShareAmiRole').Path).toBe('/cdk-shared-images/eu-west-1/Golden/SharedAmi/');
    expect(JSON.stringify(roleOf('ShareRole').Policies)).not.toContain('ec2:');
    expect(JSON.stringify(roleOf('ShareAmiRole').Policies)).not.toContain('workspaces:');
  });
});

describe('synth-time validation', () => {
  test.each([
    ['image id (too short)', { imageId: 'wsi-12345678', accounts: [A] }, /Golden\/Bad: imageId "wsi-12345678" is not a WorkSpaces image id/],
    ['image id (upper case)', { imageId: 'wsi-0123ABCDE', accounts: [A] }, /is not a WorkSpaces image id/],
    ['image id (an AMI)', { imageId: 'ami-0123456789abcdef0', accounts: [A] }, /is not a WorkSpaces image id/],
    ['image id (too long)', { imageId: `wsi-${'a'.repeat(64)}`, accounts: [A] }, /is not a WorkSpaces image id/],
    ['account id', { imageId: WSI, accounts: ['12345'] }, /Golden\/Bad: accounts: "12345" is not a valid account id/],
    ['removal policy', { imageId: WSI, accounts: [A], removalPolicy: RemovalPolicy.SNAPSHOT }, /^Golden\/Bad: removalPolicy SNAPSHOT is not supported: a share has no snapshot to take; use RemovalPolicy.DESTROY \(revoke\), RETAIN or RETAIN_ON_UPDATE_OR_DELETE \(keep the shares\)$/],
  ])('rejects a bad %s, naming the construct path and the value', (_name, props, message) => {
    expect(() => new SharedWorkspaceImage(stack(), 'Bad', props)).toThrow(message);
  });

  test('accepts the longest and shortest valid image ids', () => {
    expect(() => new SharedWorkspaceImage(stack(), 'Short', { imageId: 'wsi-012345678', accounts: [A] })).not.toThrow();
    expect(() => new SharedWorkspaceImage(stack(), 'Long', { imageId: `wsi-${'a'.repeat(63)}`, accounts: [A] })).not.toThrow();
  });

  test('rejects a bad account added later', () => {
    const share = new SharedWorkspaceImage(stack(), 'Bad', { imageId: WSI, accounts: [A] });
    expect(() => share.addAccounts('1111-1111-1111')).toThrow(/Golden\/Bad: accounts: "1111-1111-1111" is not a valid account id/);
  });

  test('no account at all is a synth error', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Empty', { imageId: WSI });
    expect(() => Template.fromStack(s)).toThrow(/Golden\/Empty.*no account/s);
  });

  test('an empty accounts list is a synth error too', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Empty', { imageId: WSI, accounts: [] });
    expect(() => Template.fromStack(s)).toThrow(/Golden\/Empty.*no account/s);
  });
});

describe('removal and the deletion guard', () => {
  /** A resource in the app that creates the image (e.g. a custom resource calling CreateWorkspaceImage). */
  function imageCreator(s: Stack, id = 'GoldenImage'): CustomResource {
    return new CustomResource(s, id, { serviceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:image-builder', resourceType: 'Custom::GoldenWorkspaceImage' });
  }
  const shareResource = (t: Template) => Object.values(t.findResources(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE))[0];
  const logicalIdOf = (s: Stack, c: CustomResource) => s.getLogicalId(c.node.defaultChild as CfnResource);
  const deleteStatements = (t: Template) => sharePolicies(t)
    .flatMap(([, p]) => p.Statement as Array<{ Action: string | string[] }>)
    .filter((st) => [st.Action].flat().includes('workspaces:DeleteWorkspaceImage'));

  test.each([
    ['nothing (the default)', {}, { GuardImage: 'false', DeleteImage: 'false', ForceUnshare: 'false' }],
    ['deleteImageOnRemoval', { deleteImageOnRemoval: true }, { GuardImage: 'true', DeleteImage: 'true', ForceUnshare: 'false' }],
    ['deleteImageOnRemoval and forceUnshareOnRemoval', { deleteImageOnRemoval: true, forceUnshareOnRemoval: true }, { GuardImage: 'true', DeleteImage: 'true', ForceUnshare: 'true' }],
    ['explicit false', { deleteImageOnRemoval: false, forceUnshareOnRemoval: false }, { GuardImage: 'false', DeleteImage: 'false', ForceUnshare: 'false' }],
  ])('%s reaches the handler as "true" / "false" strings', (_name, guardProps, expected) => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], ...guardProps });
    const props = shareResource(Template.fromStack(s)).Properties;
    expect({ GuardImage: props.GuardImage, DeleteImage: props.DeleteImage, ForceUnshare: props.ForceUnshare }).toEqual(expected);
  });

  test('deletionGuard: the share guards the image but does not delete it, and depends on the resource that creates it', () => {
    const s = stack();
    const image = imageCreator(s);
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], deletionGuard: DeletionGuard.beforeDeleting(image), forceUnshareOnRemoval: true });
    const share = shareResource(Template.fromStack(s));
    expect(share.Properties).toMatchObject({ GuardImage: 'true', DeleteImage: 'false', ForceUnshare: 'true' });
    // a literal image id: no reference, so only this DependsOn makes CloudFormation delete the share (the guard) first
    expect(share.DependsOn).toContain(logicalIdOf(s, image));
  });

  test('deletionGuard with the image id as its attribute: the explicit dependency is there too', () => {
    const s = stack();
    const image = imageCreator(s);
    new SharedWorkspaceImage(s, 'Share', { imageId: image.getAttString('ImageId'), accounts: [A], deletionGuard: DeletionGuard.beforeDeleting(image), deleteImageOnRemoval: true });
    const share = shareResource(Template.fromStack(s));
    expect(share.Properties.ImageId).toEqual({ 'Fn::GetAtt': [logicalIdOf(s, image), 'ImageId'] });
    expect(share.DependsOn).toContain(logicalIdOf(s, image));
  });

  test('without deletionGuard the share depends on nothing but its own role', () => {
    const s = stack();
    imageCreator(s);
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], deleteImageOnRemoval: true });
    const t = Template.fromStack(s);
    expect(shareResource(t).DependsOn).toEqual([shareRoles(t)[0][0]]);
  });

  test('deleteImageOnRemoval grants DeleteWorkspaceImage on exactly the image', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], deleteImageOnRemoval: true });
    const [, policy] = sharePolicies(Template.fromStack(s))[0];
    expect(policy.Statement).toEqual([
      {
        Action: ['workspaces:DescribeWorkspaceImagePermissions', 'workspaces:UpdateWorkspaceImagePermission'],
        Effect: 'Allow',
        Resource: imageArn(WSI),
      },
      { Action: 'workspaces:DeleteWorkspaceImage', Effect: 'Allow', Resource: imageArn(WSI) },
    ]);
  });

  test('a token image id with deleteImageOnRemoval: DeleteWorkspaceImage on this account\'s images in this region', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [A], deleteImageOnRemoval: true });
    expect(deleteStatements(Template.fromStack(s))).toEqual([{ Action: 'workspaces:DeleteWorkspaceImage', Effect: 'Allow', Resource: imageArn('*') }]);
  });

  test.each([
    ['the default', {}],
    ['a deletionGuard alone (the image is another resource\'s to delete)', { guarded: true }],
    ['forceUnshareOnRemoval', { forceUnshareOnRemoval: true }],
  ])('no DeleteWorkspaceImage permission with %s', (_name, options) => {
    const s = stack();
    const { guarded, ...rest } = options as { guarded?: boolean };
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], ...rest, ...(guarded ? { deletionGuard: DeletionGuard.beforeDeleting(imageCreator(s)) } : {}) });
    const t = Template.fromStack(s);
    expect(deleteStatements(t)).toEqual([]);
    expect(JSON.stringify(t.toJSON())).not.toContain('DeleteWorkspaceImage');
  });

  test('switching deleteImageOnRemoval makes a new role; the same settings keep the same role', () => {
    const roleId = (deleteImageOnRemoval?: boolean) => {
      const s = stack();
      new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], deleteImageOnRemoval });
      return shareRoles(Template.fromStack(s))[0][0];
    };
    expect(roleId(true)).not.toEqual(roleId(false));
    expect(roleId(false)).toEqual(roleId(undefined));
    expect(roleId(true)).toEqual(roleId(true));
  });

  test('RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE with deleteImageOnRemoval is a synth error too', () => {
    expect(() => new SharedWorkspaceImage(stack(), 'Bad', { imageId: WSI, accounts: [A], removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, deleteImageOnRemoval: true }))
      .toThrow(/^Golden\/Bad: removalPolicy RETAIN_ON_UPDATE_OR_DELETE keeps the shares, so the WorkSpaces image cannot be deleted on removal/);
  });

  test('RemovalPolicy.RETAIN with deleteImageOnRemoval is a synth error naming the path', () => {
    expect(() => new SharedWorkspaceImage(stack(), 'Bad', { imageId: WSI, accounts: [A], removalPolicy: RemovalPolicy.RETAIN, deleteImageOnRemoval: true }))
      .toThrow(/^Golden\/Bad: removalPolicy RETAIN keeps the shares, so the WorkSpaces image cannot be deleted on removal: drop deleteImageOnRemoval or use RemovalPolicy\.DESTROY$/);
  });

  test('RemovalPolicy.RETAIN without deleting the image is accepted: CloudFormation keeps the share, the image is not deleted', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], removalPolicy: RemovalPolicy.RETAIN, deleteImageOnRemoval: false });
    expect(shareResource(Template.fromStack(s))).toMatchObject({ DeletionPolicy: 'Retain', Properties: { DeleteImage: 'false' } });
  });
});

describe('cdk-nag AwsSolutions', () => {
  test('literal and token images, next to SharedAmi, in an environment-specific stack: no unacknowledged finding', () => {
    const app = new App();
    const s = new Stack(app, 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A] });
    new SharedWorkspaceImage(s, 'ByToken', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [B] });
    new SharedAmi(s, 'Ami', { imageId: 'ami-0123456789abcdef0', accounts: [A] });
    expect(nagFindings(s)).toEqual([]);
  });

  test('with deleteImageOnRemoval (literal and token) and a deletionGuard: no unacknowledged finding', () => {
    const app = new App();
    const s = new Stack(app, 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
    const image = new CustomResource(s, 'GoldenImage', { serviceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:image-builder' });
    new SharedWorkspaceImage(s, 'Share', { imageId: WSI, accounts: [A], deleteImageOnRemoval: true });
    new SharedWorkspaceImage(s, 'ByToken', {
      imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [B], deleteImageOnRemoval: true, forceUnshareOnRemoval: true,
    });
    new SharedWorkspaceImage(s, 'Created', { imageId: image.getAttString('ImageId'), accounts: [B], deletionGuard: DeletionGuard.beforeDeleting(image) });
    expect(nagFindings(s)).toEqual([]);
  });

  test('a token image in an environment-agnostic stack: no unacknowledged finding', () => {
    const s = new Stack(new App(), 'Agnostic');
    new SharedWorkspaceImage(s, 'ByToken', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [B] });
    expect(nagFindings(s)).toEqual([]);
  });

  test('every acknowledgement on our constructs carries a written reason', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'Share', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [A] });
    const acks = s.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    // provider (framework + waiter), handler role, and the token share's role
    expect(acks.length).toBeGreaterThanOrEqual(4);
    for (const m of acks) {
      for (const reason of Object.values(m.data as Record<string, string>)) expect(reason.length).toBeGreaterThan(40);
    }
  });

  test('the token wildcard acknowledgement names exactly the finding cdk-nag raises for that statement', () => {
    const s = stack();
    const share = new SharedWorkspaceImage(s, 'ByToken', { imageId: ssm.StringParameter.valueForStringParameter(s, '/golden/wsi'), accounts: [A] });
    const role = share.node.findChild('Role') as iam.Role;
    const acknowledged = role.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.keys(m.data as Record<string, string>));
    const first = s.resolve((role.node.defaultChild as iam.CfnRole).policies)[0].policyDocument.Statement[0];
    // the same statement, unacknowledged, elsewhere in the stack: cdk-nag's finding id must be ours
    new iam.Role(s, 'Unacknowledged', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') })
      .addToPolicy(new iam.PolicyStatement({ actions: first.Action, resources: [Fn.sub(first.Resource['Fn::Sub'])] }));
    const findings = nagFindings(s);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatch(/ at Golden\/Unacknowledged\//);
    expect(acknowledged).toEqual([findings[0].split(' at ')[0]]);
    expect(acknowledged[0]).toBe('AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:workspaces:eu-west-1:123456789012:workspaceimage/*]');
  });
});
