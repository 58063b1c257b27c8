import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { DeletionGuard } from '../deletion-guard';

/** The deletion-guard options both constructs take, as they reach this helper. */
export interface GuardOptions {
  readonly deletionGuard?: DeletionGuard;
  readonly deleteImageOnRemoval?: boolean;
  readonly deleteSnapshotsOnRemoval?: boolean;
  readonly forceUnshareOnRemoval?: boolean;
  readonly removalPolicy: RemovalPolicy;
}

/** The guard's properties for the handler ('true' / 'false', as CloudFormation delivers them). */
export interface GuardProperties {
  readonly GuardImage: string;
  readonly DeleteImage: string;
  readonly ForceUnshare: string;
}

/**
 * Checks the guard options of `share` and returns the handler's guard properties. The caller makes
 * its share resource depend on the guard's `imageResource`, so CloudFormation deletes the share
 * (which runs the guard) before the image (README, "Retiring an image").
 * Retaining the shares while deleting the image is contradictory, and refused at synth time.
 */
export function wireGuard(share: IConstruct, options: GuardOptions, imageNoun: string): GuardProperties {
  const deleting = options.deleteImageOnRemoval ?? false;
  const retained = options.removalPolicy !== RemovalPolicy.DESTROY;
  const policy = options.removalPolicy.toUpperCase().replace(/-/g, '_');
  if (retained && (deleting || options.deleteSnapshotsOnRemoval)) {
    throw new Error(`${share.node.path}: removalPolicy ${policy} keeps the shares, so the ${imageNoun} cannot be deleted on removal: drop ${deleting ? 'deleteImageOnRemoval' : 'deleteSnapshotsOnRemoval'} or use RemovalPolicy.DESTROY`);
  }
  if (options.deleteSnapshotsOnRemoval && !deleting) {
    throw new Error(`${share.node.path}: deleteSnapshotsOnRemoval needs deleteImageOnRemoval (snapshots of a registered AMI cannot be deleted)`);
  }
  const guard = deleting || options.deletionGuard !== undefined;
  if (retained && options.deletionGuard) {
    Annotations.of(share).addWarningV2('cdk-shared-images:retain-unguarded',
      `removalPolicy ${policy} keeps the shares, so the deletion guard does not run: ${options.deletionGuard.imageResource.node.path} can delete the ${imageNoun} while it is still shared`);
  }
  if (options.forceUnshareOnRemoval && !guard) {
    Annotations.of(share).addWarningV2('cdk-shared-images:force-without-guard',
      'forceUnshareOnRemoval has no effect without deletionGuard or deleteImageOnRemoval');
  }
  return {
    GuardImage: String(guard),
    DeleteImage: String(deleting),
    ForceUnshare: String(options.forceUnshareOnRemoval ?? false),
  };
}
