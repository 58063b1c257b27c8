import { CfnElement, Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Records acknowledged cdk-nag findings on a construct, with the reason a reviewer reads, under
 * aws-cdk-lib's public acknowledged-rules metadata key (which cdk-nag 3 reads). Consumers need no
 * cdk-nag installed.
 *
 * cdk-nag 3 acknowledges wildcard findings one by one (`AwsSolutions-IAM5[Resource::<arn>]`), and
 * those ids contain `::`, which `Validations.acknowledge()` reserves for its own prefixes; so the
 * metadata is written directly.
 */
export function acknowledgeNag(scope: IConstruct, findings: Record<string, string>): void {
  scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { ...findings });
}

/** The finding id of an IAM5 wildcard on `resource` (an ARN as cdk-nag prints it). */
export function wildcardResource(resource: string): string {
  return `AwsSolutions-IAM5[Resource::${resource}]`;
}

/** An ARN in this stack's region as cdk-nag prints it: `arn:<AWS::Partition>:<service>:<region>:<account>:<rest>`. */
export function nagArn(stack: Stack, service: string, account: string, rest: string): string {
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  return `arn:<AWS::Partition>:${service}:${region}:${account}:${rest}`;
}

/** `<LogicalId.Arn>` as cdk-nag prints a GetAtt. */
export function nagGetAttArn(element: CfnElement): string {
  return `<${Stack.of(element).resolve(element.logicalId)}.Arn>`;
}

/**
 * A string with `${AWS::Partition}`, `${AWS::Region}`, `${AWS::AccountId}` and `${AWS::StackName}` placeholders: literal
 * where the stack knows the value, otherwise one `Fn::Sub`. Each share writes a role of its own,
 * and an `Fn::Sub` takes a fraction of the template bytes of the `Fn::Join` that `formatArn` makes
 * (CloudFormation caps a template at 1 MB, indentation included).
 */
export function subArn(stack: Stack, template: string): string {
  const literal = (v: string): string | undefined => (Token.isUnresolved(v) ? undefined : v);
  const values: Record<string, string | undefined> = {
    'AWS::Partition': literal(stack.partition),
    'AWS::Region': literal(stack.region),
    'AWS::AccountId': literal(stack.account),
    'AWS::StackName': literal(stack.stackName),
  };
  const text = template.replace(/\$\{(AWS::[A-Za-z]+)\}/g, (m, name: string) => values[name] ?? m);
  return text.includes('${') ? Fn.sub(text) : text;
}
