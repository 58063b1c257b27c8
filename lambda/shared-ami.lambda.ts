/**
 * SharedAmi custom-resource handler (Provider framework onEvent): a thin router over the pure
 * decisions in ./ami/plan and the EC2 calls in ./ami/ec2-adapter.
 */
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import * as ec2 from './ami/ec2-adapter';
import {
  AMI_ID, AmiShareSpec, CurrentState, explainFailure, explainPartialFailure, imageProblem, involvesSnapshots,
  isGone, launchPermissionFromKey, launchPermissionKey, parseAmiProperties, planChanges, snapshotIdsOf, Step,
} from './ami/plan';
import { ShareError } from './common/errors';
import {
  imageIdFromPhysicalId, OnEventResponse, ownProperties, physicalIdFor, StackContext, stackContext,
} from './common/event';
import { SHARED_AMI_PHYSICAL_ID_PREFIX, SharedAmiResourceAttributes } from '../src/private/contract';

export async function handler(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  const physicalId = (event as { PhysicalResourceId?: string }).PhysicalResourceId;
  log({ requestType: event.RequestType, physicalId, properties: ownProperties(event.ResourceProperties) });
  switch (event.RequestType) {
    case 'Create': return onCreate(event);
    case 'Update': return onUpdate(event);
    case 'Delete': return onDelete(event);
    default: throw new ShareError(`Unknown request type ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}.`);
  }
}

async function onCreate(event: CloudFormationCustomResourceCreateEvent | CloudFormationCustomResourceUpdateEvent): Promise<OnEventResponse> {
  const ctx = stackContext(event);
  const spec = parseAmiProperties(ownProperties(event.ResourceProperties), 'strict');
  await converge(ctx, spec.imageId, undefined, spec);
  return respond(spec.imageId);
}

async function onUpdate(event: CloudFormationCustomResourceUpdateEvent): Promise<OnEventResponse> {
  const ctx = stackContext(event);
  const after = parseAmiProperties(ownProperties(event.ResourceProperties), 'strict');
  const before = parseAmiProperties(ownProperties(event.OldResourceProperties), 'lenient');
  const inEffect = imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, event.PhysicalResourceId) ?? before.imageId;
  if (inEffect !== after.imageId) {
    // A new image is a new share: grant there, return its physical id, and CloudFormation's later
    // Delete of the old physical id revokes on the old image (on rollback, the reverse).
    return onCreate(event);
  }
  await converge(ctx, after.imageId, before, after);
  return respond(after.imageId);
}

async function onDelete(event: CloudFormationCustomResourceDeleteEvent): Promise<OnEventResponse> {
  const imageId = imageIdFromPhysicalId(SHARED_AMI_PHYSICAL_ID_PREFIX, AMI_ID, event.PhysicalResourceId);
  if (!imageId) {
    log({ skip: 'physical id was not issued by this handler (e.g. after a failed create): nothing to revoke' });
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const spec = parseAmiProperties(ownProperties(event.ResourceProperties), 'lenient');
  if (spec.removal === 'retain') {
    log({ skip: `RemovalPolicy retain: the shares of ${imageId} stay` });
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const ctx = stackContext(event);
  await converge(ctx, imageId, { ...spec, imageId }, undefined);
  return { PhysicalResourceId: event.PhysicalResourceId };
}

/**
 * Reads the image and its permissions, plans the delta from `before` to `after`, and applies it.
 * Every check and read happens before the first change.
 */
async function converge(ctx: StackContext, imageId: string, before: AmiShareSpec | undefined, after: AmiShareSpec | undefined): Promise<void> {
  const deleting = after === undefined;
  let image;
  try {
    image = await ec2.describeImage(imageId);
  } catch (err) {
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account));
  }
  if (deleting && isGone(image)) {
    log({ skip: `AMI ${imageId} no longer exists: its launch permissions went with it` });
    return;
  }
  if (!deleting) {
    const problem = imageProblem(imageId, image, ctx.account, ctx.region);
    if (problem) throw new ShareError(problem);
  }

  let current: CurrentState;
  try {
    const launch = (await ec2.launchPermissions(imageId)).map(launchPermissionKey).filter((k): k is string => !!k);
    const snapshotPermissions: Record<string, string[]> = {};
    if (involvesSnapshots(before, after)) {
      for (const snapshotId of snapshotIdsOf(image!)) {
        snapshotPermissions[snapshotId] = await ec2.createVolumePermissions(snapshotId);
      }
    }
    current = { launchPermissions: launch, snapshotPermissions };
  } catch (err) {
    if (deleting && ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'].includes((err as { name?: string }).name ?? '')) return;
    throw new ShareError(explainFailure(err, imageId, undefined, ctx.account));
  }

  const steps = planChanges(before, after, imageId, current);
  log({ imageId, plan: steps.map((s) => s.description) });
  await apply(ctx, imageId, steps, deleting);
}

async function apply(ctx: StackContext, imageId: string, steps: Step[], deleting: boolean): Promise<void> {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    try {
      if (step.kind === 'launch') {
        await ec2.modifyLaunchPermissions(imageId, step.add.map(launchPermissionFromKey), step.remove.map(launchPermissionFromKey));
      } else {
        await ec2.modifyCreateVolumePermissions(step.target, step.add.length > 0 ? 'add' : 'remove', step.add.length > 0 ? step.add : step.remove);
      }
    } catch (err) {
      const code = (err as { name?: string }).name ?? '';
      if (deleting && (code.startsWith('InvalidAMIID.') || code === 'InvalidSnapshot.NotFound')) {
        log({ skip: `${step.description}: ${code} during delete counts as already revoked` });
        continue;
      }
      const cause = explainFailure(err, imageId, step, ctx.account);
      throw new ShareError(explainPartialFailure(cause, steps.slice(0, i), steps.slice(i)));
    }
  }
}

function respond(imageId: string): OnEventResponse {
  const data: SharedAmiResourceAttributes = { ImageId: imageId };
  return { PhysicalResourceId: physicalIdFor(SHARED_AMI_PHYSICAL_ID_PREFIX, imageId), Data: { ...data } };
}

function log(entry: Record<string, unknown>): void {
  // One JSON line per decision: readable in CloudWatch, silent in tests unless asked for.
  if (process.env.SHARED_IMAGES_QUIET !== '1') console.log(JSON.stringify(entry));
}
