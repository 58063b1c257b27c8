/**
 * The emulator harness: a local moto server (started by ./moto_launcher.py from the project's
 * .venv), helpers to build and inspect AMIs and KMS keys in it, and CloudFormation event builders
 * for the SharedAmi handler.
 *
 * `startMoto` and the helpers use no jest globals: example/demo.ts imports this module outside jest.
 * Only `useMoto` registers jest hooks, and only when called.
 */
import { ChildProcess, spawn } from 'child_process';
import { existsSync } from 'fs';
import * as path from 'path';
import {
  CreateImageCommand, DeregisterImageCommand, DisableImageDeregistrationProtectionCommand, DescribeImageAttributeCommand, DescribeImagesCommand,
  DescribeSnapshotAttributeCommand, EC2Client, LaunchPermission, ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand, RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateKeyCommand, GrantListEntry, KMSClient, ListGrantsCommand,
} from '@aws-sdk/client-kms';
import { eventBuilders } from './events';
import { SHARED_AMI_RESOURCE_TYPE, SharedAmiResourceProperties } from '../../src/private/contract';

// ---------------------------------------------------------------------------------------------
// The moto process
// ---------------------------------------------------------------------------------------------

/** The account moto answers as (for the access key `testing`). */
export const MOTO_ACCOUNT = '123456789012';
export const MOTO_REGION = 'us-east-1';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const VENV_PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
export const LAUNCHER = path.join(__dirname, 'moto_launcher.py');

/** A running moto server. */
export interface Moto {
  /** moto's AWS endpoint (use as AWS_ENDPOINT_URL), `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** The launcher's control endpoint for seeding state moto's API cannot produce. */
  readonly control: string;
  /** Forgets every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  /** POSTs a JSON body to a control command (e.g. `/seed/snapshot-kms`) and returns its JSON answer. */
  seed(command: string, body: Record<string, unknown>): Promise<unknown>;
  /** Stops the server and waits for its process to exit. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** @default <repo>/.venv/bin/python */
  readonly python?: string;
  /** A hang guard, not a timing assumption. @default 60000 */
  readonly startTimeoutMs?: number;
}

/**
 * The strict test AWS's timing, on unless the environment says otherwise: reads within
 * STRICT_CONSISTENCY_WINDOW_MS of a write show the state from before it, and a snapshot stays in use
 * that long after its AMI is deregistered. Short, so tests wait milliseconds; the handlers' backoff
 * in tests (test/setup-backoff.ts) waits several times longer in all. Set
 * STRICT_AWS_CONSISTENCY_WINDOW_MS=0 (and STRICT_AWS_SNAPSHOT_IN_USE_MS=0) for plain moto timing.
 */
export const STRICT_CONSISTENCY_WINDOW_MS = 40;

function strictDefaults(): Record<string, string> {
  return {
    STRICT_AWS_CONSISTENCY_WINDOW_MS: String(STRICT_CONSISTENCY_WINDOW_MS),
    STRICT_AWS_SNAPSHOT_IN_USE_MS: String(STRICT_CONSISTENCY_WINDOW_MS),
  };
}

/** Starts moto on 127.0.0.1 (free ports) and resolves once it is serving. */
export async function startMoto(options: StartMotoOptions = {}): Promise<Moto> {
  const python = options.python ?? VENV_PYTHON;
  if (!existsSync(python)) {
    throw new Error(`moto is not installed: ${python} does not exist. Run "npx projen emulator:setup" (installs moto into .venv) and try again.`);
  }
  const child = spawn(python, [LAUNCHER], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...strictDefaults(), ...process.env, PYTHONUNBUFFERED: '1' } });
  const stderr = tail(child, 16_000);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  const urls = await new Promise<{ endpoint: string; control: string }>((resolve, reject) => {
    let out = '';
    const fail = (why: string): void => {
      cleanup();
      child.kill('SIGKILL');
      const hint = /ModuleNotFoundError|No module named/.test(stderr()) ? ' Run "npx projen emulator:setup" to install moto.' : '';
      reject(new Error(`moto did not start: ${why}.${hint}${stderr() ? `\n--- moto_launcher stderr ---\n${stderr()}` : ''}`));
    };
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const line = out.slice(0, nl);
      try {
        const parsed = JSON.parse(line) as { endpoint?: unknown; control?: unknown };
        if (typeof parsed.endpoint !== 'string' || typeof parsed.control !== 'string') throw new Error('missing endpoint or control');
        cleanup();
        resolve({ endpoint: parsed.endpoint, control: parsed.control });
      } catch (err) {
        fail(`the launcher printed ${JSON.stringify(line)} instead of {"endpoint","control"} (${(err as Error).message})`);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => fail(`the launcher exited (code ${code}, signal ${signal}) before printing its endpoints`);
    const onError = (err: Error): void => fail(`could not run ${python}: ${err.message}`);
    const timer = setTimeout(() => fail(`no endpoints after ${options.startTimeoutMs ?? 60_000} ms`), options.startTimeoutMs ?? 60_000);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('close', onExit);
      child.off('error', onError);
    };
    child.stdout!.on('data', onData);
    child.once('close', onExit); // 'close' (not 'exit'): stderr is fully read by then
    child.once('error', onError);
  });
  child.stdout!.resume(); // nothing more is expected; never let a full pipe block the launcher

  const post = async (url: string, body: unknown): Promise<{ status: number; text: string }> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
    return { status: res.status, text: await res.text() };
  };

  let stopping: Promise<void> | undefined;
  ACTIVE_CONTROLS.add(urls.control);
  return {
    ...urls,
    async reset() {
      const res = await post(`${urls.endpoint}/moto-api/reset`, {});
      if (res.status !== 200) throw new Error(`moto reset failed (HTTP ${res.status}): ${res.text}`);
    },
    async seed(command, body) {
      const res = await post(`${urls.control}${command.startsWith('/') ? '' : '/'}${command}`, body);
      let answer: unknown;
      try {
        answer = JSON.parse(res.text);
      } catch {
        answer = res.text;
      }
      if (res.status !== 200) {
        const error = (answer as { error?: unknown })?.error ?? res.text;
        throw new Error(`moto control ${command} failed (HTTP ${res.status}): ${String(error)}`);
      }
      return answer;
    },
    stop() {
      ACTIVE_CONTROLS.delete(urls.control);
      stopping ??= stopChild(child, exited);
      return stopping;
    },
  };
}

/**
 * Whether the test's reads and writes settle the strict test AWS first (see settleAll). Off only in
 * the tests of the strict test AWS itself, which watch the lag.
 */
export const settling = { on: true };

/** The control endpoints of the moto servers this process runs. */
const ACTIVE_CONTROLS = new Set<string>();

/**
 * Closes every open consistency window of every running moto. The test's own reads (what it
 * asserts) and writes (a share made by hand, long before the handler runs) call it, so that they
 * see and leave the settled state; only the handler meets the strict test AWS's lag.
 */
export async function settleAll(): Promise<void> {
  if (!settling.on) return;
  await Promise.all([...ACTIVE_CONTROLS].map(async (control) => {
    const res = await fetch(`${control}/strict/settle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await res.text();
  }));
}

/** Closes the launcher's stdin (its stop signal) and waits for the exit; escalates only if it hangs. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const guards = [
    setTimeout(() => child.kill('SIGTERM'), 15_000),
    setTimeout(() => child.kill('SIGKILL'), 25_000),
  ];
  for (const g of guards) g.unref();
  child.stdin?.end();
  await exited;
  for (const g of guards) clearTimeout(g);
}

/** Drains a child's stderr (a full pipe would block moto) and keeps its last `max` characters. */
function tail(child: ChildProcess, max: number): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-max);
  });
  return () => text.trim();
}

/** The environment that points the AWS SDK (and so the handler) at moto. */
export function motoEnvironment(moto: Pick<Moto, 'endpoint'>): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    SHARED_IMAGES_QUIET: '1',
  };
}

/** An EC2 client for the test's own reads and setup, configured explicitly (not from env). */
export function ec2Client(moto: Pick<Moto, 'endpoint'>): EC2Client {
  return new EC2Client({
    endpoint: moto.endpoint,
    region: MOTO_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
}

/** A KMS client for the test's own reads and setup, configured explicitly (not from env). */
export function kmsClient(moto: Pick<Moto, 'endpoint'>): KMSClient {
  return new KMSClient({
    endpoint: moto.endpoint,
    region: MOTO_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
}

/** What `useMoto` gives a jest suite; the getters work from beforeAll on. */
export interface MotoFixture {
  readonly moto: Moto;
  readonly ec2: EC2Client;
  readonly kms: KMSClient;
}

/**
 * Jest only: starts moto before the suite and points the SDK at it through the environment, builds
 * the suite's clients and fixtures with `setup`, optionally resets moto before each test, and
 * after the suite closes them (`teardown`), stops moto and restores the environment. The returned
 * object's members (`moto` and those of `setup`'s result) can be read from beforeAll on.
 */
export function useMotoSuite<T extends object>(
  name: string, setup: (moto: Moto) => Promise<T>, teardown: (value: T) => void, options: { resetBeforeEach: boolean },
): T & { readonly moto: Moto } {
  let moto: Moto | undefined;
  let value: T | undefined;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    moto = await startMoto();
    for (const [k, v] of Object.entries(motoEnvironment(moto))) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    value = await setup(moto);
  });
  if (options.resetBeforeEach) {
    beforeEach(async () => {
      await moto?.reset();
    });
  }
  afterAll(async () => {
    if (value) teardown(value);
    await moto?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const running = <V>(v: V | undefined): V => {
    if (v === undefined) throw new Error(`moto is not running: use the fixture inside tests or hooks, after ${name}'s beforeAll`);
    return v;
  };
  return new Proxy({} as T & { readonly moto: Moto }, {
    get: (_target, key) => (key === 'moto' ? running(moto) : (running(value) as Record<string | symbol, unknown>)[key]),
  });
}

/** Jest only: moto with EC2 and KMS clients, reset before each test (see `useMotoSuite`). */
export function useMoto(): MotoFixture {
  return useMotoSuite('useMoto()',
    async (moto) => ({ ec2: ec2Client(moto), kms: kmsClient(moto) }),
    (clients) => {
      clients.ec2.destroy();
      clients.kms.destroy();
    },
    { resetBeforeEach: true });
}

// ---------------------------------------------------------------------------------------------
// AMIs in moto
// ---------------------------------------------------------------------------------------------

export interface TestAmi {
  readonly imageId: string;
  /** EBS snapshots behind the AMI, from its block-device mappings. */
  readonly snapshotIds: string[];
  readonly instanceId: string;
}

let amiCounter = 0;
let baseAmiId: string | undefined;

/**
 * An Amazon-owned base AMI of moto's. Listing them takes seconds (moto returns ~1,300), so the id is
 * remembered: moto reloads the same static set after a reset, and a cheap lookup confirms it.
 */
async function baseAmi(ec2: EC2Client): Promise<string> {
  if (baseAmiId) {
    try {
      const known = await ec2.send(new DescribeImagesCommand({ ImageIds: [baseAmiId] }));
      if (known.Images?.some((i) => i.ImageId === baseAmiId && i.State === 'available')) return baseAmiId;
    } catch {
      // not there any more: list again
    }
  }
  const base = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'root-device-type', Values: ['ebs'] }] }));
  baseAmiId = base.Images?.find((i) => i.State === 'available')?.ImageId;
  if (!baseAmiId) throw new Error('moto has no Amazon-owned base AMI to launch from');
  return baseAmiId;
}

/** Runs an instance from one of moto's Amazon-owned base AMIs and images it: an available AMI owned by MOTO_ACCOUNT. */
export async function createAmi(ec2: EC2Client, name?: string): Promise<TestAmi> {
  const baseId = await baseAmi(ec2);
  const run = await ec2.send(new RunInstancesCommand({ ImageId: baseId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
  const instanceId = run.Instances?.[0]?.InstanceId;
  if (!instanceId) throw new Error('moto RunInstances returned no instance');
  const created = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: name ?? `shared-ami-emulator-${++amiCounter}` }));
  const imageId = created.ImageId!;
  const described = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const image = described.Images?.find((i) => i.ImageId === imageId);
  if (!image || image.State !== 'available' || image.OwnerId !== MOTO_ACCOUNT) {
    throw new Error(`moto's CreateImage gave ${JSON.stringify(image)}; expected an available AMI owned by ${MOTO_ACCOUNT}`);
  }
  const snapshotIds = [...new Set((image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((s): s is string => !!s))];
  return { imageId, snapshotIds, instanceId };
}

export async function deregisterAmi(ec2: EC2Client, imageId: string): Promise<void> {
  // the owner turns deregistration protection off first (EC2 refuses otherwise)
  await ec2.send(new DisableImageDeregistrationProtectionCommand({ ImageId: imageId })).catch(() => undefined);
  await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
}

/** `UserId:1111...` / `OrganizationArn:arn:...` / `OrganizationalUnitArn:arn:...` / `Group:all`. */
export function permissionKey(p: LaunchPermission): string {
  if (p.UserId) return `UserId:${p.UserId}`;
  if (p.OrganizationArn) return `OrganizationArn:${p.OrganizationArn}`;
  if (p.OrganizationalUnitArn) return `OrganizationalUnitArn:${p.OrganizationalUnitArn}`;
  if (p.Group) return `Group:${p.Group}`;
  throw new Error(`unexpected launch permission ${JSON.stringify(p)}`);
}

function fromKey(key: string): LaunchPermission {
  const i = key.indexOf(':');
  const [field, value] = [key.slice(0, i), key.slice(i + 1)];
  if (!['UserId', 'OrganizationArn', 'OrganizationalUnitArn', 'Group'].includes(field) || !value) throw new Error(`not a permission key: ${key}`);
  return { [field]: value };
}

/** The AMI's launch permissions as sorted keys (DescribeImageAttribute). */
export async function launchPermissions(ec2: EC2Client, imageId: string): Promise<string[]> {
  await settleAll();
  const out = await ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
  return (out.LaunchPermissions ?? []).map(permissionKey).sort();
}

/** The snapshot's createVolumePermission as sorted keys, `UserId:...` / `Group:all` (DescribeSnapshotAttribute). */
export async function snapshotPermissions(ec2: EC2Client, snapshotId: string): Promise<string[]> {
  await settleAll();
  const out = await ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }));
  return (out.CreateVolumePermissions ?? []).map((p) => (p.UserId ? `UserId:${p.UserId}` : `Group:${p.Group}`)).sort();
}

/** Everything shared on an AMI: launch permissions and, per snapshot, createVolumePermission. */
export interface ShareState {
  readonly launch: string[];
  readonly snapshots: Record<string, string[]>;
}

export async function shareState(ec2: EC2Client, ami: Pick<TestAmi, 'imageId' | 'snapshotIds'>): Promise<ShareState> {
  const snapshots: Record<string, string[]> = {};
  for (const id of ami.snapshotIds) snapshots[id] = await snapshotPermissions(ec2, id);
  return { launch: await launchPermissions(ec2, ami.imageId), snapshots };
}

/** Grants launch permissions directly (a share made outside the resource, e.g. in the console). */
export async function grantLaunch(ec2: EC2Client, imageId: string, keys: string[]): Promise<void> {
  await ec2.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: keys.map(fromKey) } }));
  await settleAll();
}

export async function revokeLaunch(ec2: EC2Client, imageId: string, keys: string[]): Promise<void> {
  await ec2.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Remove: keys.map(fromKey) } }));
  await settleAll();
}

/**
 * Grants createVolumePermission directly (the OperationType+UserIds form).
 */
export async function grantSnapshot(ec2: EC2Client, snapshotId: string, accounts: string[]): Promise<void> {
  await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: accounts }));
  await settleAll();
}

export async function revokeSnapshot(ec2: EC2Client, snapshotId: string, accounts: string[]): Promise<void> {
  await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: accounts }));
  await settleAll();
}

/** Marks a snapshot as encrypted with `kmsKeyId` inside moto (its API cannot create such an AMI). */
export async function seedSnapshotKms(moto: Moto, snapshotId: string, kmsKeyId: string, region = MOTO_REGION): Promise<void> {
  await moto.seed('/seed/snapshot-kms', { snapshot_id: snapshotId, kms_key_id: kmsKeyId, region });
}

/**
 * Sets a KMS key's KeyManager inside moto: `AWS` makes a key made with CreateKey stand for the AWS
 * managed key aws/ebs (moto's API cannot create AWS managed keys). `keyId`: id, ARN or alias.
 */
export async function seedKeyManager(moto: Moto, keyId: string, manager: 'AWS' | 'CUSTOMER', region = MOTO_REGION): Promise<void> {
  await moto.seed('/seed/key-manager', { key_id: keyId, key_manager: manager, region });
}

/**
 * Adds one more EBS snapshot to an AMI's block-device mappings inside moto and returns its id. moto
 * gives every AMI exactly one snapshot (its API cannot make a root + data volume AMI), so an AMI
 * whose snapshots use two keys is this plus `seedSnapshotKms` on each snapshot.
 */
export async function addAmiSnapshot(moto: Moto, ami: TestAmi, region = MOTO_REGION): Promise<TestAmi> {
  const answer = await moto.seed('/seed/ami-snapshot', { image_id: ami.imageId, region }) as { snapshot_id?: unknown };
  if (typeof answer.snapshot_id !== 'string') throw new Error(`moto control /seed/ami-snapshot answered ${JSON.stringify(answer)}`);
  return { ...ami, snapshotIds: [...ami.snapshotIds, answer.snapshot_id] };
}

// ---------------------------------------------------------------------------------------------
// KMS keys and grants in moto
// ---------------------------------------------------------------------------------------------

/** A symmetric customer managed key; returns its ARN. */
export async function createKey(kms: KMSClient, description = 'shared-ami emulator key'): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ Description: description }));
  if (!out.KeyMetadata?.Arn) throw new Error('moto CreateKey returned no key ARN');
  return out.KeyMetadata.Arn;
}

/** Every grant on a key (all pages; moto answers in one). */
export async function listAllGrants(kms: KMSClient, keyId: string): Promise<GrantListEntry[]> {
  await settleAll();
  const grants: GrantListEntry[] = [];
  let marker: string | undefined;
  do {
    const out = await kms.send(new ListGrantsCommand({ KeyId: keyId, Marker: marker }));
    grants.push(...(out.Grants ?? []));
    marker = out.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return grants;
}

// ---------------------------------------------------------------------------------------------
// Observing the SDK calls (no jest dependency)
// ---------------------------------------------------------------------------------------------

export interface RecordedCall {
  /** The command's class name without `Command`, e.g. `ModifyImageAttribute`, `CreateGrant`. */
  readonly name: string;
  /** The client that sent it: `EC2` or `KMS`. */
  readonly service: 'EC2' | 'KMS';
  readonly input: unknown;
}

export interface CallRecorder {
  readonly calls: RecordedCall[];
  /** Calls that change AWS (anything but Describe/Get/List). */
  mutating(): RecordedCall[];
  /** Stops recording and restores the SDK. */
  restore(): void;
}

/**
 * Records every command any EC2Client (and with `recordAwsCalls`, any KMSClient) in this process
 * sends, the handler's own clients included, passing it through to moto unchanged. `fail` runs
 * before each call and may return an error to throw instead of sending (fault injection, e.g. to
 * stop an update half way) or change moto's state first (e.g. deregister the AMI mid-delete);
 * commands it sends itself are recorded too.
 */
export type FaultHook = (call: RecordedCall, index: number) => Error | undefined | Promise<Error | undefined>;

type Sender = { send: (...args: unknown[]) => Promise<unknown> };

function recordCalls(clients: Array<[RecordedCall['service'], Sender]>, fail?: FaultHook): CallRecorder {
  const calls: RecordedCall[] = [];
  const restores = clients.map(([service, proto]) => {
    const hadOwn = Object.prototype.hasOwnProperty.call(proto, 'send');
    const original = proto.send;
    proto.send = function send(this: unknown, ...args: unknown[]): Promise<unknown> {
      const command = args[0] as { constructor: { name: string }; input: unknown };
      const call: RecordedCall = { name: command.constructor.name.replace(/Command$/, ''), service, input: command.input };
      calls.push(call);
      if (!fail) return original.apply(this, args);
      return Promise.resolve(fail(call, calls.length - 1)).then((error) => (error ? Promise.reject(error) : original.apply(this, args)));
    };
    return () => {
      if (hadOwn) proto.send = original;
      else delete (proto as { send?: unknown }).send;
    };
  });
  return {
    calls,
    mutating: () => calls.filter((c) => !/^(Describe|Get|List)/.test(c.name)),
    restore: () => {
      for (const restore of restores.reverse()) restore();
    },
  };
}

/** Records the EC2 calls of every EC2Client (see `FaultHook`). */
export function recordEc2Calls(fail?: FaultHook): CallRecorder {
  return recordCalls([['EC2', EC2Client.prototype as unknown as Sender]], fail);
}

/** Records the EC2 and the KMS calls of every EC2Client and KMSClient, in one order (see `FaultHook`). */
export function recordAwsCalls(fail?: FaultHook): CallRecorder {
  return recordCalls([['EC2', EC2Client.prototype as unknown as Sender], ['KMS', KMSClient.prototype as unknown as Sender]], fail);
}

/** An error shaped like an SDK v3 service exception (the handler reads `name`). */
export function awsError(code: string, message = `injected ${code}`): Error {
  const err = new Error(message);
  err.name = code;
  Object.assign(err, { $fault: 'client', $metadata: { httpStatusCode: 400 } });
  return err;
}

// ---------------------------------------------------------------------------------------------
// CloudFormation events for the SharedAmi handler
// ---------------------------------------------------------------------------------------------

export const STACK_ID = `arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/demo/guid`;
export const SERVICE_TOKEN = `arn:aws:lambda:${MOTO_REGION}:${MOTO_ACCOUNT}:function:demo-SharedAmiProvider-onEvent`;

/** A SharedAmi declaration in construct terms; `amiProperties` turns it into the wire shape. */
export interface AmiShareInput {
  readonly imageId: string;
  readonly accounts?: string[];
  readonly organizationArns?: string[];
  readonly organizationalUnitArns?: string[];
  /** @default false */
  readonly shareSnapshots?: boolean;
  /** Grant the accounts the AMI's customer managed keys. @default true */
  readonly kmsGrants?: boolean;
  /** Also grant each account's Auto Scaling service-linked role. @default false */
  readonly autoScalingRoleGrants?: boolean;
  /** Keys whose key policy the app manages (for organizations and OUs). @default [] */
  readonly declaredKeyArns?: string[];
  /** The deletion guard. @default false */
  readonly guardImage?: boolean;
  /** Deregister the AMI on Delete. @default false */
  readonly deleteImage?: boolean;
  /** Delete its snapshots too. @default false */
  readonly deleteSnapshots?: boolean;
  /** Revoke every remaining share instead of refusing. @default false */
  readonly forceUnshare?: boolean;
  /** takeOverExistingShares. @default false */
  readonly takeOver?: boolean;
  /**
   * deregistrationProtection. The construct's default is true; the scenarios default to false and
   * the protection scenarios (protection.emulator.test.ts) turn it on.
   * @default false
   */
  readonly protection?: boolean;
}

/** The resource properties as CloudFormation delivers them (scalars as strings). */
export function amiProperties(input: AmiShareInput): SharedAmiResourceProperties {
  return {
    ImageId: input.imageId,
    Accounts: [...(input.accounts ?? [])],
    OrganizationArns: [...(input.organizationArns ?? [])],
    OrganizationalUnitArns: [...(input.organizationalUnitArns ?? [])],
    ShareSnapshots: String(input.shareSnapshots ?? false),
    KmsGrants: String(input.kmsGrants ?? true),
    AutoScalingRoleGrants: String(input.autoScalingRoleGrants ?? false),
    DeclaredKeyArns: [...(input.declaredKeyArns ?? [])],
    GuardImage: String(input.guardImage ?? false),
    DeleteImage: String(input.deleteImage ?? false),
    DeleteSnapshots: String(input.deleteSnapshots ?? false),
    ForceUnshare: String(input.forceUnshare ?? false),
    ...(input.takeOver !== undefined ? { TakeOverExistingShares: String(input.takeOver) } : {}),
    DeregistrationProtection: String(input.protection ?? false),
  };
}

/** ResourceProperties as they arrive: the contract's properties plus CloudFormation's ServiceToken. */
export type SharedAmiEventProperties = SharedAmiResourceProperties & { ServiceToken: string };
/** Event builders take either the wire shape or the construct-style input. */
export type PropsInput = SharedAmiResourceProperties | AmiShareInput;

function wire(props: PropsInput): SharedAmiEventProperties {
  const p = 'ImageId' in props ? props : amiProperties(props);
  return { ServiceToken: SERVICE_TOKEN, ...p };
}

export const amiEvents = eventBuilders<PropsInput, SharedAmiEventProperties>(SHARED_AMI_RESOURCE_TYPE, STACK_ID, SERVICE_TOKEN, wire);
export const { createEvent, updateEvent, deleteEvent, rollbackOf } = amiEvents;

// ---------------------------------------------------------------------------------------------
// Strict mode (./strict_aws.py): moto made as strict as AWS
// ---------------------------------------------------------------------------------------------

/** The launcher's strict-mode knobs (POST /config); see moto_launcher.py's docstring for each. */
export interface StrictConfig {
  /** Master switch: false turns every refusal and delay off. @default true */
  readonly strict?: boolean;
  /** Eventual consistency: reads this soon after a write may show the state before it. @default 0 */
  readonly consistency_window_ms?: number;
  /** Probability that a read inside an open window is stale. @default 1.0 */
  readonly stale_read_rate?: number;
  /** Seed of that draw. @default null */
  readonly stale_read_seed?: number | null;
  /** DeleteSnapshot fails with InvalidSnapshot.InUse this long after its AMI's DeregisterImage. @default 0 */
  readonly snapshot_in_use_ms?: number;
  /** Deregistration stays refused this long after protection WithCooldown is disabled. @default 86400000 */
  readonly deregistration_cooldown_ms?: number;
  /** @default true */
  readonly snapshot_modify_limits?: boolean;
  /** @default true */
  readonly disabled_images?: boolean;
  /** @default true */
  readonly workspaces_refusals?: boolean;
  /** @default true */
  readonly grant_name_idempotency?: boolean;
  /** @default true */
  readonly deregistration_protection?: boolean;
}

/** Sets strict-mode knobs (`defaults: true` first restores the start-up values); returns the effective config. */
export async function configureStrict(moto: Pick<Moto, 'seed'>, config: StrictConfig & { readonly defaults?: boolean }): Promise<Required<StrictConfig>> {
  return await moto.seed('/config', { ...config }) as Required<StrictConfig>;
}

/** Closes every open consistency window: the next read of anything shows the real state. */
export async function settleStrict(moto: Pick<Moto, 'seed'>): Promise<void> {
  await moto.seed('/strict/settle', {});
}

/**
 * Creates an IAM role in moto through IAM's query API (no IAM client is a dependency of the
 * project), trusted by the account: what CloudFormation does for a share's role. Returns its ARN.
 */
export async function createIamRole(moto: Pick<Moto, 'endpoint'>, name: string, rolePath: string): Promise<string> {
  const body = new URLSearchParams({
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: name,
    Path: rolePath,
    AssumeRolePolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT}:root` }, Action: 'sts:AssumeRole' }],
    }),
  });
  const res = await fetch(moto.endpoint, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'authorization': `AWS4-HMAC-SHA256 Credential=testing/20260101/${MOTO_REGION}/iam/aws4_request` },
  });
  const text = await res.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (res.status !== 200 || !arn) throw new Error(`creating the role ${name} in moto failed: HTTP ${res.status} ${text.slice(0, 300)}`);
  return arn;
}
