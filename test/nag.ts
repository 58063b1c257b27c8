import { App, Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';

/**
 * Unacknowledged cdk-nag AwsSolutions findings under `scope`, as "<rule> at <path>: <why>".
 *
 * cdk-nag 3 plugs into aws-cdk-lib's policy validation, which prints its report instead of failing
 * synth and, before aws-cdk-lib exposes the construct tree to plugins, cannot run at all; so the
 * tests call the pack directly (`validateScope`), which honours `Validations.acknowledge`.
 */
export function nagFindings(scope: IConstruct): string[] {
  const app = Stack.of(scope).node.root as App;
  app.synth();
  const report = new AwsSolutionsChecks(app).validateScope(scope);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}: ${v.description.slice(0, 80)}`));
}
