import { Annotations, CustomResource, Duration, Fn, Lazy, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { DeletionGuard } from './deletion-guard';
import { ShareHandlerOptions } from './handler-options';
import {
  accountRootArn, autoScalingServiceRoleArn, KMS_GRANT_OPERATIONS, SHARED_AMI_RESOURCE_TYPE, SharedAmiResourceProperties,
} from './private/contract';
import { wireGuard } from './private/guard';
import { acknowledgeNag, nagArn, subArn, wildcardResource } from './private/nag';
import { ShareProvider } from './private/provider';
import { RecipientList } from './private/recipients';
import { checkRemovalPolicy } from './private/removal';
import { ACCOUNT, checkAmiId, MAX_AMI_RECIPIENTS, ORGANIZATION, ORGANIZATIONAL_UNIT, unique } from './private/validation';
import { SharedAmiFunction } from './shared-ami-function';

/**
 * Properties of a SharedAmi.
 */
export interface SharedAmiProps {
  /**
   * The AMI to share: `ami-` followed by 8 or 17 hex digits, owned by this stack's account and
   * region. May be a token (for example the `attrImageId` of an Image Builder `CfnImage`, or an
   * SSM parameter); literal values are validated at synth time.
   */
  readonly imageId: string;

  /**
   * 12-digit AWS account ids that may launch the AMI.
   *
   * @default - no account (give at least one account, organization or OU)
   */
  readonly accounts?: string[];

  /**
   * AWS Organizations organization ARNs (`arn:aws:organizations::<management account>:organization/o-...`)
   * whose accounts may launch the AMI.
   *
   * @default - no organization
   */
  readonly organizationArns?: string[];

  /**
   * AWS Organizations OU ARNs (`arn:aws:organizations::<management account>:ou/o-.../ou-...`)
   * whose accounts may launch the AMI.
   *
   * @default - no organizational unit
   */
  readonly organizationalUnitArns?: string[];

  /**
   * Also grant `createVolumePermission` on the AMI's EBS snapshots to the `accounts`, so that they
   * can copy the AMI, not only launch it. (Organizations and OUs cannot receive snapshot
   * permissions; AWS offers that to accounts only.)
   *
   * @default false
   */
  readonly shareSnapshots?: boolean;

  /**
   * The share resource's removal policy, with aws-cdk-lib's meaning: CloudFormation applies it
   * (`DeletionPolicy` and `UpdateReplacePolicy`) when this construct is removed from the app, its
   * stack is deleted, or the image is replaced. `RemovalPolicy.DESTROY` revokes exactly what this
   * construct granted; `RemovalPolicy.RETAIN` leaves the shares in place (also when the stack's
   * creation rolls back); `RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE` leaves them in place except
   * when the creation that made them rolls back. `RemovalPolicy.SNAPSHOT` is a synth-time error.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Grant every account recipient use of the customer managed KMS keys that encrypt the AMI's
   * snapshots (found at deploy time: AMI → snapshots → keys), so that an encrypted shared AMI
   * actually launches. One grant per account and key, to `arn:aws:iam::<account>:root`, with
   * Decrypt, DescribeKey, CreateGrant, GenerateDataKeyWithoutPlaintext, ReEncryptFrom and
   * ReEncryptTo; revoked when the account is dropped or the share is deleted. An AMI encrypted
   * with the AWS managed key `aws/ebs` is refused before anything changes (it cannot be shared).
   * `false` turns key discovery off entirely.
   *
   * @default true
   */
  readonly kmsGrants?: boolean;

  /**
   * With `kmsGrants`, also make the same KMS grants to each account's Auto Scaling service-linked
   * role (`AWSServiceRoleForAutoScaling`), without which an Auto Scaling group in the consumer
   * account cannot launch the encrypted AMI. The role must exist in each account.
   *
   * @default false
   */
  readonly kmsGrantsForAutoScaling?: boolean;

  /**
   * The customer managed keys that encrypt the AMI's snapshots, when your app knows them. The
   * handler's KMS permissions are then scoped to these keys (otherwise to the keys of this
   * account and region). For organization and OU recipients, which cannot receive KMS grants,
   * each key must be a `kms.Key` defined in this app: its key policy gets statements for the
   * organization (`aws:PrincipalOrgID`) and OUs (`aws:PrincipalOrgPaths`).
   *
   * @default - keys are discovered at deploy time; organization and OU recipients of an AMI
   * encrypted with a customer managed key are refused with a message naming the key
   */
  readonly encryptionKeys?: kms.IKey[];

  /**
   * Guard the image, when this app owns its lifetime: `DeletionGuard.beforeDeleting(image)` names
   * the resource that creates it (for example an Image Builder `CfnImage`). The share then depends
   * on it, so CloudFormation deletes the share before the image, and the share's Delete, after
   * revoking its own shares, refuses (naming them) while anyone else still holds a launch
   * permission (see `forceUnshareOnRemoval`).
   *
   * @default - no guard, unless `deleteImageOnRemoval` is set
   */
  readonly deletionGuard?: DeletionGuard;

  /**
   * Deregister the AMI when this construct is removed (or its stack deleted), after the deletion
   * guard. Needs `RemovalPolicy.DESTROY` (a retained share never reaches its Delete).
   *
   * @default false
   */
  readonly deleteImageOnRemoval?: boolean;

  /**
   * With `deleteImageOnRemoval`, also delete the AMI's EBS snapshots after deregistering it.
   *
   * @default false
   */
  readonly deleteSnapshotsOnRemoval?: boolean;

  /**
   * When the deletion guard finds shares granted outside this construct, revoke them all instead
   * of refusing the delete.
   *
   * @default false
   */
  readonly forceUnshareOnRemoval?: boolean;

  /**
   * Take over shares of the image that exist before this construct declares them (made by hand,
   * by another tool, in a migration). By default such a share is left alone: dropping its
   * recipient from this construct, or deleting the construct, never revokes it. With `true`, a
   * declared recipient that already holds a share becomes this construct's, so dropping it later
   * revokes it. Shares that other constructs of this library hold are never taken over.
   *
   * @default false
   */
  readonly takeOverExistingShares?: boolean;

  /**
   * Keep EC2 deregistration protection on while this library holds shares of the AMI, so that
   * nobody (console, CLI, an Image Builder lifecycle policy) can deregister it from under its
   * consumers. It is turned on at the first share; turned off only when the last construct of
   * this library lets go of the AMI, and only if this library turned it on (protection that was
   * on before stays on).
   *
   * @default true
   */
  readonly deregistrationProtection?: boolean;

  /**
   * Turn deregistration protection on with AWS's 24-hour cooldown: once protection is turned off,
   * EC2 keeps refusing to deregister the AMI for 24 hours. Cannot be combined with
   * `deleteImageOnRemoval` (the construct could not retire the AMI on removal).
   *
   * @default false
   */
  readonly deregistrationProtectionCooldown?: boolean;

  /**
   * Settings of the handler that serves every `SharedAmi` of this stack (log retention and
   * removal). Every `SharedAmi` of the stack must give the same settings (leaving them out means
   * the defaults).
   *
   * @default - logs kept three months, deleted with the stack
   */
  readonly handlerOptions?: ShareHandlerOptions;
}

/**
 * Shares an existing AMI with AWS accounts, organizations and organizational units, and keeps its
 * launch permissions (and optionally its snapshots' create-volume permissions) in exactly the
 * declared state through create, update, rollback, replacement and delete. Shares granted outside
 * this construct are left alone, except with `takeOverExistingShares` (declared recipients'
 * existing shares become this construct's) or `forceUnshareOnRemoval` (a guarded removal revokes
 * every remaining share).
 *
 * @example
 * import { SharedAmi } from 'cdk-shared-images';
 *
 * new SharedAmi(this, 'GoldenAmi', {
 *   imageId: 'ami-0123456789abcdef0',
 *   accounts: ['111122223333', '444455556666'],
 *   organizationalUnitArns: ['arn:aws:organizations::111122223333:ou/o-exampleorgid/ou-ab12-cdef3456'],
 * });
 */
export class SharedAmi extends Construct {
  /**
   * The shared AMI's id, available once the shares are in place: reference it (instead of the raw
   * id) to make a consumer wait for the share.
   *
   * @attribute
   */
  public readonly sharedAmiId: string;

  /**
   * Comma-separated ids of the KMS grants this share holds after the deployment (empty when there
   * are none, or when the list would exceed 2,000 characters; see `sharedAmiKmsGrantCount`).
   *
   * @attribute
   */
  public readonly sharedAmiKmsGrantIds: string;

  /**
   * How many KMS grants this share holds after the deployment.
   *
   * @attribute
   */
  public readonly sharedAmiKmsGrantCount: string;

  /**
   * The name every KMS grant of this share carries (`cdk-shared-images/<stack>/<logical id>/<image>`),
   * to find them with `kms list-grants`.
   *
   * @attribute
   */
  public readonly sharedAmiKmsGrantName: string;

  private readonly accounts: RecipientList;
  private readonly organizationArns: RecipientList;
  private readonly organizationalUnitArns: RecipientList;
  private readonly resource: CustomResource;
  private readonly keys: kms.IKey[];
  private readonly kmsGrants: boolean;

  constructor(scope: Construct, id: string, props: SharedAmiProps) {
    super(scope, id);
    if (!Token.isUnresolved(props.imageId)) {
      const problem = checkAmiId(props.imageId);
      if (problem) throw new Error(`${this.node.path}: ${problem}`);
    }
    const removalPolicy = checkRemovalPolicy(this, props.removalPolicy);
    this.kmsGrants = props.kmsGrants ?? true;
    this.keys = props.encryptionKeys ?? [];
    for (const key of this.keys) {
      // An alias (kms.Alias is an IKey too) resolves to an ARN with ':alias/', literal or joined.
      const arn = Token.isUnresolved(key.keyArn) ? JSON.stringify(Stack.of(this).resolve(key.keyArn)) : key.keyArn;
      if (arn.includes(':alias/')) {
        throw new Error(`${this.node.path}: encryptionKeys: ${key.node.path} is an alias, not a key (an alias ARN cannot scope KMS permissions or be matched against the AMI's snapshots); pass the kms.Key itself`);
      }
    }
    this.accounts = new RecipientList(this, ACCOUNT, 'accounts');
    this.organizationArns = new RecipientList(this, ORGANIZATION, 'organizationArns');
    this.organizationalUnitArns = new RecipientList(this, ORGANIZATIONAL_UNIT, 'organizationalUnitArns');
    this.addAccounts(...(props.accounts ?? []));
    this.addOrganizationArns(...(props.organizationArns ?? []));
    this.addOrganizationalUnitArns(...(props.organizationalUnitArns ?? []));

    const stack = Stack.of(this);
    const provider = ShareProvider.of(this, props.handlerOptions, {
      id: 'cdk-shared-images.SharedAmiProvider',
      shareType: 'SharedAmi',
      smallerPolicyHint: 'declare fewer encryptionKeys, or set kmsGrants: false for unencrypted AMIs',
      handler: (s, i, p) => new SharedAmiFunction(s, i, p),
      timeout: Duration.minutes(5),
      commonStatements: [new iam.PolicyStatement({ actions: ['ec2:DescribeImages', 'ec2:DescribeSnapshots'], resources: ['*'] })],
      commonStatementsReason: 'ec2:DescribeImages and ec2:DescribeSnapshots support no resource-level permission: AWS requires "*" (read-only).',
    });
    const kmsGrants = this.kmsGrants;
    const keys = this.keys;

    // AMI ARNs carry no account. A literal id is scoped to that image; a token's value can change
    // between deployments, and the old image's shares must still be revoked by the old resource's
    // Delete, so a token gets the region's images (AWS itself lets only the owner change them).
    const literal = !Token.isUnresolved(props.imageId);
    const image = subArn(stack, `arn:\${AWS::Partition}:ec2:\${AWS::Region}::image/${literal ? props.imageId : '*'}`);
    const snapshots = subArn(stack, 'arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*');
    // Deregistration protection is turned off on removal (by the last claim, or to retire the AMI),
    // so the disable permission goes wherever protection may have to be lifted.
    const protection = props.deregistrationProtection ?? true;
    const statements = [new iam.PolicyStatement({
      actions: [
        'ec2:DescribeImageAttribute', 'ec2:ModifyImageAttribute',
        ...(protection ? ['ec2:EnableImageDeregistrationProtection'] : []),
        ...(protection || props.deleteImageOnRemoval ? ['ec2:DisableImageDeregistrationProtection'] : []),
      ],
      resources: [image],
    })];
    if (props.shareSnapshots) {
      statements.push(new iam.PolicyStatement({
        actions: ['ec2:DescribeSnapshotAttribute', 'ec2:ModifySnapshotAttribute'],
        resources: [snapshots],
      }));
    }
    if (props.deleteImageOnRemoval) {
      statements.push(new iam.PolicyStatement({ actions: ['ec2:DeregisterImage'], resources: [image] }));
    }
    if (props.deleteSnapshotsOnRemoval) {
      statements.push(new iam.PolicyStatement({
        actions: ['ec2:DeleteSnapshot'],
        resources: [snapshots],
      }));
    }
    if (kmsGrants) statements.push(...this.kmsStatements(stack, keys, !!props.kmsGrantsForAutoScaling));
    const role = provider.attachShareRole(this, statements);

    const guard = wireGuard(this, { ...props, removalPolicy }, 'AMI');
    if (props.deregistrationProtectionCooldown && props.deleteImageOnRemoval) {
      throw new Error(`${this.node.path}: deregistrationProtectionCooldown keeps EC2 from deregistering the AMI for 24 hours after protection is turned off, so deleteImageOnRemoval could not retire it on removal: drop one of the two`);
    }
    if (props.deregistrationProtectionCooldown && props.deregistrationProtection === false) {
      throw new Error(`${this.node.path}: deregistrationProtectionCooldown needs deregistrationProtection`);
    }
    const properties: SharedAmiResourceProperties = {
      ImageId: props.imageId,
      Accounts: Lazy.list({ produce: () => this.accounts.toProperty() }, { omitEmpty: false }),
      OrganizationArns: Lazy.list({ produce: () => this.organizationArns.toProperty() }, { omitEmpty: false }),
      OrganizationalUnitArns: Lazy.list({ produce: () => this.organizationalUnitArns.toProperty() }, { omitEmpty: false }),
      ShareSnapshots: String(props.shareSnapshots ?? false),
      KmsGrants: String(kmsGrants),
      AutoScalingRoleGrants: String(props.kmsGrantsForAutoScaling ?? false),
      DeclaredKeyArns: keys.map((k) => k.keyArn),
      ...guard,
      DeleteSnapshots: String(props.deleteSnapshotsOnRemoval ?? false),
      // Sent only when not the handler's default: a catalogue of shares stays small (1 MB template).
      ...(props.takeOverExistingShares ? { TakeOverExistingShares: 'true' } : {}),
      ...(props.deregistrationProtection === false ? { DeregistrationProtection: 'false' } : {}),
      ...(props.deregistrationProtectionCooldown ? { ProtectionCooldown: 'true' } : {}),
      ShareRoleArn: role.roleArn,
    };
    this.resource = provider.addShareResource(this, {
      resourceType: SHARED_AMI_RESOURCE_TYPE, properties, removalPolicy, role, deletionGuard: props.deletionGuard,
    });
    this.sharedAmiId = this.resource.getAttString('ImageId');
    this.sharedAmiKmsGrantIds = this.resource.getAttString('GrantIds');
    this.sharedAmiKmsGrantCount = this.resource.getAttString('GrantCount');
    this.sharedAmiKmsGrantName = this.resource.getAttString('GrantName');

    const acknowledged: Record<string, string> = {};
    if (!literal) {
      acknowledged[wildcardResource(nagArn(stack, 'ec2', '', 'image/*'))] =
        'The image id is a token, so its value can change between deployments, and the old image\'s shares must still be revoked by the old resource\'s Delete: the region\'s images (only their owner can change them).';
    }
    if (props.shareSnapshots || props.deleteSnapshotsOnRemoval) {
      acknowledged[wildcardResource(nagArn(stack, 'ec2', '', 'snapshot/*'))] =
        'Snapshot ids are known only at deploy time (read from the AMI\'s block-device mappings): createVolumePermission on the region\'s snapshots.';
    }
    if (kmsGrants && keys.length === 0) {
      const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
      acknowledged[wildcardResource(nagArn(stack, 'kms', account, 'key/*'))] =
        'The AMI\'s keys are found at deploy time (no encryptionKeys given): grants on this account\'s keys in this region, and kms:CreateGrant only to the declared accounts with the launch operations.';
    }
    acknowledgeNag(role, acknowledged);

    this.node.addValidation({ validate: () => this.validateRecipients() });
  }

  /** Adds AWS account ids (12 digits) that may launch the AMI. */
  public addAccounts(...accounts: string[]): void {
    this.accounts.add(accounts);
  }

  /** Adds AWS Organizations organization ARNs whose accounts may launch the AMI. */
  public addOrganizationArns(...organizationArns: string[]): void {
    this.organizationArns.add(organizationArns);
    if (this.keptWhole('organizationArns', organizationArns)) return;
    // arn:<partition>:organizations::<management account>:organization/<org id>; a token ARN is
    // split at deploy time (Fn::Split / Fn::Select), so its organization is admitted too.
    const orgIds = unique(organizationArns.map((a) => (Token.isUnresolved(a) ? Fn.select(1, Fn.split('/', a)) : a.slice(a.lastIndexOf('/') + 1))));
    if (orgIds.length > 0) this.admitOnKeys({ StringEquals: { 'aws:PrincipalOrgID': orgIds } });
  }

  /** Adds AWS Organizations OU ARNs whose accounts may launch the AMI. */
  public addOrganizationalUnitArns(...organizationalUnitArns: string[]): void {
    this.organizationalUnitArns.add(organizationalUnitArns);
    if (this.keptWhole('organizationalUnitArns', organizationalUnitArns)) return;
    // arn:<partition>:organizations::<management account>:ou/<org id>/<ou id> -> <org id>/*/<ou id>/*
    const paths = unique(organizationalUnitArns.map((a) => {
      if (Token.isUnresolved(a)) {
        const parts = Fn.split('/', a);
        return Fn.join('', [Fn.select(1, parts), '/*/', Fn.select(2, parts), '/*']);
      }
      const [, orgId, ouId] = a.split('/');
      return `${orgId}/*/${ouId}/*`;
    }));
    if (paths.length > 0) this.admitOnKeys({ 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': paths } });
  }

  /**
   * The handler's KMS permissions: read and revoke on the declared keys (or this account's keys in
   * this region); create grants only to the declared accounts' roots (and Auto Scaling roles) and
   * only with the operations a launch needs. Past 25 accounts the grantee condition becomes a
   * pattern (any account root), keeping the role's inline policies under IAM's size quota.
   */
  private kmsStatements(stack: Stack, keys: kms.IKey[], autoScaling: boolean): iam.PolicyStatement[] {
    const resources = keys.length > 0
      ? keys.map((k) => k.keyArn)
      : [subArn(stack, 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*')];
    // One Fn::Split of one Fn::Sub: the same list as one ARN per account, in a fraction of the
    // template bytes (a stack of shares must fit CloudFormation's 1 MB).
    const grantees = Lazy.list({
      produce: () => {
        const accounts = this.accounts.known;
        const explicit = accounts.length <= 25 && this.accounts.allLiteral;
        const list = explicit ? accounts : ['*'];
        const partition = '${AWS::Partition}';
        const arns = list.flatMap((a) => (autoScaling
          ? [accountRootArn(partition, a), autoScalingServiceRoleArn(partition, a)]
          : [accountRootArn(partition, a)]));
        const joined = subArn(stack, arns.join(','));
        return Token.isUnresolved(joined) ? Fn.split(',', joined) : arns;
      },
    });
    return [
      new iam.PolicyStatement({ actions: ['kms:DescribeKey', 'kms:ListGrants', 'kms:RevokeGrant'], resources }),
      new iam.PolicyStatement({
        actions: ['kms:CreateGrant'],
        resources,
        conditions: {
          'ForAllValues:StringEquals': { 'kms:GrantOperations': [...KMS_GRANT_OPERATIONS] },
          'StringLike': { 'kms:GranteePrincipal': grantees },
        },
      }),
    ];
  }

  /**
   * Organizations and OUs cannot be KMS grantees: the key policy of each declared key admits them
   * instead, conditioned on aws:PrincipalOrgID / aws:PrincipalOrgPaths (usage, and CreateGrant
   * only for AWS resources such as EC2). An imported key, whose policy this app cannot change, is
   * an error when organizations or OUs are recipients.
   */
  private admitOnKeys(condition: Record<string, Record<string, string[]>>): void {
    if (!this.kmsGrants) return;
    const usage = ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'];
    for (const key of this.keys) {
      const statements = [
        new iam.PolicyStatement({ actions: usage, principals: [new iam.AnyPrincipal()], resources: ['*'], conditions: condition }),
        new iam.PolicyStatement({
          actions: ['kms:CreateGrant'],
          principals: [new iam.AnyPrincipal()],
          resources: ['*'],
          conditions: { ...condition, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      ];
      for (const st of statements) {
        if (!key.addToResourcePolicy(st).statementAdded) {
          throw new Error(`${this.node.path}: encryptionKeys: ${key.node.path} is not a kms.Key defined in this app, so its key policy cannot admit organization or OU recipients; define the key in the app, or add aws:PrincipalOrgID / aws:PrincipalOrgPaths statements to its policy yourself and leave it out of encryptionKeys, or share with accounts`);
        }
      }
    }
  }

  /**
   * Whether `values` is one list token, kept whole (nothing to split into key-policy conditions).
   * The key policy of a declared key admits each organization and OU by its id, split from its ARN;
   * a list token's ARNs cannot be split one by one, so with declared keys it is refused.
   */
  private keptWhole(prop: string, values: string[]): boolean {
    if (!Token.isUnresolved(values)) return false;
    if (this.kmsGrants && this.keys.length > 0) {
      throw new Error(`${this.node.path}: ${prop}: a list token cannot be split into the ids the key policy of encryptionKeys needs; pass each ARN as its own string (a string token each is fine), or leave encryptionKeys out`);
    }
    return true;
  }

  private validateRecipients(): string[] {
    const errors: string[] = [];
    if (this.accounts.isEmpty && this.organizationArns.isEmpty && this.organizationalUnitArns.isEmpty) {
      errors.push('no recipient: give at least one of accounts, organizationArns or organizationalUnitArns (public sharing is not offered)');
    }
    const total = this.accounts.known.length + this.organizationArns.known.length + this.organizationalUnitArns.known.length;
    if (total > MAX_AMI_RECIPIENTS) {
      // AWS lets users raise the quota, so this is AWS's call to make at deploy time.
      Annotations.of(this).addWarningV2('cdk-shared-images:recipient-quota',
        `${total} recipients exceed AWS's default AMI sharing quota of ${MAX_AMI_RECIPIENTS}: the deployment fails unless the quota was raised for this account (Service Quotas, EC2).`);
    }
    return errors;
  }
}
