/**
 * An in-memory Parameter Store behind aws-sdk-client-mock, for the record of ownership: the
 * handlers' GetParametersByPath / PutParameter / DeleteParameter behave as Parameter Store's do
 * (pages of at most 10, ParameterNotFound on a missing name).
 */
import {
  DeleteParameterCommand, GetParametersByPathCommand, GetParametersByPathCommandInput, PutParameterCommand, PutParameterCommandInput,
  SSMClient, SSMServiceException,
} from '@aws-sdk/client-ssm';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { claimOwner, claimsPath, encodeClaim } from '../../lambda/common/ownership';

export const ssmMock = mockClient(SSMClient);

/** name → value */
export type ParameterStore = Map<string, string>;

/** Points the mock at a new, empty store and returns it (call in beforeEach, after ssmMock.reset()). */
export function useParameterStore(): ParameterStore {
  const store: ParameterStore = new Map();
  ssmMock.reset();
  ssmMock.on(GetParametersByPathCommand).callsFake((input: GetParametersByPathCommandInput) => {
    const prefix = `${input.Path}/`;
    const names = [...store.keys()].filter((n) => n.startsWith(prefix) && (input.Recursive || !n.slice(prefix.length).includes('/'))).sort();
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const size = Math.min(input.MaxResults ?? 10, 10);
    const page = names.slice(start, start + size);
    const next = start + size < names.length ? String(start + size) : undefined;
    return { Parameters: page.map((Name) => ({ Name, Value: store.get(Name), Type: 'String' })), ...(next ? { NextToken: next } : {}) };
  });
  ssmMock.on(PutParameterCommand).callsFake((input: PutParameterCommandInput) => {
    if (store.has(input.Name!) && !input.Overwrite) throw ssmError('ParameterAlreadyExists');
    store.set(input.Name!, input.Value!);
    return { Version: 1, Tier: 'Standard' };
  });
  ssmMock.on(DeleteParameterCommand).callsFake((input: { Name?: string }) => {
    if (!store.delete(input.Name!)) throw ssmError('ParameterNotFound');
    return {};
  });
  return store;
}

function ssmError(name: string): SSMServiceException {
  return new SSMServiceException({ name, message: `${name} (mocked)`, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/**
 * For tests of Update and Delete events whose AWS state the test sets up by hand (instead of running
 * the resource's Create first): writes the claim that the resource's earlier events would have left,
 * holding the old declaration as the library's, unless the resource has a claim already.
 */
export function seedEarlierClaim(store: ParameterStore, event: CloudFormationCustomResourceEvent, kind: 'ami' | 'workspaces'): void {
  if (event.RequestType === 'Create') return;
  let old = (event.RequestType === 'Update' ? event.OldResourceProperties : event.ResourceProperties) as Record<string, unknown>;
  const physical = String(event.PhysicalResourceId ?? '');
  const imageId = /^shared-(ami|wsi):/.test(physical) ? physical.slice(physical.indexOf(':') + 1) : String(old.ImageId);
  // The rollback of a failed replacement: its old side names the new image; the image in effect
  // was declared as the rollback now declares it.
  if (old.ImageId !== imageId) old = event.ResourceProperties as Record<string, unknown>;
  const owner = claimOwner(event.StackId, event.LogicalResourceId);
  const name = `${claimsPath(imageId)}/${owner.claimId}`;
  if (store.has(name)) return;
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const library = (keys: string[]): Record<string, 'library'> => Object.fromEntries(keys.map((k) => [k, 'library' as const]));
  const accounts = list(old.Accounts).filter((a) => /^\d{12}$/.test(a));
  const shares = kind === 'ami'
    ? [...accounts.map((a) => `UserId:${a}`), ...list(old.OrganizationArns).map((a) => `OrganizationArn:${a}`),
      ...list(old.OrganizationalUnitArns).map((a) => `OrganizationalUnitArn:${a}`)]
    : accounts;
  const snapshots = kind === 'ami' && old.ShareSnapshots === 'true' ? accounts : [];
  store.set(name, encodeClaim({ ...owner, shares: library(shares), snapshots: library(snapshots), releasing: {}, releasingSnapshots: {} }));
}
