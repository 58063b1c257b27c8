/**
 * The fault proxy itself: each fault reaches a real SDK v3 client the way AWS's would (the code, the
 * status, the retry), the schedule is seeded, a burst outlasts exactly the retries it is sized for,
 * a lost answer was applied in moto, a runaway loop is cut, and the proxy stops.
 */
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateGrantCommand, CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, KMSClient, ListGrantsCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { DescribeWorkspaceImagesCommand, WorkSpacesClient } from '@aws-sdk/client-workspaces';
import { describeRequest, FaultKind, NO_FAULTS, seededRandom, startFaultProxy } from './fault-proxy';
import { isRetryable, scaleSdkBackoff } from './harness';
import { awsErrorCode } from '../../lambda/common/errors';
import { Moto, startMoto } from '../emulator/moto';

let moto: Moto;
let unscale: () => void = () => undefined;
beforeAll(async () => {
  unscale = scaleSdkBackoff(0.02);
  moto = await startMoto();
}, 120_000);
afterAll(async () => {
  await moto?.stop();
  unscale();
});

const config = (endpoint: string, maxAttempts = 1) => ({
  endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts,
});

async function failure(call: () => Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number }; code?: string }> {
  try {
    await call();
  } catch (err) {
    return err as Error;
  }
  throw new Error('the call succeeded');
}

test('reads the service and the action of EC2 (query), KMS and WorkSpaces (JSON) requests', () => {
  expect(describeRequest({}, 'Action=ModifyImageAttribute&Version=2016-11-15')).toEqual({ service: 'ec2', action: 'ModifyImageAttribute', mutating: true });
  expect(describeRequest({ 'x-amz-target': 'TrentService.ListGrants' }, '{}')).toEqual({ service: 'kms', action: 'ListGrants', mutating: false });
  expect(describeRequest({ 'x-amz-target': 'WorkspacesService.UpdateWorkspaceImagePermission' }, '{}'))
    .toEqual({ service: 'workspaces', action: 'UpdateWorkspaceImagePermission', mutating: true });
  expect(describeRequest({}, '')).toEqual({ service: 'other', action: 'unknown', mutating: false });
});

test('the random schedule is seeded: the same seed, the same numbers', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const first = Array.from({ length: 5 }, () => a());
  expect(Array.from({ length: 5 }, () => b())).toEqual(first);
  expect(Array.from({ length: 5 }, () => c())).not.toEqual(first);
  expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
});

describe('each fault as the SDK sees it', () => {
  const always = (kind: FaultKind) => ({ after: 0, kind, count: 1000 });

  test('throttling: EC2 RequestLimitExceeded (503 or 400), KMS and WorkSpaces ThrottlingException (400), all retryable', async () => {
    const proxy = await startFaultProxy({ target: moto.endpoint });
    try {
      proxy.armBurst(always('throttle'));
      const statuses = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const err = await failure(() => new EC2Client(config(proxy.endpoint)).send(new DescribeImagesCommand({ Owners: ['self'] })));
        expect(awsErrorCode(err)).toBe('RequestLimitExceeded');
        expect(isRetryable(err)).toBe(true);
        statuses.add(err.$metadata!.httpStatusCode!);
      }
      expect([...statuses].every((s) => s === 503 || s === 400)).toBe(true);
      proxy.armBurst(always('throttle'));
      const kms = await failure(() => new KMSClient(config(proxy.endpoint)).send(new ListKeysCommand({})));
      expect([awsErrorCode(kms), kms.$metadata?.httpStatusCode]).toEqual(['ThrottlingException', 400]);
      proxy.armBurst(always('throttle'));
      const ws = await failure(() => new WorkSpacesClient(config(proxy.endpoint)).send(new DescribeWorkspaceImagesCommand({})));
      expect([awsErrorCode(ws), ws.$metadata?.httpStatusCode]).toEqual(['ThrottlingException', 400]);
      expect(proxy.stats.throttled).toBe(14);
      expect(proxy.stats.forwarded).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  test('server errors: 500 / 503 with the service\'s own code; gateway errors: a 502 / 503 HTML page without one', async () => {
    const proxy = await startFaultProxy({ target: moto.endpoint });
    try {
      proxy.armBurst(always('server-error'));
      const ec2 = await failure(() => new EC2Client(config(proxy.endpoint)).send(new DescribeImagesCommand({ Owners: ['self'] })));
      expect(['InternalError', 'Unavailable']).toContain(awsErrorCode(ec2));
      expect([500, 503]).toContain(ec2.$metadata?.httpStatusCode);
      proxy.armBurst(always('server-error'));
      const kms = await failure(() => new KMSClient(config(proxy.endpoint)).send(new ListKeysCommand({})));
      expect(['KMSInternalException', 'ServiceUnavailableException']).toContain(awsErrorCode(kms));
      proxy.armBurst(always('gateway-error'));
      const page = await failure(() => new KMSClient(config(proxy.endpoint)).send(new ListKeysCommand({})));
      expect([502, 503]).toContain(page.$metadata?.httpStatusCode);
      expect(page.message).toMatch(/<html>|Deserialization error/);
      expect(isRetryable(page)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  // Under jest, Node's socket errors come from outside the test's sandbox and the SDK wraps them
  // ("AWS SDK error wrapper for TimeoutError: socket hang up"); plain Node (the runner, Lambda)
  // sees ECONNRESET itself.
  test('connection resets: the socket hangs up', async () => {
    const proxy = await startFaultProxy({ target: moto.endpoint });
    try {
      proxy.armBurst(always('reset'));
      const err = await failure(() => new EC2Client(config(proxy.endpoint)).send(new DescribeImagesCommand({ Owners: ['self'] })));
      expect(`${err.code} ${err.message}`).toMatch(/ECONNRESET|socket hang up/);
      expect(proxy.stats.resets).toBe(1);
      expect(proxy.stats.forwarded).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});

test('a burst fails one request and its retries exactly `count` times: with as many attempts the call fails, with one more it succeeds', async () => {
  const proxy = await startFaultProxy({ target: moto.endpoint });
  try {
    const client = new EC2Client({ ...config(proxy.endpoint, 3), endpoint: proxy.endpoint });
    proxy.armBurst({ after: 0, kind: 'server-error', count: 3 });
    const err = await failure(() => client.send(new DescribeImagesCommand({ Owners: ['self'] })));
    expect(err.$metadata?.attempts).toBe(3);
    expect(proxy.burstDone()).toBe(true);
    proxy.armBurst({ after: 0, kind: 'throttle', count: 2 });
    await client.send(new DescribeImagesCommand({ Owners: ['self'] })); // two throttled attempts, the third passes
    expect(proxy.stats.burstFaults).toBe(5);
  } finally {
    await proxy.close();
  }
});

test('a burst can wait for a given action: other calls pass', async () => {
  const proxy = await startFaultProxy({ target: moto.endpoint });
  try {
    const kms = new KMSClient(config(proxy.endpoint));
    proxy.armBurst({ after: 1, kind: 'throttle', count: 1, action: 'ListKeys' });
    await kms.send(new ListKeysCommand({})); // the first ListKeys passes (after: 1)
    await kms.send(new CreateKeyCommand({}));
    const err = await failure(() => kms.send(new ListKeysCommand({})));
    expect(awsErrorCode(err)).toBe('ThrottlingException');
    await kms.send(new ListKeysCommand({}));
    expect(proxy.burstDone()).toBe(true);
  } finally {
    await proxy.close();
  }
});

test('a lost answer was applied: the client sees a reset, moto holds the change, and a retry is harmless', async () => {
  const kms = new KMSClient(config(moto.endpoint));
  const proxy = await startFaultProxy({ target: moto.endpoint, seed: 0 });
  try {
    // resets only; half of them after moto applied the call (for calls that are idempotent in AWS)
    proxy.configure(3, { ...NO_FAULTS, reset: 1 });
    const through = new KMSClient(config(proxy.endpoint, 1));
    let lost = 0;
    for (let i = 0; i < 20 && lost === 0; i++) {
      const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await failure(() => through.send(new DisableKeyCommand({ KeyId: key })));
      if ((await kms.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata?.Enabled === false) {
        lost++;
        await kms.send(new DisableKeyCommand({ KeyId: key })); // the SDK's retry, on a key already disabled
      }
    }
    expect(lost).toBe(1);
    expect(proxy.stats.lostAnswers).toBe(1);
  } finally {
    await proxy.close();
    kms.destroy();
  }
});

test('CreateGrant is never applied behind a reset (KMS, unlike moto, would make the retry return the same grant)', async () => {
  const kms = new KMSClient(config(moto.endpoint));
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const proxy = await startFaultProxy({ target: moto.endpoint });
  try {
    proxy.configure(7, { ...NO_FAULTS, reset: 1 });
    const through = new KMSClient(config(proxy.endpoint));
    for (let i = 0; i < 10; i++) {
      await failure(() => through.send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: 'arn:aws:iam::111111111111:root', Operations: ['Decrypt'], Name: 'n' })));
    }
    expect((await kms.send(new ListGrantsCommand({ KeyId: key }))).Grants ?? []).toEqual([]);
    expect(proxy.stats.lostAnswers).toBe(0);
  } finally {
    await proxy.close();
    kms.destroy();
  }
});

test('a request loop is cut with a non-retryable error once a window exceeds its cap', async () => {
  const proxy = await startFaultProxy({ target: moto.endpoint, maxRequestsPerWindow: 3 });
  try {
    const kms = new KMSClient(config(proxy.endpoint, 5));
    for (let i = 0; i < 3; i++) await kms.send(new ListKeysCommand({}));
    const err = await failure(() => kms.send(new ListKeysCommand({})));
    expect(awsErrorCode(err)).toBe('RequestLoopLimit');
    expect(err.$metadata?.attempts).toBe(1);
    expect(proxy.stats.overLimit).toBe(1);
    expect(proxy.window()).toBe(4);
    await kms.send(new ListKeysCommand({}));
  } finally {
    await proxy.close();
  }
});

test('close() stops it: the port refuses connections, and closing twice is harmless', async () => {
  const proxy = await startFaultProxy({ target: moto.endpoint });
  await new KMSClient(config(proxy.endpoint)).send(new ListKeysCommand({}));
  await proxy.close();
  await proxy.close();
  const err = await failure(() => new KMSClient(config(proxy.endpoint)).send(new ListKeysCommand({})));
  expect(`${err.code} ${err.message}`).toMatch(/ECONNREFUSED/);
});
