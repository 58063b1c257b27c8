/**
 * The record of ownership on the strict test AWS, for both constructs: the real handlers keep
 * their claims in moto's Parameter Store, and every scenario asserts the image's real permissions.
 * A share made outside before a resource declared it survives; a recipient that several resources
 * declare stays until the last lets go; replays, rollbacks and replacements keep the record right.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { AmiShareInput, amiEvents, createAmi, grantLaunch, launchPermissions, MOTO_ACCOUNT, MOTO_REGION, useMoto } from './moto';
import { handlerRunner } from './runner';
import {
  createWorkspaceImage, recordWorkspacesCalls, sharedAccounts, shareOutside, useWorkspacesMoto, workspaceEvents, WorkspaceShareInput,
} from './workspaces-fixture';
import { handler as amiHandler } from '../../lambda/shared-ami.lambda';
import { handler as wsHandler } from '../../lambda/shared-workspace-image.lambda';

const A = '111111111111';
const B = '222222222222';
const OUTSIDE = '999999999999';

/** The same event from a resource of another stack. */
function fromOtherStack<E extends CloudFormationCustomResourceEvent>(event: E): E {
  return { ...event, LogicalResourceId: 'TeamShare', StackId: `arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/team/guid2` };
}

/** One construct, seen the same way: make an image, share from outside, run events, read who holds it. */
interface Subject<I> {
  events: {
    createEvent(input: I): CloudFormationCustomResourceEvent;
    updateEvent(physicalId: string, input: I, old: I): CloudFormationCustomResourceEvent;
    deleteEvent(physicalId: string, input: I): CloudFormationCustomResourceEvent;
  };
  image(): Promise<string>;
  outside(imageId: string, account: string): Promise<void>;
  holders(imageId: string): Promise<string[]>;
  input(imageId: string, accounts: string[], extra?: Partial<I>): I;
  run(event: CloudFormationCustomResourceEvent): Promise<{ PhysicalResourceId?: string }>;
}

function scenarios<I>(name: string, subject: () => Subject<I>): void {
  describe(name, () => {
    test('a share made outside before it was declared survives the declaration, the drop and the Delete', async () => {
      const s = subject();
      const imageId = await s.image();
      await s.outside(imageId, OUTSIDE);
      const both = s.input(imageId, [A, OUTSIDE]);
      const physicalId = (await s.run(s.events.createEvent(both))).PhysicalResourceId!;
      const onlyA = s.input(imageId, [A]);
      await s.run(s.events.updateEvent(physicalId, onlyA, both));
      expect(await s.holders(imageId)).toEqual([A, OUTSIDE].sort());
      await s.run(s.events.deleteEvent(physicalId, onlyA));
      expect(await s.holders(imageId)).toEqual([OUTSIDE]);
    });

    test('two stacks declaring the same account: it stays until the last lets go, in either order', async () => {
      const s = subject();
      for (const first of ['platform', 'team'] as const) {
        const imageId = await s.image();
        const platform = s.input(imageId, [A, B]);
        const team = s.input(imageId, [B]);
        const platformId = (await s.run(s.events.createEvent(platform))).PhysicalResourceId!;
        const teamId = (await s.run(fromOtherStack(s.events.createEvent(team)))).PhysicalResourceId!;
        const deletes = {
          platform: s.events.deleteEvent(platformId, platform),
          team: fromOtherStack(s.events.deleteEvent(teamId, team)),
        };
        await s.run(deletes[first]);
        expect(await s.holders(imageId)).toContain(B);
        await s.run(deletes[first === 'platform' ? 'team' : 'platform']);
        expect(await s.holders(imageId)).toEqual([]);
      }
    });

    test('a replayed Create keeps its own shares its own: the Delete revokes them', async () => {
      const s = subject();
      const imageId = await s.image();
      const input = s.input(imageId, [A]);
      const physicalId = (await s.run(s.events.createEvent(input))).PhysicalResourceId!;
      await s.run(s.events.createEvent(input));
      await s.run(s.events.deleteEvent(physicalId, input));
      expect(await s.holders(imageId)).toEqual([]);
    });

    test('a rollback that takes back an outside share\'s declaration leaves the share where it was', async () => {
      const s = subject();
      const imageId = await s.image();
      await s.outside(imageId, OUTSIDE);
      const old = s.input(imageId, [A]);
      const next = s.input(imageId, [A, OUTSIDE]);
      const physicalId = (await s.run(s.events.createEvent(old))).PhysicalResourceId!;
      await s.run(s.events.updateEvent(physicalId, next, old));
      await s.run(s.events.updateEvent(physicalId, old, next)); // the rollback
      expect(await s.holders(imageId)).toEqual([A, OUTSIDE].sort());
    });

    test('a replacement moves the claim: the old image\'s outside share survives its cleanup Delete', async () => {
      const s = subject();
      const oldImage = await s.image();
      const newImage = await s.image();
      await s.outside(oldImage, A);
      const before = s.input(oldImage, [A, B]);
      const after = s.input(newImage, [A, B]);
      const oldId = (await s.run(s.events.createEvent(before))).PhysicalResourceId!;
      const newId = (await s.run(s.events.updateEvent(oldId, after, before))).PhysicalResourceId!;
      expect(newId).not.toBe(oldId);
      await s.run(s.events.deleteEvent(oldId, before)); // CloudFormation's cleanup of the old physical id
      expect(await s.holders(oldImage)).toEqual([A]);
      expect(await s.holders(newImage)).toEqual([A, B]);
    });

    test('takeOverExistingShares: a share made by hand becomes the resource\'s, and its Delete revokes it', async () => {
      const s = subject();
      const imageId = await s.image();
      await s.outside(imageId, A);
      const input = s.input(imageId, [A], { takeOver: true } as unknown as Partial<I>);
      const physicalId = (await s.run(s.events.createEvent(input))).PhysicalResourceId!;
      await s.run(s.events.deleteEvent(physicalId, input));
      expect(await s.holders(imageId)).toEqual([]);
    });
  });
}

describe('SharedAmi', () => {
  const fixture = useMoto();
  const run = handlerRunner(amiHandler, () => ({ calls: [], mutating: () => [], restore: () => undefined })).run;
  scenarios<AmiShareInput>('launch permissions', () => ({
    image: async () => (await createAmi(fixture.ec2)).imageId,
    outside: (imageId, account) => grantLaunch(fixture.ec2, imageId, [`UserId:${account}`]),
    holders: async (imageId) => (await launchPermissions(fixture.ec2, imageId)).map((k) => k.replace('UserId:', '')).sort(),
    input: (imageId, accounts, extra) => ({ imageId, accounts, kmsGrants: false, ...extra }),
    run: async (event) => (await run(event as never)).response,
    events: amiEvents as unknown as Subject<AmiShareInput>['events'],
  }));
});

describe('SharedWorkspaceImage', () => {
  const fixture = useWorkspacesMoto();
  const run = handlerRunner(wsHandler as never, recordWorkspacesCalls).run;
  scenarios<WorkspaceShareInput>('WorkSpaces shares', () => ({
    image: () => createWorkspaceImage(fixture.workspaces, fixture.host),
    outside: (imageId, account) => shareOutside(fixture.workspaces, imageId, account),
    holders: (imageId) => sharedAccounts(fixture.workspaces, imageId),
    input: (imageId, accounts, extra) => ({ imageId, accounts, ...extra }),
    run: async (event) => (await run(event as never)).response as { PhysicalResourceId?: string },
    events: workspaceEvents as unknown as Subject<WorkspaceShareInput>['events'],
  }));
});
