/**
 * Deregistration protection on the strict test AWS (which emulates EC2's protection, its cooldown
 * and DeregisterImage's refusal; moto has none of it): the real SharedAmi handler keeps protection on
 * while the library holds shares of an AMI, and retires an AMI only through it.
 */
import {
  DeregisterImageCommand, DescribeImagesCommand, DisableImageDeregistrationProtectionCommand, EnableImageDeregistrationProtectionCommand,
} from '@aws-sdk/client-ec2';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import {
  AmiShareInput, configureStrict, createAmi, createEvent, deleteEvent, MOTO_ACCOUNT, MOTO_REGION, settleAll, updateEvent, useMoto,
} from './moto';
import { handler } from '../../lambda/shared-ami.lambda';

const A = '111111111111';
const B = '222222222222';

const fixture = useMoto();

function fromOtherStack<E extends CloudFormationCustomResourceEvent>(event: E): E {
  return { ...event, LogicalResourceId: 'TeamShare', StackId: `arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/team/guid2` };
}

async function protection(imageId: string): Promise<string | undefined> {
  await settleAll();
  const out = await fixture.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId], IncludeDisabled: true }));
  return out.Images?.[0]?.DeregistrationProtection;
}

async function outsideDeregister(imageId: string): Promise<string> {
  return fixture.ec2.send(new DeregisterImageCommand({ ImageId: imageId })).then(() => 'deregistered', (err: Error) => err.name);
}

async function exists(imageId: string): Promise<boolean> {
  const out = await fixture.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId], IncludeDisabled: true })).catch(() => ({ Images: [] }));
  return (out.Images ?? []).some((i) => i.State !== 'deregistered');
}

const input = (imageId: string, extra: Partial<AmiShareInput> = {}): AmiShareInput =>
  ({ imageId, accounts: [A], kmsGrants: false, protection: true, ...extra });

test('on after Create: an outside DeregisterImage is refused; off after the last Delete, and then it goes through', async () => {
  const { imageId } = await createAmi(fixture.ec2);
  const physicalId = (await handler(createEvent(input(imageId)))).PhysicalResourceId!;
  expect(await protection(imageId)).toBe('enabled-without-cooldown');
  expect(await outsideDeregister(imageId)).not.toBe('deregistered');
  expect(await exists(imageId)).toBe(true);

  await handler(deleteEvent(physicalId, input(imageId)));
  expect(await protection(imageId)).toBe('disabled');
  expect(await outsideDeregister(imageId)).toBe('deregistered');
});

test('kept while another resource still holds a claim; turned off by the last to let go', async () => {
  const { imageId } = await createAmi(fixture.ec2);
  const mine = input(imageId);
  const theirs = input(imageId, { accounts: [B] });
  const myId = (await handler(createEvent(mine))).PhysicalResourceId!;
  const theirId = (await handler(fromOtherStack(createEvent(theirs)))).PhysicalResourceId!;
  await handler(deleteEvent(myId, mine));
  expect(await protection(imageId)).toBe('enabled-without-cooldown');
  await handler(fromOtherStack(deleteEvent(theirId, theirs)));
  expect(await protection(imageId)).toBe('disabled');
});

test('protection that was on before stays on after the last Delete', async () => {
  const { imageId } = await createAmi(fixture.ec2);
  await fixture.ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: imageId }));
  const physicalId = (await handler(createEvent(input(imageId)))).PhysicalResourceId!;
  await handler(deleteEvent(physicalId, input(imageId)));
  expect(await protection(imageId)).toBe('enabled-without-cooldown');
});

test('deleteImageOnRemoval with the cooldown off: protection off, then the AMI deregistered', async () => {
  const { imageId } = await createAmi(fixture.ec2);
  const retiring = input(imageId, { guardImage: true, deleteImage: true });
  const physicalId = (await handler(createEvent(retiring))).PhysicalResourceId!;
  await handler(deleteEvent(physicalId, retiring));
  expect(await exists(imageId)).toBe(false);
});

test('deleteImageOnRemoval during a cooldown (protection turned on with it outside the library): the Delete fails saying until when, and succeeds after', async () => {
  await configureStrict(fixture.moto, { deregistration_cooldown_ms: 300 });
  const { imageId } = await createAmi(fixture.ec2);
  await fixture.ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: imageId, WithCooldown: true }));
  const retiring = input(imageId, { guardImage: true, deleteImage: true });
  const physicalId = (await handler(createEvent(retiring))).PhysicalResourceId!;
  await expect(handler(deleteEvent(physicalId, retiring))).rejects.toThrow(
    new RegExp(`^AMI ${imageId} was not deregistered: its deregistration protection was turned on with a 24-hour cooldown, so EC2 refuses to deregister it until .+; its shares are revoked, so delete again after that time\\.$`));
  expect(await exists(imageId)).toBe(true);
  // CloudFormation's retry after the cooldown (the test AWS's is 300 ms long)
  const deadline = Date.now() + 10_000;
  let deleted = false;
  while (!deleted && Date.now() < deadline) {
    deleted = await handler(deleteEvent(physicalId, retiring)).then(() => true, () => false);
  }
  expect(deleted).toBe(true);
  expect(await exists(imageId)).toBe(false);
  await configureStrict(fixture.moto, { deregistration_cooldown_ms: 86_400_000 });
});

test('turned off by hand: the next deployment turns it on again', async () => {
  const { imageId } = await createAmi(fixture.ec2);
  const physicalId = (await handler(createEvent(input(imageId)))).PhysicalResourceId!;
  await fixture.ec2.send(new DisableImageDeregistrationProtectionCommand({ ImageId: imageId }));
  await settleAll();
  await handler(updateEvent(physicalId, input(imageId, { accounts: [A, B] }), input(imageId)));
  expect(await protection(imageId)).toBe('enabled-without-cooldown');
});
