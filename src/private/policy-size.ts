/**
 * The caps a stack of shares must fit (IAM's per role, CloudFormation's per stack), and an estimate
 * of what a synthesized policy counts against IAM's. Used by the synth-time check (limits.ts) and
 * by the benchmarks.
 *
 * IAM and AWS STS quotas (IAM User Guide, reference_iam-quotas): a role's inline policies add up to
 * at most 10,240 characters and its trust policy to 2,048 by default (whitespace not counted).
 * CloudFormation quotas (CloudFormation User Guide, cloudformation-limits): 500 resources per
 * stack, and a template uploaded through S3 (as CDK does) of at most 1 MB.
 */

/** IAM: the aggregate size of all inline policies embedded in one role (whitespace not counted). */
export const IAM_ROLE_INLINE_POLICY_LIMIT = 10_240;
/** IAM: a role's trust policy, default quota (whitespace not counted). */
export const IAM_ROLE_TRUST_POLICY_LIMIT = 2_048;
/** CloudFormation: resources per stack. */
export const CFN_RESOURCE_LIMIT = 500;
/** CloudFormation: template body uploaded through S3, in bytes (1 MB, counted as 10^6 to stay on the safe side). */
export const CFN_TEMPLATE_LIMIT = 1_000_000;

/**
 * The longest names a token can turn into, so that the estimate errs high in every partition and
 * region: `aws-us-gov` is the longest partition name, `us-isof-south-1` among the longest region
 * names; a reference becomes an ARN whose resource name has IAM's longest role name (64).
 */
export const LONGEST_PARTITION = 'aws-us-gov';
export const LONGEST_REGION = 'us-isof-south-1';
const LONGEST_NAME = 64;

/** Values the estimate uses for pseudo parameters that are still tokens. */
export interface PseudoValues {
  readonly partition?: string;
  readonly region?: string;
  readonly account?: string;
  readonly stackName?: string;
}

/**
 * The whitespace-free length of a resolved policy document once CloudFormation has replaced its
 * intrinsics: pseudo parameters become the given values (or the longest partition and region
 * names), references and `Fn::GetAtt` become an ARN at least as long as a real role or key ARN.
 * An upper bound for the policies this library writes, not an exact count.
 */
export function policyChars(resolvedDocument: unknown, pseudo: PseudoValues = {}): number {
  return JSON.stringify(approximateIntrinsics(resolvedDocument, pseudo)).length;
}

/** Replaces CloudFormation intrinsics by literal strings of plausible length (see `policyChars`). */
export function approximateIntrinsics(value: unknown, pseudo: PseudoValues = {}): unknown {
  const region = pseudo.region ?? LONGEST_REGION;
  const account = pseudo.account ?? '123456789012';
  const partition = pseudo.partition ?? LONGEST_PARTITION;
  const values: Record<string, string> = {
    'AWS::Partition': partition,
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': pseudo.stackName ?? 'Stack',
    'AWS::StackId': `arn:${partition}:cloudformation:${region}:${account}:stack/${pseudo.stackName ?? 'Stack'}/00000000-0000-0000-0000-000000000000`,
  };
  const arnOf = (logicalId: string): string => `arn:${partition}:service:${region}:${account}:resource/${logicalId.padEnd(LONGEST_NAME, '0')}`;
  // An intrinsic the estimate does not know (Fn::ImportValue, Fn::Select, ...) counts as an ARN.
  const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'object' && v !== null ? arnOf('Value') : String(v));
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 1) {
        const [fn, arg] = entries[0];
        if (fn === 'Ref') return values[arg as string] ?? arnOf(String(arg));
        if (fn === 'Fn::GetAtt') return arnOf(Array.isArray(arg) ? String(arg[0]) : String(arg).split('.')[0]);
        if (fn === 'Fn::Join') {
          const [sep, parts] = arg as [string, unknown[]];
          return (walk(parts) as unknown[]).map(text).join(sep);
        }
        if (fn === 'Fn::Split') {
          const [sep, source] = arg as [string, unknown];
          return text(walk(source)).split(sep);
        }
        if (fn === 'Fn::Sub') {
          const [template, vars] = Array.isArray(arg) ? arg as [string, Record<string, unknown>] : [String(arg), {}];
          return template.replace(/\$\{([^}]+)\}/g, (_m, name: string) => (name in vars ? text(walk(vars[name])) : values[name] ?? name));
        }
      }
      return Object.fromEntries(entries.map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value);
}
