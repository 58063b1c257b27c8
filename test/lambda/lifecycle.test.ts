/**
 * Tests of the lifecycle steps both handlers share (lambda/common/lifecycle.ts, guard.ts, record.ts,
 * undo.ts) and of the adapters' error classification: what the routers and executors rely on
 * instead of reading AWS error codes themselves.
 */
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { WorkSpacesServiceException } from '@aws-sdk/client-workspaces';
import type { CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceEvent, CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { amiRefusal, isImageGone as isAmiGone, isImageOrSnapshotGone, isKeyGone } from '../../lambda/ami/adapter';
import { AMI_ID, parseAmiProperties, recipientsOf, AmiShareSpec } from '../../lambda/ami/plan';
import { ShareError } from '../../lambda/common/errors';
import { guardVerdict } from '../../lambda/common/guard';
import { deleteTarget, ResourceKind, updatePath } from '../../lambda/common/lifecycle';
import { Claim } from '../../lambda/common/ownership';
import { mustWriteClaim } from '../../lambda/common/record';
import { route } from '../../lambda/common/router';
import { mayHaveApplied, undoFailedCreate } from '../../lambda/common/undo';
import { isImageGone as isWorkspaceImageGone, unshareMayBeNoop, workspacesRefusal } from '../../lambda/workspaces/workspaces-adapter';
import { SHARED_AMI_PHYSICAL_ID_PREFIX } from '../../src/private/contract';

const OLD = 'ami-0aaaaaaaaaaaaaaaa';
const NEW = 'ami-0bbbbbbbbbbbbbbbb';
const A = '111111111111';
const B = '222222222222';
const STACK = 'arn:aws:cloudformation:us-east-1:123456789012:stack/demo/guid';

const AMI: ResourceKind<AmiShareSpec> = {
  noun: 'AMI', physicalIdPrefix: SHARED_AMI_PHYSICAL_ID_PREFIX, imageIdPattern: AMI_ID, parse: parseAmiProperties,
};

const props = (imageId: string, extra: Record<string, unknown> = {}) => ({ ServiceToken: 'token', ImageId: imageId, Accounts: [A], ...extra });

/** What every event of the tests shares. */
const EVENT = {
  ServiceToken: 'token', ResponseURL: 'https://example.com', StackId: STACK, RequestId: 'r', LogicalResourceId: 'Share', ResourceType: 'Custom::SharedAmi',
};

function update(physicalId: string, newImage: string, oldImage: string): CloudFormationCustomResourceUpdateEvent {
  return {
    ...EVENT, RequestType: 'Update', PhysicalResourceId: physicalId, ResourceProperties: props(newImage), OldResourceProperties: props(oldImage),
  };
}

function remove(physicalId: string, extra: Record<string, unknown> = {}): CloudFormationCustomResourceDeleteEvent {
  return { ...EVENT, RequestType: 'Delete', PhysicalResourceId: physicalId, ResourceProperties: props(OLD, extra) };
}

const ec2Error = (name: string) => new EC2ServiceException({ name, message: name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
const wsError = (name: string) => new WorkSpacesServiceException({ name, message: name, $fault: 'client', $metadata: { httpStatusCode: 400 } });

describe('updatePath', () => {
  test('the same image converges from the old declaration', () => {
    const path = updatePath(AMI, update(`shared-ami:${OLD}`, OLD, OLD));
    expect(path.kind).toBe('converge');
    expect(path.kind === 'converge' && path.prior?.imageId).toBe(OLD);
  });

  test('a new image takes the Create path', () => {
    expect(updatePath(AMI, update(`shared-ami:${OLD}`, NEW, OLD))).toMatchObject({ kind: 'create', after: { imageId: NEW } });
  });

  test('the rollback of a failed replacement: old properties name another image than the one in effect, so nothing is known to be ours', () => {
    // The framework kept the old physical id (OLD); the rollback's old properties are the new image's.
    const path = updatePath(AMI, update(`shared-ami:${OLD}`, OLD, NEW));
    expect(path).toMatchObject({ kind: 'converge', prior: undefined, after: { imageId: OLD } });
  });

  test('a physical id this handler never issued: the old properties tell the image in effect', () => {
    expect(updatePath(AMI, update('failed-create-marker', OLD, OLD)).kind).toBe('converge');
    expect(updatePath(AMI, update('failed-create-marker', NEW, OLD)).kind).toBe('create');
  });
});

describe('deleteTarget', () => {
  test('a physical id this handler never issued: nothing to do', () => {
    expect(deleteTarget(AMI, remove('failed-create-marker'))).toBeUndefined();
  });

  test('the image of the physical id, the declaration, and the removal plan', () => {
    expect(deleteTarget(AMI, remove(`shared-ami:${NEW}`, { GuardImage: 'true' }))).toMatchObject({ imageId: NEW, plan: 'guard', spec: { imageId: OLD } });
    expect(deleteTarget(AMI, remove(`shared-ami:${OLD}`, { DeleteImage: 'true' }))?.plan).toBe('delete-image');
    expect(deleteTarget(AMI, remove(`shared-ami:${OLD}`))?.plan).toBe('revoke');
  });
});

describe('route', () => {
  const routes = { create: async () => 'create', update: async () => 'update', delete: async () => 'delete' };

  test('each request type to its own route', async () => {
    await expect(route(remove(`shared-ami:${OLD}`), routes)).resolves.toBe('delete');
    await expect(route(update(`shared-ami:${OLD}`, OLD, OLD), routes)).resolves.toBe('update');
  });

  test('any other request type is refused', () => {
    const odd = { ...remove(`shared-ami:${OLD}`), RequestType: 'Replace' } as unknown as CloudFormationCustomResourceEvent;
    expect(() => route(odd, routes)).toThrow(new ShareError('Unknown request type "Replace".'));
  });
});

describe('guardVerdict', () => {
  const other: Claim = { claimId: 'c2', stack: 'other', resource: 'Share', shares: { [`UserId:${B}`]: 'library' }, snapshots: {}, releasing: {}, releasingSnapshots: {} };

  test('what this resource revoked never counts, however the lagging read shows it', () => {
    expect(guardVerdict('AMI x', [`UserId:${A}`], [`UserId:${A}`], [], false)).toEqual({ decision: { action: 'proceed' }, remaining: [] });
  });

  test('what others hold blocks, named as the user knows it and with the resource that holds it', () => {
    const verdict = guardVerdict('AMI x', [`UserId:${A}`, `UserId:${B}`], [`UserId:${A}`], [other], false, (k) => k.slice('UserId:'.length));
    expect(verdict.remaining).toEqual([`UserId:${B}`]);
    expect(verdict.decision.action === 'block' && verdict.decision.message).toContain(`still shared with ${B} (held by other/Share)`);
  });

  test('forced: revokes what remains', () => {
    expect(guardVerdict('AMI x', [B], [], [], true).decision).toEqual({ action: 'force', revoke: [B] });
  });
});

describe('mustWriteClaim', () => {
  const claim: Claim = { claimId: 'c1', stack: 'demo', resource: 'Share', shares: { [A]: 'library' }, snapshots: {}, releasing: {}, releasingSnapshots: {} };

  test('an unchanged claim is not written again', () => {
    expect(mustWriteClaim({ own: { ...claim, writtenAt: 1 }, others: [] }, { ...claim, writtenAt: 2 }, false)).toBe(false);
  });

  test('a changed claim is written; on Delete only over a claim that exists', () => {
    expect(mustWriteClaim({ others: [] }, claim, false)).toBe(true);
    expect(mustWriteClaim({ others: [] }, claim, true)).toBe(false);
    expect(mustWriteClaim({ own: { ...claim, shares: {} }, others: [] }, claim, true)).toBe(true);
  });
});

describe('undoFailedCreate', () => {
  const base = { name: (s: string) => s, nameUnconfirmed: (s: string) => s, takeBack: async () => undefined };

  test('nothing applied, nothing unconfirmed: nothing was changed', async () => {
    const sentence = await undoFailedCreate<string>({ ...base, applied: [], unconfirmed: [], confirm: async () => [] });
    expect(sentence).toBe(' Nothing was changed.');
  });

  test('what a call whose answer was lost did is read back and taken back first, then what was applied', async () => {
    const taken: string[] = [];
    const sentence = await undoFailedCreate<string>({
      ...base,
      applied: ['b', 'a'],
      unconfirmed: ['c', 'd'],
      confirm: async (u) => u.filter((x) => x === 'c'),
      takeBack: async (x) => { taken.push(x); },
    });
    expect(taken).toEqual(['c', 'b', 'a']);
    expect(sentence).toBe(' Nothing was left changed: what was applied before the failure was undone.');
  });

  test('an unreadable outcome and a failed take-back are named for the user', async () => {
    const sentence = await undoFailedCreate<string>({
      ...base,
      applied: ['a', 'b'],
      unconfirmed: ['c'],
      confirm: async () => { throw new Error('read failed'); },
      takeBack: async (x) => { if (x === 'b') throw new Error('refused'); },
    });
    expect(sentence).toBe(' Undoing what was applied before the failure failed for c, b: remove it by hand.');
  });
});

describe('mayHaveApplied', () => {
  test('throttling, 5xx and broken connections may have been applied; a refusal was not', () => {
    expect(mayHaveApplied(ec2Error('RequestLimitExceeded'))).toBe(true);
    expect(mayHaveApplied(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    const internal = new EC2ServiceException({ name: 'InternalError', message: 'x', $fault: 'server', $metadata: { httpStatusCode: 500 } });
    expect(mayHaveApplied(internal)).toBe(true);
    expect(mayHaveApplied(ec2Error('InvalidUserID.Malformed'))).toBe(false);
  });
});

describe('recipientsOf', () => {
  test('launch and snapshot steps change their adds and removes; grant steps their grantee; waiting changes nobody', () => {
    expect(recipientsOf({ kind: 'launch', target: OLD, add: ['UserId:1'], remove: ['UserId:2'] })).toEqual(['UserId:1', 'UserId:2']);
    expect(recipientsOf({ kind: 'snapshot', target: 'snap-1', add: [], remove: [A] })).toEqual([A]);
    expect(recipientsOf({ kind: 'grant', target: 'key', grantee: 'root', listed: [] })).toEqual(['root']);
    expect(recipientsOf({ kind: 'revoke-grant', target: 'key', grantee: 'root', grantId: 'g' })).toEqual(['root']);
    expect(recipientsOf({ kind: 'await-grants', target: 'key' })).toEqual([]);
  });
});

describe('what the adapters make of AWS errors', () => {
  test('EC2: a gone image, and on Delete a gone image or snapshot', () => {
    expect(isAmiGone(ec2Error('InvalidAMIID.NotFound'))).toBe(true);
    expect(isAmiGone(ec2Error('InvalidAMIID.Unavailable'))).toBe(true);
    expect(isAmiGone(ec2Error('InvalidAMIID.Malformed'))).toBe(false);
    expect(isImageOrSnapshotGone(ec2Error('InvalidAMIID.Malformed'))).toBe(true);
    expect(isImageOrSnapshotGone(ec2Error('InvalidSnapshot.NotFound'))).toBe(true);
    expect(isImageOrSnapshotGone(ec2Error('InvalidSnapshot.InUse'))).toBe(false);
  });

  test('KMS: a key deleted or pending deletion is gone', () => {
    expect(isKeyGone(ec2Error('NotFoundException'))).toBe(true);
    expect(isKeyGone(ec2Error('KMSInvalidStateException'))).toBe(true);
    expect(isKeyGone(ec2Error('DisabledException'))).toBe(false);
  });

  test.each([
    ['InvalidAMIID.Malformed', 'image-not-found'], ['InvalidSnapshot.NotFound', 'snapshot-not-found'], ['InvalidUserID.Malformed', 'bad-recipient'],
    ['MalformedPolicyDocumentException', 'bad-grantee'], ['LimitExceededException', 'grant-quota'], ['DisabledException', 'key-unusable'],
    ['NotFoundException', 'key-not-found'], ['UnauthorizedOperation', undefined], ['toString', undefined],
  ])('EC2 and KMS: %s means %s', (code, meaning) => {
    expect(amiRefusal(ec2Error(code))).toBe(meaning);
  });

  test('WorkSpaces: a gone image, an unshare that may be a no-op, and what a refusal means', () => {
    expect(isWorkspaceImageGone(wsError('ResourceNotFoundException'))).toBe(true);
    expect(isWorkspaceImageGone(wsError('ValidationException'))).toBe(false);
    expect(unshareMayBeNoop(wsError('OperationNotSupportedException'))).toBe(true);
    expect(workspacesRefusal(wsError('ResourceAssociatedException'))).toBe('image-in-use');
    expect(workspacesRefusal(wsError('InvalidParameterValuesException'))).toBe('bad-parameter');
    expect(workspacesRefusal(wsError('ResourceUnavailableException'))).toBe('image-unavailable');
    expect(workspacesRefusal(wsError('constructor'))).toBeUndefined();
  });
});
