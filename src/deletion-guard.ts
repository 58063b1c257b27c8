import { IConstruct } from 'constructs';

/**
 * Guards an image whose lifetime this app owns: pass one as `deletionGuard` of a `SharedAmi` or
 * `SharedWorkspaceImage` (README, "Retiring an image").
 *
 * With a guard, the share resource depends on the resource that creates the image, so
 * CloudFormation deletes the share first, and the share's Delete, after revoking its own shares,
 * refuses (naming them) while anyone else still holds a share of the image; `forceUnshareOnRemoval`
 * revokes them instead. `deleteImageOnRemoval` guards the image too, without a `DeletionGuard`.
 *
 * @example
 * import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
 * import { DeletionGuard, SharedAmi } from 'cdk-shared-images';
 *
 * const image = new imagebuilder.CfnImage(this, 'GoldenImage', {
 *   imageRecipeArn: 'arn:aws:imagebuilder:eu-west-1:123456789012:image-recipe/golden/1.0.0',
 *   infrastructureConfigurationArn: 'arn:aws:imagebuilder:eu-west-1:123456789012:infrastructure-configuration/golden',
 * });
 * new SharedAmi(this, 'GoldenAmi', {
 *   imageId: image.attrImageId,
 *   accounts: ['111122223333'],
 *   deletionGuard: DeletionGuard.beforeDeleting(image),
 * });
 */
export class DeletionGuard {
  /**
   * Guard the image that `imageResource` (a resource of this app, for example an Image Builder
   * `CfnImage`) creates: the share is deleted before it and refuses while others hold shares.
   *
   * @param imageResource the construct whose deletion deletes the image
   */
  public static beforeDeleting(imageResource: IConstruct): DeletionGuard {
    return new DeletionGuard(imageResource);
  }

  /** The construct that creates the image; the share resource depends on it. */
  public readonly imageResource: IConstruct;

  private constructor(imageResource: IConstruct) {
    this.imageResource = imageResource;
  }
}
