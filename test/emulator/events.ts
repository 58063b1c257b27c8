/**
 * CloudFormation custom-resource events as the Provider framework hands them to a handler, for
 * any resource type: one builder serves the SharedAmi and SharedWorkspaceImage harnesses.
 */
import { randomUUID } from 'crypto';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';

/** Create / Update / Delete / rollback builders for one resource type. */
export interface EventBuilders<I, W extends { ServiceToken: string }> {
  createEvent(input: I, logicalId?: string): CloudFormationCustomResourceCreateEvent<W>;
  /** An Update from `old` to `input` of the resource whose current physical id is `physicalId`. */
  updateEvent(physicalId: string, input: I, old: I, logicalId?: string): CloudFormationCustomResourceUpdateEvent<W>;
  deleteEvent(physicalId: string, input: I, logicalId?: string): CloudFormationCustomResourceDeleteEvent<W>;
  /** The rollback CloudFormation sends after `update` failed or a later resource failed: old and new swapped. */
  rollbackOf(update: CloudFormationCustomResourceUpdateEvent<W>, physicalId?: string): CloudFormationCustomResourceUpdateEvent<W>;
}

/** @param wire turns a test's input into ResourceProperties (ServiceToken included) as they arrive. */
export function eventBuilders<I, W extends { ServiceToken: string }>(
  resourceType: string, stackId: string, serviceToken: string, wire: (input: I) => W,
): EventBuilders<I, W> {
  const common = (input: I, logicalId: string) => ({
    ServiceToken: serviceToken,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/unused',
    StackId: stackId,
    RequestId: randomUUID(),
    LogicalResourceId: logicalId,
    ResourceType: resourceType,
    ResourceProperties: wire(input),
  });
  return {
    createEvent: (input, logicalId = 'Share') => ({ ...common(input, logicalId), RequestType: 'Create' }),
    updateEvent: (physicalId, input, old, logicalId = 'Share') => ({
      ...common(input, logicalId), RequestType: 'Update', PhysicalResourceId: physicalId, OldResourceProperties: wire(old),
    }),
    deleteEvent: (physicalId, input, logicalId = 'Share') => ({ ...common(input, logicalId), RequestType: 'Delete', PhysicalResourceId: physicalId }),
    rollbackOf: (update, physicalId = update.PhysicalResourceId) => ({
      ...update,
      RequestId: randomUUID(),
      PhysicalResourceId: physicalId,
      ResourceProperties: update.OldResourceProperties as W,
      OldResourceProperties: update.ResourceProperties,
    }),
  };
}
