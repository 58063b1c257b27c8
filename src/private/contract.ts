/**
 * The custom-resource property contract: the one definition of the keys and value shapes that a
 * construct sends and a handler receives. Both sides import this module (the handler through
 * esbuild), so a renamed key is a compile error on both sides, not a silent mismatch.
 *
 * CloudFormation turns every scalar into a string, so flags travel as 'true' / 'false'.
 *
 * A share's removal policy is not a property: CloudFormation applies it (the resource's
 * DeletionPolicy and UpdateReplacePolicy), so a retained share's Delete never reaches the handler,
 * and every Delete that does reach it revokes.
 */

/**
 * The keys of a property interface, listed from a `Record<keyof P, true>`: the record, unlike an
 * array, must name every key of `P` to compile, so no key can be sent and then refused as unknown.
 */
function keysOf<K extends string>(all: Record<K, true>): ReadonlyArray<K> {
  return Object.keys(all) as K[];
}

/** CloudFormation resource type of a SharedAmi share. */
export const SHARED_AMI_RESOURCE_TYPE = 'Custom::SharedAmi';

/** Properties of a `Custom::SharedAmi` resource (without CloudFormation's own `ServiceToken`). */
export interface SharedAmiResourceProperties {
  /** The AMI (`ami-...`). */
  readonly ImageId: string;
  /** 12-digit account ids to grant launch permission. */
  readonly Accounts: string[];
  /** AWS Organizations organization ARNs to grant launch permission. */
  readonly OrganizationArns: string[];
  /** AWS Organizations OU ARNs to grant launch permission. */
  readonly OrganizationalUnitArns: string[];
  /** 'true' to also grant createVolumePermission on the AMI's snapshots to the accounts. */
  readonly ShareSnapshots: string;
  /** 'true' (default) to grant the account recipients use of the customer managed keys of the AMI's snapshots. */
  readonly KmsGrants: string;
  /** 'true' to also grant each account's Auto Scaling service-linked role. */
  readonly AutoScalingRoleGrants: string;
  /** ARNs of keys whose key policy this app manages for organization / OU recipients. */
  readonly DeclaredKeyArns: string[];
  /** 'true': the app owns the image's lifetime; a Delete refuses while other shares remain. */
  readonly GuardImage: string;
  /** 'true': a Delete deregisters the AMI (after the guard). */
  readonly DeleteImage: string;
  /** 'true': a Delete also deletes the AMI's EBS snapshots (after deregistering). */
  readonly DeleteSnapshots: string;
  /** 'true': the guard revokes every remaining share instead of refusing. */
  readonly ForceUnshare: string;
  /** 'true': shares made by hand before this resource declared them become its own (revoked when dropped). */
  readonly TakeOverExistingShares?: string;
  /** 'true' (default): keep EC2 deregistration protection on while the library holds shares of the AMI. */
  readonly DeregistrationProtection?: string;
  /** 'true': turn protection on with AWS's 24-hour cooldown (deregistration stays refused that long after it is turned off). */
  readonly ProtectionCooldown?: string;
  /** The share's own role, which the handler assumes for every AWS call of this resource (see `SHARE_ROLE_PATH_PREFIX`). */
  readonly ShareRoleArn?: string;
}

/**
 * Every key of `SharedAmiResourceProperties`, once: a key added to the interface and not here does
 * not compile (and neither does a key here that the interface lacks).
 */
const SHARED_AMI_KEYS: Record<keyof SharedAmiResourceProperties, true> = {
  ImageId: true,
  Accounts: true,
  OrganizationArns: true,
  OrganizationalUnitArns: true,
  ShareSnapshots: true,
  KmsGrants: true,
  AutoScalingRoleGrants: true,
  DeclaredKeyArns: true,
  GuardImage: true,
  DeleteImage: true,
  DeleteSnapshots: true,
  ForceUnshare: true,
  TakeOverExistingShares: true,
  ShareRoleArn: true,
  DeregistrationProtection: true,
  ProtectionCooldown: true,
};

/** Every key a SharedAmi resource may carry; the handler rejects anything else. */
export const SHARED_AMI_PROPERTY_KEYS: ReadonlyArray<keyof SharedAmiResourceProperties> = keysOf(SHARED_AMI_KEYS);

/** Attributes (Fn::GetAtt) a SharedAmi resource returns. */
export interface SharedAmiResourceAttributes {
  /** The shared image's id. */
  readonly ImageId: string;
  /** Comma-separated ids of the KMS grants this resource holds ('' when none, or when too many to return). */
  readonly GrantIds: string;
  /** How many KMS grants this resource holds. */
  readonly GrantCount: string;
  /** The grant name that marks this resource's KMS grants (for `kms list-grants`). */
  readonly GrantName: string;
}

/** The operations a consumer needs on a customer managed key to launch (and copy) a shared encrypted AMI. */
export const KMS_GRANT_OPERATIONS = [
  'Decrypt', 'DescribeKey', 'CreateGrant', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo',
] as const;

/** The service-linked role through which Auto Scaling launches instances in a consumer account. */
export function autoScalingServiceRoleArn(partition: string, account: string): string {
  return `arn:${partition}:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
}

/** The principal that stands for a whole consumer account. */
export function accountRootArn(partition: string, account: string): string {
  return `arn:${partition}:iam::${account}:root`;
}

/** Physical id prefix: the physical id is `<prefix><image id>`, stable while the image is. */
export const SHARED_AMI_PHYSICAL_ID_PREFIX = 'shared-ami:';

/**
 * Every share holds its permissions in a role of its own, under the IAM path
 * `<prefix><region>/<stack name>/<construct type>/`; the stack's handler may assume only the roles
 * under its own path. An absent `ShareRoleArn` means the handler acts with its own credentials.
 */
export const SHARE_ROLE_PATH_PREFIX = '/cdk-shared-images/';

// ---------------------------------------------------------------------------------------------
// SharedWorkspaceImage
// ---------------------------------------------------------------------------------------------

/** CloudFormation resource type of a SharedWorkspaceImage share. */
export const SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE = 'Custom::SharedWorkspaceImage';

/** Properties of a `Custom::SharedWorkspaceImage` resource (without `ServiceToken`). */
export interface SharedWorkspaceImageResourceProperties {
  /** The WorkSpaces image (`wsi-...`). */
  readonly ImageId: string;
  /** 12-digit account ids the image is shared with (one UpdateWorkspaceImagePermission each). */
  readonly Accounts: string[];
  /** 'true': the app owns the image's lifetime; a Delete refuses while other shares remain. */
  readonly GuardImage: string;
  /** 'true': a Delete deletes the image (DeleteWorkspaceImage) after the guard. */
  readonly DeleteImage: string;
  /** 'true': the guard unshares every remaining account instead of refusing. */
  readonly ForceUnshare: string;
  /** 'true': shares made by hand before this resource declared them become its own (unshared when dropped). */
  readonly TakeOverExistingShares?: string;
  /** The share's own role, which the handler assumes for every AWS call of this resource (see `SHARE_ROLE_PATH_PREFIX`). */
  readonly ShareRoleArn?: string;
}

/** Every key of `SharedWorkspaceImageResourceProperties`, once (the compiler keeps the two alike, as for SharedAmi). */
const SHARED_WORKSPACE_IMAGE_KEYS: Record<keyof SharedWorkspaceImageResourceProperties, true> = {
  ImageId: true, Accounts: true, GuardImage: true, DeleteImage: true, ForceUnshare: true, TakeOverExistingShares: true, ShareRoleArn: true,
};

/** Every key a SharedWorkspaceImage resource may carry; the handler rejects anything else. */
export const SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS: ReadonlyArray<keyof SharedWorkspaceImageResourceProperties> = keysOf(SHARED_WORKSPACE_IMAGE_KEYS);

/** Attributes (Fn::GetAtt) a SharedWorkspaceImage resource returns. */
export interface SharedWorkspaceImageResourceAttributes {
  /** The shared image's id. */
  readonly ImageId: string;
}

/** Physical id prefix: the physical id is `<prefix><image id>`, stable while the image is. */
export const SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX = 'shared-wsi:';

// ---------------------------------------------------------------------------------------------
// Both resource types (what the handlers read alike)
// ---------------------------------------------------------------------------------------------

/** Every resource type's property interface. */
export type ShareResourceProperties = SharedAmiResourceProperties | SharedWorkspaceImageResourceProperties;

/** The keys every share resource carries, whatever its image type (the image, the accounts, the deletion-guard and take-over flags, the share's role). */
export type CommonShareResourcePropertyKey = keyof SharedAmiResourceProperties & keyof SharedWorkspaceImageResourceProperties;

/** The keys of `P` whose values are lists of strings (recipients, key ARNs). */
export type ListPropertyKey<P> = { [K in keyof P]-?: NonNullable<P[K]> extends readonly string[] ? K : never }[keyof P] & string;

/** The keys of `P` whose values are single strings (ids, ARNs, and flags, which travel as 'true' / 'false'). */
export type ScalarPropertyKey<P> = { [K in keyof P]-?: NonNullable<P[K]> extends string ? K : never }[keyof P] & string;
