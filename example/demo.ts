/**
 * The main job (README's first command): synthesizes the example golden-image app, then plays
 * its SharedAmi resources' Create -> Update -> Delete through the real handler against a local
 * moto server, printing who can use which image after each step.
 *
 * The events carry exactly the properties the synthesized template gives each custom resource
 * (version 1 of the app for Create, version 2 for Update), as CloudFormation would deliver them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CreateKeyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import {
  CONSUMERS_V1, CONSUMERS_V2, DESKTOP_TEAMS_V1, DESKTOP_TEAMS_V2, goldenImageApp, ORGANIZATION, WORKLOAD_OU,
} from './golden-image-app';
import { handler } from '../lambda/shared-ami.lambda';
import { handler as workspacesHandler } from '../lambda/shared-workspace-image.lambda';
import {
  SHARED_AMI_RESOURCE_TYPE, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, SharedAmiResourceProperties, SharedWorkspaceImageResourceProperties,
} from '../src/private/contract';
import {
  createAmi, createEvent, deleteEvent, ec2Client, grantLaunch, launchPermissions, MOTO_REGION, motoEnvironment,
  seedSnapshotKms, snapshotPermissions, startMoto, updateEvent,
} from '../test/emulator/moto';
import * as ws from '../test/emulator/workspaces-fixture';

/** A consumer that got the AMI (and the desktop image) from the console, outside the app: it must survive every step. */
const CONSOLE_SHARE = '444455556666';

interface SynthesizedShare<P> {
  readonly logicalId: string;
  readonly properties: P;
}

interface Synthesized {
  readonly amis: SynthesizedShare<SharedAmiResourceProperties>[];
  readonly desktop: SynthesizedShare<SharedWorkspaceImageResourceProperties>;
}

/** Synthesizes the app and returns its share resources as the template declares them. */
function synthesize(ids: { goldenAmiId: string; baseAmiId: string; desktopImageId: string }, version: 1 | 2): Synthesized {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `golden-image-v${version}-`));
  const assembly = goldenImageApp({ ...ids, version, outdir }).synth();
  const template = assembly.getStackByName('GoldenImage').template as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const of = <P>(type: string): SynthesizedShare<P>[] => Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([logicalId, r]) => {
      const { ServiceToken: _token, ...properties } = r.Properties;
      return { logicalId, properties: properties as unknown as P };
    });
  const amis = of<SharedAmiResourceProperties>(SHARED_AMI_RESOURCE_TYPE);
  const [desktop] = of<SharedWorkspaceImageResourceProperties>(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE);
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').length;
  console.log(`synthesized GoldenImage v${version}: ${Object.keys(template.Resources).length} resources, ${amis.length + 1} shares, ${functions} Lambda functions (one handler per construct type + the provider frameworks) -> ${outdir}`);
  return { amis, desktop };
}

/** Runs a WorkSpaces event as the Provider framework does: onEvent, then isComplete until complete. */
async function playWorkspaces(event: Parameters<typeof workspacesHandler>[0]): Promise<string> {
  const answer = await workspacesHandler(event) as { PhysicalResourceId?: string };
  for (let poll = 0; poll < 100; poll++) {
    const done = await workspacesHandler(ws.isCompleteInput(event, answer) as never) as { IsComplete?: boolean };
    if (done.IsComplete) return answer.PhysicalResourceId ?? '';
  }
  throw new Error('the WorkSpaces share did not complete');
}

async function main(): Promise<void> {
  process.stdout.write('starting the local AWS (moto) ... ');
  const moto = await startMoto();
  console.log(moto.endpoint);
  Object.assign(process.env, motoEnvironment(moto), { SHARED_IMAGES_QUIET: process.env.DEMO_VERBOSE ? '0' : '1' });
  const ec2 = ec2Client(moto);
  const kms = new KMSClient({ endpoint: moto.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const workspaces = ws.workspacesClient(moto);
  try {
    // The golden AMI, encrypted with the platform team's customer managed key, and a base AMI.
    const golden = await createAmi(ec2, 'golden-image');
    const base = await createAmi(ec2, 'base-image');
    const key = (await kms.send(new CreateKeyCommand({ Description: 'golden image key' }))).KeyMetadata!.Arn!;
    for (const snapshot of golden.snapshotIds) await seedSnapshotKms(moto, snapshot, key);
    await grantLaunch(ec2, golden.imageId, [`UserId:${CONSOLE_SHARE}`]);
    console.log(`golden AMI ${golden.imageId} (snapshot ${golden.snapshotIds.join(', ')} encrypted with ${key})`);
    console.log(`base AMI   ${base.imageId} (unencrypted)`);
    process.stdout.write('building a WorkSpaces directory, a WorkSpace and a custom image from it ... ');
    const host = await ws.buildWorkspaceHost(moto, ec2, workspaces);
    const desktopImageId = await ws.createWorkspaceImage(workspaces, host, 'desktop-image');
    console.log(desktopImageId);
    await ws.shareOutside(workspaces, desktopImageId, CONSOLE_SHARE);
    console.log(`account ${CONSOLE_SHARE} was given the golden AMI and the desktop image in the console, outside the app`);
    const ids = { goldenAmiId: golden.imageId, baseAmiId: base.imageId, desktopImageId };

    const show = async (title: string): Promise<void> => {
      const rows: string[][] = [];
      const grants = (await kms.send(new ListGrantsCommand({ KeyId: key }))).Grants ?? [];
      const granted = new Set(grants.map((g) => g.GranteePrincipal?.split(':')[4]));
      for (const [ami, recipients, encrypted] of [
        [golden, [...new Set([...CONSUMERS_V1, ...CONSUMERS_V2, CONSOLE_SHARE])], true],
        [base, [ORGANIZATION, WORKLOAD_OU], false],
      ] as const) {
        const launch = await launchPermissions(ec2, ami.imageId);
        const snap = new Set((await Promise.all(ami.snapshotIds.map((s) => snapshotPermissions(ec2, s)))).flat());
        for (const who of recipients) {
          const can = launch.some((k) => k.endsWith(`:${who}`));
          rows.push([ami.imageId, who, can ? 'yes' : '-', snap.has(`UserId:${who}`) ? 'yes' : '-', encrypted ? (granted.has(who) ? 'yes' : '-') : 'n/a']);
        }
      }
      const desktopShared = new Set(await ws.sharedAccounts(workspaces, desktopImageId));
      for (const who of [...new Set([...DESKTOP_TEAMS_V1, ...DESKTOP_TEAMS_V2, CONSOLE_SHARE])]) {
        rows.push([desktopImageId, who, desktopShared.has(who) ? 'yes (copy)' : '-', 'n/a', 'n/a']);
      }
      printTable(title, ['image', 'recipient', 'launch (AMI) / copy (WorkSpaces)', 'snapshot copy', 'KMS grant'], rows);
    };

    await show('before: only the console share');

    const wsInput = (p: SharedWorkspaceImageResourceProperties) => ({ imageId: p.ImageId, accounts: p.Accounts, removalPolicy: p.RemovalPolicy as 'revoke' });

    const v1 = synthesize(ids, 1);
    const physical: Record<string, string> = {};
    for (const share of v1.amis) {
      const out = await handler(createEvent(share.properties, share.logicalId));
      physical[share.logicalId] = out.PhysicalResourceId!;
      console.log(`Create ${share.logicalId} -> physical id ${out.PhysicalResourceId}, ${out.Data?.GrantCount} KMS grant(s)`);
    }
    physical[v1.desktop.logicalId] = await playWorkspaces(ws.createEvent(wsInput(v1.desktop.properties), v1.desktop.logicalId));
    console.log(`Create ${v1.desktop.logicalId} -> physical id ${physical[v1.desktop.logicalId]}`);
    await show(`after Create (v1: ${CONSUMERS_V1.join(', ')} on the golden AMI; the organization and the OU on the base AMI; ${DESKTOP_TEAMS_V1.join(', ')} on the desktop image)`);

    const v2 = synthesize(ids, 2);
    for (const share of v2.amis) {
      const before = v1.amis.find((s) => s.logicalId === share.logicalId)!;
      const out = await handler(updateEvent(physical[share.logicalId], share.properties, before.properties, share.logicalId));
      console.log(`Update ${share.logicalId} -> physical id ${out.PhysicalResourceId}, ${out.Data?.GrantCount} KMS grant(s)`);
    }
    const desktopId = v2.desktop.logicalId;
    await playWorkspaces(ws.updateEvent(physical[desktopId], wsInput(v2.desktop.properties), wsInput(v1.desktop.properties), desktopId));
    console.log(`Update ${v2.desktop.logicalId} -> physical id ${physical[v2.desktop.logicalId]}`);
    const delta = (a: string[], b: string[]) => `${a.filter((x) => !b.includes(x)).join(', ')} dropped, ${b.filter((x) => !a.includes(x)).join(', ')} added`;
    await show(`after Update (v2: golden AMI ${delta(CONSUMERS_V1, CONSUMERS_V2)}; desktop image ${delta(DESKTOP_TEAMS_V1, DESKTOP_TEAMS_V2)})`);

    for (const share of v2.amis) {
      await handler(deleteEvent(physical[share.logicalId], share.properties, share.logicalId));
      console.log(`Delete ${share.logicalId} -> done`);
    }
    await playWorkspaces(ws.deleteEvent(physical[v2.desktop.logicalId], wsInput(v2.desktop.properties), v2.desktop.logicalId));
    console.log(`Delete ${v2.desktop.logicalId} -> done`);
    await show('after Delete: only the console shares remain');
  } finally {
    ec2.destroy();
    kms.destroy();
    workspaces.destroy();
    await moto.stop();
  }
}

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`\n== ${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('');
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
