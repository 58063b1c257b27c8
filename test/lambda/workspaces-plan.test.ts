/**
 * Pure-function tests of the SharedWorkspaceImage handler's decisions (lambda/workspaces/plan.ts)
 * and of its bounded-concurrency runner (lambda/common/concurrency.ts). No AWS, no mocks.
 */
import { WorkspaceImage, WorkSpacesServiceException } from '@aws-sdk/client-workspaces';
import { runBounded } from '../../lambda/common/concurrency';
import { ShareError } from '../../lambda/common/errors';
import { removalPlan } from '../../lambda/common/lifecycle';
import {
  assessImage, COMPLETION_KEY, completionOf, describeChanges, explainDeleteFailure, explainFailure, explainForceFailure,
  explainPartialFailure, isByol, nothingToRevoke, parseWorkspaceImageProperties, pendingTooLong, PENDING_WAIT_LIMIT_MINUTES,
  planChanges, WorkspaceShareSpec,
} from '../../lambda/workspaces/plan';
import { unshareMayBeNoop } from '../../lambda/workspaces/workspaces-adapter';
import { SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS } from '../../src/private/contract';

const IMAGE = 'wsi-0123abcde';
const OWNER = '123456789012';
const REGION = 'us-east-1';
const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const FOREIGN = '999999999999';

function wsError(name: string, message = `${name} (mocked)`): WorkSpacesServiceException {
  return new WorkSpacesServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

function image(overrides: Partial<WorkspaceImage> = {}): WorkspaceImage {
  return { ImageId: IMAGE, OwnerAccountId: OWNER, State: 'AVAILABLE', RequiredTenancy: 'DEFAULT', ...overrides };
}

function spec(accounts: string[], imageId = IMAGE): WorkspaceShareSpec {
  return { imageId, accounts, guardImage: false, deleteImage: false, forceUnshare: false, takeOver: false };
}

/** The spec's removal flags when the construct sends none or all 'false'. */
const NO_GUARD = { guardImage: false, deleteImage: false, forceUnshare: false, takeOver: false };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('parseWorkspaceImageProperties', () => {
  const good = {
    ImageId: IMAGE,
    Accounts: [A, B],
    GuardImage: 'false',
    DeleteImage: 'false',
    ForceUnshare: 'false',
    TakeOverExistingShares: 'false',
    ShareRoleArn: 'arn:aws:iam::123456789012:role/cdk-shared-images/us-east-1/Golden/SharedWorkspaceImage/Golden-ShareRole-1A2B3C',
  };

  test('a ShareRoleArn that is not a share role is refused before anything changes', () => {
    expect(() => parseWorkspaceImageProperties({ ...good, ShareRoleArn: 'arn:aws:iam::123456789012:role/Admin' }, 'strict'))
      .toThrow(/ShareRoleArn "arn:aws:iam::123456789012:role\/Admin" is not the ARN of a share role/);
  });

  test('reads the construct\'s properties', () => {
    expect(parseWorkspaceImageProperties(good, 'strict')).toEqual({ imageId: IMAGE, accounts: [A, B], ...NO_GUARD });
  });

  test('reads each removal flag on its own', () => {
    expect(parseWorkspaceImageProperties({ ...good, GuardImage: 'true' }, 'strict')).toMatchObject({ guardImage: true, deleteImage: false, forceUnshare: false });
    expect(parseWorkspaceImageProperties({ ...good, DeleteImage: 'true' }, 'strict')).toMatchObject({ guardImage: false, deleteImage: true, forceUnshare: false });
    expect(parseWorkspaceImageProperties({ ...good, ForceUnshare: 'true' }, 'strict')).toMatchObject({ guardImage: false, deleteImage: false, forceUnshare: true });
  });

  test('missing removal flags (a resource deployed by an older version) mean false', () => {
    expect(parseWorkspaceImageProperties({ ImageId: IMAGE, Accounts: [A] }, 'strict')).toMatchObject(NO_GUARD);
  });

  test('the construct and the handler agree on the keys', () => {
    expect([...SHARED_WORKSPACE_IMAGE_PROPERTY_KEYS].sort()).toEqual(Object.keys(good).sort());
  });

  test('duplicates are dropped in order', () => {
    expect(parseWorkspaceImageProperties({ ImageId: IMAGE, Accounts: [B, A, B] }, 'strict')).toEqual({ imageId: IMAGE, accounts: [B, A], ...NO_GUARD });
  });

  test.each([
    ['an unknown key', { ...good, ShareSnapshots: 'true' }, /unknown properties ShareSnapshots/],
    ['a bad image id', { ...good, ImageId: 'wsi-1234' }, /imageId "wsi-1234" is not a WorkSpaces image id/],
    ['an AMI id', { ...good, ImageId: 'ami-0123456789abcdef0' }, /is not a WorkSpaces image id/],
    ['a bad account', { ...good, Accounts: [A, '12345'] }, /Accounts: "12345" is not a valid account id/],
    ['a non-list', { ...good, Accounts: A }, /Accounts must be a list/],
    ['no account', { ...good, Accounts: [] }, /no account: give at least one 12-digit account id/],
    ['a missing account list', { ImageId: IMAGE }, /no account/],
    ['a bad GuardImage', { ...good, GuardImage: 'yes' }, /GuardImage must be "true" or "false", got "yes"/],
    ['a bad DeleteImage', { ...good, DeleteImage: 'TRUE' }, /DeleteImage must be "true" or "false", got "TRUE"/],
    ['a bad ForceUnshare', { ...good, ForceUnshare: 1 }, /ForceUnshare must be "true" or "false", got 1/],
  ])('strict mode rejects %s with one sentence naming the image and the fix', (_name, raw, message) => {
    const err = thrown(() => parseWorkspaceImageProperties(raw as Record<string, unknown>, 'strict'));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/^SharedWorkspaceImage for "[^"]*" was not changed because its properties are invalid: .*Fix the SharedWorkspaceImage construct's props and deploy again\.$/);
  });

  // Found by the reliability harness (test/reliability/bad-input.ts): thousands of bad entries
  // filled the 1,500-character message and cut off what to do.
  test('thousands of bad accounts: five named, the rest counted, and the sentence keeps its ending', () => {
    const err = thrown(() => parseWorkspaceImageProperties({ ...good, Accounts: Array.from({ length: 3000 }, (_, i) => `a${i}`) }, 'strict'));
    expect(err.message.length).toBeLessThan(1000);
    expect(err.message).toContain('Accounts: "a4" is not a valid account id (12 digits, e.g. 111122223333); and 2995 more problems. ');
    expect(err.message).toMatch(/Fix the SharedWorkspaceImage construct's props and deploy again\.$/);
  });

  test('lenient mode keeps the well-formed accounts and never throws', () => {
    expect(parseWorkspaceImageProperties({ ImageId: IMAGE, Accounts: [A, 'junk', 42], Extra: 1 }, 'lenient'))
      .toEqual({ imageId: IMAGE, accounts: [A], ...NO_GUARD });
    expect(parseWorkspaceImageProperties({}, 'lenient')).toEqual({ imageId: 'undefined', accounts: [], ...NO_GUARD });
  });

  test('lenient mode reads a malformed flag as false: a Delete never deletes an image on a value it cannot read', () => {
    expect(parseWorkspaceImageProperties({ ...good, GuardImage: 'yes', DeleteImage: 'maybe', ForceUnshare: 'TRUE' }, 'lenient')).toMatchObject(NO_GUARD);
  });
});

describe('assessImage', () => {
  test('AVAILABLE and owned: ready', () => {
    expect(assessImage(IMAGE, image(), OWNER, REGION)).toEqual({ kind: 'ready', image: image() });
    // a missing OwnerAccountId is taken as ours (DescribeWorkspaceImages lists owned and shared images)
    expect(assessImage(IMAGE, image({ OwnerAccountId: undefined }), OWNER, REGION)).toEqual({ kind: 'ready', image: image({ OwnerAccountId: undefined }) });
  });

  test('PENDING: wait', () => {
    expect(assessImage(IMAGE, image({ State: 'PENDING' }), OWNER, REGION)).toEqual({ kind: 'wait' });
  });

  test('not found: names the image, account and region', () => {
    expect(assessImage(IMAGE, undefined, OWNER, REGION)).toEqual({
      kind: 'fail',
      message: `WorkSpaces image ${IMAGE} was not found in account ${OWNER} in ${REGION}: check the imageId (WorkSpaces images are regional).`,
    });
  });

  test('owned by another account: an image shared with you cannot be re-shared, copy it', () => {
    const v = assessImage(IMAGE, image({ OwnerAccountId: FOREIGN }), OWNER, REGION);
    expect(v).toEqual({ kind: 'fail', message: expect.stringContaining(`is owned by account ${FOREIGN}, not by account ${OWNER}: an image shared with you cannot be re-shared`) });
    expect(v.kind === 'fail' && v.message).toMatch(/copy-workspace-image/);
  });

  test('ERROR: fails with AWS\'s error code and message', () => {
    const v = assessImage(IMAGE, image({ State: 'ERROR', ErrorCode: 'ImageCreationFailed', ErrorMessage: 'The WorkSpace was not reachable' }), OWNER, REGION);
    expect(v).toEqual({
      kind: 'fail',
      message: `WorkSpaces image ${IMAGE} is in state ERROR (ImageCreationFailed: The WorkSpace was not reachable) and cannot be shared: create the image again and share one that is AVAILABLE.`,
    });
    expect(assessImage(IMAGE, image({ State: 'ERROR' }), OWNER, REGION)).toEqual({ kind: 'fail', message: expect.stringContaining('is in state ERROR and cannot') });
  });

  test('an unknown state fails', () => {
    expect(assessImage(IMAGE, image({ State: 'DELETING' as WorkspaceImage['State'] }), OWNER, REGION))
      .toEqual({ kind: 'fail', message: expect.stringContaining('is in state "DELETING" and cannot be shared') });
  });
});

describe('nothingToRevoke (Delete)', () => {
  test('a vanished image or one owned by another account has nothing of ours', () => {
    expect(nothingToRevoke(IMAGE, undefined, OWNER)).toMatch(/no longer exists/);
    expect(nothingToRevoke(IMAGE, image({ OwnerAccountId: FOREIGN }), OWNER)).toMatch(/owned by account 999999999999/);
  });

  test('our own image must be read, whatever its state', () => {
    for (const State of ['AVAILABLE', 'PENDING', 'ERROR'] as const) expect(nothingToRevoke(IMAGE, image({ State }), OWNER)).toBeUndefined();
  });
});

describe('planChanges (reconcile, one call per account)', () => {
  test('Create: share every declared account not yet shared', () => {
    expect(planChanges(undefined, spec([A, B]), [])).toEqual([{ account: A, allow: true }, { account: B, allow: true }]);
    expect(planChanges(undefined, spec([A, B]), [B])).toEqual([{ account: A, allow: true }]);
  });

  test('Update: share the new, unshare the dropped, leave the rest', () => {
    expect(planChanges(spec([A, B]), spec([A, C]), [A, B])).toEqual([{ account: C, allow: true }, { account: B, allow: false }]);
  });

  test('an account shared outside this resource is never touched, on update or delete', () => {
    expect(planChanges(spec([A]), spec([B]), [A, FOREIGN])).toEqual([{ account: B, allow: true }, { account: A, allow: false }]);
    expect(planChanges(spec([A, B]), undefined, [A, B, FOREIGN])).toEqual([{ account: A, allow: false }, { account: B, allow: false }]);
  });

  test('dropped but not shown as shared: unshared all the same (the read may lag); unchanged declaration: no call', () => {
    expect(planChanges(spec([A, B]), spec([A]), [A])).toEqual([{ account: B, allow: false }]);
    expect(planChanges(spec([A, B]), spec([A, B]), [A, B])).toEqual([]);
  });

  test('rollback (old and new swapped) restores the old state', () => {
    const forward = planChanges(spec([A, B]), spec([B, C]), [A, B, FOREIGN]);
    expect(forward).toEqual([{ account: C, allow: true }, { account: A, allow: false }]);
    const back = planChanges(spec([B, C]), spec([A, B]), [B, C, FOREIGN]);
    expect(back).toEqual([{ account: A, allow: true }, { account: C, allow: false }]);
  });

  test('describeChanges names shares and unshares', () => {
    expect(describeChanges([{ account: A, allow: true }, { account: B, allow: false }])).toBe(`shared with ${A} and unshared from ${B}`);
    expect(describeChanges([])).toBe('nothing');
    const many = [A, B, C, FOREIGN].map((account) => ({ account, allow: true }));
    expect(describeChanges(many)).toBe(`shared with ${A}, ${B}, ${C} and 1 more`);
  });
});

describe('removalPlan (Delete)', () => {
  const flags = (guardImage: boolean, deleteImage: boolean) => ({ guardImage, deleteImage });

  test('no flag unshares; GuardImage adds the guard; DeleteImage adds the guard and the deletion', () => {
    expect(removalPlan(flags(false, false))).toBe('revoke');
    expect(removalPlan(flags(true, false))).toBe('guard');
    expect(removalPlan(flags(true, true))).toBe('delete-image');
    // DeleteImage alone (the construct always sends GuardImage with it) still guards first
    expect(removalPlan(flags(false, true))).toBe('delete-image');
  });
});

describe('explainDeleteFailure', () => {
  test('a shared or bundled image (InvalidResourceState / ResourceAssociated): says what AWS requires', () => {
    for (const code of ['InvalidResourceStateException', 'ResourceAssociatedException']) {
      expect(explainDeleteFailure(wsError(code, 'Image is in use.'), IMAGE, OWNER)).toBe(
        `AWS refused to delete WorkSpaces image ${IMAGE} (${code}: Image is in use.): delete the bundles built from it and make sure it is AVAILABLE and shared with no account, then delete again.`);
    }
  });

  test('access denied names the permission and the owner', () => {
    expect(explainDeleteFailure(wsError('AccessDeniedException'), IMAGE, OWNER))
      .toBe(`The share handler is not allowed to delete WorkSpaces image ${IMAGE} (AccessDeniedException): the image must be owned by account ${OWNER}, and no SCP or permissions boundary may deny workspaces:DeleteWorkspaceImage.`);
  });

  test('throttling, anything else, and a ShareError passing through', () => {
    expect(explainDeleteFailure(wsError('ThrottlingException'), IMAGE, OWNER)).toMatch(/^AWS kept throttling the call to delete WorkSpaces image wsi-0123abcde \(ThrottlingException\) after all retries; its shares are already revoked: delete again later\.$/);
    expect(explainDeleteFailure(wsError('InternalFailure', 'boom'), IMAGE, OWNER)).toBe(`Could not delete WorkSpaces image ${IMAGE} (InternalFailure: boom): fix the cause and delete again.`);
    expect(explainDeleteFailure(new ShareError('said'), IMAGE, OWNER)).toBe('said');
  });
});

describe('explainForceFailure', () => {
  const unshare = (account: string) => ({ account, allow: false });

  test('names the cause, what was unshared, what is still shared, and that the image was not deleted', () => {
    expect(explainForceFailure(IMAGE, [unshare(A)], [{ change: unshare(B), message: 'B refused.' }], [unshare(C)])).toBe(
      `B refused. Unshared before the failure: ${A}. WorkSpaces image ${IMAGE} was not deleted and is still shared with ${B}, ${C}: fix the cause and delete again.`);
  });

  test('nothing unshared; more failures are counted', () => {
    const failed = [B, C].map((account) => ({ change: unshare(account), message: `${account} refused.` }));
    expect(explainForceFailure(IMAGE, [], failed, [])).toBe(
      `${B} refused. 1 more unshare failed too. WorkSpaces image ${IMAGE} was not deleted and is still shared with ${B}, ${C}: fix the cause and delete again.`);
  });
});

describe('the isComplete marker', () => {
  test('a CloudFormation event has none', () => {
    expect(completionOf({ RequestType: 'Create', ResourceProperties: { [COMPLETION_KEY]: { Step: 'done' } } })).toBeUndefined();
    expect(completionOf(undefined)).toBeUndefined();
  });

  test('the two steps are read back', () => {
    expect(completionOf({ [COMPLETION_KEY]: { Step: 'done' } })).toEqual({ Step: 'done' });
    const wait = { Step: 'wait', ImageId: IMAGE, Before: 'old', Deadline: 1700000000000 };
    expect(completionOf({ [COMPLETION_KEY]: wait })).toEqual(wait);
  });

  test.each([
    [null], [{ Step: 'later' }], [{ Step: 'wait', ImageId: 'wsi-x', Before: 'none', Deadline: 1 }],
    [{ Step: 'wait', ImageId: IMAGE, Before: 'maybe', Deadline: 1 }], [{ Step: 'wait', ImageId: IMAGE, Before: 'none' }],
  ])('a malformed marker %j is an error, not a CloudFormation event', (marker) => {
    expect(() => completionOf({ [COMPLETION_KEY]: marker })).toThrow(ShareError);
  });

  test('giving up on a PENDING image says how long and what to do', () => {
    expect(pendingTooLong(IMAGE)).toBe(`WorkSpaces image ${IMAGE} is still PENDING after ${PENDING_WAIT_LIMIT_MINUTES} minutes, so it was not shared: deploy again once the image is AVAILABLE.`);
  });
});

describe('explainFailure', () => {
  const share = { account: A, allow: true };
  const unshare = { account: B, allow: false };

  test('a ShareError passes through', () => {
    expect(explainFailure(new ShareError('already said'), IMAGE, share, OWNER)).toBe('already said');
  });

  test('throttling after all retries: deploy again later', () => {
    expect(explainFailure(wsError('ThrottlingException', 'Rate exceeded'), IMAGE, share, OWNER))
      .toBe(`AWS kept throttling the calls to share WorkSpaces image ${IMAGE} with account ${A} (ThrottlingException) after all retries: deploy again later; the change resumes where it stopped.`);
  });

  test('BYOL image refused: explains BYOL\'s rules and names the account', () => {
    const byol = image({ RequiredTenancy: 'DEDICATED' });
    expect(isByol(byol)).toBe(true);
    for (const code of ['InvalidParameterValuesException', 'OperationNotSupportedException']) {
      const message = explainFailure(wsError(code, 'The account is not enabled for BYOL.'), IMAGE, share, OWNER, byol);
      expect(message).toBe(`AWS refused to share WorkSpaces image ${IMAGE} with account ${A} (${code}: The account is not enabled for BYOL.): ${IMAGE} is a BYOL image (RequiredTenancy DEDICATED), which AWS shares only with accounts that are enabled for BYOL and in the same organization (same payer account); enable BYOL in ${A} or remove it from accounts.`);
    }
  });

  test('access denied on a BYOL image is a permission problem, not a BYOL one', () => {
    const message = explainFailure(wsError('AccessDeniedException', 'User is not authorized'), IMAGE, share, OWNER, image({ RequiredTenancy: 'DEDICATED' }));
    expect(message).toBe(`The share handler is not allowed to share WorkSpaces image ${IMAGE} with account ${A} (AccessDeniedException): the image must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call.`);
  });

  test('the BYOL sentence is only for BYOL images and only for shares', () => {
    expect(explainFailure(wsError('InvalidParameterValuesException'), IMAGE, share, OWNER, image())).not.toMatch(/BYOL/);
    expect(explainFailure(wsError('InvalidParameterValuesException'), IMAGE, unshare, OWNER, image({ RequiredTenancy: 'DEDICATED' }))).not.toMatch(/BYOL/);
  });

  test('not found, access denied, bad account, unavailable, anything else', () => {
    expect(explainFailure(wsError('ResourceNotFoundException'), IMAGE, undefined, OWNER)).toMatch(/^WorkSpaces image wsi-0123abcde was not found in account 123456789012 .*check the imageId/);
    expect(explainFailure(wsError('AccessDeniedException'), IMAGE, unshare, OWNER))
      .toBe(`The share handler is not allowed to unshare WorkSpaces image ${IMAGE} from account ${B} (AccessDeniedException): the image must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call.`);
    expect(explainFailure(wsError('InvalidParameterValuesException', 'bad id'), IMAGE, share, OWNER))
      .toBe(`AWS refused to share WorkSpaces image ${IMAGE} with account ${A} (InvalidParameterValuesException: bad id): check that the account id exists and is spelled right.`);
    expect(explainFailure(wsError('ResourceUnavailableException'), IMAGE, share, OWNER)).toMatch(/not available right now; deploy again once it is AVAILABLE\.$/);
    expect(explainFailure(new Error('socket hang up'), IMAGE, undefined, OWNER)).toBe(`Could not read WorkSpaces image ${IMAGE} (error: socket hang up): fix the cause and deploy again.`);
  });

  test('a long AWS message is cut to one line', () => {
    const message = explainFailure(wsError('OperationNotSupportedException', `line one\n${'x'.repeat(400)}`), IMAGE, share, OWNER);
    expect(message).not.toContain('\n');
    expect(message.length).toBeLessThan(400);
  });
});

describe('explainPartialFailure', () => {
  const failed = [{ change: { account: C, allow: true }, message: 'AWS refused C.' }];

  test('nothing applied: says so', () => {
    expect(explainPartialFailure([], failed, [{ account: A, allow: true }])).toBe('AWS refused C. Nothing was changed.');
  });

  test('names what was and was not applied', () => {
    expect(explainPartialFailure([{ account: A, allow: true }, { account: FOREIGN, allow: false }], failed, [{ account: B, allow: true }]))
      .toBe(`AWS refused C. Applied before the failure: shared with ${A} and unshared from ${FOREIGN}; not applied: shared with ${C}, ${B}. The automatic rollback or a new deployment converges from here.`);
  });

  test('counts the other failures', () => {
    const two = [...failed, { change: { account: B, allow: false }, message: 'x' }];
    expect(explainPartialFailure([], two, [])).toBe(`AWS refused C. 1 more call failed too (unshared from ${B}). Nothing was changed.`);
  });
});

describe('unshareMayBeNoop', () => {
  test('only refusals that could mean "not shared" are re-checked', () => {
    expect(unshareMayBeNoop(wsError('InvalidParameterValuesException', 'x'))).toBe(true);
    expect(unshareMayBeNoop(wsError('AccessDeniedException', 'x'))).toBe(false);
    expect(unshareMayBeNoop(wsError('ThrottlingException', 'x'))).toBe(false);
    expect(unshareMayBeNoop(new Error('no code'))).toBe(false);
  });
});

describe('runBounded', () => {
  /** A call that stays in flight until released, so concurrency can be observed without timers. */
  function gate() {
    let inFlight = 0;
    let maxInFlight = 0;
    const waiting: Array<() => void> = [];
    const started: number[] = [];
    const fn = async (n: number): Promise<number> => {
      started.push(n);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((resolve) => waiting.push(resolve));
      inFlight--;
      if (n < 0) throw new Error(`failed ${n}`);
      return n * 10;
    };
    /** Lets every waiting call finish, until none is left. */
    const drain = async (run: Promise<unknown>): Promise<void> => {
      let done = false;
      void run.then(() => { done = true; });
      while (!done) {
        waiting.splice(0).forEach((release) => release());
        await new Promise((r) => setImmediate(r));
      }
    };
    return { fn, drain, started, max: () => maxInFlight, waiting };
  }

  test('never more than `limit` calls in flight; results keep the input order', async () => {
    const g = gate();
    const items = Array.from({ length: 12 }, (_, i) => i + 1);
    const run = runBounded(items, 5, g.fn);
    await new Promise((r) => setImmediate(r));
    expect(g.started).toEqual([1, 2, 3, 4, 5]);
    await g.drain(run);
    expect(g.max()).toBe(5);
    expect((await run).map((o) => (o.status === 'fulfilled' ? o.value : o.status))).toEqual(items.map((i) => i * 10));
  });

  test('order-independent: results map to their items whatever order the calls finish in', async () => {
    const resolvers: Record<number, () => void> = {};
    const run = runBounded([1, 2, 3], 3, (n) => new Promise<number>((resolve) => { resolvers[n] = () => resolve(n); }));
    await new Promise((r) => setImmediate(r));
    resolvers[3]();
    resolvers[1]();
    resolvers[2]();
    expect((await run).map((o) => [o.item, o.status === 'fulfilled' && o.value])).toEqual([[1, 1], [2, 2], [3, 3]]);
  });

  test('stopOnFailure: no new call after a failure; calls in flight finish; the rest is skipped', async () => {
    const g = gate();
    const run = runBounded([1, -2, 3, 4, 5, 6], 2, g.fn, { stopOnFailure: true });
    await g.drain(run);
    const outcomes = await run;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'skipped', 'skipped', 'skipped']);
    expect(g.started).toEqual([1, -2, 3]);
  });

  test('without stopOnFailure every item runs', async () => {
    const outcomes = await runBounded([1, 2, 3], 2, async (n) => {
      if (n === 1) throw new Error('one');
      return n;
    });
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  });

  test('an empty list and a bad limit', async () => {
    expect(await runBounded([], 5, async () => 1)).toEqual([]);
    await expect(runBounded([1], 0, async () => 1)).rejects.toThrow(/positive integer/);
  });
});
