/**
 * SharedAmi custom-resource handler (Provider framework onEvent): a router. It parses the event,
 * picks Create, Update or Delete, and hands over to the executor (./ami/executor), which applies
 * the pure decisions of ./ami/plan through ./ami/adapter (DESIGN.md, "Handler shape").
 */
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import * as aws from './ami/adapter';
import { converge, Converged, guardAndRetire, RunContext, runContext } from './ami/executor';
import { AMI_ID, AmiShareSpec, parseAmiProperties } from './ami/plan';
import { OnEventResponse, ownProperties, physicalIdFor } from './common/event';
import { deleteTarget, ResourceKind, updatePath } from './common/lifecycle';
import { route, startEvent } from './common/router';
import { SHARED_AMI_PHYSICAL_ID_PREFIX, SharedAmiResourceAttributes } from '../src/private/contract';

const AMI: ResourceKind<AmiShareSpec> = {
  noun: 'AMI', physicalIdPrefix: SHARED_AMI_PHYSICAL_ID_PREFIX, imageIdPattern: AMI_ID, parse: parseAmiProperties,
};

export async function onEvent(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  startEvent(event, AMI.noun, aws.startInvocation);
  return route(event, { create: onCreate, update: onUpdate, delete: onDelete });
}

/**
 * onEvent under the one name the local runners call (tests, demo, benchmarks); the deployed
 * function points at `index.onEvent` (DESIGN.md, "Entry points").
 */
export const handler = onEvent;

async function onCreate(event: CloudFormationCustomResourceCreateEvent): Promise<OnEventResponse> {
  return share(event, parseAmiProperties(ownProperties(event.ResourceProperties), 'strict'), undefined);
}

/** An Update: a new image takes the Create path; the same image converges from the prior declaration. */
async function onUpdate(event: CloudFormationCustomResourceUpdateEvent): Promise<OnEventResponse> {
  const path = updatePath(AMI, event);
  return share(event, path.after, path.kind === 'converge' ? path.prior : undefined);
}

async function share(event: CloudFormationCustomResourceEvent, after: AmiShareSpec, prior: AmiShareSpec | undefined): Promise<OnEventResponse> {
  const run = runContext(event, after.imageId);
  return respond(run, await converge(run, prior, after));
}

/** A Delete revokes this resource's shares, then runs the deletion guard and retires the AMI when asked. */
async function onDelete(event: CloudFormationCustomResourceDeleteEvent): Promise<OnEventResponse> {
  const target = deleteTarget(AMI, event);
  if (target) {
    const run = runContext(event, target.imageId);
    const converged = await converge(run, { ...target.spec, imageId: target.imageId }, undefined);
    await guardAndRetire(run, target.spec, target.plan, converged);
  }
  return { PhysicalResourceId: event.PhysicalResourceId };
}

/** Grant ids travel back only while they fit well inside CloudFormation's 4 KB response. */
const MAX_GRANT_IDS_LENGTH = 2000;

function respond(run: RunContext, converged: Pick<Converged, 'grantIds'>): OnEventResponse {
  const ids = converged.grantIds.join(',');
  const data: SharedAmiResourceAttributes = {
    ImageId: run.imageId,
    GrantIds: ids.length <= MAX_GRANT_IDS_LENGTH ? ids : '',
    GrantCount: String(converged.grantIds.length),
    GrantName: run.grantName,
  };
  return { PhysicalResourceId: physicalIdFor(SHARED_AMI_PHYSICAL_ID_PREFIX, run.imageId), Data: { ...data } };
}
