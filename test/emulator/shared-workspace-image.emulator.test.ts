/**
 * Emulator scenarios: the real SharedWorkspaceImage handler with real SDK v3 clients against a
 * local moto, one scenario per lifecycle rule (DESIGN.md). After every step the image's real
 * permission list is read back from moto (DescribeWorkspaceImagePermissions), including shares
 * made outside the resource, which must survive.
 *
 * moto creates WorkSpaces images AVAILABLE at once and has no DeleteWorkspaceImage; the PENDING
 * and vanished-image scenarios say how they stand in for that, and the deletion-guard scenarios
 * answer DeleteWorkspaceImage alone with aws-sdk-client-mock (checking AWS's rule against moto's
 * real permission list) while every other call reaches moto.
 */
import {
  DeleteWorkspaceImageCommand, DeleteWorkspaceImageCommandInput, DescribeWorkspaceImagePermissionsCommand,
  DescribeWorkspaceImagePermissionsCommandOutput, WorkSpacesClient,
} from '@aws-sdk/client-workspaces';
import { mockClient } from 'aws-sdk-client-mock';
import { awsError } from './moto';
import { handlerRunner } from './runner';
import {
  createEvent, createWorkspaceImage, deleteEvent, isCompleteInput, recordWorkspacesCalls, rollbackOf, sharedAccounts,
  shareOutside, unshareOutside, updateEvent, useWorkspacesMoto, WorkspaceShareInput, WorkspacesHooks,
} from './workspaces-fixture';
import { handler, WorkspaceImageOnEventResponse } from '../../lambda/shared-workspace-image.lambda';
import { COMPLETION_KEY } from '../../lambda/workspaces/plan';

const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const OUTSIDE = '999999999999';
const OUTSIDE_2 = '888888888888';

const fixture = useWorkspacesMoto();

type HandlerEvent = Parameters<typeof handler>[0];

// The handler serves onEvent and isComplete: its answer may carry IsComplete.
type HandlerAnswer = WorkspaceImageOnEventResponse & { IsComplete?: boolean };
const runner = handlerRunner(handler as (event: HandlerEvent) => Promise<HandlerAnswer>, recordWorkspacesCalls);
const { run, runFailing } = runner;

/** Creates a share and returns its physical id. */
const created = (input: WorkspaceShareInput): Promise<string> => runner.created(createEvent(input));

/** `+account` / `-account` per UpdateWorkspaceImagePermission call, sorted. */
const changes = (mutating: { name: string; input: Record<string, unknown> }[]): string[] =>
  mutating.map((c) => {
    expect(c.name).toBe('UpdateWorkspaceImagePermission');
    return `${c.input.AllowCopyImage ? '+' : '-'}${c.input.SharedAccountId}`;
  }).sort();

const sorted = (...accounts: string[]): string[] => [...accounts].sort();

let imageId: string;
beforeEach(async () => {
  imageId = await createWorkspaceImage(fixture.workspaces, fixture.host);
  expect(imageId).toMatch(/^wsi-[0-9a-z]{9}$/);
});

const permissions = (id = imageId) => sharedAccounts(fixture.workspaces, id);

describe('Create', () => {
  test('shares every declared account, one call each; physical id derived from the image id; a share made outside survives', async () => {
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    const { response, mutating } = await run(createEvent({ imageId, accounts: [A, B] }));

    expect(response.PhysicalResourceId).toBe(`shared-wsi:${imageId}`);
    expect(response.Data).toEqual({ ImageId: imageId });
    expect(response[COMPLETION_KEY]).toEqual({ Step: 'done' });
    expect(changes(mutating)).toEqual([`+${A}`, `+${B}`]);
    expect(await permissions()).toEqual(sorted(A, B, OUTSIDE));
  });

  test('the framework\'s isComplete call after it completes at once, without an AWS call', async () => {
    const event = createEvent({ imageId, accounts: [A] });
    const { response } = await run(event);
    const { response: complete, calls } = await run(isCompleteInput(event, response));
    expect(complete).toEqual({ IsComplete: true });
    expect(calls).toEqual([]);
    expect(await permissions()).toEqual([A]);
  });

  test('thirty accounts, shared concurrently: all present afterwards', async () => {
    const accounts = Array.from({ length: 30 }, (_, i) => String(400000000000 + i));
    const { mutating } = await run(createEvent({ imageId, accounts }));
    expect(mutating).toHaveLength(30);
    expect(await permissions()).toEqual(sorted(...accounts));
  });

  test('an image that does not exist fails before any change', async () => {
    const { error, mutating } = await runFailing(createEvent({ imageId: 'wsi-000000000', accounts: [A] }));
    expect(error.message).toBe('WorkSpaces image wsi-000000000 was not found in account 123456789012 in us-east-1: check the imageId (WorkSpaces images are regional).');
    expect(mutating).toEqual([]);
  });
});

describe('Update', () => {
  test('shares what is new and unshares what was dropped: only the delta; shares made outside survive', async () => {
    const before: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(before);
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    expect(await permissions()).toEqual(sorted(A, B, OUTSIDE));

    const { response, mutating } = await run(updateEvent(physicalId, { imageId, accounts: [A, C] }, before));
    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(changes(mutating)).toEqual([`+${C}`, `-${B}`]);
    expect(await permissions()).toEqual(sorted(A, C, OUTSIDE));
  });

  test('an update that changes nothing makes no mutating call', async () => {
    const input: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(input);
    const { mutating } = await run(updateEvent(physicalId, { ...input, forceUnshare: true }, input));
    expect(mutating).toEqual([]);
    expect(await permissions()).toEqual(sorted(A, B));
  });

  test('image replacement: new physical id, shares on the new image; CloudFormation\'s Delete of the old id unshares the old image only', async () => {
    const old: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const oldPhysicalId = await created(old);
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    const newImageId = await createWorkspaceImage(fixture.workspaces, fixture.host);
    await shareOutside(fixture.workspaces, newImageId, OUTSIDE_2);

    const next: WorkspaceShareInput = { imageId: newImageId, accounts: [A, C] };
    const { response } = await run(updateEvent(oldPhysicalId, next, old));
    expect(response.PhysicalResourceId).toBe(`shared-wsi:${newImageId}`);
    expect(await permissions(newImageId)).toEqual(sorted(A, C, OUTSIDE_2));
    expect(await permissions(imageId)).toEqual(sorted(A, B, OUTSIDE));

    await run(deleteEvent(oldPhysicalId, old));
    expect(await permissions(imageId)).toEqual([OUTSIDE]);
    expect(await permissions(newImageId)).toEqual(sorted(A, C, OUTSIDE_2));
  });

  test('rollback of a replacement: back on the old image, then the Delete of the new physical id unshares the new image', async () => {
    const old: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const oldPhysicalId = await created(old);
    const newImageId = await createWorkspaceImage(fixture.workspaces, fixture.host);
    const update = updateEvent(oldPhysicalId, { imageId: newImageId, accounts: [A] }, old);
    const newPhysicalId = (await run(update)).response.PhysicalResourceId!;
    await shareOutside(fixture.workspaces, newImageId, OUTSIDE);

    // a later resource failed: CloudFormation rolls back (Update to the old image), then deletes the new physical id
    const { response } = await run(rollbackOf(update, newPhysicalId));
    expect(response.PhysicalResourceId).toBe(oldPhysicalId);
    await run(deleteEvent(newPhysicalId, { imageId: newImageId, accounts: [A] }));
    expect(await permissions(imageId)).toEqual(sorted(A, B));
    expect(await permissions(newImageId)).toEqual([OUTSIDE]);
  });

  test('a failure half way names what was and was not applied; the rollback restores the old state exactly', async () => {
    const before: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(before);
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    const update = updateEvent(physicalId, { imageId, accounts: [C] }, before);

    // AWS refuses C; the unshares of A and B go through
    const refuseC: WorkspacesHooks = {
      fail: (call) => (call.name === 'UpdateWorkspaceImagePermission' && call.input.SharedAccountId === C ? awsError('AccessDeniedException') : undefined),
    };
    const { error } = await runFailing(update, refuseC);
    expect(error.message).toMatch(new RegExp(`^The share handler is not allowed to share WorkSpaces image ${imageId} with account ${C}`));
    expect(error.message).toContain(`Applied before the failure: unshared from ${A}, ${B}; not applied: shared with ${C}.`);
    expect(await permissions()).toEqual([OUTSIDE]);

    const { mutating } = await run(rollbackOf(update));
    // C, dropped by the rollback, is unshared whatever the read shows (refused: it was never shared)
    expect(changes(mutating)).toEqual([`+${A}`, `+${B}`, `-${C}`]);
    expect(await permissions()).toEqual(sorted(A, B, OUTSIDE));
  });

  test('rollback of a completed update restores the old state', async () => {
    const before: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(before);
    const update = updateEvent(physicalId, { imageId, accounts: [B, C] }, before);
    await run(update);
    expect(await permissions()).toEqual(sorted(B, C));
    await run(rollbackOf(update));
    expect(await permissions()).toEqual(sorted(A, B));
  });

  test('an unparseable physical id falls back to the old properties\' image', async () => {
    const before: WorkspaceShareInput = { imageId, accounts: [A, B] };
    await created(before);
    const { response } = await run(updateEvent('AWSCDK::CustomResourceProviderFramework::CREATE_FAILED', { imageId, accounts: [A] }, before));
    expect(response.PhysicalResourceId).toBe(`shared-wsi:${imageId}`);
    expect(await permissions()).toEqual([A]);
  });

  test('an unshare that races a manual unshare does not fail the stack', async () => {
    const before: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(before);
    // B is unshared by hand just before our call, and (like a strict service would) our unshare is refused
    let raced = false;
    const race: WorkspacesHooks = {
      fail: async (call) => {
        if (call.name !== 'UpdateWorkspaceImagePermission' || call.input.SharedAccountId !== B || raced) return undefined;
        raced = true;
        await unshareOutside(fixture.workspaces, imageId, B);
        return awsError('InvalidParameterValuesException', 'The image is not shared with the specified account.');
      },
    };
    await run(updateEvent(physicalId, { imageId, accounts: [A] }, before), race);
    expect(raced).toBe(true);
    expect(await permissions()).toEqual([A]);
  });
});

describe('PENDING image (moto creates images AVAILABLE: the first answers are shown as PENDING)', () => {
  test('onEvent changes nothing and hands over; isComplete waits while PENDING, then shares on the real image', async () => {
    let pendingAnswers = 2;
    const pending: WorkspacesHooks = {
      rewrite: (call, output) => {
        if (call.name !== 'DescribeWorkspaceImages' || pendingAnswers === 0) return output;
        pendingAnswers--;
        const images = (output.Images as Record<string, unknown>[]).map((i) => ({ ...i, State: 'PENDING' }));
        return { ...output, Images: images };
      },
    };
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    const event = createEvent({ imageId, accounts: [A, B] });

    const onEvent = await run(event, pending);
    expect(onEvent.response[COMPLETION_KEY]).toMatchObject({ Step: 'wait', ImageId: imageId, Before: 'none' });
    expect(onEvent.mutating).toEqual([]);
    expect(await permissions()).toEqual([OUTSIDE]);

    const poll = isCompleteInput(event, onEvent.response);
    const stillPending = await run(poll, pending);
    expect(stillPending.response).toEqual({ IsComplete: false });
    expect(stillPending.mutating).toEqual([]);
    expect(await permissions()).toEqual([OUTSIDE]);

    const available = await run(poll, pending);
    expect(available.response).toEqual({ IsComplete: true });
    expect(changes(available.mutating)).toEqual([`+${A}`, `+${B}`]);
    expect(await permissions()).toEqual(sorted(A, B, OUTSIDE));
  });
});

describe('Delete', () => {
  test('unshares exactly the declared accounts; a share made outside (even after the create) survives', async () => {
    const input: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(input);
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    const { response, mutating } = await run(deleteEvent(physicalId, input));
    expect(response.PhysicalResourceId).toBe(physicalId);
    expect(changes(mutating)).toEqual([`-${A}`, `-${B}`]);
    expect(await permissions()).toEqual([OUTSIDE]);
  });

  test('a declared account already unshared by hand: its unshare is refused, and that counts as done', async () => {
    const input: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const physicalId = await created(input);
    await unshareOutside(fixture.workspaces, imageId, B);
    const { mutating } = await run(deleteEvent(physicalId, input));
    expect(changes(mutating).sort()).toEqual([`-${A}`, `-${B}`]);
    expect(await permissions()).toEqual([]);
  });

  test('a vanished image counts as unshared (moto has no DeleteWorkspaceImage: an id it never had looks the same)', async () => {
    const gone = 'wsi-0000000zz';
    const { response, calls, mutating } = await run(deleteEvent(`shared-wsi:${gone}`, { imageId: gone, accounts: [A] }));
    expect(response.PhysicalResourceId).toBe(`shared-wsi:${gone}`);
    expect(calls.map((c) => c.name)).toEqual(['DescribeWorkspaceImages']);
    expect(mutating).toEqual([]);
  });

  test('a physical id the handler cannot parse (after a failed create) is a successful no-op', async () => {
    await shareOutside(fixture.workspaces, imageId, A);
    const marker = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';
    const { response, calls } = await run(deleteEvent(marker, { imageId, accounts: [A] }));
    expect(response.PhysicalResourceId).toBe(marker);
    expect(calls).toEqual([]);
    expect(await permissions()).toEqual([A]);
  });
});

describe('duplicate delivery', () => {
  test('the same Create, Update and Delete twice: same state, no error; a repeated Create makes no call', async () => {
    await shareOutside(fixture.workspaces, imageId, OUTSIDE);
    const input: WorkspaceShareInput = { imageId, accounts: [A, B] };
    const create = createEvent(input);
    const physicalId = (await run(create)).response.PhysicalResourceId!;
    expect((await run(create)).mutating).toEqual([]);
    expect(await permissions()).toEqual(sorted(A, B, OUTSIDE));

    // a repeated Update or Delete sends its delta again (a read may lag the first); AWS's refusals
    // of unshares of accounts that no longer hold the share count as done
    const update = updateEvent(physicalId, { imageId, accounts: [C] }, input);
    await run(update);
    await run(update);
    expect(await permissions()).toEqual(sorted(C, OUTSIDE));

    const del = deleteEvent(physicalId, { imageId, accounts: [C] });
    await run(del);
    await run(del);
    expect(await permissions()).toEqual([OUTSIDE]);
  });
});

describe('Delete: the deletion guard, decided on moto\'s real permission list', () => {
  const blocked = (accounts: string) => `WorkSpaces image ${imageId} was not deleted because it is still shared with ${accounts} (not granted by this share): `
    + 'unshare them, or set forceUnshareOnRemoval: true to revoke every share, then delete again.';
  const names = (calls: { name: string }[]): string[] => calls.map((c) => c.name);

  describe('deletionGuard (GuardImage only: the image is another resource\'s to delete, after the share)', () => {
    const guarded = (accounts: string[], forceUnshare = false): WorkspaceShareInput => ({ imageId, accounts, guardImage: true, forceUnshare });

    test('a share made outside blocks: its own shares are revoked, the outside one stays, and the error names it', async () => {
      const input = guarded([A, B]);
      const physicalId = await created(input);
      await shareOutside(fixture.workspaces, imageId, OUTSIDE, OUTSIDE_2);
      const { error, calls, mutating } = await runFailing(deleteEvent(physicalId, input));
      // in the order AWS (here moto) lists them
      expect(error.message).toBe(blocked(`${OUTSIDE}, ${OUTSIDE_2}`));
      expect(changes(mutating)).toEqual([`-${A}`, `-${B}`]);
      expect(names(calls)).not.toContain('DeleteWorkspaceImage');
      expect(await permissions()).toEqual(sorted(OUTSIDE, OUTSIDE_2));
    });

    test('a retried Delete blocks the same way until the outside share is removed, then succeeds', async () => {
      const input = guarded([A]);
      const physicalId = await created(input);
      await shareOutside(fixture.workspaces, imageId, OUTSIDE);
      await runFailing(deleteEvent(physicalId, input));
      const again = await runFailing(deleteEvent(physicalId, input));
      expect(again.error.message).toBe(blocked(OUTSIDE));
      // the first Delete unshared its own accounts and removed its claim: nothing else to unshare
      expect(names(again.mutating)).toEqual([]);

      await unshareOutside(fixture.workspaces, imageId, OUTSIDE);
      const { response, mutating } = await run(deleteEvent(physicalId, input));
      expect(response.PhysicalResourceId).toBe(physicalId);
      expect(names(mutating)).toEqual([]);
      expect(await permissions()).toEqual([]);
    });

    test('forceUnshareOnRemoval unshares every remaining account, outside shares included', async () => {
      const input = guarded([A, B], true);
      const physicalId = await created(input);
      await shareOutside(fixture.workspaces, imageId, OUTSIDE, OUTSIDE_2);
      const { mutating } = await run(deleteEvent(physicalId, input));
      expect(changes(mutating)).toEqual(sorted(`-${A}`, `-${B}`, `-${OUTSIDE}`, `-${OUTSIDE_2}`));
      expect(await permissions()).toEqual([]);
    });

    test('no other share: the Delete succeeds after its own unshares, and reads the permissions again to know', async () => {
      const input = guarded([A, B]);
      const physicalId = await created(input);
      const { calls, mutating } = await run(deleteEvent(physicalId, input));
      expect(changes(mutating)).toEqual([`-${A}`, `-${B}`]);
      expect(names(calls).filter((n) => n === 'DescribeWorkspaceImagePermissions')).toHaveLength(2);
      expect(await permissions()).toEqual([]);
    });
  });

  describe('deleteImageOnRemoval (aws-sdk-client-mock answers DeleteWorkspaceImage, which moto lacks; everything else reaches moto)', () => {
    let restoreMock: () => void;
    /** Images the stand-in deleted. */
    let deleted: string[];

    beforeEach(() => {
      deleted = [];
      const realSend = WorkSpacesClient.prototype.send as unknown as (command: unknown) => Promise<DescribeWorkspaceImagePermissionsCommandOutput>;
      const mock = mockClient(WorkSpacesClient);
      mock.send.callThrough();
      mock.on(DeleteWorkspaceImageCommand).callsFake(async (input: DeleteWorkspaceImageCommandInput) => {
        // AWS's own rule, checked on moto's real permission list (read past the mock and the recorder)
        const out = await realSend.call(fixture.workspaces, new DescribeWorkspaceImagePermissionsCommand({ ImageId: input.ImageId }));
        if ((out.ImagePermissions ?? []).length > 0) throw awsError('InvalidResourceStateException', 'The image is shared with other accounts.');
        deleted.push(input.ImageId!);
        return {};
      });
      restoreMock = () => mock.restore();
    });
    afterEach(() => restoreMock());

    const deleting = (accounts: string[], forceUnshare = false): WorkspaceShareInput => ({ imageId, accounts, deleteImage: true, forceUnshare });

    test('the stand-in is honest: other calls reach moto, and it refuses an image that is still shared', async () => {
      await shareOutside(fixture.workspaces, imageId, OUTSIDE);
      expect(await permissions()).toEqual([OUTSIDE]);
      await expect(fixture.workspaces.send(new DeleteWorkspaceImageCommand({ ImageId: imageId }))).rejects.toThrow(/shared with other accounts/);
      expect(deleted).toEqual([]);
    });

    test('clean delete: its own shares revoked in moto, then the image deleted', async () => {
      const input = deleting([A, B]);
      const physicalId = await created(input);
      const { response, calls } = await run(deleteEvent(physicalId, input));
      expect(response.PhysicalResourceId).toBe(physicalId);
      expect(names(calls).at(-1)).toBe('DeleteWorkspaceImage');
      expect(await permissions()).toEqual([]);
      expect(deleted).toEqual([imageId]);
    });

    test('blocked by a share made outside: the error names it, and DeleteWorkspaceImage is never called', async () => {
      const input = deleting([A, B]);
      const physicalId = await created(input);
      await shareOutside(fixture.workspaces, imageId, OUTSIDE);
      const { error, calls } = await runFailing(deleteEvent(physicalId, input));
      expect(error.message).toBe(blocked(OUTSIDE));
      expect(names(calls)).not.toContain('DeleteWorkspaceImage');
      expect(deleted).toEqual([]);
      expect(await permissions()).toEqual([OUTSIDE]);
    });

    test('forced: every remaining share is revoked in moto before the image is deleted', async () => {
      const input = deleting([A], true);
      const physicalId = await created(input);
      await shareOutside(fixture.workspaces, imageId, OUTSIDE, OUTSIDE_2);
      const { calls, mutating } = await run(deleteEvent(physicalId, input));
      expect(changes(mutating.filter((c) => c.name !== 'DeleteWorkspaceImage'))).toEqual(sorted(`-${A}`, `-${OUTSIDE}`, `-${OUTSIDE_2}`));
      expect(names(calls).at(-1)).toBe('DeleteWorkspaceImage');
      expect(deleted).toEqual([imageId]);
      expect(await permissions()).toEqual([]);
    });

    test('a retried Delete after the outside share was removed by hand deletes the image', async () => {
      const input = deleting([A]);
      const physicalId = await created(input);
      await shareOutside(fixture.workspaces, imageId, OUTSIDE);
      await runFailing(deleteEvent(physicalId, input));
      expect(deleted).toEqual([]);
      await unshareOutside(fixture.workspaces, imageId, OUTSIDE);
      const { mutating } = await run(deleteEvent(physicalId, input));
      expect(names(mutating)).toEqual(['DeleteWorkspaceImage']);
      expect(deleted).toEqual([imageId]);
    });
  });
});
