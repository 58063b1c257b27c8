import { CustomResource, Duration, Lazy, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DeletionGuard } from './deletion-guard';
import { ShareHandlerOptions } from './handler-options';
import { SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, SharedWorkspaceImageResourceProperties } from './private/contract';
import { wireGuard } from './private/guard';
import { acknowledgeNag, nagArn, subArn, wildcardResource } from './private/nag';
import { ShareProvider } from './private/provider';
import { RecipientList } from './private/recipients';
import { checkRemovalPolicy } from './private/removal';
import { ACCOUNT, checkWorkspaceImageId } from './private/validation';
import { SharedWorkspaceImageFunction } from './shared-workspace-image-function';

/**
 * Properties of a SharedWorkspaceImage.
 */
export interface SharedWorkspaceImageProps {
  /**
   * The WorkSpaces custom image to share: `wsi-` followed by 9 to 63 of `[0-9a-z]`, owned by this
   * stack's account and region. May be a token; literal values are validated at synth time.
   *
   * An image that is still `PENDING` (being created) is waited for, up to 40 minutes, before it is
   * shared; an image in `ERROR` fails the deployment.
   */
  readonly imageId: string;

  /**
   * 12-digit AWS account ids to share the image with (in this region; WorkSpaces shares with
   * accounts only, one API call per account). Give at least one, here or with `addAccounts`.
   *
   * @default - no account (add accounts with `addAccounts`)
   */
  readonly accounts?: string[];

  /**
   * The share resource's removal policy, with aws-cdk-lib's meaning: CloudFormation applies it
   * (`DeletionPolicy` and `UpdateReplacePolicy`) when this construct is removed from the app, its
   * stack is deleted, or the image is replaced. `RemovalPolicy.DESTROY` unshares exactly the
   * accounts this construct shared; `RemovalPolicy.RETAIN` leaves the shares in place (also when
   * the stack's creation rolls back; so it never deletes the image and cannot be combined with
   * `deleteImageOnRemoval`); `RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE` leaves them in place
   * except when the creation that made them rolls back. `RemovalPolicy.SNAPSHOT` is a synth-time
   * error.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Guard the image, when this app owns its lifetime: `DeletionGuard.beforeDeleting(resource)`
   * names the resource that creates it (for example a custom resource that calls
   * `CreateWorkspaceImage`). The share then depends on it, so CloudFormation deletes the share
   * before the image, and the share's Delete, after unsharing the accounts of this construct,
   * fails (and so stops the image's deletion) while any other account still holds a share, naming
   * those accounts.
   *
   * @default - no guard, unless `deleteImageOnRemoval` is set
   */
  readonly deletionGuard?: DeletionGuard;

  /**
   * Delete the image (`DeleteWorkspaceImage`) when this construct is removed, its stack is deleted
   * or the image is replaced: after unsharing the accounts of this construct, and only when no other
   * account still holds a share (otherwise the Delete fails, naming those accounts and deleting
   * nothing). An image already gone counts as deleted. Needs `RemovalPolicy.DESTROY`. Bundles built from the image must be deleted first (AWS refuses
   * otherwise).
   *
   * @default false
   */
  readonly deleteImageOnRemoval?: boolean;

  /**
   * When this construct's removal guards the image (`deletionGuard` or `deleteImageOnRemoval`),
   * unshare every account that still holds a share, including shares made outside this construct,
   * instead of refusing the deletion.
   *
   * @default false
   */
  readonly forceUnshareOnRemoval?: boolean;

  /**
   * Take over shares of the image that exist before this construct declares them (made by hand,
   * by another tool, in a migration). By default such a share is left alone: dropping its
   * recipient from this construct, or deleting the construct, never unshares it. With `true`, a
   * declared recipient that already holds a share becomes this construct's, so dropping it later
   * unshares it. Shares that other constructs of this library hold are never taken over.
   *
   * @default false
   */
  readonly takeOverExistingShares?: boolean;

  /**
   * Settings of the handler that serves every `SharedWorkspaceImage` of this stack (log retention
   * and removal). Every `SharedWorkspaceImage` of the stack must give the same settings (leaving
   * them out means the defaults).
   *
   * @default - logs kept three months, deleted with the stack
   */
  readonly handlerOptions?: ShareHandlerOptions;
}

/**
 * How long the Provider framework polls for a PENDING image. The handler gives up after 40 minutes
 * (`PENDING_WAIT_LIMIT_MINUTES` in lambda/workspaces/plan.ts) with its own message; the waiter
 * runs a few intervals longer so that message, not "Operation timed out", reaches CloudFormation,
 * and ends well inside CloudFormation's one-hour custom-resource timeout.
 */
const WAITER = { queryInterval: Duration.seconds(30), totalTimeout: Duration.minutes(45) };

/**
 * Shares an existing Amazon WorkSpaces custom image with AWS accounts, and keeps its image
 * permissions in exactly the declared state through create, update, rollback, replacement and
 * delete. Shares granted outside this
 * construct are left alone, except with `takeOverExistingShares` (declared recipients' existing
 * shares become this construct's) or `forceUnshareOnRemoval` (a guarded removal revokes every
 * remaining share).
 *
 * Recipients see the image as shared with them and must copy it (`CopyWorkspaceImage`) before they
 * can build bundles from it; their copies stay theirs after an unshare.
 *
 * @example
 * import { SharedWorkspaceImage } from 'cdk-shared-images';
 *
 * new SharedWorkspaceImage(this, 'DesktopImage', {
 *   imageId: 'wsi-0123abcde',
 *   accounts: ['111122223333', '444455556666'],
 * });
 */
export class SharedWorkspaceImage extends Construct {
  /**
   * The shared image's id, available once the shares are in place: reference it (instead of the
   * raw id) to make a consumer wait for the share.
   *
   * @attribute
   */
  public readonly sharedWorkspaceImageId: string;

  private readonly accounts: RecipientList;
  private readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: SharedWorkspaceImageProps) {
    super(scope, id);
    const literal = !Token.isUnresolved(props.imageId);
    if (literal) {
      const problem = checkWorkspaceImageId(props.imageId);
      if (problem) throw new Error(`${this.node.path}: ${problem}`);
    }
    const removalPolicy = checkRemovalPolicy(this, props.removalPolicy);
    this.accounts = new RecipientList(this, ACCOUNT, 'accounts');
    this.addAccounts(...(props.accounts ?? []));

    const stack = Stack.of(this);
    const provider = ShareProvider.of(this, props.handlerOptions, {
      id: 'cdk-shared-images.SharedWorkspaceImageProvider',
      shareType: 'SharedWorkspaceImage',
      handler: (s, i, p) => new SharedWorkspaceImageFunction(s, i, p),
      timeout: Duration.minutes(5),
      commonStatements: [new iam.PolicyStatement({ actions: ['workspaces:DescribeWorkspaceImages'], resources: ['*'] })],
      commonStatementsReason: 'workspaces:DescribeWorkspaceImages supports no resource-level permission: AWS requires "*" (read-only).',
      waiter: WAITER,
    });

    const guard = wireGuard(this, { ...props, removalPolicy }, 'WorkSpaces image');
    // A literal id is scoped to that image. A token's value can change between deployments, and the
    // old image's shares must still be revoked by the old resource's Delete, so a token gets this
    // account's images in this region (only their owner can change their permissions anyway).
    const image = subArn(stack, `arn:\${AWS::Partition}:workspaces:\${AWS::Region}:\${AWS::AccountId}:workspaceimage/${literal ? props.imageId : '*'}`);
    const statements = [new iam.PolicyStatement({
      actions: ['workspaces:DescribeWorkspaceImagePermissions', 'workspaces:UpdateWorkspaceImagePermission'],
      resources: [image],
    })];
    if (guard.DeleteImage === 'true') statements.push(new iam.PolicyStatement({ actions: ['workspaces:DeleteWorkspaceImage'], resources: [image] }));
    const role = provider.attachShareRole(this, statements);
    const properties: SharedWorkspaceImageResourceProperties = {
      ImageId: props.imageId,
      Accounts: Lazy.list({ produce: () => this.accounts.toProperty() }, { omitEmpty: false }),
      ...guard,
      ...(props.takeOverExistingShares ? { TakeOverExistingShares: 'true' } : {}),
      ShareRoleArn: role.roleArn,
    };
    this.resource = provider.addShareResource(this, {
      resourceType: SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, properties, removalPolicy, role, deletionGuard: props.deletionGuard,
    });
    const deleteImage = guard.DeleteImage === 'true';
    this.sharedWorkspaceImageId = this.resource.getAttString('ImageId');

    if (!literal) {
      const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
      const what = deleteImage ? 'shares must still be revoked (and the old image deleted)' : 'shares must still be revoked';
      acknowledgeNag(role, {
        [wildcardResource(nagArn(stack, 'workspaces', account, 'workspaceimage/*'))]:
          `The image id is a token, so its value can change between deployments, and the old image's ${what} by the old resource's Delete: this account's WorkSpaces images in this region.`,
      });
    }

    this.node.addValidation({ validate: () => this.validateAccounts() });
  }

  /** Adds AWS account ids (12 digits) to share the image with. */
  public addAccounts(...accounts: string[]): void {
    this.accounts.add(accounts);
  }

  private validateAccounts(): string[] {
    if (this.accounts.isEmpty) {
      return ['no account: give at least one 12-digit account id in accounts or with addAccounts() (WorkSpaces images are shared with accounts only)'];
    }
    return [];
  }
}
