import { RemovalPolicy } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Checks a share's `removalPolicy` and returns it (DESTROY when not given). CloudFormation applies
 * the policy (`DeletionPolicy` and `UpdateReplacePolicy` on the share resource, as aws-cdk-lib sets
 * them for its own resources), so it decides whether a Delete reaches the handler at all; the
 * handler is never told the policy, and a Delete that does reach it revokes (README, "Choices":
 * removalPolicy).
 */
export function checkRemovalPolicy(share: IConstruct, policy: RemovalPolicy | undefined): RemovalPolicy {
  const value = policy ?? RemovalPolicy.DESTROY;
  if (value === RemovalPolicy.SNAPSHOT) {
    throw new Error(`${share.node.path}: removalPolicy SNAPSHOT is not supported: a share has no snapshot to take; use RemovalPolicy.DESTROY (revoke), RETAIN or RETAIN_ON_UPDATE_OR_DELETE (keep the shares)`);
  }
  return value;
}
