/**
 * An in-memory Parameter Store behind aws-sdk-client-mock, for the record of ownership: the
 * handlers' GetParametersByPath / PutParameter / DeleteParameter behave as Parameter Store's do
 * (pages of at most 10, ParameterNotFound on a missing name).
 */
import {
  DeleteParameterCommand, GetParametersByPathCommand, GetParametersByPathCommandInput, PutParameterCommand, PutParameterCommandInput,
  SSMClient, SSMServiceException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

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
