/**
 * The lifecycle decisions both handlers make the same way: what an Update means (the same image, or
 * a new one), and what a Delete does (DESIGN.md, "Lifecycle rules"). Pure: no AWS calls.
 */
import type { CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { imageIdFromPhysicalId, ownProperties } from './event';
import { log } from './log';

/** What both handlers know of their resource type: its physical ids and how to parse its properties. */
export interface ResourceKind<S> {
  /** For messages: `AMI`, `WorkSpaces image`. */
  readonly noun: string;
  readonly physicalIdPrefix: string;
  readonly imageIdPattern: RegExp;
  readonly parse: (raw: Record<string, unknown>, mode: 'strict' | 'lenient') => S;
}

/**
 * What an Update does:
 * - `create`: the resource now names another image than the one in effect. A new image is a new
 *   share: the Create path shares it and returns its physical id, and CloudFormation's later Delete
 *   of the old physical id revokes on the old image (on rollback, the reverse).
 * - `converge`: the same image; `prior` is what is known to be on it from the old declaration. The
 *   old properties declare what is on the image in effect only when they name that image: after a
 *   failed replacement the framework keeps the old physical id, and the rollback's old properties
 *   are the new image's. Then nothing is known to be ours to revoke (`prior` undefined): only what
 *   is missing is added.
 */
export type UpdatePath<S> =
  | { readonly kind: 'create'; readonly after: S }
  | { readonly kind: 'converge'; readonly prior: S | undefined; readonly after: S };

/** The path of an Update (see UpdatePath); `physicalId` tells which image is in effect. */
export function updatePath<S extends { readonly imageId: string }>(
  kind: ResourceKind<S>, event: CloudFormationCustomResourceUpdateEvent,
): UpdatePath<S> {
  const after = kind.parse(ownProperties(event.ResourceProperties), 'strict');
  const before = kind.parse(ownProperties(event.OldResourceProperties), 'lenient');
  const inEffect = imageIdFromPhysicalId(kind.physicalIdPrefix, kind.imageIdPattern, event.PhysicalResourceId) ?? before.imageId;
  if (inEffect !== after.imageId) return { kind: 'create', after };
  return { kind: 'converge', prior: before.imageId === inEffect ? before : undefined, after };
}

/**
 * What a Delete does, in order. Every Delete that reaches the handler revokes: keeping the shares is
 * CloudFormation's job, which sends no Delete where the share's DeletionPolicy or
 * UpdateReplacePolicy retains it.
 * - `revoke`: revoke this resource's own shares;
 * - `guard`: revoke, then refuse while anyone else still holds a share (the image is deleted by
 *   another resource of the app, after this one);
 * - `delete-image`: revoke, guard, then delete (deregister) the image.
 */
export type RemovalPlan = 'revoke' | 'guard' | 'delete-image';

export interface RemovalSettings {
  readonly guardImage: boolean;
  readonly deleteImage: boolean;
}

export function removalPlan(spec: RemovalSettings): RemovalPlan {
  if (spec.deleteImage) return 'delete-image';
  return spec.guardImage ? 'guard' : 'revoke';
}

/** A Delete that has work to do: the image of the physical id, the declaration, and the removal plan. */
export interface DeleteTarget<S> {
  readonly imageId: string;
  readonly spec: S;
  readonly plan: RemovalPlan;
}

/**
 * The Delete's target, or undefined (logged) when there is nothing to do: a physical id this
 * handler never issued (a failed Create's).
 */
export function deleteTarget<S extends RemovalSettings>(
  kind: ResourceKind<S>, event: CloudFormationCustomResourceDeleteEvent,
): DeleteTarget<S> | undefined {
  const imageId = imageIdFromPhysicalId(kind.physicalIdPrefix, kind.imageIdPattern, event.PhysicalResourceId);
  if (!imageId) {
    log({ skip: 'physical id was not issued by this handler (e.g. after a failed create): nothing to revoke' });
    return undefined;
  }
  const spec = kind.parse(ownProperties(event.ResourceProperties), 'lenient');
  return { imageId, spec, plan: removalPlan(spec) };
}
