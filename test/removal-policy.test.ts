import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SharedAmi, SharedWorkspaceImage } from '../src';
import { SHARED_AMI_RESOURCE_TYPE, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE } from '../src/private/contract';

/** `removalPolicy` has aws-cdk-lib's meaning: CloudFormation applies it (README, "Removal policy"). */

const A = '111111111111';
const SHARES: Array<[string, string, (s: Stack, removalPolicy?: RemovalPolicy) => void]> = [
  ['SharedAmi', SHARED_AMI_RESOURCE_TYPE, (s, removalPolicy) => new SharedAmi(s, 'Share', { imageId: 'ami-0123456789abcdef0', accounts: [A], removalPolicy })],
  ['SharedWorkspaceImage', SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, (s, removalPolicy) => new SharedWorkspaceImage(s, 'Share', { imageId: 'wsi-0123abcde', accounts: [A], removalPolicy })],
];

describe.each(SHARES)('%s', (_name, type, share) => {
  const stack = (): Stack => new Stack(new App(), 'Golden', { env: { account: '123456789012', region: 'eu-west-1' } });

  test.each([
    ['the default (DESTROY): CloudFormation deletes the share, whose Delete revokes', undefined, 'Delete', 'Delete'],
    ['DESTROY', RemovalPolicy.DESTROY, 'Delete', 'Delete'],
    ['RETAIN: CloudFormation never sends the Delete, also not on a replacement or a create rollback', RemovalPolicy.RETAIN, 'Retain', 'Retain'],
    ['RETAIN_ON_UPDATE_OR_DELETE: only a create rollback deletes (and revokes)', RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, 'RetainExceptOnCreate', 'Retain'],
  ])('removalPolicy %s', (_policy, removalPolicy, deletionPolicy, updateReplacePolicy) => {
    const s = stack();
    share(s, removalPolicy);
    // the handler is not told the policy: a Delete that reaches it always revokes
    Template.fromStack(s).hasResource(type, {
      DeletionPolicy: deletionPolicy,
      UpdateReplacePolicy: updateReplacePolicy,
      Properties: Match.objectLike({ RemovalPolicy: Match.absent() }),
    });
  });

  test('SNAPSHOT is a synth-time error naming the construct and the choices', () => {
    expect(() => share(stack(), RemovalPolicy.SNAPSHOT)).toThrow(
      /^Golden\/Share: removalPolicy SNAPSHOT is not supported: a share has no snapshot to take; use RemovalPolicy\.DESTROY \(revoke\), RETAIN or RETAIN_ON_UPDATE_OR_DELETE \(keep the shares\)$/,
    );
  });
});
