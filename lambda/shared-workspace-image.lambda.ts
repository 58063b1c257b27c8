/**
 * SharedWorkspaceImage custom-resource handler: a router for the Provider framework's two calls.
 * It parses the event, picks Create, Update or Delete, and hands over to the executor
 * (./workspaces/executor), which applies the pure decisions of ./workspaces/plan through
 * ./workspaces/workspaces-adapter (DESIGN.md, "Handler shape").
 *
 * onEvent (a CloudFormation event) checks everything and, when the image is AVAILABLE, shares at
 * once; when it is PENDING it changes nothing and hands over to isComplete, which the framework
 * then calls every query interval until the image is AVAILABLE (share, complete), in ERROR (fail)
 * or waited on too long (fail). What onEvent leaves for isComplete travels in the completion
 * marker of its answer, which the framework passes on to isComplete (DESIGN.md, "Entry points").
 */
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { ShareError } from './common/errors';
import { OnEventResponse, ownProperties, physicalIdFor, stackContext } from './common/event';
import { deleteTarget, ResourceKind, updatePath } from './common/lifecycle';
import { route, startEvent } from './common/router';
import { contextOf, removeShares, shareOrWait, shareWhenAvailable } from './workspaces/executor';
import { Completion, COMPLETION_KEY, completionOf, parseWorkspaceImageProperties, WORKSPACE_IMAGE_ID, WorkspaceShareSpec } from './workspaces/plan';
import * as workspaces from './workspaces/workspaces-adapter';
import { SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, SharedWorkspaceImageResourceAttributes } from '../src/private/contract';

/** What the Provider framework passes to isComplete: the CloudFormation event merged with the onEvent answer. */
export type IsCompleteEvent = CloudFormationCustomResourceEvent & OnEventResponse & { readonly [COMPLETION_KEY]: Completion };

/** What isComplete answers (no `Data` while not complete: the framework rejects it). */
export interface IsCompleteResponse {
  readonly IsComplete: boolean;
}

/** An onEvent answer: the framework's fields plus the completion marker for isComplete. */
export type WorkspaceImageOnEventResponse = OnEventResponse & { readonly [COMPLETION_KEY]: Completion };

const WORKSPACE_IMAGE: ResourceKind<WorkspaceShareSpec> = {
  noun: 'WorkSpaces image',
  physicalIdPrefix: SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX,
  imageIdPattern: WORKSPACE_IMAGE_ID,
  parse: parseWorkspaceImageProperties,
};

/** The Provider framework's onEvent: a CloudFormation event. */
export async function onEvent(event: CloudFormationCustomResourceEvent): Promise<WorkspaceImageOnEventResponse> {
  startEvent(event, WORKSPACE_IMAGE.noun, workspaces.startInvocation, { call: 'onEvent' });
  return route(event, { create: onCreate, update: onUpdate, delete: onDelete });
}

/** The Provider framework's isComplete: the event with onEvent's answer, completion marker included. */
export async function isComplete(event: IsCompleteEvent): Promise<IsCompleteResponse> {
  const completion = completionOf(event);
  startEvent(event, WORKSPACE_IMAGE.noun, workspaces.startInvocation, { call: 'isComplete', completion });
  if (!completion) {
    throw versionMismatch(event, String(ownProperties(event.ResourceProperties).ImageId), `carries no ${COMPLETION_KEY}`);
  }
  if (completion.Step === 'done') return { IsComplete: true };
  const after = parseWorkspaceImageProperties(ownProperties(event.ResourceProperties), 'strict');
  if (after.imageId !== completion.ImageId) throw versionMismatch(event, after.imageId, `waits for ${completion.ImageId} instead`);
  const before = completion.Before === 'old' && event.RequestType === 'Update'
    ? parseWorkspaceImageProperties(ownProperties(event.OldResourceProperties), 'lenient')
    : undefined;
  return { IsComplete: await shareWhenAvailable(contextOf(event), completion.Deadline, before, after) };
}

/**
 * An isComplete call that onEvent's answer cannot have produced (no completion marker, or one for
 * another image): the deployed handler and Provider framework are not the pair this library ships.
 */
function versionMismatch(event: IsCompleteEvent, imageId: string, what: string): ShareError {
  return new ShareError(`WorkSpaces image ${imageId} in account ${stackContext(event).account} was not shared: the Provider framework's isComplete call ${what},`
    + ' so the handler and the framework come from different versions; deploy the stack again with this library\'s current version.');
}

/**
 * Both calls under one name, for the local runners that play the Provider framework (tests, demo,
 * benchmarks), told apart by the completion marker, which CloudFormation never sends. The deployed
 * functions point at `index.onEvent` and `index.isComplete` (DESIGN.md, "Entry points").
 */
export async function handler(
  event: CloudFormationCustomResourceEvent | IsCompleteEvent,
): Promise<WorkspaceImageOnEventResponse | IsCompleteResponse> {
  return completionOf(event) ? isComplete(event as IsCompleteEvent) : onEvent(event);
}

async function onCreate(event: CloudFormationCustomResourceCreateEvent): Promise<WorkspaceImageOnEventResponse> {
  return share(event, parseWorkspaceImageProperties(ownProperties(event.ResourceProperties), 'strict'), undefined);
}

/** An Update: a new image takes the Create path; the same image converges from the prior declaration. */
async function onUpdate(event: CloudFormationCustomResourceUpdateEvent): Promise<WorkspaceImageOnEventResponse> {
  const path = updatePath(WORKSPACE_IMAGE, event);
  return share(event, path.after, path.kind === 'converge' ? path.prior : undefined);
}

async function share(
  event: CloudFormationCustomResourceEvent, after: WorkspaceShareSpec, prior: WorkspaceShareSpec | undefined,
): Promise<WorkspaceImageOnEventResponse> {
  const completion = await shareOrWait(contextOf(event), after.imageId, prior, after);
  const data: SharedWorkspaceImageResourceAttributes = { ImageId: after.imageId };
  return {
    PhysicalResourceId: physicalIdFor(SHARED_WORKSPACE_IMAGE_PHYSICAL_ID_PREFIX, after.imageId), Data: { ...data }, [COMPLETION_KEY]: completion,
  };
}

/** A Delete unshares, guards and deletes the image as its removal plan says; isComplete has nothing left to do. */
async function onDelete(event: CloudFormationCustomResourceDeleteEvent): Promise<WorkspaceImageOnEventResponse> {
  const target = deleteTarget(WORKSPACE_IMAGE, event);
  if (target) await removeShares(contextOf(event), target);
  return { PhysicalResourceId: event.PhysicalResourceId, [COMPLETION_KEY]: { Step: 'done' } };
}
