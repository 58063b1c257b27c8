/**
 * SharedAmi handler tests: the real router and plan against a mocked EC2 client
 * (aws-sdk-client-mock). Most tests run on a small stateful EC2 fake, so a test can check both
 * the exact requests sent and the state they leave behind.
 */
import {
  DescribeImageAttributeCommand, DescribeImagesCommand, DescribeSnapshotAttributeCommand, EC2Client, EC2ServiceException,
  Image, LaunchPermission, ModifyImageAttributeCommand, ModifyImageAttributeCommandInput, ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { ShareError } from '../../lambda/common/errors';
import { handler } from '../../lambda/shared-ami.lambda';

process.env.SHARED_IMAGES_QUIET = '1';
process.env.AWS_REGION ??= 'us-east-1';

const ec2Mock = mockClient(EC2Client);

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
    RemovalPolicy: 'revoke',
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

/** Points every EC2 command of the mock at `fake`, behaving like EC2 does. */
function useFake(fake: FakeEc2): FakeEc2 {
  ec2Mock.on(DescribeImagesCommand).callsFake((input: { ImageIds?: string[] }) => {
    const found = (input.ImageIds ?? []).map((id) => fake.images[id]?.image);
    if (found.some((i) => i === undefined)) throw ec2Error('InvalidAMIID.NotFound', `The image id '[${input.ImageIds}]' does not exist`);
    return { Images: found.map((i) => ({ ...i })) };
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
  ec2Mock.on(ModifyImageAttributeCommand).callsFake((input: ModifyImageAttributeCommandInput) => {
    const entry = fake.images[input.ImageId ?? ''];
    if (!entry) throw ec2Error('InvalidAMIID.NotFound');
    for (const p of input.LaunchPermission?.Remove ?? []) entry.launch = entry.launch.filter((q) => !sameGrant(p)(q));
    for (const p of input.LaunchPermission?.Add ?? []) if (!entry.launch.some(sameGrant(p))) entry.launch.push({ ...p });
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

const READS = [DescribeImagesCommand, DescribeImageAttributeCommand, DescribeSnapshotAttributeCommand];

/** Every call that is not one of the three reads (i.e. anything that could change AWS). */
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

beforeEach(() => {
  ec2Mock.reset();
});

// ---------------------------------------------------------------------------------------------

describe('Create', () => {
  test('grants every recipient in one ModifyImageAttribute call and returns the physical id and ImageId', async () => {
    givenImage();
    const response = await handler(createEvent(props({ Accounts: [A, B], OrganizationArns: [ORG], OrganizationalUnitArns: [OU] })));

    expect(response).toEqual({ PhysicalResourceId: `shared-ami:${IMAGE}`, Data: { ImageId: IMAGE } });
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
    expect(response).toEqual({ PhysicalResourceId: `shared-ami:${short}`, Data: { ImageId: short } });
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
    ['more than 1000 recipients', { Accounts: Array.from({ length: 1001 }, (_, i) => String(100000000000 + i)) }, /1001 recipients exceed the AMI sharing quota of 1000/],
    ['a bad ShareSnapshots', { ShareSnapshots: 'yes' }, /ShareSnapshots must be "true" or "false", got "yes"/],
    ['a bad RemovalPolicy', { RemovalPolicy: 'destroy' }, /RemovalPolicy must be "revoke" or "retain", got "destroy"/],
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

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: { ImageId: IMAGE } });
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

  test('changing only RemovalPolicy makes no mutating call', async () => {
    givenImage([{ UserId: A }, { UserId: B }]);
    await handler(updateEvent(props({ RemovalPolicy: 'retain' }), props()));
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
    await handler(updateEvent(props({ Accounts: [B] }), props({ Accounts: ['not-an-account', A], RemovalPolicy: 'bogus' })));
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

    expect(response).toEqual({ PhysicalResourceId: `shared-ami:${NEW_IMAGE}`, Data: { ImageId: NEW_IMAGE } });
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

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE), Data: { ImageId: IMAGE } });
    expect(mutatingCalls()).toEqual([]); // A and B still hold the old image
    expect(callsMentioning(NEW_IMAGE)).toEqual([]);
  });
});

describe('Delete', () => {
  test('revokes only the declared recipients that are present', async () => {
    const fake = givenImage([{ UserId: A }, { OrganizationalUnitArn: OU }, { UserId: FOREIGN }, { Group: 'all' }]);
    const p = props({ Accounts: [A, B], OrganizationArns: [ORG], OrganizationalUnitArns: [OU] });
    const response = await handler(deleteEvent(p));

    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }, { OrganizationalUnitArn: OU }] } }]);
    expect(grantsOf(fake)).toEqual([{ UserId: FOREIGN }, { Group: 'all' }].map((g) => JSON.stringify(g)).sort());
  });

  test('revokes the snapshot permissions it declared, keeping other holders', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }], { 'snap-1': [A, FOREIGN], 'snap-2': [] });
    await handler(deleteEvent(props({ ShareSnapshots: 'true' })));

    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }, { UserId: B }] } }]);
    expect(modifySnapshotInputs()).toEqual([{ SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: [A] }]);
    expect(fake.snapshots).toEqual({ 'snap-1': [FOREIGN], 'snap-2': [] });
  });

  test('makes no mutating call when nothing declared is present', async () => {
    givenImage([{ UserId: FOREIGN }]);
    await handler(deleteEvent(props()));
    expect(mutatingCalls()).toEqual([]);
  });

  test('takes the image from the physical id', async () => {
    const fake = givenImage([{ UserId: A }]);
    await handler(deleteEvent(props({ ImageId: NEW_IMAGE }), physicalId(IMAGE)));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Remove: [{ UserId: A }] } }]);
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

  test('RemovalPolicy "retain" keeps the shares and makes no AWS call', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }], { 'snap-1': [A, B] });
    const response = await handler(deleteEvent(props({ RemovalPolicy: 'retain', ShareSnapshots: 'true' })));
    expect(response).toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(grantsOf(fake)).toHaveLength(2);
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
  test('launch permissions applied, snapshot permission failed: the error names what was and was not applied', async () => {
    const fake = givenImage([], { 'snap-1': [], 'snap-2': [] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InternalError', 'An internal error has occurred.'));
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));

    expect(err).toBeInstanceOf(ShareError);
    expect(err.message).toBe(
      `Changing snapshot snap-1 of AMI ${IMAGE} for ${A}, ${B} failed (InternalError: An internal error has occurred.): fix the cause and deploy again.`
      + ` Applied before the failure: launch permissions on ${IMAGE} +[${A}, ${B}];`
      + ` not applied: createVolumePermission on snap-1 +[${A}, ${B}], createVolumePermission on snap-2 +[${A}, ${B}].`
      + ' The automatic rollback or a new deployment converges from here.',
    );
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifySnapshotAttributeCommand, 1);
    expect(grantsOf(fake)).toHaveLength(2);
  });

  test('a retry after a partial failure sends only what was not applied', async () => {
    const fake = givenImage([], { 'snap-1': [] });
    ec2Mock.on(ModifySnapshotAttributeCommand).rejectsOnce(ec2Error('InternalError'));
    await failure(createEvent(props({ ShareSnapshots: 'true' })));

    useFake(fake);
    ec2Mock.resetHistory();
    await handler(createEvent(props({ ShareSnapshots: 'true' })));
    expect(ec2Mock).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
    expect(modifySnapshotInputs()).toEqual([{ SnapshotId: 'snap-1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [A, B] }]);
    expect(fake.snapshots['snap-1']).toEqual([A, B]);
  });

  test('a failure on the first call says that nothing was changed', async () => {
    givenImage([], { 'snap-1': [] });
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InvalidAMIAttributeItemValue', 'Invalid attribute item value "444444444444" for userId item type.'));
    const err = await failure(createEvent(props({ ShareSnapshots: 'true' })));
    expect(err.message).toMatch(new RegExp(`^AWS refused to share AMI ${IMAGE} with ${A}, ${B} \\(InvalidAMIAttributeItemValue: `));
    expect(err.message).toMatch(/ Nothing was changed\.$/);
    expect(ec2Mock).not.toHaveReceivedCommand(ModifySnapshotAttributeCommand);
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

  test('an unknown error with a huge message is cut to a bounded length', async () => {
    givenImage();
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InternalError', 'y'.repeat(10000)));
    const err = await failure(createEvent(props()));
    expectShortSentence(err);
    expect(err.message).toMatch(new RegExp(`^Changing AMI ${IMAGE} for ${A}, ${B} failed \\(InternalError: y+`));
    expect(err.message.endsWith('...')).toBe(true);
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

  test('the same Update twice: the second makes no mutating call', async () => {
    givenImage([{ UserId: A }]);
    const event = updateEvent(props({ Accounts: [B] }), props({ Accounts: [A] }));
    await handler(event);
    expect(mutatingCalls()).toHaveLength(1);
    ec2Mock.resetHistory();
    await handler(event);
    expect(mutatingCalls()).toEqual([]);
  });

  test('the same Delete twice: the second makes no mutating call', async () => {
    const fake = givenImage([{ UserId: A }, { UserId: B }, { UserId: FOREIGN }], { 'snap-1': [A, B] });
    const event = deleteEvent(props({ ShareSnapshots: 'true' }));
    await handler(event);
    expect(mutatingCalls()).toHaveLength(2);
    ec2Mock.resetHistory();
    await expect(handler(event)).resolves.toEqual({ PhysicalResourceId: physicalId(IMAGE) });
    expect(mutatingCalls()).toEqual([]);
    expect(grantsOf(fake)).toEqual([JSON.stringify({ UserId: FOREIGN })]);
  });
});

describe('shares that existed before this resource declared them', () => {
  const OTHER = '888888888888';
  // Documented choice (README, "Ownership of a share"): a recipient belongs to this resource exactly
  // when it is declared. AWS keeps no record of who granted a launch permission, so a recipient
  // that was shared before and is then declared is adopted: dropping or deleting it revokes it.
  test('a pre-existing share that this resource also declares is adopted: Create sends nothing for it, Delete revokes it', async () => {
    const fake = givenImage([{ UserId: A }]);
    await handler(createEvent(props({ Accounts: [A, B] })));
    expect(modifyImageInputs()).toEqual([{ ImageId: IMAGE, LaunchPermission: { Add: [{ UserId: B }] } }]);

    await handler(deleteEvent(props({ Accounts: [A, B] })));
    expect(grantsOf(fake)).toEqual([]);
  });

  test('a share never declared survives an update that declares it and its rollback only if the rollback keeps declaring it', async () => {
    // FOREIGN is adopted by the update; the rollback drops it from the declaration and so revokes
    // it, while A (declared on both sides) and OTHER (never declared) stay.
    const fake = givenImage([{ UserId: A }, { UserId: FOREIGN }, { UserId: OTHER }]);
    const old = props({ Accounts: [A] });
    const next = props({ Accounts: [A, FOREIGN] });
    await handler(updateEvent(next, old));
    expect(modifyImageInputs()).toEqual([]);
    await handler(updateEvent(old, next));
    expect(grantsOf(fake)).toEqual([{ UserId: A }, { UserId: OTHER }].map((p) => JSON.stringify(p)).sort());
  });
});
