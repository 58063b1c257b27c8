/**
 * Pure KMS decisions of the SharedAmi handler: which keys the AMI needs, whether they can be
 * shared, which grants to create and which to revoke. No AWS calls in here.
 *
 * A grant is this resource's when it carries this resource's grant name (stack, logical id and
 * image): KMS records a name on every grant, so unlike launch permissions, grants made outside
 * this resource are recognisable and never touched, even for a declared account.
 */
import { createHash } from 'crypto';
import type { GrantListEntry } from '@aws-sdk/client-kms';
import type { AmiShareSpec } from './plan';
import { accountRootArn, autoScalingServiceRoleArn, KMS_GRANT_OPERATIONS } from '../../src/private/contract';
import { summarize, unique } from '../common/sets';

/** A key behind the AMI's snapshots, as KMS describes it. */
export interface KeyInfo {
  readonly arn: string;
  /** `AWS` for AWS managed keys (aws/ebs), `CUSTOMER` for customer managed keys. */
  readonly manager: string;
  /** Snapshots of the AMI encrypted with this key. */
  readonly snapshots: string[];
}

/** One grant this resource holds. */
export interface OwnGrant {
  readonly keyArn: string;
  readonly grantId: string;
  readonly grantee: string;
  /** Whether it carries every operation a consumer needs (a grant changed by hand may not). */
  readonly complete: boolean;
}

/**
 * A grant to make sure of: CreateGrant with this resource's grant name, which returns the existing
 * grant when there is one (KMS treats an identical CreateGrant with the same Name as a retry).
 * `listed`: this resource's grants to the grantee that ListGrants showed; those other than the one
 * CreateGrant answers are stale (already revoked, still listed) or duplicates, and are revoked.
 */
export interface GrantToEnsure {
  readonly keyArn: string;
  readonly grantee: string;
  readonly listed?: string[];
}

export interface GrantPlan {
  readonly create: GrantToEnsure[];
  readonly revoke: OwnGrant[];
}

/**
 * The grant name of one resource on one image: `cdk-shared-images/<stack>/<logical id>/<image>`
 * (KMS allows [a-zA-Z0-9:/_-], at most 256 characters). When stack and logical id are too long,
 * they are replaced by a hash of both: the image id always stays, so a new image never inherits
 * the old image's grants.
 */
export function grantName(stackId: string, logicalId: string, imageId: string): string {
  const stackName = String(stackId).split('/')[1] ?? 'stack';
  const clean = (v: string) => v.replace(/[^a-zA-Z0-9:/_-]/g, '-');
  const name = clean(`cdk-shared-images/${stackName}/${logicalId}/${imageId}`);
  if (name.length <= 256) return name;
  const digest = createHash('sha256').update(`${stackName}/${logicalId}`).digest('hex').slice(0, 32);
  return clean(`cdk-shared-images/${digest}/${imageId}`);
}

/** The principals to grant: each account's root, and with the option its Auto Scaling role. */
export function granteesFor(spec: AmiShareSpec | undefined, partition: string): string[] {
  if (!spec || !spec.kmsGrants) return [];
  return spec.accounts.flatMap((a) => spec.autoScalingRoleGrants
    ? [accountRootArn(partition, a), autoScalingServiceRoleArn(partition, a)]
    : [accountRootArn(partition, a)]);
}

/** Groups snapshot → key id into keys (the caller resolves ids to ARNs with DescribeKey). */
export function snapshotsByKey(snapshotKeys: Record<string, string>): Record<string, string[]> {
  const byKey: Record<string, string[]> = {};
  for (const [snapshot, key] of Object.entries(snapshotKeys)) (byKey[key] ??= []).push(snapshot);
  return byKey;
}

/** Merges keys that KMS resolved to the same ARN (ids, ARNs and aliases may name one key). */
export function mergeByArn(keys: KeyInfo[]): KeyInfo[] {
  const byArn = new Map<string, KeyInfo>();
  for (const k of keys) {
    const seen = byArn.get(k.arn);
    byArn.set(k.arn, seen ? { ...seen, snapshots: unique([...seen.snapshots, ...k.snapshots]) } : k);
  }
  return [...byArn.values()];
}

/**
 * Why the AMI cannot be shared as declared because of its keys, or undefined.
 * - an AWS managed key (aws/ebs) can never be shared with another account;
 * - organizations and OUs cannot be grantees, so each customer managed key must be one whose key
 *   policy the app manages (declared on the construct).
 */
export function keyProblem(imageId: string, keys: KeyInfo[], spec: AmiShareSpec): string | undefined {
  // With key handling turned off the user owns the keys: no refusal (also lets a rollback to
  // kmsGrants false go through on an aws/ebs AMI).
  if (!spec.kmsGrants) return undefined;
  const awsManaged = keys.find((k) => k.manager === 'AWS');
  if (awsManaged) {
    return `AMI ${imageId} cannot be shared: its snapshot ${awsManaged.snapshots[0]} is encrypted with the AWS managed key aws/ebs (${awsManaged.arn}), which other accounts can never use; copy the AMI re-encrypted with a customer managed key (ec2 copy-image --encrypted --kms-key-id <key>) and share the copy.`;
  }
  const orgRecipients = [...spec.organizationArns, ...spec.organizationalUnitArns];
  if (orgRecipients.length === 0) return undefined;
  const declared = new Set(spec.declaredKeyArns);
  const undeclared = keys.filter((k) => k.manager !== 'AWS' && !declared.has(k.arn));
  if (undeclared.length === 0) return undefined;
  const key = undeclared[0];
  return `AMI ${imageId} is encrypted with customer managed key ${key.arn} (snapshot ${key.snapshots[0]}), and ${summarize(orgRecipients, 2)} cannot receive a KMS grant: pass that key to the SharedAmi as encryptionKeys (a kms.Key defined in your app) so its key policy admits the organization, or share with accounts instead.`;
}

/** This resource's grants among a key's grants: its name and the full set of operations. */
export function ownGrants(keyArn: string, grants: GrantListEntry[], name: string): OwnGrant[] {
  return grants.flatMap((g) => (g.Name === name && g.GrantId && g.GranteePrincipal
    ? [{ keyArn, grantId: g.GrantId, grantee: g.GranteePrincipal, complete: KMS_GRANT_OPERATIONS.every((op) => g.Operations?.includes(op)) }]
    : []));
}

/**
 * Grants to make sure of and grants to revoke, per key:
 * - a grantee no longer wanted, or a grant missing operations (changed by hand): revoke;
 * - a wanted grantee that was already wanted before this event (`settled`) and holds exactly one
 *   complete grant of ours: nothing to do (an update that changes nothing makes no call);
 * - any other wanted grantee (newly wanted, none listed, several listed): CreateGrant by name. A
 *   newly wanted grantee is never skipped on the strength of ListGrants, which lags: it may still
 *   list a grant revoked moments ago (a rollback that re-adds an account just dropped).
 */
export function planGrants(keyArns: string[], grantees: string[], ours: OwnGrant[], settled: ReadonlySet<string> = new Set()): GrantPlan {
  const want = new Set(grantees);
  const create: GrantToEnsure[] = [];
  const revoke: OwnGrant[] = [];
  for (const keyArn of keyArns) {
    const onKey = ours.filter((g) => g.keyArn === keyArn);
    for (const g of onKey) if (!g.complete || !want.has(g.grantee)) revoke.push(g);
    for (const grantee of unique(grantees)) {
      const listed = onKey.filter((g) => g.complete && g.grantee === grantee).map((g) => g.grantId);
      if (settled.has(grantee) && listed.length === 1) continue;
      create.push({ keyArn, grantee, listed });
    }
  }
  return { create, revoke };
}

/** The account a grantee principal belongs to, for messages. */
export function granteeAccount(grantee: string): string {
  return grantee.split(':')[4] ?? grantee;
}
