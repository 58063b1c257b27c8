/**
 * IAM's cap on one role's inline policies, and an estimate of what a synthesized policy will count
 * against it. Used by the handler role's synth-time check and by the benchmarks.
 */

/** IAM: the aggregate size of all inline policies embedded in one role (whitespace not counted). */
export const IAM_ROLE_INLINE_POLICY_LIMIT = 10_240;

/** Values the estimate uses for pseudo parameters that are still tokens. */
export interface PseudoValues {
  readonly partition?: string;
  readonly region?: string;
  readonly account?: string;
  readonly stackName?: string;
}

/**
 * The whitespace-free length of a resolved policy document once CloudFormation has replaced its
 * intrinsics: pseudo parameters become the given values (or us-east-1-like ones), references and
 * `Fn::GetAtt` become an ARN of typical length built from the logical id. Close, not exact: an ARN
 * the estimate makes up can differ from the real one by a few dozen characters.
 */
export function policyChars(resolvedDocument: unknown, pseudo: PseudoValues = {}): number {
  return JSON.stringify(approximateIntrinsics(resolvedDocument, pseudo)).length;
}

/** Replaces CloudFormation intrinsics by literal strings of plausible length (see `policyChars`). */
export function approximateIntrinsics(value: unknown, pseudo: PseudoValues = {}): unknown {
  const region = pseudo.region ?? 'us-east-1';
  const account = pseudo.account ?? '123456789012';
  const values: Record<string, string> = {
    'AWS::Partition': pseudo.partition ?? 'aws',
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': pseudo.stackName ?? 'Stack',
    'AWS::StackId': `arn:aws:cloudformation:${region}:${account}:stack/${pseudo.stackName ?? 'Stack'}/00000000-0000-0000-0000-000000000000`,
  };
  const arnOf = (logicalId: string): string => `arn:aws:service:${region}:${account}:resource/${logicalId}`;
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
