/**
 * SharedAmi handler tests: the real router and plan against a mocked EC2 client
 * (aws-sdk-client-mock). Most tests run on a small stateful EC2 fake, so a test can check both
 * the exact requests sent and the state they leave behind.
 */
import {
  DeleteSnapshotCommand, DeregisterImageCommand, DescribeImageAttributeCommand, DisableImageDeregistrationProtectionCommand,
  EnableImageDeregistrationProtectionCommand, DescribeImagesCommand, DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand, EC2Client, EC2ServiceException, Image, LaunchPermission, ModifyImageAttributeCommand,
  ModifyImageAttributeCommandInput, ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand, CreateGrantCommandInput, DescribeKeyCommand, GrantListEntry, KMSClient, KMSServiceException, ListGrantsCommand,
  ListGrantsCommandInput, RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { GetParametersByPathCommand, PutParameterCommand, SSMServiceException } from '@aws-sdk/client-ssm';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { ParameterStore, seedEarlierClaim, ssmMock, useParameterStore } from './ssm-fake';
import { KmsRetryStrategy } from '../../lambda/ami/adapter';
import { ShareError } from '../../lambda/common/errors';
import { handler as realHandler } from '../../lambda/shared-ami.lambda';
import { KMS_GRANT_OPERATIONS } from '../../src/private/contract';

process.env.SHARED_IMAGES_QUIET = '1';
process.env.AWS_REGION ??= 'us-east-1';

const ec2Mock = mockClient(EC2Client);
const kmsMock = mockClient(KMSClient);

const OWNER = '123456789012';
const STACK_ID = `arn:aws:cloudformation:us-east-1:${OWNER}:stack/s/guid`;
const SERVICE_TOKEN = `arn:aws:lambda:us-east-1:${OWNER}:function:provider-framework-onEvent`;
const IMAGE = 'ami-0123456789abcdef0';
const NEW_IMAGE = 'ami-0fedcba9876543210';
const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const FOREIGN = '999999999999';
const ORG = 'arn:aws:organizations::123456789012:organization/o-exampleorg1';
const OU = 'arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-ab12-cdef3456';
const FOREIGN_ORG = 'arn:aws:organizations::444444444444:organization/o-otherorg123';

const physicalId = (imageId: string): string => `shared-ami:${imageId}`;
/** The grant name of the resource `ShareAbc123` of stack `s` on an image. */
const grantNameOf = (imageId: string): string => `cdk-shared-images/s/ShareAbc123/${imageId}`;
/** The Data of a response for an image whose share holds no KMS grant (unencrypted snapshots, or none). */
const noGrants = (imageId: string) => ({ ImageId: imageId, GrantIds: '', GrantCount: '0', GrantName: grantNameOf(imageId) });

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

type Props = Record<string, unknown>;

/** The properties the construct sends (scalars as strings, as CloudFormation delivers them). */
function props(overrides: Props = {}): Props {
  return {
    ImageId: IMAGE,
    Accounts: [A, B],
    OrganizationArns: [],
    OrganizationalUnitArns: [],
    ShareSnapshots: 'false',
    // deregistration protection has tests of its own ('deregistration protection')
    DeregistrationProtection: 'false',
    ...overrides,
  };
}

const common = {
  ServiceToken: SERVICE_TOKEN,
  ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/response',
  StackId: STACK_ID,
  RequestId: 'b5a2ab04-0000-4000-8000-000000000000',
  LogicalResourceId: 'ShareAbc123',
  ResourceType: 'Custom::SharedAmi',
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

function deleteEvent(p: Props, physical = physicalId(String(p.ImageId))): CloudFormationCustomResourceDeleteEvent {
  return { ...common, RequestType: 'Delete', PhysicalResourceId: physical, ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...p } };
}

// ---------------------------------------------------------------------------------------------
// A stateful EC2 fake
// ---------------------------------------------------------------------------------------------

interface FakeEc2 {
  /** image id → image and its launch permissions */
  readonly images: Record<string, { image: Image; launch: LaunchPermission[] }>;
  /** snapshot id → accounts holding createVolumePermission */
  readonly snapshots: Record<string, string[]>;
  /** snapshot id → KmsKeyId of the encrypted ones (DescribeSnapshots); the others are unencrypted */
  readonly snapshotKeys?: Record<string, string>;
  /** DeregisterImage with DeleteAssociatedSnapshots: each snapshot's ReturnCode (default success) */
  snapshotDeleteResult?: (snapshotId: string) => string;
}

function ec2Error(name: string, message = `${name} (mocked)`): EC2ServiceException {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

function image(imageId: string, snapshotIds: string[] = [], overrides: Partial<Image> = {}): Image {
  return {
    ImageId: imageId,
    OwnerId: OWNER,
    State: 'available',
    BlockDeviceMappings: snapshotIds.map((s, i) => ({ DeviceName: `/dev/xvd${'abcdefgh'[i]}`, Ebs: { SnapshotId: s, Encrypted: false } })),
    ...overrides,
  };
}

const sameGrant = (a: LaunchPermission) => (b: LaunchPermission): boolean =>
  a.UserId === b.UserId && a.OrganizationArn === b.OrganizationArn && a.OrganizationalUnitArn === b.OrganizationalUnitArn && a.Group === b.Group;

/** The mutating calls the EC2 and KMS fakes applied, in order, across both clients. */
const timeline: string[] = [];

/** Points every EC2 command of the mock at `fake`, behaving like EC2 does. */
function useFake(fake: FakeEc2): FakeEc2 {
  ec2Mock.on(DescribeImagesCommand).callsFake((input: { ImageIds?: string[]; IncludeDisabled?: boolean }) => {
    const found = (input.ImageIds ?? []).map((id) => fake.images[id]?.image);
    if (found.some((i) => i === undefined)) throw ec2Error('InvalidAMIID.NotFound', `The image id '[${input.ImageIds}]' does not exist`);
    // EC2 leaves disabled AMIs out unless asked for them
    return { Images: found.filter((i) => input.IncludeDisabled || i!.State !== 'disabled').map((i) => ({ ...i })) };
  });
  ec2Mock.on(DescribeImageAttributeCommand).callsFake((input: { ImageId: string }) => {
    const entry = fake.images[input.ImageId];
    if (!entry) throw ec2Error('InvalidAMIID.NotFound');
    return { ImageId: input.ImageId, LaunchPermissions: entry.launch.map((p) => ({ ...p })) };
  });
  ec2Mock.on(DescribeSnapshotAttributeCommand).callsFake((input: { SnapshotId: string }) => {
    const holders = fake.snapshots[input.SnapshotId];
    if (!holders) throw ec2Error('InvalidSnapshot.NotFound');
    return { SnapshotId: input.SnapshotId, CreateVolumePermissions: holders.map((UserId) => ({ UserId })) };
  });
  ec2Mock.on(DescribeSnapshotsCommand).callsFake((input: { SnapshotIds?: string[] }) => {
    const ids = input.SnapshotIds ?? [];
    const missing = ids.filter((id) => !fake.snapshots[id]);
    if (missing.length > 0) throw ec2Error('InvalidSnapshot.NotFound', `The snapshot '${missing.join(',')}' does not exist.`);
    return {
      Snapshots: ids.map((SnapshotId) => {
        const key = fake.snapshotKeys?.[SnapshotId];
        return { SnapshotId, OwnerId: OWNER, State: 'completed', Encrypted: !!key, ...(key ? { KmsKeyId: key } : {}) };
      }),
    };
  });
  ec2Mock.on(ModifyImageAttributeCommand).callsFake((input: ModifyImageAttributeCommandInput) => {
    const entry = fake.images[input.ImageId ?? ''];
    if (!entry) throw ec2Error('InvalidAMIID.NotFound');
    for (const p of input.LaunchPermission?.Remove ?? []) entry.launch = entry.launch.filter((q) => !sameGrant(p)(q));
    for (const p of input.LaunchPermission?.Add ?? []) if (!entry.launch.some(sameGrant(p))) entry.launch.push({ ...p });
    timeline.push(`ModifyImageAttribute ${input.ImageId}`);
    return {};
  });
  ec2Mock.on(ModifySnapshotAttributeCommand).callsFake((input: { SnapshotId: string; OperationType?: string; UserIds?: string[] }) => {
    const holders = fake.snapshots[input.SnapshotId];
    if (!holders) throw ec2Error('InvalidSnapshot.NotFound');
    if (input.OperationType === 'add') {
      for (const u of input.UserIds ?? []) if (!holders.includes(u)) holders.push(u);
    } else if (input.OperationType === 'remove') {
      fake.snapshots[input.SnapshotId] = holders.filter((u) => !(input.UserIds ?? []).includes(u));
    } else {
      throw ec2Error('MissingParameter', 'OperationType is required in this request form');
    }
    timeline.push(`ModifySnapshotAttribute ${input.SnapshotId} ${input.OperationType}`);
    return {};
  });
  ec2Mock.on(DeregisterImageCommand).callsFake((input: { ImageId: string; DeleteAssociatedSnapshots?: boolean }) => {
    const entry = fake.images[input.ImageId];
    if (!entry) throw ec2Error('InvalidAMIID.NotFound');
    delete fake.images[input.ImageId];
    timeline.push(`DeregisterImage ${input.ImageId}${input.DeleteAssociatedSnapshots ? ' DeleteAssociatedSnapshots' : ''}`);
    if (!input.DeleteAssociatedSnapshots) return {};
    // EC2 deletes the AMI's snapshots in the same call and reports each one's outcome.
    const ids = (entry.image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((id): id is string => !!id);
    const results = [...new Set(ids)].map((id) => {
      const code = fake.snapshotDeleteResult?.(id) ?? 'success';
      if (code === 'success') delete fake.snapshots[id];
      return { SnapshotId: id, ReturnCode: code };
    });
    return { DeleteSnapshotResults: results };
  });
  ec2Mock.on(DeleteSnapshotCommand).callsFake((input: { SnapshotId: string }) => {
    if (!fake.snapshots[input.SnapshotId]) throw ec2Error('InvalidSnapshot.NotFound');
    delete fake.snapshots[input.SnapshotId];
    timeline.push(`DeleteSnapshot ${input.SnapshotId}`);
    return {};
  });
  return fake;
}

/** One available image owned by the stack's account, with the given permissions. */
function givenImage(launch: LaunchPermission[] = [], snapshots: Record<string, string[]> = {}, overrides: Partial<Image> = {}): FakeEc2 {
  return useFake({
    images: { [IMAGE]: { image: image(IMAGE, Object.keys(snapshots), overrides), launch: launch.map((p) => ({ ...p })) } },
    snapshots: Object.fromEntries(Object.entries(snapshots).map(([k, v]) => [k, [...v]])),
  });
}

const READS = [DescribeImagesCommand, DescribeImageAttributeCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand];

/** Every EC2 call that is not one of the reads (i.e. anything that could change AWS). */
function mutatingCalls(): unknown[] {
  return ec2Mock.calls().map((c) => c.args[0]).filter((cmd) => !READS.some((R) => cmd instanceof R));
}

function modifyImageInputs(): unknown[] {
  return ec2Mock.commandCalls(ModifyImageAttributeCommand).map((c) => c.args[0].input);
}

function modifySnapshotInputs(): unknown[] {
  return ec2Mock.commandCalls(ModifySnapshotAttributeCommand).map((c) => c.args[0].input);
}

/** Launch permissions of an image, order-independent. */
function grantsOf(fake: FakeEc2, imageId = IMAGE): string[] {
  return fake.images[imageId].launch.map((p) => JSON.stringify(p)).sort();
}

/** The error the handler rejects with (fails the test if it resolves). */
async function failure(event: CloudFormationCustomResourceEvent): Promise<Error> {
  try {
    await handler(event);
  } catch (err) {
    return err as Error;
  }
  throw new Error('the handler succeeded where it should have failed');
}

/** The record of ownership (Parameter Store), new and empty for every test. */
let parameters: ParameterStore;

/**
 * The handler, as for a resource that exists: an Update or Delete whose AWS state the test set up
 * by hand finds the claim its earlier events would have left (the tests of the record itself, at
 * the end, call the handler as it is).
 */
const handler = (event: CloudFormationCustomResourceEvent): ReturnType<typeof realHandler> => {
  seedEarlierClaim(parameters, event, 'ami');
  return realHandler(event);
};

beforeEach(() => {
  parameters = useParameterStore();
  ec2Mock.reset();
  kmsMock.reset();
  // Any KMS call a test did not set up fails loudly (tests of unencrypted AMIs expect none).
  kmsMock.onAnyCommand().rejects(new Error('unexpected KMS call'));
  timeline.length = 0;
});

// ---------------------------------------------------------------------------------------------

describe('Create', () => {
  test('grants every recipient in one ModifyImageAttribute call and returns the physical id and ImageId', async () => {
    givenImage();
    const response = await handler(createEvent(props({ Accounts: [A, B], OrganizationArns: [ORG], OrganizationalUnitArns: [OU] })));

    expect(response).toEqual({ PhysicalResourceId: `shared-ami:${IMAGE}`, Data: noGrants(IMAGE) });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, { ImageIds: [IMAGE] });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImageAttributeCommand, { ImageId: IMAGE, Attribute: 'launchPermission' });
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(modifyImageInputs()).toEqual([{
      ImageId: IMAGE,
      LaunchPermission: { Add: [{ UserId: A }, { UserId: B }, { OrganizationArn: ORG }, { OrganizationalUnitArn: OU }] },
    }]);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeSnapshotAttributeCommand);
    expect(ec2Mock).not.toHaveReceivedCommand(ModifySnapshotAttributeCommand);
    expect(mutatingCalls()).toHaveLength(1);
  });

  test('grants only the recipients that are missing, and leaves other shares alone', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: FOREIGN }, { OrganizationArn: FOREIGN_ORG }]);
    await handler(createEvent(props({ Accounts: [A, B], OrganizationArns: [ORG] })));

    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: B }, { OrganizationArn: ORG }] } }]);
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: FOREIGN }, { OrganizationArn: FOREIGN_ORG }, { UserId: B }, { OrganizationArn: ORG }]
      .map((p) => JSON.stringify(p)).sort());
  });

  test('makes no mutating call when every recipient already has access', async () => {
    givenImage([{ UserId: A }, { UserId: B }]);
    const response = await handler(createEvent(props()));
    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(mutatingCalls()).toEqual([]);
  });

  test('ShareSnapshots "true" grants createVolumePermission (OperationType add + UserIds) on every snapshot, accounts only', async () => {
    const fake = givenImage([], { 'snap-1': [], 'snap-2': [A] });
    await handler(createEvent(props({ Accounts: [A, B], OrganizationArns: [ORG], ShareSnapshots: 'true' })));

    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: A }, { UserId: B }, { OrganizationArn: ORG }] } }]);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSnapshotAttributeCommand, { SnapshotId: 'snap-1', Attribute: 'createVolumePermission' });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSnapshotAttributeCommand, { SnapshotId: 'snap-2', Attribute: 'createVolumePermission' });
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifySnapshotAttributeCommand, 2);
    expect(modifySnapshotInputs()).toEqual([
      { SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [A, B] },
      { SnapshotId: 'snap-2', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [B] },
    ]);
    expect(fake.snapshots).toEqual({ 'snap-1': [A, B], 'snap-2': [A, B] });
  });

  test('reads each snapshot once even when several mappings share it', async () => {
    useFake({
      images: {
        [IMAGE]: {
          image: image(IMAGE, [], {
            BlockDeviceMappings: [
              { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-1' } },
              { DeviceName: '/dev/xvdb', Ebs: { SnapshotId: 'snap-1' } },
              { DeviceName: '/dev/xvdc', VirtualName: 'ephemeral0' },
            ],
          }),
          launch: [],
        },
      },
      snapshots: { 'snap-1': [] },
    });
    await handler(createEvent(props({ ShareSnapshots: 'true' })));
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeSnapshotAttributeCommand, 1);
    expect(modifySnapshotInputs()).toEqual([{ SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [A, B] }]);
  });

  test('batches more than 100 launch permissions into calls of at most 100', async () => {
    const many = Array.from({ length: 250 }, (_, i) => String(100000000000 + i));
    const fake = givenImage();
    await handler(createEvent(props({ Accounts: many })));

    const calls = ec2Mock.commandCalls(ModifyImageAttributeCommand).map((c) => c.args[0].input);
    expect(calls.map((i) => [i.ImageId, i.LaunchPermission?.Add?.length, i.LaunchPermission?.Remove])).toEqual([
      [IMAGE, 100, undefined], [IMAGE, 100, undefined], [IMAGE, 50, undefined],
    ]);
    expect(calls.flatMap((i) => i.LaunchPermission?.Add ?? []).map((p) => p.UserId)).toEqual(many);
    expect(fake.images[IMAGE].launch).toHaveLength(250);
  });

  test('a DescribeImageAttribute answer without LaunchPermissions counts as no permissions', async () => {
    givenImage();
    ec2Mock.on(DescribeImageAttributeCommand).resolves({ ImageId: IMAGE });
    await handler(createEvent(props()));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: A }, { UserId: B }] } }]);
  });

  test('works with an 8-hex AMI id', async () => {
    const short = 'ami-12345678';
    useFake({ images: { [short]: { image: image(short), launch: [] } }, snapshots: {} });
    const response = await handler(createEvent(props({ ImageId: short })));
    expect(response).toEqual({ PhysicalResourceId: `shared-ami:${short}`, Data: noGrants(short) });
    expect(modifyImageInputs()).toEqual([{ ImageId: short, LaunchPermission: { Add: [{ UserId: A }, { UserId: B }] } }]);
  });
});

describe('Create is rejected before any mutating call', () => {
  test.each<[string, Props, RegExp]>([
    ['a bad image id', { ImageId: 'ami-XYZ' }, /imageId "ami-XYZ" is not an AMI id/],
    ['a bad account id', { Accounts: [A, '1234'] }, /Accounts: "1234" is not a valid account id/],
    ['a bad organization ARN', { OrganizationArns: ['o-abc'] }, /OrganizationArns: "o-abc" is not a valid organization ARN/],
    ['a bad OU ARN', { OrganizationalUnitArns: ['ou-ab12-cdef3456'] }, /OrganizationalUnitArns: "ou-ab12-cdef3456" is not a valid organizational unit ARN/],
    ['Accounts that is not a list', { Accounts: A }, /Accounts must be a list/],
    ['an unknown property', { Colour: 'blue' }, /unknown properties Colour/],
    ['no recipient', { Accounts: [] }, /no recipient/],
    ['a bad ShareSnapshots', { ShareSnapshots: 'yes' }, /ShareSnapshots must be "true" or "false", got "yes"/],
  ])('invalid properties: %s (no AWS call at all)', async (_, overrides, message) => {
    givenImage();
    const err = await failure(createEvent(props(overrides)));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/was not changed because its properties are invalid/);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  test('the image does not exist (InvalidAMIID.NotFound)', async () => {
    useFake({ images: {}, snapshots: {} });
    const err = await failure(createEvent(props()));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(`AMI ${IMAGE} was not found in account ${OWNER} in us-east-1: check the imageId (AMIs are regional).`);
    expect(mutatingCalls()).toEqual([]);
  });

  test('the image does not exist (empty DescribeImages answer)', async () => {
    givenImage();
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    const err = await failure(createEvent(props()));
    expect(err.message).toMatch(new RegExp(`^AMI ${IMAGE} was not found in account ${OWNER}`));
    expect(mutatingCalls()).toEqual([]);
  });

  test('the image is owned by another account', async () => {
    givenImage([], {}, { OwnerId: FOREIGN });
    const err = await failure(createEvent(props()));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toContain(`AMI ${IMAGE} is owned by account ${FOREIGN}, not by account ${OWNER}`);
    expect(err.message).toContain('copy-image');
    expect(mutatingCalls()).toEqual([]);
  });

  test('the image is pending', async () => {
    givenImage([], {}, { State: 'pending' });
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));
    expect(err.message).toBe(`AMI ${IMAGE} is in state "pending" and cannot be shared: deploy again once it is available.`);
    expect(mutatingCalls()).toEqual([]);
  });

  test('the image failed', async () => {
    givenImage([], {}, { State: 'failed' });
    const err = await failure(createEvent(props()));
    expect(err.message).toBe(`AMI ${IMAGE} is in state "failed" and cannot be shared: share an available AMI instead.`);
    expect(mutatingCalls()).toEqual([]);
  });

  test('a StackId that is not a CloudFormation stack ARN', async () => {
    givenImage();
    const err = await failure({ ...createEvent(props()), StackId: 'not-a-stack' });
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toContain('is not a CloudFormation stack ARN');
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  test('an unknown request type', async () => {
    givenImage();
    const event = { ...createEvent(props()), RequestType: 'Rename' } as unknown as CloudFormationCustomResourceEvent;
    const err = await failure(event);
    expect(err.message).toBe('Unknown request type "Rename".');
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Update of the same image', () => {
  test('sends only the delta, adds and removes in one call', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }, { OrganizationArn: ORG }, { UserId: FOREIGN }, { Group: 'all' }]);
    const old = props({ Accounts: [A, B], OrganizationArns: [ORG] });
    const next = props({ Accounts: [B, C], OrganizationalUnitArns: [OU] });
    const response = await handler(updateEvent(next, old));

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: noGrants(IMAGE) });
    expect(modifyImageInputs()).toEqual([{
      ImageId: IMAGE,
      LaunchPermission: {
        Add: [{ UserId: C }, { OrganizationalUnitArn: OU }],
        Remove: [{ UserId: A }, { OrganizationArn: ORG }],
      },
    }]);
    expect(mutatingCalls()).toHaveLength(1);
    expect(grantsOf(fake)).toEqual([{ UserId: B }, { UserId: FOREIGN }, { Group: 'all' }, { UserId: C }, { OrganizationalUnitArn: OU }]
      .map((p) => JSON.stringify(p)).sort());
  });

  test('an update that changes nothing makes no mutating call', async () => {
    givenImage([{ UserId: A }, { UserId: B }], { 'snap-1': [A, B] });
    const p = props({ ShareSnapshots: 'true' });
    const response = await handler(updateEvent(p, p));
    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(mutatingCalls()).toEqual([]);
  });

  test('never removes permissions it did not declare', async () => {
    const fake = givenImage(
      [{ UserId: A }, { UserId: FOREIGN }, { OrganizationArn: FOREIGN_ORG }, { Group: 'all' }],
      { 'snap-1': [A, FOREIGN] },
    );
    await handler(updateEvent(props({ Accounts: [B], ShareSnapshots: 'true' }), props({ Accounts: [A], ShareSnapshots: 'true' })));

    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: B }], Remove: [{ UserId: A }] } }]);
    expect(modifySnapshotInputs()).toEqual([
      { SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [B] },
      { SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: [A] },
    ]);
    expect(grantsOf(fake)).toEqual([{ UserId: FOREIGN }, { OrganizationArn: FOREIGN_ORG }, { Group: 'all' }, { UserId: B }]
      .map((p) => JSON.stringify(p)).sort());
    expect(fake.snapshots['snap-1'].sort()).toEqual([B, FOREIGN]);
  });

  test('rollback (old and new properties swapped) restores the old state exactly', async () => {
    const start = {
      launch: [{ UserId: A }, { UserId: B }, { OrganizationArn: ORG }, { UserId: FOREIGN }],
      snapshots: { 'snap-1': [A, B, FOREIGN], 'snap-2': [A, B] },
    };
    const fake = givenImage(start.launch, start.snapshots);
    const old = props({ Accounts: [A, B], OrganizationArns: [ORG], ShareSnapshots: 'true' });
    const next = props({ Accounts: [B, C], OrganizationalUnitArns: [OU], ShareSnapshots: 'true' });

    await handler(updateEvent(next, old));
    expect(grantsOf(fake)).toEqual([{ UserId: B }, { UserId: C }, { OrganizationalUnitArn: OU }, { UserId: FOREIGN }]
      .map((p) => JSON.stringify(p)).sort());

    ec2Mock.resetHistory();
    const response = await handler(updateEvent(old, next));

    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(modifyImageInputs()).toEqual([{
      ImageId: IMAGE,
      LaunchPermission: { Add: [{ UserId: A }, { OrganizationArn: ORG }], Remove: [{ UserId: C }, { OrganizationalUnitArn: OU }] },
    }]);
    expect(grantsOf(fake)).toEqual(start.launch.map((p) => JSON.stringify(p)).sort());
    expect(Object.fromEntries(Object.entries(fake.snapshots).map(([k, v]) => [k, [...v].sort()])))
      .toEqual({ 'snap-1': [A, B, FOREIGN], 'snap-2': [A, B] });
  });

  test('ShareSnapshots true -> false revokes the snapshot permissions and leaves launch permissions', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }], { 'snap-1': [A, B, FOREIGN], 'snap-2': [A, B] });
    await handler(updateEvent(props({ ShareSnapshots: 'false' }), props({ ShareSnapshots: 'true' })));

    expect(ec2Mock).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
    expect(modifySnapshotInputs()).toEqual([
      { SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: [A, B] },
      { SnapshotId: 'snap-2', Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: [A, B] },
    ]);
    expect(fake.snapshots).toEqual({ 'snap-1': [FOREIGN], 'snap-2': [] });
    expect(grantsOf(fake)).toHaveLength(2);
  });

  test('ShareSnapshots false -> true grants the snapshot permissions only', async () => {
    givenImage([{ UserId: A }, { UserId: B }], { 'snap-1': [] });
    await handler(updateEvent(props({ ShareSnapshots: 'true' }), props({ ShareSnapshots: 'false' })));
    expect(ec2Mock).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
    expect(modifySnapshotInputs()).toEqual([{ SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [A, B] }]);
  });

  test('malformed old properties do not block the update (read leniently)', async () => {
    givenImage([{ UserId: A }]);
    await handler(updateEvent(props({ Accounts: [B] }), props({ Accounts: ['not-an-account', A], ShareSnapshots: 'bogus' })));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: B }], Remove: [{ UserId: A }] } }]);
  });

  test('an Update whose physical id this handler did not issue falls back to the old ImageId', async () => {
    givenImage([{ UserId: A }]);
    const response = await handler(updateEvent(props({ Accounts: [A, C] }), props({ Accounts: [A] }), 'legacy-physical-id'));
    expect(response.PhysicalResourceId).toBe(physicalId(IMAGE));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: C }] } }]);
  });

  test('invalid new properties are rejected before any AWS call', async () => {
    givenImage([{ UserId: A }, { UserId: B }]);
    const err = await failure(updateEvent(props({ Accounts: ['12'] }), props()));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toContain('Accounts: "12" is not a valid account id');
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Update with a new image id', () => {
  function twoImages(): FakeEc2 {
    return useFake({
      images: {
        [IMAGE]: { image: image(IMAGE, ['snap-old']), launch: [{ UserId: A }, { UserId: B }] },
        [NEW_IMAGE]: { image: image(NEW_IMAGE, ['snap-new']), launch: [{ UserId: FOREIGN }] },
      },
      snapshots: { 'snap-old': [A, B], 'snap-new': [] },
    });
  }

  function callsMentioning(imageOrSnapshot: string): unknown[] {
    return ec2Mock.calls().map((c) => c.args[0].input).filter((input) => JSON.stringify(input).includes(imageOrSnapshot));
  }

  test('grants on the new image, returns the new physical id and never touches the old image', async () => {
    const fake = twoImages();
    const old = props({ ImageId: IMAGE, ShareSnapshots: 'true' });
    const next = props({ ImageId: NEW_IMAGE, Accounts: [A, B, C], ShareSnapshots: 'true' });
    const response = await handler(updateEvent(next, old));

    expect(response).toEqual({ PhysicalResourceId: `shared-ami:${NEW_IMAGE}`, Data: noGrants(NEW_IMAGE) });
    expect(modifyImageInputs()).toEqual([{ ImageId: NEW_IMAGE, LaunchPermission: { Add: [{ UserId: A }, { UserId: B }, { UserId: C }] } }]);
    expect(modifySnapshotInputs()).toEqual([{ SnapshotId: 'snap-new', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [A, B, C] }]);
    expect(callsMentioning(IMAGE)).toEqual([]);
    expect(callsMentioning('snap-old')).toEqual([]);
    expect(grantsOf(fake, IMAGE)).toEqual([{ UserId: A }, { UserId: B }].map((p) => JSON.stringify(p)).sort());
    expect(fake.snapshots['snap-old']).toEqual([A, B]);
  });

  test('the new image is checked like on Create (a pending new image fails before any change)', async () => {
    const fake = twoImages();
    fake.images[NEW_IMAGE].image.State = 'pending';
    const err = await failure(updateEvent(props({ ImageId: NEW_IMAGE }), props({ ImageId: IMAGE })));
    expect(err.message).toContain(`AMI ${NEW_IMAGE} is in state "pending"`);
    expect(mutatingCalls()).toEqual([]);
  });

  test('rollback of a replacement grants back on the old image and returns its physical id, never touching the new one', async () => {
    twoImages();
    const old = props({ ImageId: IMAGE });
    const next = props({ ImageId: NEW_IMAGE, Accounts: [C] });
    const response = await handler(updateEvent(old, next, physicalId(NEW_IMAGE)));

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: noGrants(IMAGE) });
    expect(mutatingCalls()).toEqual([]); // A and B still hold the old image
    expect(callsMentioning(NEW_IMAGE)).toEqual([]);
  });
});

describe('Delete', () => {
  test('revokes every declared recipient, present or not (EC2 reads lag writes), and nothing else', async () => {
    const fake = givenImage([{ UserId: A }, { OrganizationalUnitArn: OU }, { UserId: FOREIGN }, { Group: 'all' }]);
    const p = props({ Accounts: [A, B], OrganizationArns: [ORG], OrganizationalUnitArns: [OU] });
    const response = await handler(deleteEvent(p));

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(modifyImageInputs()).toEqual([{
      ImageId: IMAGE,
      LaunchPermission: { Remove: [{ UserId: A }, { UserId: B }, { OrganizationArn: ORG }, { OrganizationalUnitArn: OU }] },
    }]);
    expect(grantsOf(fake)).toEqual([{ UserId: FOREIGN }, { Group: 'all' }].map((g) => JSON.stringify(g)).sort());
  });

  test('revokes the snapshot permissions it declared, keeping other holders', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }], { 'snap-1': [A, FOREIGN], 'snap-2': [] });
    await handler(deleteEvent(props({ ShareSnapshots: 'true' })));

    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }, { UserId: B }] } }]);
    expect(modifySnapshotInputs()).toEqual(['snap-1', 'snap-2'].map((SnapshotId) => ({ SnapshotId, Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: [A, B] })));
    expect(fake.snapshots).toEqual({ 'snap-1': [FOREIGN], 'snap-2': [] });
  });

  test('a Delete right after the Create, whose read does not show the new shares yet, still revokes them', async () => {
    const fake = givenImage([{ UserId: FOREIGN }]);
    await handler(createEvent(props()));
    ec2Mock.on(DescribeImageAttributeCommand).resolves({ ImageId: IMAGE, LaunchPermissions: [{ UserId: FOREIGN }] });
    await handler(deleteEvent(props()));
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
  });

  test('takes the image from the physical id', async () => {
    const fake = givenImage([{ UserId: A }]);
    await handler(deleteEvent(props({ ImageId: NEW_IMAGE }), physicalId(IMAGE)));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }, { UserId: B }] } }]);
    expect(grantsOf(fake)).toEqual([]);
  });

  test.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'])('an image EC2 no longer knows (%s) counts as revoked', async (code) => {
    givenImage([{ UserId: A }]);
    ec2Mock.on(DescribeImagesCommand).rejects(ec2Error(code));
    const response = await handler(deleteEvent(props()));
    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(mutatingCalls()).toEqual([]);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeImageAttributeCommand);
  });

  test('an empty DescribeImages answer counts as revoked', async () => {
    givenImage([{ UserId: A }]);
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    await expect(handler(deleteEvent(props()))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(mutatingCalls()).toEqual([]);
  });

  test('a deregistered image counts as revoked', async () => {
    givenImage([{ UserId: A }], { 'snap-1': [A] }, { State: 'deregistered' });
    await expect(handler(deleteEvent(props({ ShareSnapshots: 'true' })))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(mutatingCalls()).toEqual([]);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeImageAttributeCommand);
  });

  test('an image that disappears while reading its permissions counts as revoked', async () => {
    givenImage([{ UserId: A }]);
    ec2Mock.on(DescribeImageAttributeCommand).rejects(ec2Error('InvalidAMIID.NotFound'));
    await expect(handler(deleteEvent(props()))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(mutatingCalls()).toEqual([]);
  });

  test('an image or snapshot that disappears before the revoke counts as revoked', async () => {
    givenImage([{ UserId: A }], { 'snap-1': [A] });
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InvalidAMIID.Unavailable'));
    ec2Mock.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InvalidSnapshot.NotFound'));
    await expect(handler(deleteEvent(props({ ShareSnapshots: 'true' })))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifySnapshotAttributeCommand, 1);
  });

  test.each([
    'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED',
    'AWSCDK::CustomResourceProviderFramework::FAILED',
    '2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef',
    'shared-ami:not-an-ami',
    IMAGE,
  ])('an unparseable physical id (%s) succeeds without any AWS call', async (physical) => {
    givenImage([{ UserId: A }, { UserId: B }]);
    const response = await handler(deleteEvent(props(), physical));
    expect(response).toEqual({ PhysicalResourceId: physical });
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  test('malformed properties do not block the delete: the well-formed recipients are revoked', async () => {
    givenImage([{ UserId: A }, { UserId: B }]);
    await handler(deleteEvent(props({ Accounts: ['junk', A], ShareSnapshots: 'maybe', Unknown: 1 })));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }] } }]);
  });

  test('a delete that AWS refuses fails (the shares are not silently left behind)', async () => {
    givenImage([{ UserId: A }]);
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('UnauthorizedOperation'));
    const err = await failure(deleteEvent(props()));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toMatch(new RegExp(`^The share handler is not allowed to change AMI ${IMAGE}(?: for [^(]+)? \\(UnauthorizedOperation\\)`));
  });
});

describe('partial failure', () => {
  test('Create: launch permissions applied, snapshot permission failed: what was applied is undone, and the error says so', async () => {
    const fake = givenImage([{ UserId: FOREIGN }], { 'snap-1': [], 'snap-2': [] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InternalError', 'An internal error has occurred.'));
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));

    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(
      `Changing snapshot snap-1 of AMI ${IMAGE} for ${A}, ${B} failed (InternalError: An internal error has occurred.): fix the cause and deploy again.`
      + ' Nothing was left changed: what was applied before the failure was undone.',
    );
    // the add, then its undo; the foreign share stays
    expect(modifyImageInputs()).toEqual([
      { ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: A }, { UserId: B }] } },
      { ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }, { UserId: B }] } },
    ]);
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
  });

  // Found by the reliability harness (test/reliability): AWS applied a call, its answer was lost,
  // and the SDK's retries were then throttled until they ran out. The Create undid only the calls it
  // knew had gone through, so the share stayed, and CloudFormation sends no Delete after a failed Create.
  test('Create: a snapshot permission AWS applied but whose answer was lost (retries then throttled) is read back and undone too', async () => {
    const fake = givenImage([{ UserId: FOREIGN }], { 'snap-1': [FOREIGN], 'snap-2': [] });
    ec2Mock.on(ModifySnapshotAttributeCommand, { OperationType: 'add' }).callsFake((input: { SnapshotId: string; UserIds?: string[] }) => {
      const holders = fake.snapshots[input.SnapshotId];
      for (const u of input.UserIds ?? []) if (!holders.includes(u)) holders.push(u);
      throw new EC2ServiceException({ name: 'RequestLimitExceeded', message: 'Request limit exceeded.', $fault: 'client', $metadata: { httpStatusCode: 503, attempts: 8 } });
    });
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));
    expect(err.message).toBe(
      `AWS kept throttling changes to snapshot snap-1 of AMI ${IMAGE} for ${A}, ${B} (RequestLimitExceeded) after all retries: deploy again later; the change resumes where it stopped.`
      + ' Nothing was left changed: what was applied before the failure was undone.',
    );
    expect(fake.snapshots).toEqual({ 'snap-1': [FOREIGN], 'snap-2': [] });
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
  });

  test('Create: launch permissions AWS applied behind a 5xx: read back and undone; an outside share stays', async () => {
    const fake = givenImage([{ UserId: FOREIGN }]);
    ec2Mock.on(ModifyImageAttributeCommand, { LaunchPermission: { Add: [{ UserId: A }, { UserId: B }] } }).callsFake(() => {
      fake.images[IMAGE].launch.push({ UserId: A }, { UserId: B });
      throw new EC2ServiceException({ name: 'Unavailable', message: 'The server is overloaded.', $fault: 'server', $metadata: { httpStatusCode: 503, attempts: 8 } });
    });
    const err = await failure(createEvent(props()));
    expect(err.message).toMatch(/ Nothing was left changed: what was applied before the failure was undone\.$/);
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
  });

  test('Create: a definite refusal (not throttling, not 5xx) is not read back: nothing was applied', async () => {
    givenImage([], { 'snap-1': [] });
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InvalidAMIAttributeItemValue', 'Invalid attribute item value'));
    await failure(createEvent(props()));
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImageAttributeCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
  });

  test('Create: an undo that fails too is named, so the user knows what to remove by hand', async () => {
    givenImage([], { 'snap-1': [] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InternalError'));
    ec2Mock.on(ModifyImageAttributeCommand).resolvesOnce({}).rejects(ec2Error('InternalError'));
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));
    expect(err.message).toMatch(new RegExp(`Undoing what was applied before the failure failed for launch permissions on ${IMAGE} \\+\\[${A}, ${B}\\]: remove it by hand\\.$`));
  });

  test('Update: launch permissions applied, snapshot permission failed: the error names what was and was not applied', async () => {
    const fake = givenImage([{ UserId: A }], { 'snap-1': [A], 'snap-2': [A] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InternalError', 'An internal error has occurred.'));
    const before = props({ Accounts: [A], ShareSnapshots: 'true' });
    const err = await failure(updateEvent(props({ ShareSnapshots: 'true' }), before));

    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(
      `Changing snapshot snap-1 of AMI ${IMAGE} for ${B} failed (InternalError: An internal error has occurred.): fix the cause and deploy again.`
      + ` Applied before the failure: launch permissions on ${IMAGE} +[${B}];`
      + ` not applied: createVolumePermission on snap-1 +[${B}], createVolumePermission on snap-2 +[${B}].`
      + ' The automatic rollback or a new deployment converges from here.',
    );
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifySnapshotAttributeCommand, 1);
    expect(grantsOf(fake)).toHaveLength(2);
  });

  test('Update: a retry after a partial failure converges (the delta is sent again; EC2 takes a repeat as a no-op)', async () => {
    const fake = givenImage([{ UserId: A }], { 'snap-1': [A] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejectsOnce(ec2Error('InternalError'));
    const event = updateEvent(props({ ShareSnapshots: 'true' }), props({ Accounts: [A], ShareSnapshots: 'true' }));
    await failure(event);

    useFake(fake);
    ec2Mock.resetHistory();
    await handler(event);
    expect(modifySnapshotInputs()).toEqual([{ SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [B] }]);
    expect(fake.snapshots['snap-1']).toEqual([A, B]);
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: B }].map((p) => JSON.stringify(p)).sort());
  });

  test('a failure on the first call says that nothing was changed', async () => {
    givenImage([], { 'snap-1': [] });
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InvalidAMIAttributeItemValue', 'Invalid attribute item value "444444444444" for userId item type.'));
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));
    expect(err.message).toMatch(new RegExp(`^AWS refused to share AMI ${IMAGE} with ${A}, ${B} \\(InvalidAMIAttributeItemValue: `));
    expect(err.message).toMatch(/ Nothing was changed\.$/);
    expect(ec2Mock).not.toHaveReceivedCommand(ModifySnapshotAttributeCommand);
  });

  test('rollback of a failed replacement leaves the old image as it was, foreign shares included', async () => {
    // The framework keeps the old physical id when the replacing Update fails; the rollback swaps
    // old and new properties, so its "old" side declares the new image.
    const fake = givenImage([{ UserId: A }, { UserId: B }, { UserId: FOREIGN }]);
    const rollback = updateEvent(props({ Accounts: [A, B] }), props({ ImageId: NEW_IMAGE, Accounts: [A, FOREIGN] }), physicalId(IMAGE));
    await handler(rollback);
    expect(modifyImageInputs()).toEqual([]);
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: B }, { UserId: FOREIGN }].map((p) => JSON.stringify(p)).sort());
  });
});

describe('error mapping', () => {
  function expectShortSentence(err: Error): void {
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeLessThanOrEqual(1500);
  }

  test('throttling on ModifyImageAttribute becomes the short throttling sentence', async () => {
    givenImage();
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('RequestLimitExceeded', 'Request limit exceeded.'));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toMatch(new RegExp(`^AWS kept throttling changes to AMI ${IMAGE}(?: for [^(]+)? \\(RequestLimitExceeded\\) after all retries: deploy again later`));
    expect(err.message).toMatch(/ Nothing was changed\.$/);
  });

  test('a failed read of the record after a revoke (what others claimed meanwhile) becomes the short sentence, not the SDK error', async () => {
    givenImage([{ UserId: A }, { UserId: B }]);
    // Parameter Store answers until the first launch permission is revoked, then keeps throttling.
    ssmMock.on(GetParametersByPathCommand).callsFake((input: { Path?: string }) => {
      if (ec2Mock.commandCalls(ModifyImageAttributeCommand).length > 0) {
        throw new SSMServiceException({ name: 'ThrottlingException', message: 'Rate exceeded', $fault: 'client', $metadata: { httpStatusCode: 400 } });
      }
      const prefix = `${input.Path}/`;
      return { Parameters: [...parameters].filter(([n]) => n.startsWith(prefix)).map(([Name, Value]) => ({ Name, Value, Type: 'String' })) };
    });
    const err = await failure(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));
    expectShortSentence(err);
    expect(err.message).toBe(`AWS kept throttling changes to AMI ${IMAGE} (ThrottlingException) after all retries: deploy again later; the change resumes where it stopped.`);
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: B }] } }]);
  });

  test('throttling while reading the image fails before any mutating call', async () => {
    givenImage();
    ec2Mock.on(DescribeImagesCommand).rejects(ec2Error('RequestLimitExceeded'));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toMatch(new RegExp(`^AWS kept throttling changes to AMI ${IMAGE}(?: for [^(]+)? \\(RequestLimitExceeded\\)`));
    expect(mutatingCalls()).toEqual([]);
  });

  test('a network error (no AWS error code) while reading the image fails before any mutating call', async () => {
    givenImage();
    ec2Mock.on(DescribeImagesCommand).rejects(new Error('socket hang up'));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toBe(`Changing AMI ${IMAGE} failed (error: socket hang up): fix the cause and deploy again.`);
    expect(mutatingCalls()).toEqual([]);
  });

  test('a network error on Delete is not mistaken for a vanished image', async () => {
    givenImage([{ UserId: A }]);
    ec2Mock.on(DescribeImagesCommand).rejects(new Error('socket hang up'));
    const err = await failure(deleteEvent(props()));
    expect(err.message).toContain('socket hang up');
    expect(mutatingCalls()).toEqual([]);
  });

  test('access denied on ModifyImageAttribute becomes the short access-denied sentence', async () => {
    givenImage();
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation. Encoded authorization failure message: ' + 'x'.repeat(3000)));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toMatch(new RegExp(`^The share handler is not allowed to change AMI ${IMAGE}(?: for [^(]+)? \\(UnauthorizedOperation\\)`));
    expect(err.message).toContain(`the AMI must be owned by account ${OWNER}, and no SCP or permissions boundary may deny the call`);
    expect(err.message).toMatch(/ Nothing was changed\.$/);
    expect(err.message).not.toContain('xxxxxxxxxx');
  });

  test('access denied while reading launch permissions fails before any mutating call', async () => {
    givenImage();
    ec2Mock.on(DescribeImageAttributeCommand).rejects(ec2Error('AuthFailure'));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toMatch(new RegExp(`^The share handler is not allowed to change AMI ${IMAGE}(?: for [^(]+)? \\(AuthFailure\\)`));
    expect(mutatingCalls()).toEqual([]);
  });

  test('an unknown error with a huge message: AWS\'s message is cut short, the sentence keeps its ending', async () => {
    givenImage();
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InternalError', 'y'.repeat(10000)));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toBe(`Changing AMI ${IMAGE} for ${A}, ${B} failed (InternalError: ${'y'.repeat(197)}...): fix the cause and deploy again. Nothing was changed.`);
  });

  // Found by the reliability harness (test/reliability): a load balancer's HTML page in place of an
  // AWS answer reached CloudFormation as the SDK's parser complaint, with the raw body, line breaks
  // and a debugging hint; EC2's parser calls it "Unknown: Unknown".
  test('retries ran out on a load balancer\'s HTML page (EC2 "Unknown", HTTP 502): one line that says deploy again later', async () => {
    givenImage();
    ec2Mock.on(ModifyImageAttributeCommand).rejects(
      new EC2ServiceException({ name: 'Unknown', message: 'Unknown', $fault: 'server', $metadata: { httpStatusCode: 502, attempts: 8 } }),
    );
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toBe(`AWS kept failing the calls for AMI ${IMAGE} for ${A}, ${B} (HTTP 502: AWS answered HTTP 502 with a page that is not an AWS error)`
      + ' after all retries: deploy again later; the change resumes where it stopped. Nothing was changed.');
  });

  test('retries ran out on a 5xx with an AWS error code: the code and message, and deploy again later', async () => {
    givenImage();
    ec2Mock.on(DescribeImagesCommand).rejects(
      new EC2ServiceException({ name: 'Unavailable', message: 'The server is overloaded.\nTry later.', $fault: 'server', $metadata: { httpStatusCode: 503 } }),
    );
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toBe(`AWS kept failing the calls for AMI ${IMAGE} (Unavailable: The server is overloaded. Try later.) after all retries: deploy again later; the change resumes where it stopped.`);
    expect(mutatingCalls()).toEqual([]);
  });

  test('retries ran out on connection resets (ECONNRESET): deploy again later, nothing changed', async () => {
    givenImage();
    ec2Mock.on(DescribeImageAttributeCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: { attempts: 8 } }));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toBe(`AWS kept failing the calls for AMI ${IMAGE} (ECONNRESET: socket hang up) after all retries: deploy again later; the change resumes where it stopped.`);
    expect(mutatingCalls()).toEqual([]);
  });
});

// Found by the reliability harness: the SDK clients lived as long as the warm Lambda, and with them
// the SDK's retry quota; after a throttling storm later events got no retries at all.
describe('the KMS client\'s retries', () => {
  const errorInfo = (name: string) => ({ errorType: 'THROTTLING' as const, error: Object.assign(new Error(name), { name, $metadata: {} }) as never });

  test('a used-up KMS quota (LimitExceededException, which the SDK counts as throttling) is not retried', async () => {
    const strategy = new KmsRetryStrategy(8);
    const token = await strategy.acquireInitialRetryToken('kms');
    await expect(strategy.refreshRetryTokenForRetry(token, errorInfo('LimitExceededException'))).rejects.toThrow('LimitExceededException');
  });

  test('real throttling is still retried', async () => {
    const strategy = new KmsRetryStrategy(8);
    const token = await strategy.acquireInitialRetryToken('kms');
    await expect(strategy.refreshRetryTokenForRetry(token, errorInfo('ThrottlingException'))).resolves.toBeDefined();
  });
});

describe('SDK clients per event', () => {
  test('each event gets new clients, so an earlier event\'s used-up retry quota never reaches it', async () => {
    const fake = givenImage();
    const senders: unknown[] = [];
    ec2Mock.on(DescribeImagesCommand).callsFake((input: { ImageIds?: string[] }, getClient: () => unknown) => {
      senders.push(getClient());
      return { Images: (input.ImageIds ?? []).map((id) => ({ ...fake.images[id].image })) };
    });
    await handler(createEvent(props()));
    await handler(updateEvent(props({ Accounts: [A] }), props()));
    await handler(deleteEvent(props({ Accounts: [A] })));
    expect(senders).toHaveLength(3);
    expect(new Set(senders).size).toBe(3);
    expect(senders.every((c) => c instanceof EC2Client)).toBe(true);
  });
});

describe('duplicate delivery and retries', () => {
  test('the same Create twice: the second makes no mutating call and returns the same answer', async () => {
    const fake = givenImage([], { 'snap-1': [] });
    const event = createEvent(props({ OrganizationArns: [ORG], ShareSnapshots: 'true' }));
    const first = await handler(event);
    expect(mutatingCalls()).toHaveLength(2);
    const state = JSON.stringify(fake);

    ec2Mock.resetHistory();
    const second = await handler(event);
    expect(second).toEqual(first);
    expect(mutatingCalls()).toEqual([]);
    expect(JSON.stringify(fake)).toBe(state);
  });

  test('the same Update twice: the same state and no error (the delta is sent again: a read may lag the first)', async () => {
    const fake = givenImage([{ UserId: A }]);
    const event = updateEvent(props({ Accounts: [B] }), props({ Accounts: [A] }));
    await handler(event);
    expect(mutatingCalls()).toHaveLength(1);
    ec2Mock.resetHistory();
    await handler(event);
    expect(mutatingCalls()).toHaveLength(1);
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: B })]);
  });

  test('the same Delete twice: the same state and no error', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }, { UserId: FOREIGN }], { 'snap-1': [A, B] });
    const event = deleteEvent(props({ ShareSnapshots: 'true' }));
    await handler(event);
    expect(mutatingCalls()).toHaveLength(2);
    ec2Mock.resetHistory();
    await expect(handler(event)).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(fake.snapshots['snap-1']).toEqual([]);
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
  });
});

describe('the record of ownership (who holds which share, and who made it)', () => {
  const OTHER = '888888888888';
  /** The same event from another resource (another stack or logical id) declaring the same image. */
  const asOther = <E extends CloudFormationCustomResourceEvent>(event: E, logicalId = 'OtherShare', stack = 'other-stack'): E => ({
    ...event, LogicalResourceId: logicalId, StackId: `arn:aws:cloudformation:us-east-1:${OWNER}:stack/${stack}/guid2`,
  });
  const claimNames = (): string[] => [...parameters.keys()].sort();

  test('a share made outside before this resource declared it survives the Create, the drop and the Delete', async () => {
    const fake = givenImage([{ UserId: A }]);
    await handler(createEvent(props({ Accounts: [A, B] })));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: B }] } }]);
    await handler(updateEvent(props({ Accounts: [B] }), props({ Accounts: [A, B] })));
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: B }].map((p) => JSON.stringify(p)).sort());
    await handler(deleteEvent(props({ Accounts: [B] })));
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: A })]);
    expect(claimNames()).toEqual([]);
  });

  test('takeOverExistingShares: a share made by hand becomes this resource\'s, and the Delete revokes it', async () => {
    const fake = givenImage([{ UserId: A }]);
    await handler(createEvent(props({ Accounts: [A, B], TakeOverExistingShares: 'true' })));
    await handler(deleteEvent(props({ Accounts: [A, B], TakeOverExistingShares: 'true' })));
    expect(grantsOf(fake)).toEqual([]);
  });

  test('an update that declares an outside share, and its rollback, leave it where it was; never-declared shares too', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: FOREIGN }, { UserId: OTHER }]);
    await handler(createEvent(props({ Accounts: [A] })));
    const old = props({ Accounts: [A] });
    const next = props({ Accounts: [A, FOREIGN] });
    await handler(updateEvent(next, old));
    await handler(updateEvent(old, next)); // the rollback
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: FOREIGN }, { UserId: OTHER }].map((p) => JSON.stringify(p)).sort());
  });

  test('two resources declaring one account: it stays until the last lets go, in either order', async () => {
    for (const order of [['mine', 'theirs'], ['theirs', 'mine']]) {
      parameters.clear();
      const fake = givenImage([]);
      const mine = props({ Accounts: [A, B] });
      const theirs = props({ Accounts: [B, C] });
      await handler(createEvent(mine));
      await handler(asOther(createEvent(theirs)));
      const deleteOf = { mine: deleteEvent(mine), theirs: asOther(deleteEvent(theirs)) } as const;
      await handler(deleteOf[order[0] as 'mine' | 'theirs']);
      expect(grantsOf(fake)).toContain(JSON.stringify({ UserId: B }));
      await handler(deleteOf[order[1] as 'mine' | 'theirs']);
      expect(grantsOf(fake)).toEqual([]);
      expect(claimNames()).toEqual([]);
    }
  });

  test('a replayed Create keeps the record: the resource\'s own grants never become outside shares', async () => {
    const fake = givenImage([]);
    await handler(createEvent(props({ Accounts: [A] })));
    await handler(createEvent(props({ Accounts: [A] }))); // A is there now: still the library's
    await handler(deleteEvent(props({ Accounts: [A] })));
    expect(grantsOf(fake)).toEqual([]);
  });

  test('an update that changes nothing writes nothing to the record', async () => {
    givenImage([]);
    await handler(createEvent(props({ Accounts: [A] })));
    ssmMock.resetHistory();
    await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A] })));
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  test('a failed Create takes its claim back with its shares', async () => {
    givenImage([], { 'snap-1': [] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InvalidUserID.Malformed'));
    await failure(createEvent(props({ Accounts: [A], ShareSnapshots: 'true' })));
    expect(claimNames()).toEqual([]);
  });

  test('a recipient another resource claims while this one revokes it gets its share back', async () => {
    const fake = givenImage([]);
    await handler(createEvent(props({ Accounts: [A, B] })));
    // the other resource's claim lands between this resource's decision and its revoke
    ec2Mock.on(ModifyImageAttributeCommand).callsFakeOnce(async (input: ModifyImageAttributeCommandInput) => {
      await handler(asOther(createEvent(props({ Accounts: [B] }))));
      const entry = fake.images[IMAGE];
      for (const p of input.LaunchPermission?.Remove ?? []) entry.launch = entry.launch.filter((q) => !sameGrant(p)(q));
      return {};
    }).callsFake((input: ModifyImageAttributeCommandInput) => {
      const entry = fake.images[IMAGE];
      for (const p of input.LaunchPermission?.Add ?? []) if (!entry.launch.some(sameGrant(p))) entry.launch.push({ ...p });
      return {};
    });
    await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: B }].map((p) => JSON.stringify(p)).sort());
  });

  test('the deletion guard names the other resource that still holds a share', async () => {
    givenImage([]);
    await handler(asOther(createEvent(props({ Accounts: [B] }))));
    await handler(createEvent(props({ Accounts: [A, B], GuardImage: 'true' })));
    const err = await failure(deleteEvent(props({ Accounts: [A, B], GuardImage: 'true' })));
    expect(err.message).toContain(`still shared with ${B} (held by other-stack/OtherShare)`);
  });

  test('1,000 recipients fit one claim, read back in one call', async () => {
    givenImage([]);
    const many = Array.from({ length: 1000 }, (_, i) => String(100000000000 + i * 7919));
    await handler(createEvent(props({ Accounts: many })));
    const [value] = [...parameters.values()];
    expect(value.length).toBeLessThanOrEqual(8192);
    ssmMock.resetHistory();
    await handler(deleteEvent(props({ Accounts: many })));
    expect(ssmMock.commandCalls(GetParametersByPathCommand).length).toBeLessThanOrEqual(2);
  });
});

// ---------------------------------------------------------------------------------------------
// KMS: a stateful KMS fake next to the EC2 one
// ---------------------------------------------------------------------------------------------

describe('KMS grants', () => {
  const KEY_1_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
  const KEY_2_ID = '0987dcba-09fe-87dc-65ba-ab0987654321';
  const EBS_KEY_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
  const keyArn = (id: string): string => `arn:aws:kms:us-east-1:${OWNER}:key/${id}`;
  const KEY_1 = keyArn(KEY_1_ID);
  const KEY_2 = keyArn(KEY_2_ID);
  const EBS_KEY = keyArn(EBS_KEY_ID);
  const root = (account: string): string => `arn:aws:iam::${account}:root`;
  const asg = (account: string): string => `arn:aws:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
  const NAME = grantNameOf(IMAGE);
  const OPERATIONS = [...KMS_GRANT_OPERATIONS];

  interface FakeKey {
    readonly id: string;
    readonly arn: string;
    readonly manager: 'AWS' | 'CUSTOMER';
    readonly aliases: string[];
  }

  interface FakeKms {
    readonly keys: FakeKey[];
    /** key ARN → its grants, in creation order */
    readonly grants: Record<string, GrantListEntry[]>;
    /** ListGrants pages hold at most this many grants (and at most the request's Limit). */
    pageSize: number;
    /** Width of the generated grant ids (real ones are 64 hex digits). */
    grantIdWidth: number;
    /** A CreateGrant refusal to inject, e.g. InvalidArnException for a grantee that does not exist. */
    refuse?: (input: CreateGrantCommandInput) => Error | undefined;
    created: number;
    /**
     * ListGrants lagging writes, as KMS's does: grants revoked a moment ago that are still listed,
     * and the number of ListGrants calls that do not list grants made by CreateGrant yet.
     */
    ghosts?: GrantListEntry[];
    hideNewFor?: number;
  }

  function kmsError(name: string, message = `${name} (mocked)`): KMSServiceException {
    return new KMSServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
  }

  const grantIdOf = (n: number, width = 64): string => n.toString(16).padStart(width, '0');

  /**
   * Points every KMS command of the mock at `fake`, behaving like KMS does, including CreateGrant's
   * idempotency by Name: the same name, grantee and operations answer the existing grant.
   */
  function useKms(fake: FakeKms): FakeKms {
    const resolve = (keyId: string | undefined): FakeKey => {
      const key = fake.keys.find((k) => k.arn === keyId || k.id === keyId || k.aliases.includes(keyId ?? '')
        || k.aliases.some((a) => keyId === `arn:aws:kms:us-east-1:${OWNER}:${a}`));
      if (!key) throw kmsError('NotFoundException', `Key '${keyId}' does not exist`);
      return key;
    };
    kmsMock.on(DescribeKeyCommand).callsFake((input: { KeyId?: string }) => {
      const key = resolve(input.KeyId);
      return { KeyMetadata: { KeyId: key.id, Arn: key.arn, KeyManager: key.manager, KeyState: 'Enabled', Enabled: true } };
    });
    const madeByCreate = new Set<string>();
    kmsMock.on(ListGrantsCommand).callsFake((input: ListGrantsCommandInput) => {
      const arn = resolve(input.KeyId).arn;
      const hide = (fake.hideNewFor ?? 0) > 0;
      if (hide && !input.Marker) fake.hideNewFor! -= 1;
      const live = (fake.grants[arn] ?? []).filter((g) => !(hide && madeByCreate.has(g.GrantId!)));
      const all = [...live, ...(fake.ghosts ?? []).filter((g) => g.KeyId === arn)];
      if (input.Marker !== undefined && !/^m-\d+$/.test(input.Marker)) throw kmsError('InvalidMarkerException');
      const start = input.Marker ? Number(input.Marker.slice(2)) : 0;
      const size = Math.min(fake.pageSize, input.Limit ?? 50);
      const end = start + size;
      const truncated = end < all.length;
      return { Grants: all.slice(start, end).map((g) => ({ ...g })), Truncated: truncated, ...(truncated ? { NextMarker: `m-${end}` } : {}) };
    });
    kmsMock.on(CreateGrantCommand).callsFake((input: CreateGrantCommandInput) => {
      const key = resolve(input.KeyId);
      const refused = fake.refuse?.(input);
      if (refused) throw refused;
      if (key.manager === 'AWS') throw kmsError('AccessDeniedException', 'AWS managed keys cannot be granted to other accounts');
      const same = (fake.grants[key.arn] ?? []).find((g) => input.Name !== undefined && g.Name === input.Name
        && g.GranteePrincipal === input.GranteePrincipal && [...g.Operations ?? []].sort().join() === [...input.Operations ?? []].sort().join());
      if (same) return { GrantId: same.GrantId, GrantToken: `token-${same.GrantId}-again` };
      const grantId = grantIdOf(++fake.created, fake.grantIdWidth);
      madeByCreate.add(grantId);
      (fake.grants[key.arn] ??= []).push({
        KeyId: key.arn, GrantId: grantId, Name: input.Name, GranteePrincipal: input.GranteePrincipal, Operations: [...(input.Operations ?? [])],
      });
      timeline.push(`CreateGrant ${key.arn} ${input.GranteePrincipal}`);
      return { GrantId: grantId, GrantToken: `token-${grantId}` };
    });
    kmsMock.on(RevokeGrantCommand).callsFake((input: { KeyId?: string; GrantId?: string }) => {
      const key = resolve(input.KeyId);
      const grants = fake.grants[key.arn] ?? [];
      const i = grants.findIndex((g) => g.GrantId === input.GrantId);
      if (i < 0) throw kmsError('NotFoundException', `Grant ${input.GrantId} not found`);
      grants.splice(i, 1);
      timeline.push(`RevokeGrant ${key.arn} ${input.GrantId}`);
      return {};
    });
    return fake;
  }

  /** Two customer managed keys (KEY_1 with an alias) and the AWS managed aws/ebs key, no grants. */
  function givenKeys(): FakeKms {
    return useKms({
      keys: [
        { id: KEY_1_ID, arn: KEY_1, manager: 'CUSTOMER', aliases: ['alias/golden'] },
        { id: KEY_2_ID, arn: KEY_2, manager: 'CUSTOMER', aliases: [] },
        { id: EBS_KEY_ID, arn: EBS_KEY, manager: 'AWS', aliases: ['alias/aws/ebs'] },
      ],
      grants: {},
      pageSize: 100,
      grantIdWidth: 64,
      created: 0,
    });
  }

  /** IMAGE with one snapshot per entry, each encrypted with the given key id/ARN/alias ('' = unencrypted). */
  function givenEncryptedImage(snapshotKeys: Record<string, string>, launch: LaunchPermission[] = []): FakeEc2 {
    return useFake({
      images: { [IMAGE]: { image: image(IMAGE, Object.keys(snapshotKeys)), launch: launch.map((p) => ({ ...p })) } },
      snapshots: Object.fromEntries(Object.keys(snapshotKeys).map((s) => [s, []])),
      snapshotKeys: Object.fromEntries(Object.entries(snapshotKeys).filter(([, k]) => k !== '')),
    });
  }

  /** A grant made directly in the fake (by this resource earlier, or by someone else with another name; null: no name). */
  function seedGrant(kms: FakeKms, key: string, grantee: string, name: string | null = NAME, operations: string[] = OPERATIONS): string {
    const grantId = grantIdOf(++kms.created, kms.grantIdWidth);
    (kms.grants[key] ??= []).push({ KeyId: key, GrantId: grantId, Name: name ?? undefined, GranteePrincipal: grantee, Operations: [...operations] as GrantListEntry['Operations'] });
    return grantId;
  }

  /** The grants on a key as `<grantee> <name>`, sorted. */
  function grantsOn(kms: FakeKms, key: string): string[] {
    return (kms.grants[key] ?? []).map((g) => `${g.GranteePrincipal} ${g.Name}`).sort();
  }

  const ours = (...grantees: string[]): string[] => grantees.map((g) => `${g} ${NAME}`).sort();

  function createGrantInputs(): unknown[] {
    return kmsMock.commandCalls(CreateGrantCommand).map((c) => c.args[0].input);
  }

  function revokeGrantInputs(): unknown[] {
    return kmsMock.commandCalls(RevokeGrantCommand).map((c) => c.args[0].input);
  }

  /** Every KMS call that could change a key (anything but DescribeKey and ListGrants). */
  function kmsMutatingCalls(): unknown[] {
    return kmsMock.calls().map((c) => c.args[0]).filter((cmd) => !(cmd instanceof DescribeKeyCommand) && !(cmd instanceof ListGrantsCommand));
  }

  const grantInput = (key: string, grantee: string, name = NAME) => ({ KeyId: key, GranteePrincipal: grantee, Operations: OPERATIONS, Name: name });

  describe('Create', () => {
    test('two accounts and two customer managed keys: four grants, exact grantee, operations and name, all before the launch permissions', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_2 });
      const kms = givenKeys();
      const response = await handler(createEvent(props({ Accounts: [A, B] })));

      expect(ec2Mock).toHaveReceivedCommandWith(DescribeSnapshotsCommand, { SnapshotIds: ['snap-1', 'snap-2'] });
      expect(kmsMock).toHaveReceivedCommandWith(DescribeKeyCommand, { KeyId: KEY_1 });
      expect(kmsMock).toHaveReceivedCommandWith(DescribeKeyCommand, { KeyId: KEY_2 });
      expect(kmsMock).toHaveReceivedCommandWith(ListGrantsCommand, { KeyId: KEY_1 });
      expect(kmsMock).toHaveReceivedCommandWith(ListGrantsCommand, { KeyId: KEY_2 });
      expect(createGrantInputs()).toEqual([
        grantInput(KEY_1, root(A)), grantInput(KEY_1, root(B)), grantInput(KEY_2, root(A)), grantInput(KEY_2, root(B)),
      ]);
      expect(timeline).toEqual([
        `CreateGrant ${KEY_1} ${root(A)}`, `CreateGrant ${KEY_1} ${root(B)}`, `CreateGrant ${KEY_2} ${root(A)}`, `CreateGrant ${KEY_2} ${root(B)}`,
        `ModifyImageAttribute ${IMAGE}`,
      ]);
      expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: B }].map((p) => JSON.stringify(p)).sort());
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A), root(B)));
      expect(grantsOn(kms, KEY_2)).toEqual(ours(root(A), root(B)));
      expect(response).toEqual({
        PhysicalResourceId: physicalId(IMAGE),
        Data: { ImageId: IMAGE, GrantIds: [1, 2, 3, 4].map((n) => grantIdOf(n)).join(','), GrantCount: '4', GrantName: NAME },
      });
    });

    test('unencrypted snapshots (the default) are read with DescribeSnapshots and need no KMS call', async () => {
      givenEncryptedImage({ 'snap-1': '', 'snap-2': '' });
      const response = await handler(createEvent(props()));
      expect(ec2Mock).toHaveReceivedCommandWith(DescribeSnapshotsCommand, { SnapshotIds: ['snap-1', 'snap-2'] });
      expect(kmsMock.calls()).toHaveLength(0);
      expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: noGrants(IMAGE) });
    });

    test('only the encrypted snapshots\' keys are granted', async () => {
      givenEncryptedImage({ 'snap-1': '', 'snap-2': KEY_2 });
      const kms = givenKeys();
      await handler(createEvent(props({ Accounts: [A] })));
      expect(kmsMock).toHaveReceivedCommandTimes(DescribeKeyCommand, 1);
      expect(createGrantInputs()).toEqual([grantInput(KEY_2, root(A))]);
      expect(grantsOn(kms, KEY_1)).toEqual([]);
    });

    test('snapshots naming one key by id, by ARN and by alias get one grant per account on the key ARN', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_1_ID, 'snap-3': 'alias/golden', 'snap-4': KEY_1 });
      const kms = givenKeys();
      const response = await handler(createEvent(props({ Accounts: [A, B] })));

      expect(kmsMock).toHaveReceivedCommandTimes(DescribeKeyCommand, 3);
      // one read of the key's grants, one that confirms the new grants are listed
      expect(kmsMock).toHaveReceivedCommandTimes(ListGrantsCommand, 2);
      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A)), grantInput(KEY_1, root(B))]);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A), root(B)));
      expect(response.Data).toMatchObject({ GrantCount: '2' });
    });

    test('the same Create twice: CreateGrant by name answers the same grants, nothing new, nothing revoked, the same answer', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_2 });
      const kms = givenKeys();
      const event = createEvent(props({ Accounts: [A, B] }));
      const first = await handler(event);
      const grants = JSON.stringify(kms.grants);

      ec2Mock.resetHistory();
      kmsMock.resetHistory();
      const second = await handler(event);

      expect(second).toEqual(first);
      expect(kmsMock).not.toHaveReceivedCommand(RevokeGrantCommand);
      expect(mutatingCalls()).toEqual([]);
      expect(JSON.stringify(kms.grants)).toBe(grants);
    });

    test('follows ListGrants pages (Truncated / NextMarker) to find its grants behind others', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }, { UserId: B }]);
      const kms = givenKeys();
      kms.pageSize = 2;
      for (const n of [1, 2, 3, 4, 5]) seedGrant(kms, KEY_1, root(FOREIGN), `someone-else-${n}`);
      const grantA = seedGrant(kms, KEY_1, root(A));
      const grantB = seedGrant(kms, KEY_1, root(B));

      const response = await handler(createEvent(props({ Accounts: [A, B] })));

      // read, then the confirmation that the grants CreateGrant answered are listed
      expect(kmsMock.commandCalls(ListGrantsCommand).map((c) => c.args[0].input.Marker)).toEqual([undefined, 'm-2', 'm-4', 'm-6', undefined, 'm-2', 'm-4', 'm-6']);
      for (const c of kmsMock.commandCalls(ListGrantsCommand)) expect(c.args[0].input.KeyId).toBe(KEY_1);
      expect(kmsMock).not.toHaveReceivedCommand(RevokeGrantCommand);
      expect(kms.created).toBe(7);
      expect(response.Data).toEqual({ ImageId: IMAGE, GrantIds: `${grantA},${grantB}`, GrantCount: '2', GrantName: NAME });
    });

    test('an own grant missing an operation (changed by hand) is replaced: the new one first, the old one revoked last', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      const partial = seedGrant(kms, KEY_1, root(A), NAME, ['Decrypt', 'DescribeKey']);
      const kept = seedGrant(kms, KEY_1, root(B));

      const response = await handler(createEvent(props({ Accounts: [A, B] })));

      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A)), grantInput(KEY_1, root(B))]);
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: partial }]);
      expect(timeline).toEqual([`CreateGrant ${KEY_1} ${root(A)}`, `ModifyImageAttribute ${IMAGE}`, `RevokeGrant ${KEY_1} ${partial}`]);
      expect((kms.grants[KEY_1] ?? []).every((g) => OPERATIONS.every((op) => g.Operations?.includes(op as never)))).toBe(true);
      expect(response.Data).toMatchObject({ GrantIds: `${kept},${grantIdOf(3)}`, GrantCount: '2' });
    });

    test('duplicate own grants (e.g. from an interrupted earlier run) are reduced to one', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      const kms = givenKeys();
      const first = seedGrant(kms, KEY_1, root(A));
      const dup = seedGrant(kms, KEY_1, root(A));

      const response = await handler(createEvent(props({ Accounts: [A] })));

      // CreateGrant by name answers the first; the duplicate goes
      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A))]);
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: dup }]);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A)));
      expect(response.Data).toMatchObject({ GrantIds: first, GrantCount: '1' });
    });

    test('AutoScalingRoleGrants "true" also grants each account\'s Auto Scaling service-linked role', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_2 });
      const kms = givenKeys();
      const response = await handler(createEvent(props({ Accounts: [A, B], AutoScalingRoleGrants: 'true' })));

      expect(createGrantInputs()).toEqual([KEY_1, KEY_2].flatMap((k) => [root(A), asg(A), root(B), asg(B)].map((g) => grantInput(k, g))));
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A), asg(A), root(B), asg(B)));
      expect(response.Data).toMatchObject({ GrantCount: '8' });
    });

    test('a consumer account without the Auto Scaling service-linked role: the sentence names the account and the fix', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.refuse = (input) => (input.GranteePrincipal === asg(B) ? kmsError('InvalidArnException', `Invalid principal ${asg(B)}`) : undefined);

      const err = await failure(createEvent(props({ Accounts: [A, B], AutoScalingRoleGrants: 'true' })));

      expect(err).toBeInstanceOf(ShareError);
      expect(err.message).toBe(
        `Account ${B} has no Auto Scaling service-linked role, so KMS key ${KEY_1} of AMI ${IMAGE} cannot be granted to it: create the role in ${B}`
        + ' (iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com) or turn kmsGrantsForAutoScaling off.'
        + ' Nothing was left changed: what was applied before the failure was undone.',
      );
      expect(ec2Mock).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
      expect(grantsOf(fake)).toEqual([]);
      // the three grants made before the refusal were revoked again (a failed Create gets no Delete)
      expect(grantsOn(kms, KEY_1)).toEqual([]);
      expect(revokeGrantInputs()).toHaveLength(3);
    });

    // Found by the reliability harness: a grant KMS made whose answer was lost (retries then 5xx)
    // stayed behind after the failed Create, which only revoked the grants whose ids it had.
    test('a grant KMS made but whose answer was lost (retries then 5xx) is found by its name and revoked; outside grants stay', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      const outside = seedGrant(kms, KEY_1, root(B), 'someone-else');
      kmsMock.on(CreateGrantCommand, { GranteePrincipal: root(B) }).callsFake((input: CreateGrantCommandInput) => {
        // KMS made the grant, the answer was lost; a retry by name answers the grant it made
        const again = (kms.grants[KEY_1] ?? []).find((g) => g.Name === input.Name && g.GranteePrincipal === input.GranteePrincipal);
        if (again) return { GrantId: again.GrantId };
        const made = { KeyId: KEY_1, GrantId: grantIdOf(++kms.created), Name: input.Name, GranteePrincipal: input.GranteePrincipal };
        (kms.grants[KEY_1] ??= []).push({ ...made, Operations: [...(input.Operations ?? [])] });
        throw new KMSServiceException({ name: 'KMSInternalException', message: 'internal', $fault: 'server', $metadata: { httpStatusCode: 500, attempts: 8 } });
      });
      const err = await failure(createEvent(props({ Accounts: [A, B] })));
      expect(err.message).toMatch(new RegExp(`^AWS kept failing the calls for KMS key ${KEY_1} of AMI ${IMAGE} for ${B} \\(KMSInternalException: internal\\) after all retries`));
      expect(err.message).toMatch(/ Nothing was left changed: what was applied before the failure was undone\.$/);
      expect((kms.grants[KEY_1] ?? []).map((g) => g.GrantId)).toEqual([outside]);
      expect(ec2Mock).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
    });

    test('a grantee KMS refuses that is an account root: the sentence says to check the account', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.refuse = (input) => (input.GranteePrincipal === root(A) ? kmsError('MalformedPolicyDocumentException') : undefined);
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toBe(
        `KMS refused ${root(A)} as a grantee of key ${KEY_1} of AMI ${IMAGE} (MalformedPolicyDocumentException): check that account ${A} exists. Nothing was changed.`,
      );
      expect(mutatingCalls()).toEqual([]);
    });

    test('a disabled key: the sentence names the key and says to enable it', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.refuse = () => kmsError('DisabledException', 'key is disabled');
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toBe(
        `KMS key ${KEY_1} of AMI ${IMAGE} is disabled or pending deletion (DisabledException), so ${A} cannot be granted:`
        + ' enable the key, or share an AMI encrypted with an enabled key. Nothing was changed.',
      );
    });

    test('access denied on CreateGrant: the sentence names the key and the key policy', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.refuse = () => kmsError('AccessDeniedException', 'User is not authorized to perform: kms:CreateGrant');
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toMatch(new RegExp(`^The share handler may not manage grants on KMS key ${KEY_1} of AMI ${IMAGE} for ${A} \\(AccessDeniedException\\): `
        + `the key must be in account ${OWNER} and its key policy`));
      expect(err.message).toMatch(/ Nothing was changed\.$/);
    });

    test('access denied while listing grants fails before any mutating call', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      givenKeys();
      kmsMock.on(ListGrantsCommand).rejects(kmsError('AccessDeniedException'));
      const err = await failure(createEvent(props({ Accounts: [A], OrganizationArns: [ORG] })));
      expect(err).toBeInstanceOf(ShareError);
      expect(err.message).toBe(`The share handler may not read KMS key ${KEY_1} (snapshot snap-1) of AMI ${IMAGE} (AccessDeniedException):`
        + ` a key outside account ${OWNER} must be passed in encryptionKeys and its key policy must allow account ${OWNER};`
        + ` or re-encrypt the AMI with a key of account ${OWNER}.`);
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('a snapshot key KMS does not know fails before any mutating call', async () => {
      givenEncryptedImage({ 'snap-1': keyArn('ffffffff-ffff-4fff-8fff-ffffffffffff') });
      givenKeys();
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toBe(`KMS key ${keyArn('ffffffff-ffff-4fff-8fff-ffffffffffff')} (snapshot snap-1) of AMI ${IMAGE} does not exist (NotFoundException):`
        + ' nobody can launch the AMI; re-encrypt it with an existing customer managed key (ec2 copy-image --encrypted --kms-key-id <key>) and share the copy.');
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
    });
    // Found by the reliability harness: the KMS client's JSON parser choked on a load balancer's
    // HTML page and its complaint (raw body, line breaks, SDK hint) reached CloudFormation.
    test('retries ran out on a load balancer\'s HTML page while reading a key: one line, no raw body, deploy again later', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      givenKeys();
      const parserError = Object.assign(
        new SyntaxError('Unexpected token \'<\', "<html>\r\n<h"... is not valid JSON\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.'),
        { $metadata: { httpStatusCode: 502, attempts: 8 } },
      );
      kmsMock.on(DescribeKeyCommand).rejects(parserError);
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err).toBeInstanceOf(ShareError);
      expect(err.message).toBe(`AWS kept failing the reads of KMS key ${KEY_1} (snapshot snap-1) of AMI ${IMAGE} (HTTP 502: AWS answered HTTP 502 with a page that is not an AWS error)`
        + ' after all retries: deploy again later; the change resumes where it stopped.');
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('throttling that outlasts the retries while listing grants says deploy again later', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      givenKeys();
      kmsMock.on(ListGrantsCommand).rejects(kmsError('ThrottlingException', 'Rate exceeded'));
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toBe(`AWS kept throttling the reads of KMS key ${KEY_1} (snapshot snap-1) of AMI ${IMAGE} (ThrottlingException) after all retries: deploy again later; the change resumes where it stopped.`);
      expect(kmsMutatingCalls()).toEqual([]);
    });
  });

  describe('the AWS managed key aws/ebs', () => {
    test('fails before any mutating call (EC2 or KMS), naming the AMI, the snapshot and the fix', async () => {
      const kms = givenKeys();
      const existing = seedGrant(kms, KEY_1, root(C));
      const fake = givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': EBS_KEY }, [{ UserId: FOREIGN }]);

      const err = await failure(createEvent(props({ Accounts: [A, B], ShareSnapshots: 'true' })));

      expect(err).toBeInstanceOf(ShareError);
      expect(err.message).toBe(
        `AMI ${IMAGE} cannot be shared: its snapshot snap-2 is encrypted with the AWS managed key aws/ebs (${EBS_KEY}), which other accounts can never use;`
        + ' copy the AMI re-encrypted with a customer managed key (ec2 copy-image --encrypted --kms-key-id <key>) and share the copy.',
      );
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
      expect(timeline).toEqual([]);
      expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
      expect(fake.snapshots).toEqual({ 'snap-1': [], 'snap-2': [] });
      expect(kms.grants[KEY_1]?.map((g) => g.GrantId)).toEqual([existing]);
    });

    test('named by its alias, it fails the same way', async () => {
      givenKeys();
      givenEncryptedImage({ 'snap-1': 'alias/aws/ebs' });
      const err = await failure(createEvent(props({ OrganizationArns: [ORG], Accounts: [] })));
      expect(err.message).toContain(`its snapshot snap-1 is encrypted with the AWS managed key aws/ebs (${EBS_KEY})`);
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('the rollback of a failed opt-in (KmsGrants true -> false) on an aws/ebs AMI goes through (regression)', async () => {
      givenEncryptedImage({ 'snap-1': EBS_KEY }, [{ UserId: A }]);
      givenKeys();
      const off = props({ Accounts: [A], KmsGrants: 'false' });
      const on = props({ Accounts: [A] });
      await expect(handler(updateEvent(on, off))).rejects.toThrow(/aws\/ebs/);
      await expect(handler(updateEvent(off, on))).resolves.toMatchObject({ PhysicalResourceId: physicalId(IMAGE) });
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('an Update to an aws/ebs AMI fails before changing anything', async () => {
      givenKeys();
      const fake = givenEncryptedImage({ 'snap-1': EBS_KEY }, [{ UserId: A }]);
      const err = await failure(updateEvent(props({ Accounts: [B] }), props({ Accounts: [A] })));
      expect(err.message).toMatch(/cannot be shared: its snapshot snap-1 is encrypted with the AWS managed key aws\/ebs/);
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
      expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: A })]);
    });

    test('a Delete of an aws/ebs AMI still revokes its launch permissions (nothing to grant, nothing to refuse)', async () => {
      givenKeys();
      const fake = givenEncryptedImage({ 'snap-1': EBS_KEY }, [{ UserId: A }, { UserId: FOREIGN }]);
      await handler(deleteEvent(props({ Accounts: [A] })));
      expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
      expect(kmsMutatingCalls()).toEqual([]);
      expect(kmsMock).not.toHaveReceivedCommand(ListGrantsCommand);
    });
  });

  describe('organizations and OUs', () => {
    test('with a customer managed key the app does not declare: fails before any mutating call, naming the key and how to declare it', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      givenKeys();

      const err = await failure(createEvent(props({ Accounts: [A], OrganizationArns: [ORG] })));

      expect(err.message).toBe(
        `AMI ${IMAGE} is encrypted with customer managed key ${KEY_1} (snapshot snap-1), and ${ORG} cannot receive a KMS grant:`
        + ' pass that key to the SharedAmi as encryptionKeys (a kms.Key defined in your app) so its key policy admits the organization,'
        + ' or share with accounts instead.',
      );
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
      expect(grantsOf(fake)).toEqual([]);
    });

    test('an OU with an undeclared key fails the same way, naming the OU', async () => {
      givenEncryptedImage({ 'snap-1': KEY_2 });
      givenKeys();
      const err = await failure(createEvent(props({ Accounts: [], OrganizationalUnitArns: [OU] })));
      expect(err.message).toContain(`customer managed key ${KEY_2} (snapshot snap-1), and ${OU} cannot receive a KMS grant`);
      expect(mutatingCalls()).toEqual([]);
    });

    test('with the key in DeclaredKeyArns: proceeds, grants the accounts only, and shares the AMI with the organization', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();

      const declared = props({ Accounts: [A], OrganizationArns: [ORG], OrganizationalUnitArns: [OU], DeclaredKeyArns: [KEY_1] });
      const response = await handler(createEvent(declared));

      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A))]);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A)));
      expect(grantsOf(fake)).toEqual([{ UserId: A }, { OrganizationArn: ORG }, { OrganizationalUnitArn: OU }].map((p) => JSON.stringify(p)).sort());
      expect(response.Data).toMatchObject({ GrantCount: '1' });
    });

    test('organizations alone with a declared key: no grant at all', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      givenKeys();
      const response = await handler(createEvent(props({ Accounts: [], OrganizationArns: [ORG], DeclaredKeyArns: [KEY_1] })));
      expect(kmsMutatingCalls()).toEqual([]);
      expect(grantsOf(fake)).toEqual([JSON.stringify({ OrganizationArn: ORG })]);
      expect(response.Data).toEqual(noGrants(IMAGE));
    });

    test('KmsGrants "false" lets organizations through with an undeclared key (the app manages the key itself)', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      await handler(createEvent(props({ Accounts: [], OrganizationArns: [ORG], KmsGrants: 'false' })));
      expect(grantsOf(fake)).toEqual([JSON.stringify({ OrganizationArn: ORG })]);
      expect(kmsMock.calls()).toHaveLength(0);
    });
  });

  describe('Update', () => {
    test('dropping an account revokes only its grants, on every key, after the launch permissions', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_2 }, [{ UserId: A }, { UserId: B }]);
      const kms = givenKeys();
      const a1 = seedGrant(kms, KEY_1, root(A));
      const b1 = seedGrant(kms, KEY_1, root(B));
      const a2 = seedGrant(kms, KEY_2, root(A));
      const b2 = seedGrant(kms, KEY_2, root(B));

      const response = await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));

      expect(createGrantInputs()).toEqual([]);
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: b1 }, { KeyId: KEY_2, GrantId: b2 }]);
      expect(timeline).toEqual([`ModifyImageAttribute ${IMAGE}`, `RevokeGrant ${KEY_1} ${b1}`, `RevokeGrant ${KEY_2} ${b2}`]);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A)));
      expect(grantsOn(kms, KEY_2)).toEqual(ours(root(A)));
      expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: A })]);
      expect(response.Data).toEqual({ ImageId: IMAGE, GrantIds: `${a1},${a2}`, GrantCount: '2', GrantName: NAME });
    });

    test('adding an account grants it on every key; the rollback revokes exactly those grants', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_2 }, [{ UserId: A }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      seedGrant(kms, KEY_2, root(A));
      const before = JSON.stringify(kms.grants);
      const update = updateEvent(props({ Accounts: [A, C] }), props({ Accounts: [A] }));

      await handler(update);
      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(C)), grantInput(KEY_2, root(C))]);

      kmsMock.resetHistory();
      await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, C] })));
      expect(createGrantInputs()).toEqual([]);
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: grantIdOf(3) }, { KeyId: KEY_2, GrantId: grantIdOf(4) }]);
      expect(JSON.stringify(kms.grants)).toBe(before);
    });

    test('an update that changes nothing makes no mutating call on EC2 or KMS', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }, { UserId: B }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      seedGrant(kms, KEY_1, root(B));
      const p = props({ Accounts: [A, B] });
      await handler(updateEvent(p, p));
      expect(mutatingCalls()).toEqual([]);
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('turning AutoScalingRoleGrants off revokes the role grants and keeps the account grants', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      const role = seedGrant(kms, KEY_1, asg(A));
      await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A], AutoScalingRoleGrants: 'true' })));
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: role }]);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A)));
      expect(mutatingCalls()).toEqual([]);
    });

    test('turning KmsGrants off revokes every own grant and keeps the launch permissions', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      const kms = givenKeys();
      const own = seedGrant(kms, KEY_1, root(A));
      const response = await handler(updateEvent(props({ Accounts: [A], KmsGrants: 'false' }), props({ Accounts: [A] })));
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: own }]);
      expect(kms.grants[KEY_1]).toEqual([]);
      expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: A })]);
      expect(response.Data).toMatchObject({ GrantIds: '', GrantCount: '0' });
    });

    test('turning KmsGrants on grants the accounts', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      givenKeys();
      await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A], KmsGrants: 'false' })));
      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A))]);
      expect(mutatingCalls()).toEqual([]);
    });

    test('a grant revoked by someone else in the meantime (RevokeGrant NotFoundException) counts as revoked', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }, { UserId: B }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      const b = seedGrant(kms, KEY_1, root(B));
      kmsMock.on(RevokeGrantCommand).rejects(kmsError('NotFoundException', `Grant ${b} not found`));

      const response = await handler(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));

      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: b }]);
      expect(response.Data).toMatchObject({ GrantCount: '1' });
    });

    test('any other RevokeGrant failure fails the update and says what was applied', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }, { UserId: B }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      const b = seedGrant(kms, KEY_1, root(B));
      kmsMock.on(RevokeGrantCommand).rejects(kmsError('KMSInternalException', 'internal'));

      const err = await failure(updateEvent(props({ Accounts: [A] }), props({ Accounts: [A, B] })));

      expect(err.message).toBe(
        `Changing KMS key ${KEY_1} of AMI ${IMAGE} for ${B} failed (KMSInternalException: internal): fix the cause and deploy again.`
        + ` Applied before the failure: launch permissions on ${IMAGE} -[${B}]; not applied: revoke KMS grant ${b} on ${KEY_1} from ${B}.`
        + ' The automatic rollback or a new deployment converges from here.',
      );
    });

    test('a new image gets grants under its own name; the old image\'s grants on the same key stay until its Delete', async () => {
      useFake({
        images: {
          [IMAGE]: { image: image(IMAGE, ['snap-old']), launch: [{ UserId: A }] },
          [NEW_IMAGE]: { image: image(NEW_IMAGE, ['snap-new']), launch: [] },
        },
        snapshots: { 'snap-old': [], 'snap-new': [] },
        snapshotKeys: { 'snap-old': KEY_1, 'snap-new': KEY_1 },
      });
      const kms = givenKeys();
      const old = seedGrant(kms, KEY_1, root(A));
      const before = props({ ImageId: IMAGE, Accounts: [A] });
      const after = props({ ImageId: NEW_IMAGE, Accounts: [A] });

      const response = await handler(updateEvent(after, before));

      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A), grantNameOf(NEW_IMAGE))]);
      expect(revokeGrantInputs()).toEqual([]);
      expect(response).toEqual({
        PhysicalResourceId: physicalId(NEW_IMAGE),
        Data: { ImageId: NEW_IMAGE, GrantIds: grantIdOf(2), GrantCount: '1', GrantName: grantNameOf(NEW_IMAGE) },
      });

      // CloudFormation's cleanup: Delete of the old physical id revokes the old image's grant only.
      await handler(deleteEvent(before, physicalId(IMAGE)));
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: old }]);
      expect(grantsOn(kms, KEY_1)).toEqual([`${root(A)} ${grantNameOf(NEW_IMAGE)}`]);
    });
  });

  describe('grants made outside this resource', () => {
    test('survive create, update and delete, even when they are for a declared account', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      const console1 = seedGrant(kms, KEY_1, root(A), 'made-in-the-console');
      const unnamed = seedGrant(kms, KEY_1, root(B), null);
      const otherResource = seedGrant(kms, KEY_1, root(A), 'cdk-shared-images/s/OtherShare/' + IMAGE);
      const outside = [console1, unnamed, otherResource];
      const outsideIds = (): string[] => (kms.grants[KEY_1] ?? []).map((g) => g.GrantId!).filter((id) => outside.includes(id));

      const v1 = props({ Accounts: [A, B] });
      const created = await handler(createEvent(v1));
      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(A)), grantInput(KEY_1, root(B))]);
      expect(outsideIds()).toEqual(outside);
      expect(created.Data).toMatchObject({ GrantIds: `${grantIdOf(4)},${grantIdOf(5)}`, GrantCount: '2' });

      const v2 = props({ Accounts: [B] });
      await handler(updateEvent(v2, v1));
      expect(outsideIds()).toEqual(outside);

      await handler(deleteEvent(v2));
      expect(outsideIds()).toEqual(outside);
      expect(kms.grants[KEY_1]).toHaveLength(3);
      const revoked = revokeGrantInputs().map((i) => (i as { GrantId: string }).GrantId);
      expect(revoked.sort()).toEqual([grantIdOf(4), grantIdOf(5)]);
    });
  });

  describe('Delete', () => {
    test('revokes every own grant on every key, after the launch permissions', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': KEY_2 }, [{ UserId: A }, { UserId: B }]);
      const kms = givenKeys();
      const ids = [seedGrant(kms, KEY_1, root(A)), seedGrant(kms, KEY_1, asg(A)), seedGrant(kms, KEY_2, root(B))];

      const response = await handler(deleteEvent(props({ Accounts: [A, B] })));

      expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE) });
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: ids[0] }, { KeyId: KEY_1, GrantId: ids[1] }, { KeyId: KEY_2, GrantId: ids[2] }]);
      expect(timeline[0]).toBe(`ModifyImageAttribute ${IMAGE}`);
      expect(createGrantInputs()).toEqual([]);
      expect(kms.grants).toEqual({ [KEY_1]: [], [KEY_2]: [] });
      expect(grantsOf(fake)).toEqual([]);
    });

    test('revokes own grants even for accounts no longer in the properties (ownership is by grant name)', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      const stray = seedGrant(kms, KEY_1, root(C));
      await handler(deleteEvent(props({ Accounts: [A] })));
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: stray }]);
    });

    test('the same Delete twice: the second revokes no grant (its grant is gone) and fails on nothing', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      const event = deleteEvent(props({ Accounts: [A] }));
      await handler(event);
      ec2Mock.resetHistory();
      kmsMock.resetHistory();
      await handler(event);
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('a key deleted since (DescribeKey NotFoundException) does not fail the Delete; launch permissions are still revoked', async () => {
      givenEncryptedImage({ 'snap-1': keyArn('ffffffff-ffff-4fff-8fff-ffffffffffff') }, [{ UserId: A }, { UserId: FOREIGN }]);
      givenKeys();
      await expect(handler(deleteEvent(props({ Accounts: [A] })))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
      expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }] } }]);
      expect(kmsMutatingCalls()).toEqual([]);
    });

    test('a key pending deletion (ListGrants KMSInvalidStateException) does not fail the Delete', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      givenKeys();
      kmsMock.on(ListGrantsCommand).rejects(kmsError('KMSInvalidStateException', 'pending deletion'));
      await expect(handler(deleteEvent(props({ Accounts: [A] })))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
      expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }] } }]);
    });

    test('a grant already gone (RevokeGrant NotFoundException) does not fail the delete', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      const kms = givenKeys();
      const g = seedGrant(kms, KEY_1, root(A));
      kmsMock.on(RevokeGrantCommand).rejects(kmsError('NotFoundException'));
      await expect(handler(deleteEvent(props({ Accounts: [A] })))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: g }]);
    });
  });

  describe('KmsGrants "false"', () => {
    test.each<[string, () => CloudFormationCustomResourceEvent]>([
      ['Create', () => createEvent(props({ Accounts: [A], KmsGrants: 'false' }))],
      ['Update', () => updateEvent(props({ Accounts: [A, B], KmsGrants: 'false' }), props({ Accounts: [A], KmsGrants: 'false' }))],
      ['Delete', () => deleteEvent(props({ Accounts: [A], KmsGrants: 'false' }))],
    ])('%s makes no KMS call and does not read the snapshots, even for aws/ebs', async (_, event) => {
      givenEncryptedImage({ 'snap-1': KEY_1, 'snap-2': EBS_KEY }, [{ UserId: A }]);
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      await handler(event());
      expect(kmsMock.calls()).toHaveLength(0);
      expect(ec2Mock).not.toHaveReceivedCommand(DescribeSnapshotsCommand);
      expect(kms.grants[KEY_1]).toHaveLength(1);
    });
  });

  describe('GrantIds and GrantCount in Data', () => {
    const accountsN = (n: number): string[] => Array.from({ length: n }, (_, i) => String(100000000000 + i));

    test('GrantIds carries every id while the list fits in 2000 characters (exactly 2000 here)', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.grantIdWidth = 86; // 23 ids of 86 characters and 22 commas: exactly 2000
      const response = await handler(createEvent(props({ Accounts: accountsN(23) })));
      const ids = Array.from({ length: 23 }, (_, i) => grantIdOf(i + 1, 86)).join(',');
      expect(ids).toHaveLength(2000);
      expect(response.Data).toEqual({ ImageId: IMAGE, GrantIds: ids, GrantCount: '23', GrantName: NAME });
    });

    test('GrantIds is empty when the list would be longer than 2000 characters; GrantCount still counts', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.grantIdWidth = 86; // 24 ids: 2087 characters
      const response = await handler(createEvent(props({ Accounts: accountsN(24) })));
      expect(kms.grants[KEY_1]).toHaveLength(24);
      expect(response.Data).toEqual({ ImageId: IMAGE, GrantIds: '', GrantCount: '24', GrantName: NAME });
    });
  });

  describe('ListGrants lags writes (KMS is eventually consistent)', () => {
    test('a rollback that re-adds an account whose revoked grant is still listed makes a new grant, and the stale listing is revoked quietly', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 }, [{ UserId: A }]);
      const kms = givenKeys();
      const grantA = seedGrant(kms, KEY_1, root(A));
      // B's grant was revoked by the failed update a moment ago, and ListGrants still lists it
      kms.ghosts = [{ KeyId: KEY_1, GrantId: 'g-revoked-b', Name: NAME, GranteePrincipal: root(B), Operations: OPERATIONS as GrantListEntry['Operations'] }];

      const response = await handler(updateEvent(props({ Accounts: [A, B] }), props({ Accounts: [A] })));

      expect(createGrantInputs()).toEqual([grantInput(KEY_1, root(B))]);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A), root(B)));
      expect(revokeGrantInputs()).toEqual([{ KeyId: KEY_1, GrantId: 'g-revoked-b' }]);
      const grantB = kms.grants[KEY_1]!.find((g) => g.GranteePrincipal === root(B))!.GrantId;
      expect(response.Data).toMatchObject({ GrantIds: `${grantA},${grantB}`, GrantCount: '2' });
    });

    test('success is reported only once ListGrants lists the new grants, so a Delete right after finds them', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.hideNewFor = 3;
      await handler(createEvent(props({ Accounts: [A] })));
      // the read before, then polls until the grant shows: two that do not list it, one that does
      expect(kmsMock).toHaveReceivedCommandTimes(ListGrantsCommand, 4);

      kmsMock.resetHistory();
      await handler(deleteEvent(props({ Accounts: [A] })));
      expect(grantsOn(kms, KEY_1)).toEqual([]);
    });

    test('a grant KMS never lists in time fails the Create with one sentence, and the Create undoes itself', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.hideNewFor = 1000;
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toMatch(new RegExp(`^KMS made grant [0-9a-f]+ on key ${KEY_1} of AMI ${IMAGE} but still does not list it after about \\d+ s \\(KMS is eventually consistent\\): deploy again; the grant is found by its name and not duplicated\\. Nothing was left changed`));
      expect(grantsOn(kms, KEY_1)).toEqual([]);
      expect(grantsOf(fake)).toEqual([]);
    });
  });

  describe('KMS refusals', () => {
    test('an Auto Scaling role created moments ago (InvalidArnException for a while) is retried until KMS knows it', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      let unknownFor = 2;
      kms.refuse = (input) => (input.GranteePrincipal === asg(A) && unknownFor-- > 0 ? kmsError('InvalidArnException', 'Invalid principal') : undefined);
      await handler(createEvent(props({ Accounts: [A], AutoScalingRoleGrants: 'true' })));
      expect(createGrantInputs().filter((i) => (i as { GranteePrincipal: string }).GranteePrincipal === asg(A))).toHaveLength(3);
      expect(grantsOn(kms, KEY_1)).toEqual(ours(root(A), asg(A)));
    });

    test('a grant quota used up (LimitExceededException) is named as a quota, not as throttling', async () => {
      givenEncryptedImage({ 'snap-1': KEY_1 });
      const kms = givenKeys();
      kms.refuse = () => kmsError('LimitExceededException', 'grants per key exceeded');
      const err = await failure(createEvent(props({ Accounts: [A] })));
      expect(err.message).toBe(`KMS refused a grant on key ${KEY_1} of AMI ${IMAGE} for ${A} because a KMS grant quota is used up (LimitExceededException; by default a key holds at most 50,000 grants): revoke unused grants (kms list-grants, kms revoke-grant) or request a higher quota, then deploy again. Nothing was changed.`);
    });
  });

  describe('a disabled AMI', () => {
    test('Delete still revokes the snapshot permissions and the KMS grants (DisableImage took the launch permissions)', async () => {
      const fake = givenEncryptedImage({ 'snap-1': KEY_1 });
      fake.snapshots['snap-1'] = [A, FOREIGN];
      const kms = givenKeys();
      seedGrant(kms, KEY_1, root(A));
      fake.images[IMAGE].image.State = 'disabled';
      await handler(deleteEvent(props({ Accounts: [A], ShareSnapshots: 'true' })));
      expect(ec2Mock.commandCalls(DescribeImagesCommand)[0].args[0].input).toMatchObject({ IncludeDisabled: true });
      expect(fake.snapshots['snap-1']).toEqual([FOREIGN]);
      expect(grantsOn(kms, KEY_1)).toEqual([]);
    });
  });
});

describe('deletion guard', () => {
  const guarded = (extra: Props = {}): Props => props({ Accounts: [A], GuardImage: 'true', ...extra });
  const retiring = (extra: Props = {}): Props => guarded({ DeleteImage: 'true', ...extra });

  test('blocked by an account shared outside the stack: own shares revoked, image kept, message names the account and the ways out', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: FOREIGN }], { 'snap-1': [] });
    const err = await failure(deleteEvent(retiring({ DeleteSnapshots: 'true' })));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(`AMI ${IMAGE} was not deleted because it is still shared with ${FOREIGN} (not granted by this share): `
      + 'unshare them, or set forceUnshareOnRemoval: true to revoke every share, then delete again. EC2 reports no launch of it; '
      + `AWS's AMI usage report names the accounts still using it (ec2 create-image-usage-report --image-id ${IMAGE} --resource-types ResourceType=ec2:Instance ResourceType=ec2:LaunchTemplate).`);
    expect(fake.images[IMAGE]).toBeDefined();
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
    expect(ec2Mock).not.toHaveReceivedCommand(DeregisterImageCommand);
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('blocked by an OU shared outside the stack', async () => {
    givenImage([{ UserId: A }, { OrganizationalUnitArn: OU }]);
    const err = await failure(deleteEvent(retiring()));
    expect(err.message).toContain(`still shared with ${OU} (not granted by this share)`);
    expect(ec2Mock).not.toHaveReceivedCommand(DeregisterImageCommand);
  });

  test('a retried Delete after the outside share was removed goes through', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: FOREIGN }]);
    await failure(deleteEvent(retiring()));
    fake.images[IMAGE].launch = [];
    await expect(handler(deleteEvent(retiring()))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('forceUnshareOnRemoval revokes every remaining share, then deregisters and deletes the snapshots', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: FOREIGN }, { OrganizationArn: FOREIGN_ORG }], { 'snap-1': [], 'snap-2': [] });
    await handler(deleteEvent(retiring({ DeleteSnapshots: 'true', ForceUnshare: 'true' })));
    expect(modifyImageInputs()).toEqual([
      { ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }] } },
      { ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: FOREIGN }, { OrganizationArn: FOREIGN_ORG }] } },
    ]);
    // the snapshots go in the deregistering call itself, so no later call has to find them again
    expect(timeline.slice(-1)).toEqual([`DeregisterImage ${IMAGE} DeleteAssociatedSnapshots`]);
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSnapshotCommand);
    expect(fake.images[IMAGE]).toBeUndefined();
    expect(fake.snapshots).toEqual({});
  });

  test('clean delete: own shares revoked, then the AMI deregistered; snapshots kept unless asked', async () => {
    const fake = givenImage([{ UserId: A }], { 'snap-1': [] });
    await handler(deleteEvent(retiring()));
    expect(fake.images[IMAGE]).toBeUndefined();
    expect(fake.snapshots['snap-1']).toEqual([]);
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('guard without deleteImage (the image belongs to another resource of the app): proceeds without deregistering', async () => {
    const fake = givenImage([{ UserId: A }]);
    await handler(deleteEvent(guarded()));
    expect(fake.images[IMAGE]).toBeDefined();
    expect(ec2Mock).not.toHaveReceivedCommand(DeregisterImageCommand);
  });

  test('guard without deleteImage still blocks while an outside share remains', async () => {
    givenImage([{ UserId: A }, { UserId: FOREIGN }]);
    await expect(handler(deleteEvent(guarded()))).rejects.toThrow(`still shared with ${FOREIGN}`);
  });

  test('an image already gone counts as deleted', async () => {
    useFake({ images: {}, snapshots: {} });
    await expect(handler(deleteEvent(retiring()))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(ec2Mock).not.toHaveReceivedCommand(DeregisterImageCommand);
  });

  test('a deregister that finds the AMI gone (InvalidAMIID.NotFound) counts as deleted', async () => {
    givenImage([{ UserId: A }]);
    ec2Mock.on(DeregisterImageCommand).rejects(ec2Error('InvalidAMIID.NotFound'));
    await expect(handler(deleteEvent(retiring()))).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
  });

  test('a snapshot EC2 did not delete with the AMI is deleted right away, while its id is known; InUse is waited out', async () => {
    const fake = givenImage([{ UserId: A }], { 'snap-1': [], 'snap-2': [] });
    fake.snapshotDeleteResult = (id) => (id === 'snap-2' ? 'internal-error' : 'success');
    let inUse = 2;
    ec2Mock.on(DeleteSnapshotCommand).callsFake((input: { SnapshotId: string }) => {
      if (inUse-- > 0) throw ec2Error('InvalidSnapshot.InUse', 'in use');
      delete fake.snapshots[input.SnapshotId];
      return {};
    });
    await handler(deleteEvent(retiring({ DeleteSnapshots: 'true' })));
    expect(ec2Mock.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotId)).toEqual(['snap-2', 'snap-2', 'snap-2']);
    expect(fake.snapshots).toEqual({});
  });

  test('a snapshot another AMI uses (EC2 skips it) is kept on purpose', async () => {
    const fake = givenImage([{ UserId: A }], { 'snap-1': [] });
    fake.snapshotDeleteResult = () => 'skipped';
    await handler(deleteEvent(retiring({ DeleteSnapshots: 'true' })));
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSnapshotCommand);
    expect(fake.snapshots['snap-1']).toEqual([]);
  });

  test('a snapshot that cannot be deleted is named with the fix', async () => {
    const fake = givenImage([{ UserId: A }], { 'snap-1': [] });
    fake.snapshotDeleteResult = () => 'internal-error';
    ec2Mock.on(DeleteSnapshotCommand).rejects(ec2Error('InvalidSnapshot.InUse', 'in use'));
    const err = await failure(deleteEvent(retiring({ DeleteSnapshots: 'true' })));
    expect(err.message).toBe(`AMI ${IMAGE} was deregistered, but EC2 did not delete its snapshot snap-1 (InvalidSnapshot.InUse): delete it by hand (ec2 delete-snapshot --snapshot-id ...); the ids are also in the handler's log.`);
  });

  test('a read that still shows the shares this resource just revoked (EC2 reads lag writes) does not block its own Delete', async () => {
    const fake = givenImage([{ UserId: A }]);
    ec2Mock.on(DescribeImageAttributeCommand).resolves({ ImageId: IMAGE, LaunchPermissions: [{ UserId: A }] });
    await handler(deleteEvent(retiring()));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }] } }]);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('the guard flags change nothing on Create or Update', async () => {
    givenImage([{ UserId: A }]);
    await handler(updateEvent(retiring({ ForceUnshare: 'true' }), props({ Accounts: [A] })));
    expect(mutatingCalls()).toEqual([]);
  });
});

describe('deregistration protection', () => {
  const protectedProps = (extra: Props = {}): Props => props({ DeregistrationProtection: 'true', ...extra });
  const asOther = <E extends CloudFormationCustomResourceEvent>(event: E): E => ({
    ...event, LogicalResourceId: 'OtherShare', StackId: `arn:aws:cloudformation:us-east-1:${OWNER}:stack/other-stack/guid2`,
  });

  /** EC2's protection state on the fake image, as DescribeImages reports it. */
  function useProtection(fake: FakeEc2, initial = 'disabled'): string[] {
    const calls: string[] = [];
    fake.images[IMAGE].image.DeregistrationProtection = initial;
    ec2Mock.on(EnableImageDeregistrationProtectionCommand).callsFake((input: { WithCooldown?: boolean }) => {
      fake.images[IMAGE].image.DeregistrationProtection = input.WithCooldown ? 'enabled-with-cooldown' : 'enabled-without-cooldown';
      calls.push(`enable${input.WithCooldown ? ' with cooldown' : ''}`);
      return {};
    });
    ec2Mock.on(DisableImageDeregistrationProtectionCommand).callsFake(() => {
      const cooldown = fake.images[IMAGE].image.DeregistrationProtection === 'enabled-with-cooldown';
      fake.images[IMAGE].image.DeregistrationProtection = cooldown ? 'disabled-until 2026-11-29T21:00:00Z' : 'disabled';
      calls.push('disable');
      return {};
    });
    return calls;
  }

  test('on with the first share, before any grant; off after the last Delete', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake);
    await handler(createEvent(protectedProps()));
    expect(calls).toEqual(['enable']);
    expect(ec2Mock.calls().map((c) => c.args[0].constructor.name).filter((n) => /Enable|Modify/.test(n)))
      .toEqual(['EnableImageDeregistrationProtectionCommand', 'ModifyImageAttributeCommand']);
    await handler(deleteEvent(protectedProps()));
    expect(calls).toEqual(['enable', 'disable']);
    expect(fake.images[IMAGE].image.DeregistrationProtection).toBe('disabled');
  });

  test('kept while another resource still holds a claim; turned off by the last', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake);
    await handler(createEvent(protectedProps()));
    await handler(asOther(createEvent(protectedProps({ Accounts: [C] }))));
    await handler(deleteEvent(protectedProps()));
    expect(calls).toEqual(['enable']);
    await handler(asOther(deleteEvent(protectedProps({ Accounts: [C] }))));
    expect(calls).toEqual(['enable', 'disable']);
  });

  test('protection that was on before stays on', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake, 'enabled-without-cooldown');
    await handler(createEvent(protectedProps()));
    await handler(deleteEvent(protectedProps()));
    expect(calls).toEqual([]);
    expect(fake.images[IMAGE].image.DeregistrationProtection).toBe('enabled-without-cooldown');
  });

  test('turned off by hand (drift): the next deployment turns it on again; an update that changes nothing makes no call', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake);
    await handler(createEvent(protectedProps()));
    await handler(updateEvent(protectedProps(), protectedProps()));
    expect(calls).toEqual(['enable']);
    fake.images[IMAGE].image.DeregistrationProtection = 'disabled';
    await handler(updateEvent(protectedProps(), protectedProps()));
    expect(calls).toEqual(['enable', 'enable']);
  });

  test('the cooldown option turns it on with the cooldown', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake);
    await handler(createEvent(protectedProps({ ProtectionCooldown: 'true' })));
    expect(calls).toEqual(['enable with cooldown']);
  });

  test('opting out later turns off what the library turned on', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake);
    await handler(createEvent(protectedProps()));
    await handler(updateEvent(props({ DeregistrationProtection: 'false' }), protectedProps()));
    expect(calls).toEqual(['enable', 'disable']);
  });

  test('deleteImageOnRemoval turns protection off, then deregisters', async () => {
    const fake = givenImage([]);
    const calls = useProtection(fake, 'enabled-without-cooldown');
    await handler(deleteEvent(protectedProps({ GuardImage: 'true', DeleteImage: 'true' })));
    expect(calls).toEqual(['disable']);
    expect(fake.images[IMAGE]).toBeUndefined();
  });

  test('deleteImageOnRemoval during the cooldown fails with the time to delete again', async () => {
    const fake = givenImage([]);
    useProtection(fake, 'enabled-with-cooldown');
    ec2Mock.on(DeregisterImageCommand).rejects(ec2Error('OperationNotPermitted', 'deregistration protection cooldown'));
    const err = await failure(deleteEvent(protectedProps({ GuardImage: 'true', DeleteImage: 'true' })));
    expect(err.message).toBe(`AMI ${IMAGE} was not deregistered: its deregistration protection was turned on with a 24-hour cooldown, so EC2 refuses to deregister it until 2026-11-29T21:00:00Z; its shares are revoked, so delete again after that time.`);
  });

  test('the guard\'s refusal names when the AMI was last launched', async () => {
    givenImage([{ UserId: A }, { UserId: FOREIGN }], {}, { LastLaunchedTime: '2026-11-20T08:00:00Z' });
    const err = await failure(deleteEvent(props({ GuardImage: 'true' })));
    expect(err.message).toContain('It was last launched 2026-11-20T08:00:00Z; AWS\'s AMI usage report names the accounts still using it');
  });
});
