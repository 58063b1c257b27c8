/**
 * SharedWorkspaceImage handler tests: the real router and plan against a mocked WorkSpaces client
 * (aws-sdk-client-mock), on a small stateful WorkSpaces fake, so a test can check both the exact
 * requests sent and the permissions they leave behind. The Provider framework's isComplete input is
 * built exactly as the framework builds it: `{ ...CloudFormation event, ...onEvent answer }`.
 *
 * One test ("throttling is retried") needs the SDK's real retry middleware, which
 * aws-sdk-client-mock bypasses: it loads a fresh copy of the handler against a local HTTP fake.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';
import {
  DeleteWorkspaceImageCommand, DeleteWorkspaceImageCommandInput,
  DescribeWorkspaceImagePermissionsCommand, DescribeWorkspaceImagePermissionsCommandInput, DescribeWorkspaceImagesCommand,
  UpdateWorkspaceImagePermissionCommand, UpdateWorkspaceImagePermissionCommandInput, WorkspaceImage, WorkSpacesClient,
  WorkSpacesServiceException,
} from '@aws-sdk/client-workspaces';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ParameterStore, seedEarlierClaim, useParameterStore } from './ssm-fake';
import 'aws-sdk-client-mock-jest';
import { ShareError } from '../../lambda/common/errors';
import { freshness } from '../../lambda/common/ownership';
import {
  handler as realHandler, isComplete as isCompleteEntry, IsCompleteEvent, onEvent as onEventEntry, WorkspaceImageOnEventResponse,
} from '../../lambda/shared-workspace-image.lambda';
import { COMPLETION_KEY, PENDING_WAIT_LIMIT_MINUTES, SHARE_CONCURRENCY } from '../../lambda/workspaces/plan';
import { MAX_ATTEMPTS, PERMISSIONS_PAGE_SIZE } from '../../lambda/workspaces/workspaces-adapter';

process.env.SHARED_IMAGES_QUIET = '1';
process.env.AWS_REGION ??= 'us-east-1';

const wsMock = mockClient(WorkSpacesClient);

const OWNER = '123456789012';
const STACK_ID = `arn:aws:cloudformation:us-east-1:${OWNER}:stack/s/guid`;
const SERVICE_TOKEN = `arn:aws:lambda:us-east-1:${OWNER}:function:provider-framework-onEvent`;
const IMAGE = 'wsi-0123abcde';
const NEW_IMAGE = 'wsi-9876zyxwv';
const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const FOREIGN = '999999999999';

const physicalId = (imageId: string): string => `shared-wsi:${imageId}`;

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

type Props = Record<string, unknown>;

/** The properties the construct sends. */
function props(overrides: Props = {}): Props {
  return { ImageId: IMAGE, Accounts: [A, B], GuardImage: 'false', DeleteImage: 'false', ForceUnshare: 'false', ...overrides };
}

/** What the construct sends with deleteImageOnRemoval (wireGuard sets GuardImage with it). */
const DELETE_IMAGE = { GuardImage: 'true', DeleteImage: 'true' };
/** What the construct sends with a deletionGuard only: guard, but the image is another resource's to delete. */
const GUARD_ONLY = { GuardImage: 'true', DeleteImage: 'false' };

const common = {
  ServiceToken: SERVICE_TOKEN,
  ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/response',
  StackId: STACK_ID,
  RequestId: 'b5a2ab04-0000-4000-8000-000000000000',
  LogicalResourceId: 'ShareAbc123',
  ResourceType: 'Custom::SharedWorkspaceImage',
};

function createEvent(p: Props): CloudFormationCustomResourceCreateEvent {
  return { ...common, RequestType: 'Create', ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...p } };
}

function updateEvent(next: Props, old: Props, physical = physicalId(String(old.ImageId))): CloudFormationCustomResourceUpdateEvent {
  return {
    ...common,
    RequestType: 'Update',
    PhysicalResourceId: physical,
    ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...next },
    OldResourceProperties: { ServiceToken: SERVICE_TOKEN, ...old },
  };
}

/** The rollback of `update`: old and new swapped, sent to the physical id the update returned. */
function rollbackOf(update: CloudFormationCustomResourceUpdateEvent, physical: string): CloudFormationCustomResourceUpdateEvent {
  return {
    ...update, PhysicalResourceId: physical, ResourceProperties: update.OldResourceProperties, OldResourceProperties: update.ResourceProperties,
  };
}

function deleteEvent(p: Props, physical = physicalId(String(p.ImageId))): CloudFormationCustomResourceDeleteEvent {
  return { ...common, RequestType: 'Delete', PhysicalResourceId: physical, ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...p } };
}

/** The isComplete input, as the Provider framework's createResponseEvent builds it. */
function isCompleteInput(event: CloudFormationCustomResourceEvent, answer: WorkspaceImageOnEventResponse): IsCompleteEvent {
  const physical = answer.PhysicalResourceId
    || (event.RequestType === 'Create' ? event.RequestId : (event as { PhysicalResourceId: string }).PhysicalResourceId);
  return JSON.parse(JSON.stringify({ ...event, ...answer, PhysicalResourceId: physical }));
}

async function onEvent(event: CloudFormationCustomResourceEvent): Promise<WorkspaceImageOnEventResponse> {
  return await handler(event) as WorkspaceImageOnEventResponse;
}

// ---------------------------------------------------------------------------------------------
// A stateful WorkSpaces fake
// ---------------------------------------------------------------------------------------------

interface FakeWorkspaces {
  /** image id → image and the accounts it is shared with */
  readonly images: Record<string, { image: WorkspaceImage; shared: string[] }>;
}

function wsError(name: string, message = `${name} (mocked)`): WorkSpacesServiceException {
  return new WorkSpacesServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

function image(imageId: string, overrides: Partial<WorkspaceImage> = {}): WorkspaceImage {
  return { ImageId: imageId, Name: 'golden', OwnerAccountId: OWNER, State: 'AVAILABLE', RequiredTenancy: 'DEFAULT', ...overrides };
}

/** Points every WorkSpaces command of the mock at `fake`, behaving like WorkSpaces does. */
function useFake(fake: FakeWorkspaces): FakeWorkspaces {
  wsMock.on(DescribeWorkspaceImagesCommand).callsFake((input: { ImageIds?: string[] }) => ({
    // WorkSpaces answers an unknown id with an empty list, not an error
    Images: (input.ImageIds ?? []).map((id) => fake.images[id]?.image).filter((i) => i !== undefined).map((i) => ({ ...i })),
  }));
  wsMock.on(DescribeWorkspaceImagePermissionsCommand).callsFake((input: DescribeWorkspaceImagePermissionsCommandInput) => {
    const entry = fake.images[input.ImageId ?? ''];
    if (!entry) throw wsError('ResourceNotFoundException', 'The specified image could not be found.');
    if (input.MaxResults !== undefined && (input.MaxResults < 1 || input.MaxResults > 25)) throw wsError('InvalidParameterValuesException', 'MaxResults');
    const size = input.MaxResults ?? 25;
    const start = input.NextToken ? Number(input.NextToken.replace('page-', '')) : 0;
    const page = entry.shared.slice(start, start + size);
    const next = start + size < entry.shared.length ? `page-${start + size}` : undefined;
    return { ImageId: input.ImageId, ImagePermissions: page.map((SharedAccountId) => ({ SharedAccountId })), ...(next ? { NextToken: next } : {}) };
  });
  wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake((input: UpdateWorkspaceImagePermissionCommandInput) => {
    const entry = fake.images[input.ImageId ?? ''];
    if (!entry) throw wsError('ResourceNotFoundException');
    const account = input.SharedAccountId!;
    if (input.AllowCopyImage && !entry.shared.includes(account)) entry.shared.push(account);
    // WorkSpaces refuses to unshare an account that does not hold the share
    if (!input.AllowCopyImage && !entry.shared.includes(account)) throw wsError('InvalidParameterValuesException', 'The image is not shared with the specified account.');
    if (!input.AllowCopyImage) entry.shared = entry.shared.filter((a) => a !== account);
    return {};
  });
  wsMock.on(DeleteWorkspaceImageCommand).callsFake((input: DeleteWorkspaceImageCommandInput) => {
    const entry = fake.images[input.ImageId ?? ''];
    if (!entry) throw wsError('ResourceNotFoundException', 'The specified image could not be found.');
    // AWS's own rule: a shared image cannot be deleted before it is unshared
    if (entry.shared.length > 0) throw wsError('InvalidResourceStateException', 'The image is shared with other accounts.');
    delete (fake.images as Record<string, unknown>)[input.ImageId!];
    return {};
  });
  return fake;
}

/** One image owned by the stack's account, shared with `shared`. */
function givenImage(shared: string[] = [], overrides: Partial<WorkspaceImage> = {}, imageId = IMAGE): FakeWorkspaces {
  return useFake({ images: { [imageId]: { image: image(imageId, overrides), shared: [...shared] } } });
}

function updateInputs(): UpdateWorkspaceImagePermissionCommandInput[] {
  return wsMock.commandCalls(UpdateWorkspaceImagePermissionCommand).map((c) => c.args[0].input);
}

/** The share/unshare calls as `+account` / `-account`, order-independent. */
function updates(imageId = IMAGE): string[] {
  return updateInputs().filter((i) => i.ImageId === imageId).map((i) => `${i.AllowCopyImage ? '+' : '-'}${i.SharedAccountId}`).sort();
}

const sharedWith = (fake: FakeWorkspaces, imageId = IMAGE): string[] => [...fake.images[imageId].shared].sort();

/** The error the handler rejects with (fails the test if it resolves). */
async function failure(event: CloudFormationCustomResourceEvent | IsCompleteEvent): Promise<Error> {
  try {
    await handler(event);
  } catch (err) {
    return err as Error;
  }
  throw new Error('the handler succeeded where it should have failed');
}

/** The record of ownership (Parameter Store), new and empty for every test. */
let parameters: ParameterStore;

beforeEach(() => {
  parameters = useParameterStore();
  wsMock.reset();
});

/**
 * The handler, as for a resource that exists: an Update or Delete whose AWS state the test set up
 * by hand finds the claim its earlier events would have left.
 */
const handler: typeof realHandler = (event) => {
  if (!('IsComplete' in event) && !(event as unknown as Record<string, unknown>)[COMPLETION_KEY]) seedEarlierClaim(parameters, event as CloudFormationCustomResourceEvent, 'workspaces');
  return realHandler(event);
};

// ---------------------------------------------------------------------------------------------

describe('Create', () => {
  test('one UpdateWorkspaceImagePermission per account; physical id and ImageId from the image id; isComplete has nothing left', async () => {
    const fake = givenImage();
    const response = await onEvent(createEvent(props({ Accounts: [A, B, C] })));

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: { ImageId: IMAGE }, [COMPLETION_KEY]: { Step: 'done' } });
    expect(wsMock).toHaveReceivedCommandWith(DescribeWorkspaceImagesCommand, { ImageIds: [IMAGE] });
    expect(wsMock).toHaveReceivedCommandWith(DescribeWorkspaceImagePermissionsCommand, { ImageId: IMAGE, MaxResults: 25 });
    expect(updateInputs()).toEqual(expect.arrayContaining([
      { ImageId: IMAGE, SharedAccountId: A, AllowCopyImage: true },
      { ImageId: IMAGE, SharedAccountId: B, AllowCopyImage: true },
      { ImageId: IMAGE, SharedAccountId: C, AllowCopyImage: true },
    ]));
    expect(updateInputs()).toHaveLength(3);
    expect(sharedWith(fake)).toEqual([A, B, C]);

    // the framework's isComplete call after a completed onEvent: complete at once, no AWS call
    wsMock.resetHistory();
    expect(await handler(isCompleteInput(createEvent(props()), response))).toEqual({ IsComplete: true });
    expect(wsMock.calls()).toHaveLength(0);
  });

  test('shares only the accounts that are missing and leaves a share made outside the resource alone', async () => {
    const fake = givenImage([A, FOREIGN]);
    await handler(createEvent(props({ Accounts: [A, B] })));
    expect(updates()).toEqual([`+${B}`]);
    expect(sharedWith(fake)).toEqual([A, B, FOREIGN]);
  });

  test('makes no mutating call when every account is already shared (duplicate delivery)', async () => {
    const fake = givenImage();
    await handler(createEvent(props()));
    wsMock.resetHistory();
    const again = await onEvent(createEvent(props()));
    expect(again.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(updateInputs()).toEqual([]);
    expect(sharedWith(fake)).toEqual([A, B]);
  });

  test('works with the longest image id', async () => {
    const long = `wsi-${'a1'.repeat(31)}b`;
    const fake = givenImage([], {}, long);
    expect((await onEvent(createEvent(props({ ImageId: long })))).PhysicalResourceId).toBe(physicalId(long));
    expect(sharedWith(fake, long)).toEqual([A, B]);
  });
});

describe('reading the current permissions', () => {
  test('pages through DescribeWorkspaceImagePermissions 25 at a time; shares made outside on any page survive', async () => {
    expect(PERMISSIONS_PAGE_SIZE).toBe(25);
    const outside = Array.from({ length: 60 }, (_, i) => String(500000000000 + i));
    // A is declared and already shared, on the third page
    const fake = givenImage([...outside.slice(0, 55), A, ...outside.slice(55)]);
    await handler(createEvent(props({ Accounts: [A, B] })));

    const reads = wsMock.commandCalls(DescribeWorkspaceImagePermissionsCommand).map((c) => c.args[0].input);
    expect(reads).toEqual([
      { ImageId: IMAGE, MaxResults: 25 },
      { ImageId: IMAGE, MaxResults: 25, NextToken: 'page-25' },
      { ImageId: IMAGE, MaxResults: 25, NextToken: 'page-50' },
    ]);
    // A (page 3) was seen: not re-sent
    expect(updates()).toEqual([`+${B}`]);
    expect(sharedWith(fake)).toEqual([...outside, A, B].sort());
  });

  test('a Delete unshares the declared accounts (one found on a later page), and nothing else', async () => {
    const outside = Array.from({ length: 30 }, (_, i) => String(500000000000 + i));
    const fake = givenImage([...outside, B]);
    await handler(deleteEvent(props({ Accounts: [A, B] })));
    // A is not shared: WorkSpaces refuses, a read confirms it, and that counts as done
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(sharedWith(fake)).toEqual(outside.sort());
  });

  test('an answer without ImagePermissions counts as none', async () => {
    givenImage();
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).resolves({ ImageId: IMAGE });
    await handler(createEvent(props()));
    expect(updates()).toEqual([`+${A}`, `+${B}`]);
  });
});

describe('bounded concurrency', () => {
  test(`never more than ${SHARE_CONCURRENCY} UpdateWorkspaceImagePermission calls in flight, and every account is shared`, async () => {
    const accounts = Array.from({ length: 17 }, (_, i) => String(100000000000 + i));
    const fake = givenImage();
    let inFlight = 0;
    let maxInFlight = 0;
    wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake(async (input: UpdateWorkspaceImagePermissionCommandInput) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // stay in flight across a few turns of the event loop (no timers): others get the chance to start
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      fake.images[IMAGE].shared.push(input.SharedAccountId!);
      inFlight--;
      return {};
    });
    await handler(createEvent(props({ Accounts: accounts })));

    expect(SHARE_CONCURRENCY).toBe(5);
    expect(maxInFlight).toBe(SHARE_CONCURRENCY);
    expect(updateInputs()).toHaveLength(17);
    expect(sharedWith(fake)).toEqual(accounts);
  });

  test('after a failure no new call starts; a failed Create unshares what it shared and says so', async () => {
    const accounts = Array.from({ length: 12 }, (_, i) => String(100000000000 + i));
    const fake = givenImage();
    const bad = accounts[1];
    wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake(async (input: UpdateWorkspaceImagePermissionCommandInput) => {
      // the refusal comes back before any of the calls already in flight completes
      if (input.SharedAccountId === bad) throw wsError('InvalidParameterValuesException', 'The account is not valid.');
      await new Promise((r) => setImmediate(r));
      const shared = fake.images[IMAGE].shared;
      if (input.AllowCopyImage) shared.push(input.SharedAccountId!);
      else shared.splice(shared.indexOf(input.SharedAccountId!), 1);
      return {};
    });
    const err = await failure(createEvent(props({ Accounts: accounts })));

    expect(err).toBeInstanceOf(ShareError);
    // the first five started together; nothing after them started; the four that succeeded were unshared again
    expect(updateInputs().filter((i) => i.AllowCopyImage).map((i) => i.SharedAccountId)).toEqual(accounts.slice(0, 5));
    expect(updateInputs().filter((i) => !i.AllowCopyImage).map((i) => i.SharedAccountId).sort()).toEqual([accounts[0], ...accounts.slice(2, 5)]);
    expect(sharedWith(fake)).toEqual([]);
    expect(err.message).toBe(
      `AWS refused to share WorkSpaces image ${IMAGE} with account ${bad} (InvalidParameterValuesException: The account is not valid.): check that the account id exists and is spelled right.`
      + ' Nothing was left changed: what was applied before the failure was undone.',
    );
  });
});

describe('throttling', () => {
  test(`the SDK client retries throttled calls (up to ${MAX_ATTEMPTS} attempts) and the share completes`, async () => {
    const server = await throttlingWorkSpaces({ throttle: { [B]: 2 } });
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: server.url, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1',
    });
    try {
      // A fresh copy of the handler and the SDK, outside aws-sdk-client-mock, so the real retry middleware runs.
      let fresh: typeof import('../../lambda/shared-workspace-image.lambda') | undefined;
      jest.isolateModules(() => {
        fresh = jest.requireActual<typeof import('../../lambda/shared-workspace-image.lambda')>('../../lambda/shared-workspace-image.lambda');
      });
      // not the instance aws-sdk-client-mock stubs
      expect(fresh!.handler).not.toBe(handler);
      const response = await fresh!.handler(createEvent(props({ Accounts: [A, B] })));
      expect(response).toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
      expect(server.updates.filter((u) => u === `+${B}`)).toHaveLength(3); // two throttled, then accepted
      expect(server.updates.filter((u) => u === `+${A}`)).toHaveLength(1);
      expect(server.shared.sort()).toEqual([A, B]);
    } finally {
      process.env = saved;
      await server.close();
    }
  });

  test('throttling that outlasts every retry fails with a sentence that says to deploy again later', async () => {
    const fake = givenImage();
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B }).rejects(wsError('ThrottlingException', 'Rate exceeded'));
    const err = await failure(createEvent(props({ Accounts: [A, B] })));
    expect(err.message).toMatch(new RegExp(`^AWS kept throttling the calls to share WorkSpaces image ${IMAGE} with account ${B} \\(ThrottlingException\\) after all retries: deploy again later`));
    expect(err.message).toMatch(/ Nothing was left changed: what was applied before the failure was undone\.$/);
    expect(sharedWith(fake)).toEqual([]);
  });
});

// Found by the reliability harness (test/reliability): a load balancer's HTML page in place of an
// AWS answer reached CloudFormation as the SDK's JSON parser complaint (raw body, SDK hint).
describe('when the retries run out on 5xx or broken connections', () => {
  const lbPage = (): Error => Object.assign(
    new SyntaxError('Unexpected token \'<\', "<html>\r\n<h"... is not valid JSON\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.'),
    { $metadata: { httpStatusCode: 503, attempts: 8 } },
  );

  test('a load balancer\'s HTML page while sharing: one line, no raw body, deploy again later; the Create undoes itself', async () => {
    const fake = givenImage();
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B }).rejects(lbPage());
    const err = await failure(createEvent(props({ Accounts: [A, B] })));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(`AWS kept failing the calls to share WorkSpaces image ${IMAGE} with account ${B} (HTTP 503: AWS answered HTTP 503 with a page that is not an AWS error)`
      + ' after all retries: deploy again later; the change resumes where it stopped. Nothing was left changed: what was applied before the failure was undone.');
    expect(sharedWith(fake)).toEqual([]);
  });

  // Found by the reliability harness: a share AWS applied whose answer was lost (the retries then
  // throttled until they ran out) stayed behind after the failed Create, which only undid the
  // shares it knew had gone through.
  test('a share AWS applied but whose answer was lost (retries then throttled) is read back and undone too', async () => {
    const fake = givenImage([FOREIGN]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B, AllowCopyImage: true }).callsFake(() => {
      fake.images[IMAGE].shared.push(B);
      throw new WorkSpacesServiceException({ name: 'ThrottlingException', message: 'Rate exceeded', $fault: 'client', $metadata: { httpStatusCode: 400, attempts: 8 } });
    });
    const err = await failure(createEvent(props({ Accounts: [A, B] })));
    expect(err.message).toMatch(new RegExp(`^AWS kept throttling the calls to share WorkSpaces image ${IMAGE} with account ${B} \\(ThrottlingException\\)`));
    expect(err.message).toMatch(/ Nothing was left changed: what was applied before the failure was undone\.$/);
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('connection resets while reading the image: deploy again later, no change', async () => {
    givenImage();
    wsMock.on(DescribeWorkspaceImagesCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: { attempts: 8 } }));
    const err = await failure(createEvent(props()));
    expect(err.message).toBe(`AWS kept failing the calls to read WorkSpaces image ${IMAGE} (ECONNRESET: socket hang up) after all retries: deploy again later; the change resumes where it stopped.`);
    expect(updateInputs()).toEqual([]);
  });

  test('a 5xx on DeleteWorkspaceImage: its shares are already revoked, delete again later', async () => {
    givenImage([A]);
    wsMock.on(DeleteWorkspaceImageCommand).rejects(
      new WorkSpacesServiceException({ name: 'InternalFailure', message: 'internal\nerror', $fault: 'server', $metadata: { httpStatusCode: 500 } }),
    );
    const err = await failure(deleteEvent(props({ Accounts: [A], ...DELETE_IMAGE })));
    expect(err.message).toBe(`AWS kept failing the call to delete WorkSpaces image ${IMAGE} (InternalFailure: internal error) after all retries; its shares are already revoked: delete again later.`);
  });
});

// Found by the reliability harness: the SDK client lived as long as the warm Lambda, and with it
// the SDK's retry quota; after a throttling storm later events got no retries at all.
describe('SDK client per invocation', () => {
  test('each invocation gets a new client, so an earlier event\'s used-up retry quota never reaches it', async () => {
    givenImage();
    const senders: unknown[] = [];
    wsMock.on(DescribeWorkspaceImagesCommand).callsFake((_input: unknown, getClient: () => unknown) => {
      senders.push(getClient());
      return { Images: [image(IMAGE)] };
    });
    const answer = await onEvent(createEvent(props()));
    await handler(isCompleteInput(createEvent(props()), answer));
    await onEvent(updateEvent(props({ Accounts: [A] }), props()));
    await onEvent(deleteEvent(props({ Accounts: [A] })));
    expect(senders).toHaveLength(3);
    expect(new Set(senders).size).toBe(3);
  });

  test('a later event still retries throttled calls after an earlier event used up its client\'s retry quota', async () => {
    const server = await throttlingWorkSpaces({ throttle: {} });
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: server.url, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1',
    });
    try {
      // A fresh copy of the handler and the SDK, outside aws-sdk-client-mock, so the real retry middleware runs.
      let fresh: typeof import('../../lambda/shared-workspace-image.lambda') | undefined;
      let sdk: typeof import('@aws-sdk/client-workspaces') | undefined;
      jest.isolateModules(() => {
        fresh = jest.requireActual<typeof import('../../lambda/shared-workspace-image.lambda')>('../../lambda/shared-workspace-image.lambda');
        sdk = jest.requireActual<typeof import('@aws-sdk/client-workspaces')>('@aws-sdk/client-workspaces');
      });
      // The first event's client, caught as it sends; then its retry quota used up, as a throttling storm would leave it.
      const proto = sdk!.WorkSpacesClient.prototype as unknown as { send: (...args: unknown[]) => Promise<unknown> };
      const send = proto.send;
      const clients = new Set<unknown>();
      proto.send = function (this: unknown, ...args: unknown[]) {
        clients.add(this);
        return send.apply(this, args);
      };
      try {
        await fresh!.handler(createEvent(props({ Accounts: [A] })));
        for (const client of clients) {
          const strategy = await (client as { config: { retryStrategy: () => Promise<{ capacity: number }> } }).config.retryStrategy();
          expect(strategy.capacity).toBeGreaterThan(0);
          strategy.capacity = 0;
        }
        server.throttleNext(B, 2);
        const response = await fresh!.handler(updateEvent(props({ Accounts: [A, B] }), props({ Accounts: [A] })));
        expect(response).toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
        expect(server.updates.filter((u) => u === `+${B}`)).toHaveLength(3); // two throttled, then accepted
        expect(server.shared.sort()).toEqual([A, B]);
      } finally {
        proto.send = send;
      }
    } finally {
      process.env = saved;
      await server.close();
    }
  });
});

describe('image checks before any change', () => {
  test('owned by another account (an image shared with us): says it cannot be re-shared, changes nothing', async () => {
    givenImage([], { OwnerAccountId: FOREIGN });
    const err = await failure(createEvent(props()));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(`WorkSpaces image ${IMAGE} is owned by account ${FOREIGN}, not by account ${OWNER}: an image shared with you cannot be re-shared; copy it into ${OWNER} (workspaces copy-workspace-image) and share the copy.`);
    expect(updateInputs()).toEqual([]);
    expect(wsMock).not.toHaveReceivedCommand(DescribeWorkspaceImagePermissionsCommand);
  });

  test('not found (empty answer)', async () => {
    useFake({ images: {} });
    const err = await failure(createEvent(props()));
    expect(err.message).toBe(`WorkSpaces image ${IMAGE} was not found in account ${OWNER} in us-east-1: check the imageId (WorkSpaces images are regional).`);
    expect(updateInputs()).toEqual([]);
  });

  test('not found (ResourceNotFoundException)', async () => {
    givenImage();
    wsMock.on(DescribeWorkspaceImagesCommand).rejects(wsError('ResourceNotFoundException'));
    const err = await failure(createEvent(props()));
    expect(err.message).toMatch(/^WorkSpaces image wsi-0123abcde was not found in account 123456789012 in us-east-1/);
    expect(updateInputs()).toEqual([]);
  });

  test('ERROR state: fails clearly with AWS\'s reason', async () => {
    givenImage([], { State: 'ERROR', ErrorCode: 'InternalServerError', ErrorMessage: 'Image creation failed' });
    const err = await failure(createEvent(props()));
    expect(err.message).toBe(`WorkSpaces image ${IMAGE} is in state ERROR (InternalServerError: Image creation failed) and cannot be shared: create the image again and share one that is AVAILABLE.`);
    expect(updateInputs()).toEqual([]);
  });

  test('DescribeWorkspaceImages denied: one sentence, nothing changed', async () => {
    givenImage();
    wsMock.on(DescribeWorkspaceImagesCommand).rejects(wsError('AccessDeniedException', 'not authorized'));
    const err = await failure(createEvent(props()));
    expect(err.message).toBe(`The share handler is not allowed to read WorkSpaces image ${IMAGE} (AccessDeniedException): the image must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call.`);
    expect(updateInputs()).toEqual([]);
  });

  test('DescribeWorkspaceImagePermissions fails: nothing changed', async () => {
    givenImage();
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).rejects(wsError('AccessDeniedException'));
    const err = await failure(createEvent(props()));
    expect(err.message).toMatch(/^The share handler is not allowed to read WorkSpaces image/);
    expect(updateInputs()).toEqual([]);
  });

  test.each<[string, Props, RegExp]>([
    ['a bad image id', { ImageId: 'wsi-123' }, /imageId "wsi-123" is not a WorkSpaces image id/],
    ['a bad account id', { Accounts: [A, '1234'] }, /Accounts: "1234" is not a valid account id/],
    ['Accounts that is not a list', { Accounts: A }, /Accounts must be a list/],
    ['an unknown property', { OrganizationArns: [] }, /unknown properties OrganizationArns/],
    ['no account', { Accounts: [] }, /no account/],
  ])('invalid properties: %s (no AWS call at all)', async (_, overrides, message) => {
    givenImage();
    const err = await failure(createEvent(props(overrides)));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toMatch(message);
    expect(wsMock.calls()).toHaveLength(0);
  });

  test('an event that is not from a CloudFormation stack', async () => {
    givenImage();
    const err = await failure({ ...createEvent(props()), StackId: 'not-an-arn' });
    expect(err.message).toMatch(/is not a CloudFormation stack ARN/);
    expect(wsMock.calls()).toHaveLength(0);
  });

  test('an unknown request type', async () => {
    const err = await failure({ ...createEvent(props()), RequestType: 'Import' } as unknown as CloudFormationCustomResourceEvent);
    expect(err.message).toBe('Unknown request type "Import".');
  });
});

describe('BYOL images', () => {
  test('AWS refusing a recipient of a BYOL image is explained, and names the account', async () => {
    const fake = givenImage([], { RequiredTenancy: 'DEDICATED' });
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B })
      .rejects(wsError('InvalidParameterValuesException', 'BYOL images can only be shared with accounts enabled for BYOL.'));
    const err = await failure(createEvent(props({ Accounts: [A, B] })));
    expect(err.message).toMatch(new RegExp(`^AWS refused to share WorkSpaces image ${IMAGE} with account ${B} \\(InvalidParameterValuesException: BYOL images`));
    expect(err.message).toContain(`is a BYOL image (RequiredTenancy DEDICATED), which AWS shares only with accounts that are enabled for BYOL and in the same organization (same payer account); enable BYOL in ${B} or remove it from accounts.`);
    expect(err.message).toMatch(/ Nothing was left changed: what was applied before the failure was undone\.$/);
    expect(sharedWith(fake)).toEqual([]);
  });

  test('a BYOL image whose recipients are accepted shares normally', async () => {
    const fake = givenImage([], { RequiredTenancy: 'DEDICATED' });
    await handler(createEvent(props()));
    expect(sharedWith(fake)).toEqual([A, B]);
  });
});

describe('PENDING image: asynchronous completion', () => {
  test('onEvent changes nothing and hands over; isComplete answers false while PENDING, then shares once AVAILABLE', async () => {
    const fake = givenImage([FOREIGN], { State: 'PENDING' });
    const event = createEvent(props());
    const before = Date.now();
    const response = await onEvent(event);

    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(response.Data).toEqual({ ImageId: IMAGE });
    expect(response[COMPLETION_KEY]).toEqual({ Step: 'wait', ImageId: IMAGE, Before: 'none', Deadline: expect.any(Number) });
    const deadline = (response[COMPLETION_KEY] as { Deadline: number }).Deadline;
    expect(deadline - before).toBeGreaterThanOrEqual(PENDING_WAIT_LIMIT_MINUTES * 60_000);
    expect(wsMock).not.toHaveReceivedCommand(DescribeWorkspaceImagePermissionsCommand);
    expect(updateInputs()).toEqual([]);

    const poll = isCompleteInput(event, response);
    // still PENDING: not complete, no Data (the framework rejects Data with IsComplete false), no change
    expect(await handler(poll)).toEqual({ IsComplete: false });
    expect(await handler(poll)).toEqual({ IsComplete: false });
    expect(updateInputs()).toEqual([]);

    fake.images[IMAGE].image.State = 'AVAILABLE';
    expect(await handler(poll)).toEqual({ IsComplete: true });
    expect(updates()).toEqual([`+${A}`, `+${B}`]);
    expect(sharedWith(fake)).toEqual([A, B, FOREIGN]);

    // a duplicate isComplete call changes nothing
    wsMock.resetHistory();
    expect(await handler(poll)).toEqual({ IsComplete: true });
    expect(updateInputs()).toEqual([]);
  });

  test('PENDING then ERROR: isComplete fails clearly and nothing was shared', async () => {
    const fake = givenImage([], { State: 'PENDING' });
    const event = createEvent(props());
    const poll = isCompleteInput(event, await onEvent(event));
    fake.images[IMAGE].image.State = 'ERROR';
    const err = await failure(poll);
    expect(err.message).toMatch(new RegExp(`^WorkSpaces image ${IMAGE} is in state ERROR and cannot be shared`));
    expect(updateInputs()).toEqual([]);
  });

  test('still PENDING at the deadline: fails with its own sentence before the framework times out', async () => {
    givenImage([], { State: 'PENDING' });
    const event = createEvent(props());
    const response = await onEvent(event);
    const expired = { ...(response[COMPLETION_KEY] as object), Deadline: Date.now() - 1 };
    const late = isCompleteInput(event, { ...response, [COMPLETION_KEY]: expired as never });
    const err = await failure(late);
    expect(err.message).toBe(`WorkSpaces image ${IMAGE} is still PENDING after ${PENDING_WAIT_LIMIT_MINUTES} minutes, so it was not shared: deploy again once the image is AVAILABLE.`);
    expect(updateInputs()).toEqual([]);
  });

  test('Update of the same image while PENDING waits with the old declaration, then applies only the delta', async () => {
    const fake = givenImage([A, B, FOREIGN], { State: 'PENDING' });
    const event = updateEvent(props({ Accounts: [B, C] }), props({ Accounts: [A, B] }));
    const response = await onEvent(event);
    expect(response[COMPLETION_KEY]).toMatchObject({ Step: 'wait', Before: 'old' });
    fake.images[IMAGE].image.State = 'AVAILABLE';
    expect(await handler(isCompleteInput(event, response))).toEqual({ IsComplete: true });
    expect(updates()).toEqual([`+${C}`, `-${A}`]);
    expect(sharedWith(fake)).toEqual([B, C, FOREIGN]);
  });

  test('replacement by a PENDING image waits, then shares on the new image only', async () => {
    const fake = useFake({
      images: {
        [IMAGE]: { image: image(IMAGE), shared: [A, B] },
        [NEW_IMAGE]: { image: image(NEW_IMAGE, { State: 'PENDING' }), shared: [] },
      },
    });
    const event = updateEvent(props({ ImageId: NEW_IMAGE }), props());
    const response = await onEvent(event);
    expect(response.PhysicalResourceId).toBe(physicalId(NEW_IMAGE));
    expect(response[COMPLETION_KEY]).toMatchObject({ Step: 'wait', ImageId: NEW_IMAGE, Before: 'none' });
    const poll = isCompleteInput(event, response);
    expect(poll.PhysicalResourceId).toBe(physicalId(NEW_IMAGE));
    fake.images[NEW_IMAGE].image.State = 'AVAILABLE';
    expect(await handler(poll)).toEqual({ IsComplete: true });
    expect(sharedWith(fake, NEW_IMAGE)).toEqual([A, B]);
    expect(sharedWith(fake, IMAGE)).toEqual([A, B]);
  });

  test('an isComplete whose marker names another image than the properties is refused', async () => {
    givenImage([], { State: 'PENDING' });
    const event = createEvent(props());
    const response = await onEvent(event);
    const poll = isCompleteInput(event, { ...response, [COMPLETION_KEY]: { ...(response[COMPLETION_KEY] as object), ImageId: NEW_IMAGE } as never });
    expect((await failure(poll)).message).toBe(
      `WorkSpaces image ${IMAGE} in account ${OWNER} was not shared: the Provider framework's isComplete call waits for ${NEW_IMAGE} instead,`
      + ' so the handler and the framework come from different versions; deploy the stack again with this library\'s current version.',
    );
    expect(updateInputs()).toEqual([]);
  });

  test('a malformed marker is an error, not taken for a CloudFormation event', async () => {
    givenImage();
    const err = await failure({ ...createEvent(props()), [COMPLETION_KEY]: { Step: 'soon' } } as unknown as IsCompleteEvent);
    expect(err.message).toMatch(/malformed SharedWorkspaceImageCompletion/);
    expect(wsMock.calls()).toHaveLength(0);
  });
});

describe('entry points of their own (index.onEvent, index.isComplete)', () => {
  test('onEvent hands a PENDING image over, and isComplete shares it once AVAILABLE, as the one-function handler does', async () => {
    const fake = givenImage([], { State: 'PENDING' });
    const event = createEvent(props());
    const response = await onEventEntry(event);
    expect(response[COMPLETION_KEY]).toEqual({ Step: 'wait', ImageId: IMAGE, Before: 'none', Deadline: expect.any(Number) });
    const poll = isCompleteInput(event, response);
    expect(await isCompleteEntry(poll)).toEqual({ IsComplete: false });
    fake.images[IMAGE].image.State = 'AVAILABLE';
    expect(await isCompleteEntry(poll)).toEqual({ IsComplete: true });
    expect(sharedWith(fake)).toEqual([A, B]);
  });

  test('isComplete without the completion marker refuses, and changes nothing', async () => {
    givenImage([]);
    const event = createEvent(props());
    await expect(isCompleteEntry(event as unknown as IsCompleteEvent)).rejects.toThrow(
      new ShareError(`WorkSpaces image ${IMAGE} in account ${OWNER} was not shared: the Provider framework's isComplete call carries no ${COMPLETION_KEY},`
        + ' so the handler and the framework come from different versions; deploy the stack again with this library\'s current version.'),
    );
    expect(updateInputs()).toEqual([]);
  });
});

describe('Update', () => {
  test('shares what is new and unshares what was dropped: only the delta is sent', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    const response = await onEvent(updateEvent(props({ Accounts: [A, C] }), props({ Accounts: [A, B] })));
    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: { ImageId: IMAGE }, [COMPLETION_KEY]: { Step: 'done' } });
    expect(updateInputs()).toEqual(expect.arrayContaining([
      { ImageId: IMAGE, SharedAccountId: C, AllowCopyImage: true },
      { ImageId: IMAGE, SharedAccountId: B, AllowCopyImage: false },
    ]));
    expect(updateInputs()).toHaveLength(2);
    expect(sharedWith(fake)).toEqual([A, C, FOREIGN]);
  });

  test('an update that changes nothing makes no mutating call', async () => {
    givenImage([A, B]);
    await handler(updateEvent(props(), props()));
    expect(updateInputs()).toEqual([]);
  });

  test('never unshares an account shared outside this resource that it never declared', async () => {
    const fake = givenImage([A, FOREIGN]);
    await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));
    // B was dropped: unshared whatever the read shows (refused here, as it is not shared); FOREIGN never
    expect(updates()).toEqual([`-${B}`]);
    expect(sharedWith(fake)).toEqual([A, FOREIGN]);
  });

  test('a partial failure names what was and was not applied, and the rollback restores the old state', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: C, AllowCopyImage: true }).rejects(wsError('AccessDeniedException', 'nope'));
    const update = updateEvent(props({ Accounts: [C] }), props({ Accounts: [A, B] }));
    const err = await failure(update);
    expect(err.message).toMatch(new RegExp(`^The share handler is not allowed to share WorkSpaces image ${IMAGE} with account ${C} \\(AccessDeniedException\\)`));
    expect(err.message).toContain(`Applied before the failure: unshared from ${A}, ${B}; not applied: shared with ${C}.`);
    expect(sharedWith(fake)).toEqual([FOREIGN]);

    // CloudFormation's rollback: old and new swapped, same physical id
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: C, AllowCopyImage: true }).callsFake(() => {
      throw new Error('the rollback must not share C');
    });
    await handler(rollbackOf(update, physicalId(IMAGE)));
    expect(sharedWith(fake)).toEqual([A, B, FOREIGN]);
  });

  test('rollback of a completed update restores exactly the old state', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    const update = updateEvent(props({ Accounts: [B, C] }), props({ Accounts: [A, B] }));
    await handler(update);
    expect(sharedWith(fake)).toEqual([B, C, FOREIGN]);
    await handler(rollbackOf(update, physicalId(IMAGE)));
    expect(sharedWith(fake)).toEqual([A, B, FOREIGN]);
  });

  test('image replacement: shares on the new image and returns its physical id; the old image is left to the old Delete', async () => {
    const fake = useFake({
      images: {
        [IMAGE]: { image: image(IMAGE), shared: [A, B] },
        [NEW_IMAGE]: { image: image(NEW_IMAGE), shared: [FOREIGN] },
      },
    });
    const update = updateEvent(props({ ImageId: NEW_IMAGE }), props());
    const response = await onEvent(update);
    expect(response.PhysicalResourceId).toBe(physicalId(NEW_IMAGE));
    expect(response.Data).toEqual({ ImageId: NEW_IMAGE });
    expect(updates(IMAGE)).toEqual([]);
    expect(sharedWith(fake, NEW_IMAGE)).toEqual([A, B, FOREIGN]);

    // CloudFormation then deletes the old physical id, with the old properties
    await handler(deleteEvent(props(), physicalId(IMAGE)));
    expect(sharedWith(fake, IMAGE)).toEqual([]);
    expect(sharedWith(fake, NEW_IMAGE)).toEqual([A, B, FOREIGN]);

    // on rollback: the Update back to the old image, then the Delete of the new physical id
    await handler(rollbackOf(update, physicalId(NEW_IMAGE)));
    await handler(deleteEvent(props({ ImageId: NEW_IMAGE }), physicalId(NEW_IMAGE)));
    expect(sharedWith(fake, IMAGE)).toEqual([A, B]);
    expect(sharedWith(fake, NEW_IMAGE)).toEqual([FOREIGN]);
  });

  test('an unparseable physical id falls back to the old properties\' image', async () => {
    const fake = givenImage([A, B]);
    const response = await onEvent(updateEvent(props({ Accounts: [A] }), props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'));
    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(sharedWith(fake)).toEqual([A]);
  });

  test('unsharing an account that is no longer shared does not fail the stack', async () => {
    const fake = givenImage([A, B]);
    // someone unshares B by hand between our read and our call; WorkSpaces then refuses the unshare
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B, AllowCopyImage: false }).callsFake(() => {
      fake.images[IMAGE].shared = fake.images[IMAGE].shared.filter((a) => a !== B);
      throw wsError('InvalidParameterValuesException', 'The image is not shared with the specified account.');
    });
    await handler(updateEvent(props({ Accounts: [A] }), props()));
    expect(sharedWith(fake)).toEqual([A]);
    // the tolerance was earned by reading the permissions again
    expect(wsMock).toHaveReceivedCommandTimes(DescribeWorkspaceImagePermissionsCommand, 2);
  });

  test('a repeated unshare refused because the account no longer holds the share, while the read still lists it for a moment, succeeds', async () => {
    const fake = givenImage([A]);
    // B was unshared a moment ago; WorkSpaces refuses a second unshare, and its reads lag: the
    // first two reads still list B
    let staleReads = 2;
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).callsFake(() => ({
      ImageId: IMAGE,
      ImagePermissions: [...fake.images[IMAGE].shared, ...(staleReads-- > 0 ? [B] : [])].map((SharedAccountId) => ({ SharedAccountId })),
    }));
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B, AllowCopyImage: false })
      .rejects(wsError('InvalidParameterValuesException', 'The image is not shared with the specified account.'));
    await handler(updateEvent(props({ Accounts: [A] }), props()));
    expect(sharedWith(fake)).toEqual([A]);
    expect(wsMock).toHaveReceivedCommandTimes(DescribeWorkspaceImagePermissionsCommand, 3);
  });

  test('an unshare refused while the account still holds the share is a failure', async () => {
    const fake = givenImage([A, B]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B, AllowCopyImage: false })
      .rejects(wsError('OperationNotSupportedException', 'Not now.'));
    const err = await failure(updateEvent(props({ Accounts: [A] }), props()));
    expect(err.message).toBe(`Could not unshare WorkSpaces image ${IMAGE} from account ${B} (OperationNotSupportedException: Not now.): fix the cause and deploy again. Nothing was changed.`);
    expect(sharedWith(fake)).toEqual([A, B]);
  });
});

describe('rollback of a failed replacement', () => {
  test('leaves the old image as it was, foreign shares included (the rollback\'s old side declares the new image)', async () => {
    // The framework keeps the old physical id when the replacing Update fails; CloudFormation's
    // rollback then swaps old and new properties.
    const fake = givenImage([A, B, FOREIGN]);
    await handler(updateEvent(props({ Accounts: [A, B] }), props({ ImageId: NEW_IMAGE, Accounts: [A, FOREIGN] }), physicalId(IMAGE)));
    expect(updates()).toEqual([]);
    expect(sharedWith(fake)).toEqual([A, B, FOREIGN].sort());
  });
});

describe('Delete', () => {
  test('unshares exactly the declared accounts; a share made outside survives', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    const response = await onEvent(deleteEvent(props()));
    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), [COMPLETION_KEY]: { Step: 'done' } });
    expect(updateInputs()).toEqual(expect.arrayContaining([
      { ImageId: IMAGE, SharedAccountId: A, AllowCopyImage: false },
      { ImageId: IMAGE, SharedAccountId: B, AllowCopyImage: false },
    ]));
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('a declared account that is not shared: its unshare is refused, a read confirms it, and that counts as done', async () => {
    const fake = givenImage([A]);
    await handler(deleteEvent(props()));
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(sharedWith(fake)).toEqual([]);
  });

  test('twice (duplicate delivery) gives the same state and no error', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    await handler(deleteEvent(props()));
    wsMock.resetHistory();
    await handler(deleteEvent(props()));
    // sent again (a read right after the first may lag it); refused as not shared, which counts as done
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('a physical id this handler did not issue (after a failed create) is a successful no-op', async () => {
    givenImage([A, B]);
    for (const physical of ['AWSCDK::CustomResourceProviderFramework::CREATE_FAILED', 'shared-wsi:not-an-image', physicalId('wsi-1')]) {
      const response = await onEvent(deleteEvent(props(), physical));
      expect(response.PhysicalResourceId).toBe(physical);
    }
    expect(wsMock.calls()).toHaveLength(0);
  });

  test('the image id comes from the physical id, not from the properties', async () => {
    const fake = useFake({ images: { [IMAGE]: { image: image(IMAGE), shared: [A] }, [NEW_IMAGE]: { image: image(NEW_IMAGE), shared: [A] } } });
    await handler(deleteEvent(props({ ImageId: NEW_IMAGE }), physicalId(IMAGE)));
    expect(sharedWith(fake, IMAGE)).toEqual([]);
    expect(sharedWith(fake, NEW_IMAGE)).toEqual([A]);
  });

  test('a vanished image counts as unshared (empty answer)', async () => {
    useFake({ images: {} });
    const response = await onEvent(deleteEvent(props()));
    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(wsMock).not.toHaveReceivedCommand(DescribeWorkspaceImagePermissionsCommand);
    expect(updateInputs()).toEqual([]);
  });

  test('a vanished image counts as unshared (ResourceNotFoundException from either read)', async () => {
    givenImage([A]);
    wsMock.on(DescribeWorkspaceImagesCommand).rejects(wsError('ResourceNotFoundException'));
    await handler(deleteEvent(props()));
    givenImage([A]);
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).rejects(wsError('ResourceNotFoundException'));
    await handler(deleteEvent(props()));
    expect(updateInputs()).toEqual([]);
  });

  test('the image vanishing between the read and the unshare still succeeds', async () => {
    const fake = givenImage([A, B]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake(() => {
      delete (fake.images as Record<string, unknown>)[IMAGE];
      throw wsError('ResourceNotFoundException');
    });
    await expect(handler(deleteEvent(props()))).resolves.toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
  });

  test('an image owned by another account: nothing of ours to unshare', async () => {
    givenImage([A], { OwnerAccountId: FOREIGN });
    await handler(deleteEvent(props()));
    expect(wsMock).not.toHaveReceivedCommand(DescribeWorkspaceImagePermissionsCommand);
    expect(updateInputs()).toEqual([]);
  });

  test('lenient properties: malformed entries are skipped, well-formed declared accounts are unshared', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    await handler(deleteEvent({ ImageId: 'garbage', Accounts: [A, 'junk'], Colour: 'blue' }, physicalId(IMAGE)));
    expect(sharedWith(fake)).toEqual([B, FOREIGN]);
  });

  test('a real failure during Delete is reported, naming what was unshared', async () => {
    const fake = givenImage([A, B]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: B }).rejects(wsError('AccessDeniedException'));
    const err = await failure(deleteEvent(props()));
    expect(err.message).toMatch(new RegExp(`^The share handler is not allowed to unshare WorkSpaces image ${IMAGE} from account ${B}`));
    expect(err.message).toContain(`Applied before the failure: unshared from ${A}; not applied: unshared from ${B}.`);
    expect(sharedWith(fake)).toEqual([B]);
  });
});

describe('Delete: the deletion guard', () => {
  /** The command names the handler sent, in order. */
  const sequence = (): string[] => wsMock.calls().map((c) => (c.args[0] as object).constructor.name.replace(/Command$/, ''));
  const deletes = (): DeleteWorkspaceImageCommandInput[] => wsMock.commandCalls(DeleteWorkspaceImageCommand).map((c) => c.args[0].input);
  const blocked = (accounts: string) => `WorkSpaces image ${IMAGE} was not deleted because it is still shared with ${accounts} (not granted by this share): `
    + 'unshare them, or set forceUnshareOnRemoval: true to revoke every share, then delete again.';

  test('clean delete: unshares its own accounts, reads the permissions again, then deletes the image', async () => {
    const fake = givenImage([A, B]);
    const response = await onEvent(deleteEvent(props(DELETE_IMAGE)));
    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), [COMPLETION_KEY]: { Step: 'done' } });
    expect(sequence()).toEqual([
      'DescribeWorkspaceImages', 'DescribeWorkspaceImagePermissions',
      'UpdateWorkspaceImagePermission', 'UpdateWorkspaceImagePermission',
      'DescribeWorkspaceImagePermissions', 'DeleteWorkspaceImage',
    ]);
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(deletes()).toEqual([{ ImageId: IMAGE }]);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('blocked by a foreign account: names it and the two ways out; its own shares are revoked, the image is not deleted', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    const err = await failure(deleteEvent(props(DELETE_IMAGE)));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(blocked(FOREIGN));
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(fake.images[IMAGE]).toBeDefined();
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('reads every page of the remaining shares: a foreign share on page two blocks too', async () => {
    const others = Array.from({ length: 30 }, (_, i) => String(500000000000 + i));
    const fake = givenImage([A, ...others]);
    const err = await failure(deleteEvent(props(DELETE_IMAGE)));
    expect(err.message).toBe(blocked(`${others.slice(0, 5).join(', ')} and 25 more`));
    expect(wsMock).toHaveReceivedCommandWith(DescribeWorkspaceImagePermissionsCommand, { NextToken: `page-${PERMISSIONS_PAGE_SIZE}` });
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(sharedWith(fake)).toEqual(others);
  });

  test('a read that still lists the accounts this resource just unshared (reads lag writes) does not block its own Delete', async () => {
    const fake = givenImage([A, B]);
    const stale = [{ SharedAccountId: A }, { SharedAccountId: B }];
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).resolves({ ImageId: IMAGE, ImagePermissions: stale });
    await onEvent(deleteEvent(props(DELETE_IMAGE)));
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('a retried Delete while still blocked behaves the same (its unshares are refused as done)', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    await failure(deleteEvent(props(DELETE_IMAGE)));
    wsMock.resetHistory();
    const err = await failure(deleteEvent(props(DELETE_IMAGE)));
    expect(err.message).toBe(blocked(FOREIGN));
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('a retried Delete after the foreign share was removed succeeds and deletes the image', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    await failure(deleteEvent(props(DELETE_IMAGE)));
    fake.images[IMAGE].shared = []; // the owner of the foreign share unshares it by hand
    wsMock.resetHistory();
    await expect(onEvent(deleteEvent(props(DELETE_IMAGE)))).resolves.toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
    expect(updates()).toEqual([`-${A}`, `-${B}`]);
    expect(deletes()).toEqual([{ ImageId: IMAGE }]);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('forceUnshareOnRemoval: unshares every remaining account (never declared ones too), then deletes', async () => {
    const fake = givenImage([A, B, C, FOREIGN]);
    await handler(deleteEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' })));
    expect(updates()).toEqual([`-${A}`, `-${B}`, `-${C}`, `-${FOREIGN}`]);
    const order = sequence();
    expect(order.lastIndexOf('UpdateWorkspaceImagePermission')).toBeLessThan(order.indexOf('DeleteWorkspaceImage'));
    expect(deletes()).toEqual([{ ImageId: IMAGE }]);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test(`forced unshares run at most ${SHARE_CONCURRENCY} at a time, and every account is unshared before the deletion`, async () => {
    const others = Array.from({ length: 12 }, (_, i) => String(600000000000 + i));
    const fake = givenImage(others);
    let inFlight = 0;
    let maxInFlight = 0;
    wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake(async (input: UpdateWorkspaceImagePermissionCommandInput) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // stay in flight across a few turns of the event loop (no timers): others get the chance to start
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      fake.images[IMAGE].shared = fake.images[IMAGE].shared.filter((a) => a !== input.SharedAccountId);
      inFlight--;
      return {};
    });
    await handler(deleteEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true', Accounts: [A] })));
    expect(maxInFlight).toBe(SHARE_CONCURRENCY);
    // its own A (unshared whatever the read shows), then the 12 others
    expect(updateInputs()).toHaveLength(13);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('forced: an account unshared by hand meanwhile does not fail the Delete', async () => {
    const fake = givenImage([A, FOREIGN]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: FOREIGN, AllowCopyImage: false }).callsFake(() => {
      fake.images[IMAGE].shared = fake.images[IMAGE].shared.filter((a) => a !== FOREIGN);
      throw wsError('InvalidParameterValuesException', 'The image is not shared with the specified account.');
    });
    await handler(deleteEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' })));
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('forced: an unshare that fails stops the Delete before the image is deleted, and says what is still shared', async () => {
    const fake = givenImage([A, FOREIGN]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand, { SharedAccountId: FOREIGN }).rejects(wsError('AccessDeniedException'));
    const err = await failure(deleteEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' })));
    expect(err.message).toBe(`The share handler is not allowed to unshare WorkSpaces image ${IMAGE} from account ${FOREIGN} (AccessDeniedException): `
      + `the image must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call. `
      + `WorkSpaces image ${IMAGE} was not deleted and is still shared with ${FOREIGN}: fix the cause and delete again.`);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('an image already gone at the start counts as deleted: no permission read, no DeleteWorkspaceImage', async () => {
    useFake({ images: {} });
    await expect(onEvent(deleteEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' })))).resolves.toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
    expect(sequence()).toEqual(['DescribeWorkspaceImages']);
  });

  test('an image that vanishes after its own unshares (permissions read says not found) counts as deleted', async () => {
    const fake = givenImage([A]);
    wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake(() => {
      delete (fake.images as Record<string, unknown>)[IMAGE];
      return {};
    });
    await handler(deleteEvent(props(DELETE_IMAGE)));
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(wsMock).toHaveReceivedCommandTimes(DescribeWorkspaceImagePermissionsCommand, 2);
  });

  test('DeleteWorkspaceImage answering ResourceNotFoundException (deleted meanwhile) is success', async () => {
    givenImage([A]);
    wsMock.on(DeleteWorkspaceImageCommand).rejects(wsError('ResourceNotFoundException'));
    await expect(onEvent(deleteEvent(props(DELETE_IMAGE)))).resolves.toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
    expect(wsMock).toHaveReceivedCommandTimes(DeleteWorkspaceImageCommand, 1);
  });

  test('DeleteWorkspaceImage refused (a bundle still uses the image): explains what AWS requires', async () => {
    const fake = givenImage([A]);
    wsMock.on(DeleteWorkspaceImageCommand).rejects(wsError('InvalidResourceStateException', 'The image is associated with a bundle.'));
    const err = await failure(deleteEvent(props(DELETE_IMAGE)));
    expect(err.message).toBe(`AWS refused to delete WorkSpaces image ${IMAGE} (InvalidResourceStateException: The image is associated with a bundle.): `
      + 'delete the bundles built from it and make sure it is AVAILABLE and shared with no account, then delete again.');
    expect(sharedWith(fake)).toEqual([]);
  });

  test('the guard\'s permission read failing is one sentence, and nothing is deleted', async () => {
    givenImage([A]);
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).resolvesOnce({ ImagePermissions: [{ SharedAccountId: A }] })
      .rejects(wsError('AccessDeniedException'));
    const err = await failure(deleteEvent(props({ ...DELETE_IMAGE, Accounts: [A] })));
    expect(err.message).toMatch(new RegExp(`^The share handler is not allowed to read WorkSpaces image ${IMAGE} \\(AccessDeniedException\\)`));
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
  });

  test('guard without delete (deletionGuard): a foreign share blocks, and the image is never deleted by the share', async () => {
    const fake = givenImage([A, B, FOREIGN]);
    const err = await failure(deleteEvent(props(GUARD_ONLY)));
    expect(err.message).toBe(blocked(FOREIGN));
    expect(sharedWith(fake)).toEqual([FOREIGN]);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
  });

  test('guard without delete (deletionGuard): no other share, so it succeeds, leaving the image to its own resource', async () => {
    const fake = givenImage([A, B]);
    await handler(deleteEvent(props(GUARD_ONLY)));
    expect(wsMock).toHaveReceivedCommandTimes(DescribeWorkspaceImagePermissionsCommand, 2);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(fake.images[IMAGE]).toBeDefined();
    expect(sharedWith(fake)).toEqual([]);
  });

  test('guard without delete, forced: unshares every remaining account, deletes nothing', async () => {
    const fake = givenImage([A, FOREIGN]);
    await handler(deleteEvent(props({ ...GUARD_ONLY, ForceUnshare: 'true', Accounts: [A] })));
    expect(updates()).toEqual([`-${A}`, `-${FOREIGN}`]);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(fake.images[IMAGE]).toBeDefined();
  });

  test('DeleteImage without GuardImage still guards before deleting', async () => {
    const fake = givenImage([A, FOREIGN]);
    expect((await failure(deleteEvent(props({ DeleteImage: 'true' })))).message).toBe(blocked(FOREIGN));
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(fake.images[IMAGE]).toBeDefined();
  });

  test('without GuardImage or DeleteImage there is no guard: a foreign share neither blocks nor is read twice', async () => {
    const fake = givenImage([A, FOREIGN]);
    await handler(deleteEvent(props({ ForceUnshare: 'true', Accounts: [A] })));
    expect(wsMock).toHaveReceivedCommandTimes(DescribeWorkspaceImagePermissionsCommand, 1);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(sharedWith(fake)).toEqual([FOREIGN]);
  });

  test('an image owned by another account is never deleted', async () => {
    givenImage([FOREIGN], { OwnerAccountId: FOREIGN });
    await handler(deleteEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' })));
    expect(sequence()).toEqual(['DescribeWorkspaceImages']);
  });

  test('the flags change nothing on Create and Update: an Update of the flags alone makes no mutating call', async () => {
    const fake = givenImage([FOREIGN]);
    await handler(createEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' })));
    expect(updates()).toEqual([`+${A}`, `+${B}`]);
    wsMock.resetHistory();
    await handler(updateEvent(props({ ...DELETE_IMAGE, ForceUnshare: 'true' }), props()));
    await handler(updateEvent(props(), props({ ...DELETE_IMAGE, ForceUnshare: 'true' })));
    expect(updateInputs()).toEqual([]);
    expect(wsMock).not.toHaveReceivedCommand(DeleteWorkspaceImageCommand);
    expect(sharedWith(fake)).toEqual([A, B, FOREIGN]);
  });

  test('a malformed flag is rejected on Create before any call', async () => {
    givenImage();
    const err = await failure(createEvent(props({ DeleteImage: 'yes' })));
    expect(err.message).toMatch(/DeleteImage must be "true" or "false", got "yes"/);
    expect(wsMock.calls()).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// A WorkSpaces endpoint over HTTP that throttles, for the SDK's real retry path
// ---------------------------------------------------------------------------------------------

interface ThrottlingWorkSpaces {
  readonly url: string;
  /** `+account` / `-account` for every UpdateWorkspaceImagePermission request received, throttled or not. */
  readonly updates: string[];
  readonly shared: string[];
  /** Throttles the next `times` shares with `account`. */
  throttleNext(account: string, times: number): void;
  close(): Promise<void>;
}

/** Answers the three WorkSpaces operations (awsJson1_1) for IMAGE; throttles the first N shares per account. */
async function throttlingWorkSpaces(options: { throttle: Record<string, number> }): Promise<ThrottlingWorkSpaces> {
  const updatesSeen: string[] = [];
  const shared: string[] = [];
  const remaining = { ...options.throttle };
  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => { raw += chunk.toString('utf8'); });
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').split('.').pop();
      const input = JSON.parse(raw || '{}');
      if (op === 'DescribeWorkspaceImages') return reply(res, 200, { Images: [image(IMAGE)] });
      if (op === 'DescribeWorkspaceImagePermissions') return reply(res, 200, { ImageId: IMAGE, ImagePermissions: shared.map((SharedAccountId) => ({ SharedAccountId })) });
      if (op === 'UpdateWorkspaceImagePermission') {
        updatesSeen.push(`${input.AllowCopyImage ? '+' : '-'}${input.SharedAccountId}`);
        if ((remaining[input.SharedAccountId] ?? 0) > 0) {
          remaining[input.SharedAccountId]--;
          return reply(res, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
        }
        if (input.AllowCopyImage && !shared.includes(input.SharedAccountId)) shared.push(input.SharedAccountId);
        return reply(res, 200, {});
      }
      // the record of ownership (Parameter Store shares the endpoint here): an empty record, writes accepted
      if (op === 'GetParametersByPath') return reply(res, 200, { Parameters: [] });
      if (op === 'PutParameter') return reply(res, 200, { Version: 1, Tier: 'Standard' });
      if (op === 'DeleteParameter') return reply(res, 200, {});
      return reply(res, 400, { __type: 'InvalidParameterValuesException', message: `unexpected ${op}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    updates: updatesSeen,
    shared,
    throttleNext: (account: string, times: number) => {
      remaining[account] = times;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the record of ownership (who holds which share, and who made it)', () => {
  const asOther = <E extends CloudFormationCustomResourceEvent>(event: E): E => ({
    ...event, LogicalResourceId: 'OtherShare', StackId: `arn:aws:cloudformation:us-east-1:${OWNER}:stack/other-stack/guid2`,
  });
  const shared = (fake: { images: Record<string, { shared: string[] }> }): string[] => [...fake.images[IMAGE].shared].sort();

  test('a share made outside before this resource declared it survives the Create, the drop and the Delete', async () => {
    const fake = givenImage([A]);
    await onEvent(createEvent(props({ Accounts: [A, B] })));
    await onEvent(updateEvent(props({ Accounts: [B] }), props({ Accounts: [A, B] })));
    expect(shared(fake)).toEqual([A, B]);
    await onEvent(deleteEvent(props({ Accounts: [B] })));
    expect(shared(fake)).toEqual([A]);
  });

  test('takeOverExistingShares: a share made by hand becomes this resource\'s, and the Delete unshares it', async () => {
    const fake = givenImage([A]);
    await onEvent(createEvent(props({ Accounts: [A], TakeOverExistingShares: 'true' })));
    await onEvent(deleteEvent(props({ Accounts: [A], TakeOverExistingShares: 'true' })));
    expect(shared(fake)).toEqual([]);
  });

  test('putting back a share another resource claimed meanwhile: its failure is the short sentence, not the SDK error', async () => {
    const fake = givenImage([]);
    await onEvent(createEvent(props({ Accounts: [A, B] })));
    wsMock.on(UpdateWorkspaceImagePermissionCommand).callsFake((input: UpdateWorkspaceImagePermissionCommandInput) => {
      if (input.AllowCopyImage) throw wsError('AccessDeniedException', 'User is not authorized');
      // Another resource claims B while this one unshares it.
      seedEarlierClaim(parameters, asOther(deleteEvent(props({ Accounts: [B] }))), 'workspaces');
      fake.images[IMAGE].shared = fake.images[IMAGE].shared.filter((a) => a !== input.SharedAccountId);
      return {};
    });
    const err = await failure(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(`The share handler is not allowed to share WorkSpaces image ${IMAGE} with account ${B} (AccessDeniedException):`
      + ` the image must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call.`);
  });

  test('two resources declaring one account: it stays until the last lets go; the guard names the other holder', async () => {
    const fake = givenImage([]);
    await onEvent(createEvent(props({ Accounts: [A, B], ...GUARD_ONLY })));
    await onEvent(asOther(createEvent(props({ Accounts: [B] }))));
    const err = await failure(deleteEvent(props({ Accounts: [A, B], ...GUARD_ONLY })));
    expect(err.message).toContain(`still shared with ${B} (held by other-stack/OtherShare)`);
    expect(shared(fake)).toEqual([B]);
    await onEvent(asOther(deleteEvent(props({ Accounts: [B] }))));
    expect(shared(fake)).toEqual([]);
  });
});

describe('the record of ownership: events that come again or after outside changes', () => {
  const shared = (fake: { images: Record<string, { shared: string[] }> }): string[] => [...fake.images[IMAGE].shared].sort();

  test('a Delete delivered again, after the first removed the claim, leaves an outside share alone', async () => {
    const fake = givenImage([A]);
    const input = props({ Accounts: [A, B] });
    await realHandler(createEvent(input));
    await realHandler(deleteEvent(input));
    await realHandler(deleteEvent(input));
    expect(shared(fake)).toEqual([A]);
  });

  test('a recipient revoked, then shared again from outside (later than reads lag), then declared again: the outside share survives the Delete', async () => {
    const fake = givenImage([]);
    const saved = freshness.ms;
    freshness.ms = 0; // the outside share comes long after the revoke
    await realHandler(createEvent(props({ Accounts: [A] })));
    await realHandler(updateEvent(props({ Accounts: [B] }), props({ Accounts: [A] })));
    fake.images[IMAGE].shared.push(A); // someone shares A by hand
    await realHandler(updateEvent(props({ Accounts: [A, B] }), props({ Accounts: [B] })));
    await realHandler(deleteEvent(props({ Accounts: [A, B] })));
    expect(shared(fake)).toEqual([A]);
    freshness.ms = saved;
  });

  test('a rollback right after a revoke, whose read still shows the revoked share, keeps it the library\'s: the Delete takes it', async () => {
    const fake = givenImage([]);
    await realHandler(createEvent(props({ Accounts: [A] })));
    await realHandler(updateEvent(props({ Accounts: [B] }), props({ Accounts: [A] })));
    // the rollback's read lags the revoke: it still lists A
    let stale = true;
    wsMock.on(DescribeWorkspaceImagePermissionsCommand).callsFake(() => {
      const listed = stale ? [...fake.images[IMAGE].shared, A] : fake.images[IMAGE].shared;
      stale = false;
      return { ImageId: IMAGE, ImagePermissions: listed.map((SharedAccountId) => ({ SharedAccountId })) };
    });
    const saved = freshness.ms;
    freshness.ms = 60_000;
    await realHandler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [B] })));
    freshness.ms = saved;
    useFake(fake);
    await realHandler(deleteEvent(props({ Accounts: [A] })));
    expect(shared(fake)).toEqual([]);
  });

  test('an outside share removed by hand and then made again by the library is the library\'s: the last Delete takes it', async () => {
    const fake = givenImage([A]);
    await realHandler(createEvent(props({ Accounts: [A] })));
    fake.images[IMAGE].shared = []; // the outside party unshares A
    await realHandler(updateEvent(props({ Accounts: [A, B] }), props({ Accounts: [A] })));
    expect(shared(fake)).toEqual([A, B]);
    await realHandler(deleteEvent(props({ Accounts: [A, B] })));
    expect(shared(fake)).toEqual([]);
  });
});
