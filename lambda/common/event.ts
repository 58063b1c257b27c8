import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { ShareError } from './errors';
import { show } from '../../src/private/validation';

/** What the Provider framework expects back from an onEvent handler. */
export interface OnEventResponse {
  readonly PhysicalResourceId?: string;
  readonly Data?: Record<string, unknown>;
}

/** Account, region and partition of the stack that sent the event (from its StackId ARN). */
export interface StackContext {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

export function stackContext(event: Pick<CloudFormationCustomResourceEvent, 'StackId'>): StackContext {
  const parts = String(event.StackId ?? '').split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || !/^\d{12}$/.test(parts[4])) {
    throw new ShareError(`The event's StackId ${show(event.StackId)} is not a CloudFormation stack ARN; this handler only serves CloudFormation.`);
  }
  return { partition: parts[1], region: parts[3], account: parts[4] };
}

export function physicalIdFor(prefix: string, imageId: string): string {
  return `${prefix}${imageId}`;
}

/**
 * The image id inside a physical id we issued, or undefined for any other physical id (for
 * example the marker CloudFormation or the provider framework uses after a failed Create).
 */
export function imageIdFromPhysicalId(prefix: string, pattern: RegExp, physicalId: unknown): string | undefined {
  if (typeof physicalId !== 'string' || !physicalId.startsWith(prefix)) return undefined;
  const imageId = physicalId.slice(prefix.length);
  return pattern.test(imageId) ? imageId : undefined;
}

/** ResourceProperties without CloudFormation's own keys. */
export function ownProperties(raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return {};
  const { ServiceToken: _token, ...rest } = raw as Record<string, unknown>;
  return rest;
}
