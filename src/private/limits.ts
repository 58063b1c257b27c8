import { Annotations, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import {
  CFN_RESOURCE_LIMIT, CFN_TEMPLATE_LIMIT, IAM_ROLE_INLINE_POLICY_LIMIT, IAM_ROLE_TRUST_POLICY_LIMIT, PseudoValues, policyChars,
} from './policy-size';

/** From this share of a cap on, synth warns. */
export const WARN_AT = 0.9;

/**
 * Bytes the default stack synthesizer adds to a template after validation: the `BootstrapVersion`
 * parameter and the `CheckBootstrapVersion` rule (about 530 bytes minified, 700 indented).
 */
const SYNTHESIZER_ALLOWANCE = 1_000;

interface CfnTemplate {
  readonly Resources?: Record<string, unknown>;
  readonly Parameters?: Record<string, unknown>;
}

const ID = 'cdk-shared-images.Limits';

interface ProviderEntry {
  readonly provider: IConstruct & { readonly role: iam.Role };
  readonly shareType: string;
  readonly smallerPolicyHint?: string;
}

interface ShareRoleEntry {
  readonly provider: IConstruct;
  readonly share: IConstruct;
  readonly role: iam.Role;
}

/** What a synth-time check found: a problem past a cap (an error) or near it (a warning). */
interface Finding {
  readonly error: boolean;
  readonly message: string;
}

/**
 * The synth-time check of one stack (one per stack, nested stacks have their own): it counts what
 * IAM and CloudFormation will count, with the longest partition and region names where the
 * template leaves them to the deployment, and refuses a stack past a cap with one sentence naming
 * the limit, the stack and the fix, instead of a deployment failing halfway. From 90 % it warns.
 *
 * - IAM, per share role: its inline policy (10,240 characters) and its trust policy (2,048);
 * - IAM, per handler role: every inline policy on it, the library's and any a user attached;
 * - CloudFormation, per stack: 500 resources and a 1 MB template (as `cdk synth` writes it, with
 *   indentation).
 */
export class StackLimits extends Construct {
  public static of(stack: Stack): StackLimits {
    return (stack.node.tryFindChild(ID) as StackLimits | undefined) ?? new StackLimits(stack);
  }

  private readonly providers: ProviderEntry[] = [];
  private readonly shareRoles: ShareRoleEntry[] = [];

  private constructor(scope: Stack) {
    super(scope, ID);
    this.node.addValidation({ validate: () => this.report(this.check()) });
  }

  public registerProvider(provider: ProviderEntry['provider'], options: Omit<ProviderEntry, 'provider'>): void {
    this.providers.push({ provider, shareType: options.shareType, smallerPolicyHint: options.smallerPolicyHint });
  }

  public registerShareRole(provider: IConstruct, share: IConstruct, role: iam.Role): void {
    this.shareRoles.push({ provider, share, role });
  }

  /** Every finding, errors and warnings, in the order: share roles, handler roles, the stack. */
  public check(): Finding[] {
    const stack = Stack.of(this);
    const pseudo = pseudoOf(stack);
    const findings: Finding[] = [];
    const limit = (n: number): string => n.toLocaleString('en-US');
    const near = (chars: number, cap: number): boolean => chars > cap * WARN_AT;

    for (const { provider, share, role } of this.shareRoles) {
      const entry = this.providers.find((p) => p.provider === provider)!;
      const cfn = role.node.defaultChild as iam.CfnRole;
      const policies = (stack.resolve(cfn.policies) as Array<{ policyDocument: unknown }> | undefined) ?? [];
      const chars = policies.reduce((sum, p) => sum + policyChars(p.policyDocument, pseudo), 0);
      if (near(chars, IAM_ROLE_INLINE_POLICY_LIMIT)) {
        const over = chars > IAM_ROLE_INLINE_POLICY_LIMIT;
        findings.push({
          error: over,
          message: `${entry.shareType} ${share.node.path} needs about ${limit(chars)} characters of inline policy on its role in stack ${stack.stackName}, ` +
            `${over ? 'over' : 'close to'} IAM's ${limit(IAM_ROLE_INLINE_POLICY_LIMIT)} per role: ` +
            `${entry.smallerPolicyHint ?? 'declare fewer recipients in this share'}.`,
        });
      }
      const trust = policyChars(stack.resolve(cfn.assumeRolePolicyDocument), pseudo);
      if (near(trust, IAM_ROLE_TRUST_POLICY_LIMIT)) {
        findings.push({
          error: trust > IAM_ROLE_TRUST_POLICY_LIMIT,
          message: `${entry.shareType} ${share.node.path}'s role trust policy in stack ${stack.stackName} needs about ${limit(trust)} characters, ` +
            `close to or over IAM's default ${limit(IAM_ROLE_TRUST_POLICY_LIMIT)}: ask for a higher "Role trust policy length" quota.`,
        });
      }
    }

    for (const entry of this.providers) {
      const chars = handlerRoleChars(stack, entry.provider.role, pseudo);
      if (near(chars, IAM_ROLE_INLINE_POLICY_LIMIT)) {
        const over = chars > IAM_ROLE_INLINE_POLICY_LIMIT;
        findings.push({
          error: over,
          message: `The ${entry.shareType} handler role in stack ${stack.stackName} holds about ${limit(chars)} characters of inline policy, ` +
            `${over ? 'over' : 'close to'} IAM's ${limit(IAM_ROLE_INLINE_POLICY_LIMIT)} per role: remove the policies attached to it outside this library.`,
        });
      }
    }

    const template = (stack as unknown as { _toCloudFormation(): CfnTemplate })._toCloudFormation();
    const resources = Object.keys(template.Resources ?? {}).length;
    // As `cdk synth` writes it: indented with one space unless the stack suppresses indentation,
    // and with what the stack synthesizer adds only after validation (the bootstrap version check).
    const suppressed = (stack as unknown as { _suppressTemplateIndentation?: boolean })._suppressTemplateIndentation === true;
    const added = template.Parameters?.BootstrapVersion === undefined ? SYNTHESIZER_ALLOWANCE : 0;
    const bytes = Buffer.byteLength(JSON.stringify(template, undefined, suppressed ? undefined : 1)) + added;
    const shares = `${this.shareRoles.length} share${this.shareRoles.length === 1 ? '' : 's'}`;
    const fix = 'move some shares to another stack or a NestedStack';
    if (resources > CFN_RESOURCE_LIMIT * WARN_AT) {
      const over = resources > CFN_RESOURCE_LIMIT;
      findings.push({
        error: over,
        message: `Stack ${stack.stackName} holds ${limit(resources)} resources (${shares}, two resources each), ` +
          `${over ? 'over' : 'close to'} CloudFormation's ${limit(CFN_RESOURCE_LIMIT)} per stack: ${fix}.`,
      });
    }
    if (bytes > CFN_TEMPLATE_LIMIT * WARN_AT) {
      const over = bytes > CFN_TEMPLATE_LIMIT;
      findings.push({
        error: over,
        message: `Stack ${stack.stackName}'s template is about ${limit(bytes)} bytes (${shares}), ` +
          `${over ? 'over' : 'close to'} CloudFormation's ${limit(CFN_TEMPLATE_LIMIT)}: ` +
          `${suppressed ? fix : `set suppressTemplateIndentation: true on the stack, or ${fix}`}.`,
      });
    }
    return findings;
  }

  private report(findings: Finding[]): string[] {
    for (const f of findings.filter((x) => !x.error)) Annotations.of(Stack.of(this)).addWarningV2('cdk-shared-images:limits', f.message);
    return findings.filter((x) => x.error).map((x) => x.message);
  }
}

/** Literal pseudo parameters of the stack; tokens are left to the estimate's longest names. */
function pseudoOf(stack: Stack): PseudoValues {
  const literal = (v: string): string | undefined => (v.includes('${Token[') ? undefined : v);
  return { region: literal(stack.region), account: literal(stack.account), partition: literal(stack.partition), stackName: stack.stackName };
}

/** Every inline policy on a handler role: its own `Policies` and every AWS::IAM::Policy of the stack attached to it. */
function handlerRoleChars(stack: Stack, role: iam.Role, pseudo: PseudoValues): number {
  const name = JSON.stringify(stack.resolve(role.roleName));
  const attached = stack.node.findAll()
    .filter((c): c is iam.CfnPolicy => c instanceof iam.CfnPolicy && Stack.of(c) === stack) // a nested stack has its own roles
    .filter((p) => (stack.resolve(p.roles) as unknown[] | undefined ?? []).some((r) => JSON.stringify(r) === name));
  const embedded = (stack.resolve((role.node.defaultChild as iam.CfnRole).policies) as Array<{ policyDocument: unknown }> | undefined) ?? [];
  return attached.reduce((sum, p) => sum + policyChars(stack.resolve(p.policyDocument), pseudo), 0)
    + embedded.reduce((sum, p) => sum + policyChars(p.policyDocument, pseudo), 0);
}
