import * as crypto from 'crypto';
import { Annotations, CfnElement, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledgeNag, nagGetAttArn, wildcardResource } from './nag';
import { recordStatements } from './ownership';
import { IAM_ROLE_INLINE_POLICY_LIMIT, policyChars } from './policy-size';

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
  /** What shrinks a share's policy, for the message when the role's policies outgrow IAM's cap. */
  readonly smallerPolicyHint?: string;
  /**
   * Let the handler finish asynchronously: the same function also serves the Provider framework's
   * isComplete, which the framework's waiter (a Step Functions state machine) calls every
   * `queryInterval` until it answers complete or `totalTimeout` runs out. The handler must tell the
   * two calls apart (the framework passes the onEvent answer's fields on to isComplete).
   *
   * @default - no waiter: the onEvent answer completes the resource
   */
  readonly waiter?: ShareProviderWaiter;
}

/** The Provider framework's polling of isComplete. */
export interface ShareProviderWaiter {
  readonly queryInterval: Duration;
  readonly totalTimeout: Duration;
}

/**
 * One handler Lambda and one Provider framework per stack and construct type, however many shares
 * the stack holds: found again through `Stack.of(scope).node.tryFindChild`, never a static cache
 * (which would leak across apps and tests).
 */
export class ShareProvider extends Construct {
  public static of(scope: Construct, options: ShareProviderOptions): ShareProvider {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild(options.id);
    if (existing) return existing as ShareProvider;
    return new ShareProvider(stack, options);
  }

  public readonly handler: lambda.Function;
  public readonly role: iam.Role;
  public readonly provider: cr.Provider;
  private readonly sharePolicies: iam.Policy[] = [];

  private constructor(scope: Stack, options: ShareProviderOptions) {
    super(scope, options.id);
    this.node.addValidation({ validate: () => this.checkRolePolicySize(options) });
    const logGroup = new logs.LogGroup(this, 'HandlerLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.role = new iam.Role(this, 'HandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${options.id} custom-resource handler`,
    });
    logGroup.grantWrite(this.role);
    for (const s of options.commonStatements) this.role.addToPrincipalPolicy(s);
    const record = recordStatements(scope);
    for (const s of record.statements) this.role.addToPrincipalPolicy(s);

    this.handler = options.handler(this, 'Handler', {
      role: this.role,
      timeout: options.timeout,
      memorySize: 256,
      logGroup,
      description: `cdk-shared-images ${options.id} handler`,
    });
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      ...(options.waiter ? {
        isCompleteHandler: this.handler,
        queryInterval: options.waiter.queryInterval,
        totalTimeout: options.waiter.totalTimeout,
      } : {}),
    });

    acknowledgeNag(this.role, {
      [wildcardResource('*')]: options.commonStatementsReason,
      ...record.acknowledged,
    });
    acknowledgeNag(this.provider, {
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
        'The CDK Provider framework function uses AWSLambdaBasicExecutionRole for its own logs and holds no other permission.',
      [wildcardResource(`${nagGetAttArn(this.handler.node.defaultChild as CfnElement)}:*`)]:
        'The CDK Provider framework may invoke every version and alias of our handler (<function ARN>:*), and nothing else.',
      'AwsSolutions-L1': 'The CDK Provider framework function\'s runtime is chosen by aws-cdk-lib, not by this library; our own handler runs Node.js 24.',
    });
    if (options.waiter) {
      const frameworkArn = (id: string): string => nagGetAttArn(this.provider.node.findChild(id).node.defaultChild as CfnElement);
      acknowledgeNag(this.provider, {
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
   * Attaches a share's own permissions to the shared role as a policy of its own. Its construct id
   * is derived from its content, so a change (a new image, a new setting) creates a new policy and
   * CloudFormation removes the old one only after the share's update or replacement cleanup, which
   * may still need the old permissions to revoke. The share depends on the policy, so the policy
   * also outlives the share's own Delete.
   */
  public attachSharePolicy(share: Construct, dependent: Construct, statements: iam.PolicyStatement[], identity: unknown): iam.Policy {
    const hash = crypto.createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 8);
    const policy = new iam.Policy(share, `Permissions${hash}`, { statements, roles: [this.role] });
    dependent.node.addDependency(policy);
    this.sharePolicies.push(policy);
    return policy;
  }

  /**
   * IAM refuses a role whose inline policies add up to more than 10,240 characters, and every
   * share adds its policy to this one role: say so at synth time, not halfway through a deployment.
   * Every inline policy on the role counts, the shares' and any a user attached. The estimate
   * (`policyChars`) errs low for these policies (shortest region and partition names, made-up ARNs
   * shorter than log group and key ARNs), so an estimate over the cap is an error; from 90 %, a warning.
   */
  private checkRolePolicySize(options: ShareProviderOptions): string[] {
    const stack = Stack.of(this);
    const literal = (v: string): string | undefined => (Token.isUnresolved(v) ? undefined : v);
    const pseudo = {
      region: literal(stack.region), account: literal(stack.account), partition: literal(stack.partition), stackName: stack.stackName,
    };
    const role = JSON.stringify(stack.resolve(this.role.roleName));
    const onRole = stack.node.findAll()
      .filter((c): c is iam.CfnPolicy => c instanceof iam.CfnPolicy && Stack.of(c) === stack) // a nested stack has its own role
      .filter((p) => (stack.resolve(p.roles) as unknown[] | undefined ?? []).some((r) => JSON.stringify(r) === role));
    const embedded = (stack.resolve((this.role.node.defaultChild as iam.CfnRole).policies) as Array<{ policyDocument: unknown }> | undefined) ?? [];
    const chars = onRole.reduce((sum, p) => sum + policyChars(stack.resolve(p.policyDocument), pseudo), 0)
      + embedded.reduce((sum, p) => sum + policyChars(p.policyDocument, pseudo), 0);
    if (chars <= IAM_ROLE_INLINE_POLICY_LIMIT * 0.9) return [];

    const n = this.sharePolicies.length;
    const what = `${n} ${options.shareType} in stack ${stack.stackName} ${n === 1 ? 'needs' : 'need'} about ${chars.toLocaleString('en-US')} ` +
      'characters of inline policy on one handler role';
    const fix = `move some to another stack or a NestedStack${options.smallerPolicyHint ? `, or ${options.smallerPolicyHint}` : ''}`;
    const limit = IAM_ROLE_INLINE_POLICY_LIMIT.toLocaleString('en-US');
    if (chars > IAM_ROLE_INLINE_POLICY_LIMIT) return [`${what}, over IAM's ${limit}: ${fix}.`];
    Annotations.of(this).addWarningV2('cdk-shared-images:role-policy-size', `${what}, close to IAM's ${limit}: ${fix}.`);
    return [];
  }
}
