import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { SharedAmi, SharedWorkspaceImage } from '../src';

const AMI = 'ami-0123456789abcdef0';
const WSI = 'wsi-0123abcde';
const A = '111111111111';

function stack(context: Record<string, unknown> = {}): Stack {
  return new Stack(new App({ context }), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });
}

/** Both construct types (so both handlers, both Provider frameworks and the WorkSpaces waiter). */
function bothTypes(s: Stack): void {
  new SharedAmi(s, 'Ami', { imageId: AMI, accounts: [A] });
  new SharedWorkspaceImage(s, 'Desktop', { imageId: WSI, accounts: [A] });
}

function roles(t: Template): [string, any][] {
  return Object.entries(t.findResources('AWS::IAM::Role'));
}

describe('permissions boundary', () => {
  // handler roles (2), share roles (2), the Provider frameworks' function roles (onEvent of both,
  // isComplete and onTimeout of the WorkSpaces waiter) and its state machine's role
  const expectEveryRoleBounded = (t: Template, boundary: unknown): void => {
    const all = roles(t);
    expect(all.length).toBeGreaterThanOrEqual(9);
    expect(all.filter(([, r]) => r.Properties.PermissionsBoundary === undefined).map(([id]) => id)).toEqual([]);
    for (const [, r] of all) expect(r.Properties.PermissionsBoundary).toEqual(boundary);
    expect(all.map(([id]) => id)).toEqual(expect.arrayContaining([
      expect.stringMatching(/SharedAmiProviderHandlerRole/),
      expect.stringMatching(/SharedWorkspaceImageProviderHandlerRole/),
      expect.stringMatching(/^AmiRole/),
      expect.stringMatching(/^DesktopRole/),
      expect.stringMatching(/SharedAmiProviderframeworkonEventServiceRole/),
      expect.stringMatching(/SharedWorkspaceImageProviderframeworkisCompleteServiceRole/),
      expect.stringMatching(/SharedWorkspaceImageProviderwaiterstatemachineRole/),
    ]));
  };

  test('iam.PermissionsBoundary.of(stack) reaches the handler roles, every share role and the Provider framework\'s roles', () => {
    const s = stack();
    bothTypes(s);
    const boundary = iam.ManagedPolicy.fromManagedPolicyName(s, 'Boundary', 'platform-boundary');
    iam.PermissionsBoundary.of(s).apply(boundary);
    expectEveryRoleBounded(Template.fromStack(s), {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:policy/platform-boundary']],
    });
  });

  test('the @aws-cdk/core:permissionsBoundary context reaches them too', () => {
    const s = stack({ '@aws-cdk/core:permissionsBoundary': { name: 'platform-boundary' } });
    bothTypes(s);
    expectEveryRoleBounded(Template.fromStack(s), {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:policy/platform-boundary']],
    });
  });
});

describe('handler logs', () => {
  test('by default: kept three months and deleted with the stack, for the handler and the Provider framework alike', () => {
    const s = stack();
    bothTypes(s);
    const t = Template.fromStack(s);
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(4); // handler and framework, per construct type
    for (const g of groups) {
      expect(g).toMatchObject({ Properties: { RetentionInDays: 90 }, DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    }
    // every function of the stack logs into one of them: none creates a never-expiring group of its own
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.LoggingConfig).toEqual(expect.objectContaining({ LogGroup: { Ref: expect.stringMatching(/(HandlerLogs|FrameworkLogs)/) } }));
    }
  });

  test('handlerOptions set the retention and the removal policy of the type\'s log groups', () => {
    const s = stack();
    const handlerOptions = { logRetention: logs.RetentionDays.ONE_YEAR, logRemovalPolicy: RemovalPolicy.RETAIN };
    new SharedAmi(s, 'Ami', { imageId: AMI, accounts: [A], handlerOptions });
    new SharedAmi(s, 'Ami2', { imageId: AMI, accounts: ['222222222222'], handlerOptions });
    new SharedWorkspaceImage(s, 'Desktop', { imageId: WSI, accounts: [A] });
    const t = Template.fromStack(s);
    const groups = Object.entries(t.findResources('AWS::Logs::LogGroup'));
    const ami = groups.filter(([id]) => id.includes('SharedAmiProvider'));
    const wsi = groups.filter(([id]) => id.includes('SharedWorkspaceImageProvider'));
    expect(ami).toHaveLength(2);
    for (const [, g] of ami) expect(g).toMatchObject({ Properties: { RetentionInDays: 365 }, DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    for (const [, g] of wsi) expect(g).toMatchObject({ Properties: { RetentionInDays: 90 }, DeletionPolicy: 'Delete' });
  });

  test('two shares of one type and stack with different handlerOptions: synth error naming both', () => {
    const s = stack();
    new SharedAmi(s, 'First', { imageId: AMI, accounts: [A], handlerOptions: { logRetention: logs.RetentionDays.ONE_YEAR } });
    expect(() => new SharedAmi(s, 'Second', { imageId: AMI, accounts: [A] })).toThrow(
      /^Golden\/Second: handlerOptions \(logRetention 90\) differ from those of Golden\/First \(logRetention 365\): one handler serves every SharedAmi of stack Golden, so give all of them the same handlerOptions \(or none\)$/,
    );
  });

  test('the same settings given twice (or the defaults spelled out) are fine', () => {
    const s = stack();
    new SharedWorkspaceImage(s, 'First', { imageId: WSI, accounts: [A] });
    new SharedWorkspaceImage(s, 'Second', {
      imageId: WSI, accounts: [A], handlerOptions: { logRetention: logs.RetentionDays.THREE_MONTHS, logRemovalPolicy: RemovalPolicy.DESTROY },
    });
    expect(() => new SharedWorkspaceImage(s, 'Third', { imageId: WSI, accounts: [A], handlerOptions: { logRemovalPolicy: RemovalPolicy.RETAIN } }))
      .toThrow(/^Golden\/Third: handlerOptions \(logRemovalPolicy retain\) differ from those of Golden\/First \(logRemovalPolicy destroy\)/);
    Template.fromStack(s).resourceCountIs('AWS::Logs::LogGroup', 2);
  });

  test('different types keep their own settings', () => {
    const s = stack();
    new SharedAmi(s, 'Ami', { imageId: AMI, accounts: [A], handlerOptions: { logRetention: logs.RetentionDays.ONE_WEEK } });
    new SharedWorkspaceImage(s, 'Desktop', { imageId: WSI, accounts: [A], handlerOptions: { logRetention: logs.RetentionDays.ONE_MONTH } });
    const t = Template.fromStack(s);
    t.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 7 }, 2);
    t.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 2);
  });
});
