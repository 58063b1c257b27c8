/**
 * What both routers do before any decision: start the invocation (log the event, new clients with
 * the share's role) and pick the function of the event's request type (DESIGN.md, "Handler shape").
 */
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { shareCredentials, ShareCredentials } from './assume-role';
import * as claims from './claims-adapter';
import { ShareError } from './errors';
import { ownProperties } from './event';
import { log } from './log';

/**
 * Logs the event (its own properties, never the service token) and starts the invocation's
 * clients with the share's role: every adapter gets new clients per event (see the adapters'
 * `startInvocation`).
 */
export function startEvent(
  event: CloudFormationCustomResourceEvent, noun: string, startAdapter: (credentials?: ShareCredentials) => void,
  extra: Record<string, unknown> = {},
): void {
  const physicalId = (event as { PhysicalResourceId?: string }).PhysicalResourceId;
  log({ ...extra, requestType: event.RequestType, physicalId, properties: ownProperties(event.ResourceProperties) });
  startAdapter(shareCredentials(event, noun));
  claims.startInvocation();
}

/** The functions a router hands each request type to. */
export interface Routes<R> {
  readonly create: (event: CloudFormationCustomResourceCreateEvent) => Promise<R>;
  readonly update: (event: CloudFormationCustomResourceUpdateEvent) => Promise<R>;
  readonly delete: (event: CloudFormationCustomResourceDeleteEvent) => Promise<R>;
}

/** Picks the route of the event's request type; anything else is refused. */
export function route<R>(event: CloudFormationCustomResourceEvent, routes: Routes<R>): Promise<R> {
  switch (event.RequestType) {
    case 'Create': return routes.create(event);
    case 'Update': return routes.update(event);
    case 'Delete': return routes.delete(event);
    default: throw new ShareError(`Unknown request type ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}.`);
  }
}
