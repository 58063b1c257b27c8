/**
 * WorkSpaces in moto, for the SharedWorkspaceImage emulator scenarios: a registered directory and a
 * WorkSpace built once per suite (moto cannot create an image without them), images created from
 * that WorkSpace, the real permission list read back, calls observed, and CloudFormation events
 * for the SharedWorkspaceImage handler (including the Provider framework's isComplete input).
 *
 * Builds on ./moto (the moto process, its environment, the account and region). Only
 * `useWorkspacesMoto` registers jest hooks.
 */
import { CreateSubnetCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateWorkspaceImageCommand, CreateWorkspacesCommand, DescribeWorkspaceImagePermissionsCommand, RegisterWorkspaceDirectoryCommand,
  UpdateWorkspaceImagePermissionCommand, WorkSpacesClient,
} from '@aws-sdk/client-workspaces';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { eventBuilders } from './events';
import { ec2Client, Moto, MOTO_ACCOUNT, MOTO_REGION, settleAll, useMotoSuite } from './moto';
import { SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, SharedWorkspaceImageResourceProperties } from '../../src/private/contract';

// ---------------------------------------------------------------------------------------------
// The WorkSpace that images are made from
// ---------------------------------------------------------------------------------------------

/** A WorkSpaces client for the test's own setup and reads, configured explicitly (not from env). */
export function workspacesClient(moto: Pick<Moto, 'endpoint'>): WorkSpacesClient {
  return new WorkSpacesClient({
    endpoint: moto.endpoint,
    region: MOTO_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
}

/** What images are created from. */
export interface WorkspaceHost {
  readonly directoryId: string;
  readonly workspaceId: string;
}

/**
 * A VPC with two subnets in two zones, a Simple AD directory on them, registered with WorkSpaces,
 * and one WorkSpace in it: what moto requires before CreateWorkspaceImage.
 */
export async function buildWorkspaceHost(moto: Pick<Moto, 'endpoint'>, ec2: EC2Client, workspaces: WorkSpacesClient): Promise<WorkspaceHost> {
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnetIds: string[] = [];
  for (const [i, zone] of [`${MOTO_REGION}a`, `${MOTO_REGION}b`].entries()) {
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.20.${i}.0/24`, AvailabilityZone: zone }));
    subnetIds.push(subnet.Subnet!.SubnetId!);
  }
  // No Directory Service client among the project's dependencies: one JSON call to moto's ds endpoint.
  const directory = await motoJson(moto, 'ds', 'DirectoryService_20150416.CreateDirectory', {
    Name: 'corp.example.com', Password: 'Secret-Passw0rd', Size: 'Small', VpcSettings: { VpcId: vpcId, SubnetIds: subnetIds },
  }) as { DirectoryId?: string };
  const directoryId = directory.DirectoryId;
  if (!directoryId) throw new Error(`moto CreateDirectory answered ${JSON.stringify(directory)}`);
  await workspaces.send(new RegisterWorkspaceDirectoryCommand({ DirectoryId: directoryId, SubnetIds: subnetIds }));
  const created = await workspaces.send(new CreateWorkspacesCommand({
    Workspaces: [{ DirectoryId: directoryId, UserName: 'golden-builder', BundleId: 'wsb-0123abcde' }],
  }));
  const workspaceId = created.PendingRequests?.[0]?.WorkspaceId;
  if (!workspaceId) throw new Error(`moto CreateWorkspaces answered ${JSON.stringify(created)}`);
  return { directoryId, workspaceId };
}

/** A signed-looking awsJson1_1 request to moto (moto routes on the credential scope and does not verify signatures). */
async function motoJson(moto: Pick<Moto, 'endpoint'>, service: string, target: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': target,
      'authorization': `AWS4-HMAC-SHA256 Credential=testing/20250101/${MOTO_REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`moto ${target} failed (HTTP ${res.status}): ${text}`);
  return JSON.parse(text);
}

let imageCounter = 0;

/** A new AVAILABLE image owned by MOTO_ACCOUNT (moto ids are `wsi-` + exactly 9 characters). */
export async function createWorkspaceImage(workspaces: WorkSpacesClient, host: WorkspaceHost, name?: string): Promise<string> {
  const out = await workspaces.send(new CreateWorkspaceImageCommand({
    Name: name ?? `golden-${process.pid}-${++imageCounter}`, Description: 'emulator image', WorkspaceId: host.workspaceId,
  }));
  if (!out.ImageId || out.State !== 'AVAILABLE' || out.OwnerAccountId !== MOTO_ACCOUNT) {
    throw new Error(`moto CreateWorkspaceImage gave ${JSON.stringify(out)}; expected an AVAILABLE image owned by ${MOTO_ACCOUNT}`);
  }
  return out.ImageId;
}

/**
 * Sets the image's State in moto (which makes every image AVAILABLE at once), as a real image is
 * PENDING for a while after CreateWorkspaceImage.
 */
export async function setWorkspaceImageState(moto: Pick<Moto, 'seed'>, imageId: string, state: 'AVAILABLE' | 'PENDING' | 'ERROR'): Promise<void> {
  await moto.seed('/seed/workspace-image-state', { image_id: imageId, state });
}

/** The accounts the image is shared with, sorted (DescribeWorkspaceImagePermissions, every page). */
export async function sharedAccounts(workspaces: WorkSpacesClient, imageId: string): Promise<string[]> {
  await settleAll();
  const accounts: string[] = [];
  let token: string | undefined;
  do {
    const out = await workspaces.send(new DescribeWorkspaceImagePermissionsCommand({ ImageId: imageId, MaxResults: 25, NextToken: token }));
    accounts.push(...(out.ImagePermissions ?? []).map((p) => p.SharedAccountId!));
    token = out.NextToken;
  } while (token);
  return accounts.sort();
}

/** A share made outside the resource (console, another stack). */
export async function shareOutside(workspaces: WorkSpacesClient, imageId: string, ...accounts: string[]): Promise<void> {
  for (const account of accounts) {
    await workspaces.send(new UpdateWorkspaceImagePermissionCommand({ ImageId: imageId, SharedAccountId: account, AllowCopyImage: true }));
  }
  await settleAll();
}

export async function unshareOutside(workspaces: WorkSpacesClient, imageId: string, ...accounts: string[]): Promise<void> {
  for (const account of accounts) {
    await workspaces.send(new UpdateWorkspaceImagePermissionCommand({ ImageId: imageId, SharedAccountId: account, AllowCopyImage: false }));
  }
  await settleAll();
}

// ---------------------------------------------------------------------------------------------
// The jest fixture
// ---------------------------------------------------------------------------------------------

export interface WorkspacesMotoFixture {
  readonly moto: Moto;
  readonly workspaces: WorkSpacesClient;
  readonly host: WorkspaceHost;
}

/**
 * Jest only: moto with a WorkSpaces client, and the directory and WorkSpace built once (see
 * `useMotoSuite`). moto is not reset between tests (that would drop the WorkSpace): each test works
 * on images of its own.
 */
export function useWorkspacesMoto(): WorkspacesMotoFixture {
  return useMotoSuite('useWorkspacesMoto()',
    async (moto) => {
      const workspaces = workspacesClient(moto);
      const ec2 = ec2Client(moto);
      try {
        return { workspaces, host: await buildWorkspaceHost(moto, ec2, workspaces) };
      } finally {
        ec2.destroy();
      }
    },
    ({ workspaces }) => workspaces.destroy(),
    { resetBeforeEach: false });
}

// ---------------------------------------------------------------------------------------------
// Observing the SDK calls (no jest dependency)
// ---------------------------------------------------------------------------------------------

export interface WorkspacesCall {
  /** The command's class name without `Command`, e.g. `UpdateWorkspaceImagePermission`. */
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/**
 * Runs before each call: may return an error to throw instead of sending it (fault injection), or
 * change moto's state first. `rewrite` may change a successful answer (e.g. to show a state moto
 * cannot produce).
 */
export interface WorkspacesHooks {
  readonly fail?: (call: WorkspacesCall, index: number) => Error | undefined | Promise<Error | undefined>;
  readonly rewrite?: (call: WorkspacesCall, output: Record<string, unknown>) => Record<string, unknown>;
}

export interface WorkspacesCallRecorder {
  readonly calls: WorkspacesCall[];
  /** Calls that change AWS (anything but Describe/Get/List). */
  mutating(): WorkspacesCall[];
  /** Stops recording and restores the SDK. */
  restore(): void;
}

/** Records every command any WorkSpacesClient in this process sends (the handler's too), passing it on to moto. */
export function recordWorkspacesCalls(hooks: WorkspacesHooks = {}): WorkspacesCallRecorder {
  const proto = WorkSpacesClient.prototype as unknown as { send: (...args: unknown[]) => Promise<unknown> };
  const hadOwn = Object.prototype.hasOwnProperty.call(proto, 'send');
  const original = proto.send;
  const calls: WorkspacesCall[] = [];
  proto.send = async function send(this: WorkSpacesClient, ...args: unknown[]): Promise<unknown> {
    const command = args[0] as { constructor: { name: string }; input: Record<string, unknown> };
    const call = { name: command.constructor.name.replace(/Command$/, ''), input: command.input };
    calls.push(call);
    const error = await hooks.fail?.(call, calls.length - 1);
    if (error) throw error;
    const output = await original.apply(this, args) as Record<string, unknown>;
    return hooks.rewrite ? hooks.rewrite(call, output) : output;
  };
  return {
    calls,
    mutating: () => calls.filter((c) => !/^(Describe|Get|List)/.test(c.name)),
    restore: () => {
      if (hadOwn) proto.send = original;
      else delete (proto as { send?: unknown }).send;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CloudFormation events for the SharedWorkspaceImage handler
// ---------------------------------------------------------------------------------------------

export const STACK_ID = `arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/demo/guid`;
export const SERVICE_TOKEN = `arn:aws:lambda:${MOTO_REGION}:${MOTO_ACCOUNT}:function:demo-SharedWorkspaceImageProvider-onEvent`;

/** A SharedWorkspaceImage declaration in construct terms. */
export interface WorkspaceShareInput {
  readonly imageId: string;
  readonly accounts: string[];
  /** The app owns the image's lifetime (deletionGuard, or implied by deleteImage as the construct does). @default deleteImage */
  readonly guardImage?: boolean;
  /** deleteImageOnRemoval. @default false */
  readonly deleteImage?: boolean;
  /** forceUnshareOnRemoval. @default false */
  readonly forceUnshare?: boolean;
  /** takeOverExistingShares. @default false */
  readonly takeOver?: boolean;
}

/** The resource properties as CloudFormation delivers them (flags as 'true' / 'false'). */
export function workspaceImageProperties(input: WorkspaceShareInput): SharedWorkspaceImageResourceProperties {
  return {
    ImageId: input.imageId,
    Accounts: [...input.accounts],
    GuardImage: String(input.guardImage ?? input.deleteImage ?? false),
    DeleteImage: String(input.deleteImage ?? false),
    ForceUnshare: String(input.forceUnshare ?? false),
    ...(input.takeOver !== undefined ? { TakeOverExistingShares: String(input.takeOver) } : {}),
  };
}

type Wire = SharedWorkspaceImageResourceProperties & { ServiceToken: string };

function wire(input: WorkspaceShareInput): Wire {
  return { ServiceToken: SERVICE_TOKEN, ...workspaceImageProperties(input) };
}

export const workspaceEvents = eventBuilders<WorkspaceShareInput, Wire>(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, STACK_ID, SERVICE_TOKEN, wire);
export const { createEvent, updateEvent, deleteEvent, rollbackOf } = workspaceEvents;

/**
 * The isComplete input exactly as the CDK Provider framework builds it (its createResponseEvent):
 * the CloudFormation event merged with the onEvent answer, the answer's physical id (or the
 * framework's default) winning.
 */
export function isCompleteInput<A extends { PhysicalResourceId?: string }>(
  event: CloudFormationCustomResourceEvent, answer: A,
): CloudFormationCustomResourceEvent & A {
  const physicalId = answer.PhysicalResourceId
    || (event.RequestType === 'Create' ? event.RequestId : event.PhysicalResourceId);
  return JSON.parse(JSON.stringify({ ...event, ...answer, PhysicalResourceId: physicalId }));
}
