import * as crypto from 'crypto';
import { CfnElement, CustomResource, Duration, Lazy, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { DeletionGuard } from '../deletion-guard';
import { ShareHandlerOptions } from '../handler-options';
import { SHARE_ROLE_PATH_PREFIX } from './contract';
import { StackLimits } from './limits';
import { acknowledgeNag, nagGetAttArn, subArn, wildcardResource } from './nag';
import { recordStatements } from './ownership';

/** How to build the handler function of one construct type. */
export interface ShareProviderOptions {
  /** Construct id of the singleton under the stack; unique per construct type. */
  readonly id: string;
  /** Builds the bundled handler function (a projen-generated lambda.Function subclass). */
  readonly handler: (scope: Construct, id: string, props: lambda.FunctionOptions) => lambda.Function;
  /** Statements every share of this type needs and that never change (e.g. `Describe*` on `*`). */
  readonly commonStatements: iam.PolicyStatement[];
  /** Why the common statements need `*`, for the cdk-nag acknowledgement a reviewer reads. */
  readonly commonStatementsReason: string;
  readonly timeout: Duration;
  /** The construct type the provider serves, for messages (`SharedAmi`). */
  readonly shareType: string;
  /** What shrinks a share's policy, for the message when a share role's policy outgrows IAM's cap. */
  readonly smallerPolicyHint?: string;
  /**
   * Let the handler finish asynchronously: a second function of the same bundle (`index.isComplete`)
   * serves the Provider framework's isComplete, which the framework's waiter (a Step Functions
   * state machine) calls every `queryInterval` until it answers complete or `totalTimeout` runs
   * out (the framework passes the onEvent answer's fields on to isComplete).
   *
   * @default - no waiter: the onEvent answer completes the resource
   */
  readonly waiter?: ShareProviderWaiter;
}

/** A share's custom resource, as `ShareProvider.addShareResource` makes it. */
export interface ShareResourceOptions {
  /** The CloudFormation type (`Custom::...`). */
  readonly resourceType: string;
  /** The contract's properties (`src/private/contract.ts`). */
  readonly properties: object;
  /** aws-cdk-lib's meaning: CloudFormation's DeletionPolicy and UpdateReplacePolicy. */
  readonly removalPolicy: RemovalPolicy;
  /** The share's role (`attachShareRole`). */
  readonly role: iam.IRole;
  readonly deletionGuard?: DeletionGuard;
}

/** The Provider framework's polling of isComplete. */
export interface ShareProviderWaiter {
  readonly queryInterval: Duration;
  readonly totalTimeout: Duration;
}

/** The handler settings with their defaults filled in (README, "Handler settings"). */
interface HandlerSettings {
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

function settingsOf(options: ShareHandlerOptions | undefined): HandlerSettings {
  return {
    logRetention: options?.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    logRemovalPolicy: options?.logRemovalPolicy ?? RemovalPolicy.DESTROY,
  };
}

/**
 * One handler Lambda and one Provider framework per stack and construct type, however many shares
 * the stack holds: found again through `Stack.of(scope).node.tryFindChild`, never a static cache
 * (which would leak across apps and tests). The first share of the type sets the handler's
 * settings; a later share of the same stack and type that gives different settings is a
 * synth-time error naming both shares.
 */
export class ShareProvider extends Construct {
  public static of(share: Construct, handlerOptions: ShareHandlerOptions | undefined, options: ShareProviderOptions): ShareProvider {
    const stack = Stack.of(share);
    const settings = settingsOf(handlerOptions);
    const existing = stack.node.tryFindChild(options.id) as ShareProvider | undefined;
    if (!existing) return new ShareProvider(stack, options, settings, share.node.path);
    const differs = (Object.keys(settings) as (keyof HandlerSettings)[]).filter((k) => settings[k] !== existing.settings[k]);
    if (differs.length > 0) {
      const show = (s: HandlerSettings): string => differs.map((k) => `${k} ${s[k]}`).join(', ');
      throw new Error(`${share.node.path}: handlerOptions (${show(settings)}) differ from those of ${existing.settingsFrom} (${show(existing.settings)}): one handler serves every ${options.shareType} of stack ${stack.node.path}, so give all of them the same handlerOptions (or none)`);
    }
    return existing;
  }

  /** The handler's onEvent function (`index.onEvent`). */
  public readonly handler: lambda.Function;
  /** With a waiter: the handler's isComplete function, the same bundle at `index.isComplete`. */
  public readonly isCompleteHandler?: lambda.Function;
  public readonly role: iam.Role;
  public readonly provider: cr.Provider;
  /**
   * The IAM path of this stack's share roles of this type: `/cdk-shared-images/<region>/<stack>/<type>/`.
   * IAM is global, so the region and the stack name (unique per account and region) make it unique
   * to the stack; the handler may assume only the roles under it.
   */
  public readonly rolePath: string;
  private readonly limits: StackLimits;
  private readonly settings: HandlerSettings;
  /** The path of the share whose handlerOptions made this provider, for the mismatch error. */
  private readonly settingsFrom: string;

  private constructor(scope: Stack, options: ShareProviderOptions, settings: HandlerSettings, settingsFrom: string) {
    super(scope, options.id);
    this.settings = settings;
    this.settingsFrom = settingsFrom;
    this.limits = StackLimits.of(scope);
    this.limits.registerProvider(this, options);
    this.rolePath = subArn(scope, `${SHARE_ROLE_PATH_PREFIX}\${AWS::Region}/\${AWS::StackName}/${options.shareType}/`);
    const logGroup = new logs.LogGroup(this, 'HandlerLogs', { retention: settings.logRetention, removalPolicy: settings.logRemovalPolicy });
    // The Provider framework's functions log to a group of the stack too, so nothing is left
    // behind that the settings do not cover.
    const frameworkLogGroup = new logs.LogGroup(this, 'FrameworkLogs', { retention: settings.logRetention, removalPolicy: settings.logRemovalPolicy });
    this.role = new iam.Role(this, 'HandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${options.id} custom-resource handler`,
    });
    logGroup.grantWrite(this.role);
    for (const s of options.commonStatements) this.role.addToPrincipalPolicy(s);
    const shareRoles = subArn(scope, `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role${SHARE_ROLE_PATH_PREFIX}\${AWS::Region}/\${AWS::StackName}/${options.shareType}/*`);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [shareRoles] }));
    const record = recordStatements(scope);
    for (const s of record.statements) this.role.addToPrincipalPolicy(s);

    // The handler module exports one entry point per call of the Provider framework (DESIGN.md,
    // "Entry points"): onEvent, and with a waiter a second function of the same bundle for isComplete.
    const functionProps: lambda.FunctionOptions = { role: this.role, timeout: options.timeout, memorySize: 256, logGroup };
    this.handler = entryPoint(options.handler(this, 'Handler', {
      ...functionProps,
      description: `cdk-shared-images ${options.id} handler (onEvent)`,
    }), 'onEvent');
    this.isCompleteHandler = options.waiter ? entryPoint(options.handler(this, 'IsCompleteHandler', {
      ...functionProps,
      description: `cdk-shared-images ${options.id} handler (isComplete)`,
    }), 'isComplete') : undefined;
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      logGroup: frameworkLogGroup,
      ...(options.waiter && this.isCompleteHandler ? {
        isCompleteHandler: this.isCompleteHandler,
        queryInterval: options.waiter.queryInterval,
        totalTimeout: options.waiter.totalTimeout,
      } : {}),
    });

    const nagRegion = Token.isUnresolved(scope.region) ? '<AWS::Region>' : scope.region;
    const nagAccount = Token.isUnresolved(scope.account) ? '<AWS::AccountId>' : scope.account;
    const nagStack = Token.isUnresolved(scope.stackName) ? '<AWS::StackName>' : scope.stackName;
    acknowledgeNag(this.role, {
      [wildcardResource('*')]: options.commonStatementsReason,
      [wildcardResource(`arn:<AWS::Partition>:iam::${nagAccount}:role${SHARE_ROLE_PATH_PREFIX}${nagRegion}/${nagStack}/${options.shareType}/*`)]:
        'The handler assumes the role of the share it acts for; each share has its own role, all under this stack\'s own IAM path, and nothing else.',
      ...record.acknowledged,
    });
    acknowledgeNag(this.provider, {
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
        'The CDK Provider framework function uses AWSLambdaBasicExecutionRole for its own logs and holds no other permission.',
      [wildcardResource(`${nagGetAttArn(this.handler.node.defaultChild as CfnElement)}:*`)]:
        'The CDK Provider framework may invoke every version and alias of our handler (<function ARN>:*), and nothing else.',
      'AwsSolutions-L1': 'The CDK Provider framework function\'s runtime is chosen by aws-cdk-lib, not by this library; our own handler runs Node.js 24.',
    });
    if (options.waiter && this.isCompleteHandler) {
      const frameworkArn = (id: string): string => nagGetAttArn(this.provider.node.findChild(id).node.defaultChild as CfnElement);
      acknowledgeNag(this.provider, {
        [wildcardResource(`${nagGetAttArn(this.isCompleteHandler.node.defaultChild as CfnElement)}:*`)]:
          'The CDK Provider framework may invoke every version and alias of our isComplete handler (<function ARN>:*), and nothing else.',
        [wildcardResource(`${frameworkArn('framework-isComplete')}:*`)]:
          'The CDK Provider framework\'s waiter state machine may invoke every version and alias of the framework\'s own isComplete function (<function ARN>:*), and nothing else.',
        [wildcardResource(`${frameworkArn('framework-onTimeout')}:*`)]:
          'The CDK Provider framework\'s waiter state machine may invoke every version and alias of the framework\'s own onTimeout function (<function ARN>:*), and nothing else.',
        'AwsSolutions-SF1': 'The CDK Provider framework\'s waiter only re-invokes the isComplete function until it answers; every decision is logged by our handler (HandlerLogs) and the execution history stays in Step Functions.',
        'AwsSolutions-SF2': 'The CDK Provider framework\'s waiter state machine offers no tracing option; it runs one Lambda task in a retry loop.',
      });
    }
  }

  public get serviceToken(): string {
    return this.provider.serviceToken;
  }

  /**
   * The share's custom resource, served by this provider. It depends on its role and on the
   * guarded image resource, so CloudFormation deletes the share, which revokes and runs the
   * deletion guard, before the image and before the role the handler assumes to revoke.
   */
  public addShareResource(share: Construct, options: ShareResourceOptions): CustomResource {
    const resource = new CustomResource(share, 'Resource', {
      resourceType: options.resourceType,
      serviceToken: this.serviceToken,
      properties: { ...options.properties },
      removalPolicy: options.removalPolicy,
    });
    if (options.deletionGuard) resource.node.addDependency(options.deletionGuard.imageResource);
    resource.node.addDependency(options.role);
    return resource;
  }

  /**
   * Gives a share a role of its own holding its permissions (one inline policy), under this
   * stack's path, assumable by the handler role only. The handler assumes it for every event of the
   * share (property `ShareRoleArn`). Two rules keep the permissions alive for every Delete that
   * needs them:
   *
   * - the share depends on its role (`DependsOn`, besides the `Fn::GetAtt`), so CloudFormation
   *   deletes the share, which revokes, before the role: on a stack delete, and in the cleanup
   *   phase of an update that removes the share (CloudFormation orders those deletes by the
   *   previous template's dependencies);
   * - the role's logical id carries a hash of its policy and trust policy, so a role never changes
   *   in place: new settings or a new image make a new role, and the old one, which the old
   *   physical id's Delete and any rollback still use, is deleted only in the cleanup phase, after
   *   that Delete.
   */
  public attachShareRole(share: Construct, statements: iam.PolicyStatement[]): iam.Role {
    const stack = Stack.of(share);
    const role = new iam.Role(share, 'Role', {
      assumedBy: new iam.ArnPrincipal(this.role.roleArn),
      path: this.rolePath,
      inlinePolicies: { Share: new iam.PolicyDocument({ statements }) },
    });
    const cfn = role.node.defaultChild as iam.CfnRole;
    cfn.overrideLogicalId(Lazy.uncachedString({
      produce: () => {
        const content = JSON.stringify(stack.resolve({ p: cfn.policies, t: cfn.assumeRolePolicyDocument, path: cfn.path }));
        return `${stack.getLogicalId(cfn)}${crypto.createHash('sha256').update(content).digest('hex').slice(0, 8).toUpperCase()}`;
      },
    }));
    this.limits.registerShareRole(this, share, role);
    return role;
  }
}

/**
 * Points a bundled handler function at one of its module's exports: projen's generated function
 * class fixes `index.handler`, and the bundle exports `onEvent` and `isComplete` beside it.
 */
function entryPoint(fn: lambda.Function, name: 'onEvent' | 'isComplete'): lambda.Function {
  (fn.node.defaultChild as lambda.CfnFunction).handler = `index.${name}`;
  return fn;
}
