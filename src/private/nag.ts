import { CfnResource } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** One cdk-nag rule suppression with the reason a reviewer reads. */
export interface NagSuppression {
  readonly id: string;
  readonly reason: string;
}

/**
 * Records cdk-nag suppressions on every CloudFormation resource under `scope`, in the metadata
 * format cdk-nag reads (`cdk_nag.rules_to_suppress`). Written here rather than imported so that
 * consumers of this library do not need cdk-nag installed; the format is checked by our tests,
 * which run cdk-nag over synthesized stacks.
 */
export function suppressNagRules(scope: IConstruct, suppressions: NagSuppression[]): void {
  for (const c of scope.node.findAll()) {
    if (!CfnResource.isCfnResource(c)) continue;
    const existing = (c.getMetadata('cdk_nag') as { rules_to_suppress?: NagSuppression[] } | undefined)?.rules_to_suppress ?? [];
    const ids = new Set(existing.map((s) => s.id));
    c.addMetadata('cdk_nag', { rules_to_suppress: [...existing, ...suppressions.filter((s) => !ids.has(s.id))] });
  }
}
