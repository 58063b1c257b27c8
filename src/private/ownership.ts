import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { nagArn, wildcardResource } from './nag';

/**
 * Where the handlers keep the record of which resource holds which share of an image (Parameter
 * Store, one parameter per resource and image; see DESIGN.md, "Ownership"). Must match
 * CLAIMS_ROOT in lambda/common/ownership.ts.
 */
export const CLAIMS_PARAMETER_ROOT = 'cdk-shared-images/claims';

/**
 * The handler role's permissions on the record: read an image's claims, write and delete claims,
 * in the library's own folder of this account and region and nowhere else. (The record names
 * recipients; it grants no access to any image.)
 */
export function recordStatements(stack: Stack): { statements: iam.PolicyStatement[]; acknowledged: Record<string, string> } {
  const arn = (name: string): string => stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  return {
    statements: [
      new iam.PolicyStatement({ actions: ['ssm:GetParametersByPath', 'ssm:PutParameter', 'ssm:DeleteParameter'], resources: [arn(`${CLAIMS_PARAMETER_ROOT}/*`)] }),
    ],
    acknowledged: {
      [wildcardResource(nagArn(stack, 'ssm', account, `parameter/${CLAIMS_PARAMETER_ROOT}/*`))]:
        'The record of which resource holds which share: one folder per image, one parameter per resource, named at deploy time, in the library\'s own folder of this account and region.',
    },
  };
}
