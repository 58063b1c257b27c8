/**
 * The main job (README's first command): synthesizes the example golden-image app, then plays
 * its SharedAmi resources' Create -> Update -> Delete through the real handler against a local
 * moto server, printing who can use which image after each step.
 *
 * The events carry exactly the properties the synthesized template gives each custom resource
 * (version 1 of the app for Create, version 2 for Update), as CloudFormation would deliver them.
 * After each step it checks every image against what the app declares, and ends with one verdict
 * line per image (exit code 1 when any differs). Every line fits in 100 columns.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DeregisterImageCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import {
  CONSUMERS_V1, CONSUMERS_V2, DESKTOP_TEAMS_V1, DESKTOP_TEAMS_V2, goldenImageApp, ORGANIZATION, WORKLOAD_OU,
} from './golden-image-app';
import { Aspect, recipientLabel, tableLines, verdict } from './report';
import { handler } from '../lambda/shared-ami.lambda';
import { handler as workspacesHandler } from '../lambda/shared-workspace-image.lambda';
import {
  SHARED_AMI_RESOURCE_TYPE, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, SharedAmiResourceProperties, SharedWorkspaceImageResourceProperties,
} from '../src/private/contract';
import {
  createAmi, createEvent, createIamRole, deleteEvent, ec2Client, grantLaunch, launchPermissions, MOTO_ACCOUNT, MOTO_REGION, motoEnvironment,
  seedSnapshotKms, settleAll, snapshotPermissions, startMoto, updateEvent,
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

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/**
 * What CloudFormation does for the shares' own IAM roles: creates each role the template declares
 * (in moto, under the template's path) and resolves the share's ShareRoleArn (a Fn::GetAtt) to it.
 */
async function deployShareRoles(resources: Resources, properties: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ref = properties.ShareRoleArn as { 'Fn::GetAtt'?: [string, string] } | undefined;
  const roleId = ref?.['Fn::GetAtt']?.[0];
  if (!roleId) return properties;
  const rawPath = resources[roleId].Properties.Path as string | { 'Fn::Sub': string };
  const pathValue = (typeof rawPath === 'string' ? rawPath : rawPath['Fn::Sub'])
    .replace('${AWS::Region}', MOTO_REGION).replace('${AWS::StackName}', 'GoldenImage').replace('${AWS::AccountId}', MOTO_ACCOUNT);
  const name = `GoldenImage-${roleId}`.slice(0, 64);
  const arn = `arn:aws:iam::${MOTO_ACCOUNT}:role${pathValue}${name}`;
  if (!deployedRoles.has(arn)) {
    await createIamRole({ endpoint: process.env.AWS_ENDPOINT_URL! }, name, pathValue);
    deployedRoles.add(arn);
  }
  return { ...properties, ShareRoleArn: arn };
}
const deployedRoles = new Set<string>();

/** Synthesizes the app into .example-out/ (git ignores it) and returns its share resources as the template declares them. */
async function synthesize(ids: { goldenAmiId: string; baseAmiId: string; desktopImageId: string }, version: 1 | 2): Promise<Synthesized> {
  const outdir = path.join('.example-out', `golden-image-v${version}`);
  fs.rmSync(outdir, { recursive: true, force: true });
  const assembly = goldenImageApp({ ...ids, version, outdir }).synth();
  const template = assembly.getStackByName('GoldenImage').template as { Resources: Resources };
  const of = async <P>(type: string): Promise<SynthesizedShare<P>[]> => Promise.all(Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(async ([logicalId, r]) => {
      const { ServiceToken: _token, ...properties } = r.Properties;
      return { logicalId, properties: await deployShareRoles(template.Resources, properties) as unknown as P };
    }));
  const amis = await of<SharedAmiResourceProperties>(SHARED_AMI_RESOURCE_TYPE);
  const [desktop] = await of<SharedWorkspaceImageResourceProperties>(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE);
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').length;
  console.log(`synthesized app v${version}: ${Object.keys(template.Resources).length} resources, ${amis.length + 1} shares, ${functions} Lambda functions -> ${outdir}`);
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
  let allAsDeclared = true;
  try {
    // The golden AMI, encrypted with the platform team's customer managed key, and a base AMI.
    const golden = await createAmi(ec2, 'golden-image');
    const base = await createAmi(ec2, 'base-image');
    const key = (await kms.send(new CreateKeyCommand({ Description: 'golden image key' }))).KeyMetadata!.Arn!;
    for (const snapshot of golden.snapshotIds) await seedSnapshotKms(moto, snapshot, key);
    await grantLaunch(ec2, golden.imageId, [`UserId:${CONSOLE_SHARE}`]);
    console.log(`golden AMI ${golden.imageId}: snapshot ${golden.snapshotIds.join(', ')} encrypted, customer managed key`);
    console.log(`base AMI   ${base.imageId}: unencrypted`);
    process.stdout.write('building a WorkSpaces directory, a WorkSpace and a custom image from it ... ');
    const host = await ws.buildWorkspaceHost(moto, ec2, workspaces);
    const desktopImageId = await ws.createWorkspaceImage(workspaces, host, 'desktop-image');
    console.log(desktopImageId);
    await ws.shareOutside(workspaces, desktopImageId, CONSOLE_SHARE);
    console.log(`account ${CONSOLE_SHARE} got the golden AMI and the desktop image in the console, outside the app`);
    const ids = { goldenAmiId: golden.imageId, baseAmiId: base.imageId, desktopImageId };
    console.log('\ncolumns: launch = may launch the AMI; snapshots = may create volumes from its snapshots');
    console.log('(and so copy the AMI); KMS grant = may use its key; shared = may copy the WorkSpaces image');

    /** Prints who holds what on each image; with the app's declaration, one verdict line per image. */
    const show = async (title: string, declared?: Synthesized): Promise<void> => {
      const grants = (await kms.send(new ListGrantsCommand({ KeyId: key }))).Grants ?? [];
      const granted = [...new Set(grants.map((g) => `UserId:${g.GranteePrincipal?.split(':')[4]}`))].sort();
      const amiRows: string[][] = [];
      const verdicts: { line: string; ok: boolean }[] = [];
      for (const [ami, label, recipients, encrypted] of [
        [golden, 'golden AMI', [...new Set([...CONSUMERS_V1, ...CONSUMERS_V2, CONSOLE_SHARE])], true],
        [base, 'base AMI', [ORGANIZATION, WORKLOAD_OU], false],
      ] as const) {
        const launch = await launchPermissions(ec2, ami.imageId);
        const snapshots = [...new Set((await Promise.all(ami.snapshotIds.map((s) => snapshotPermissions(ec2, s)))).flat())].sort();
        for (const who of recipients) {
          const can = launch.some((k) => k.endsWith(`:${who}`));
          amiRows.push([ami.imageId, recipientLabel(who), can ? 'yes' : '-', snapshots.includes(`UserId:${who}`) ? 'yes' : '-',
            encrypted ? (granted.includes(`UserId:${who}`) ? 'yes' : '-') : 'n/a']);
        }
        if (!declared) continue;
        const p = declared.amis.find((s) => s.properties.ImageId === ami.imageId)?.properties;
        const accounts = (p?.Accounts ?? []).map((a) => `UserId:${a}`);
        const outside = ami === golden ? [`UserId:${CONSOLE_SHARE}`] : [];
        const launchDeclared = [...accounts, ...(p?.OrganizationArns ?? []).map((o) => `OrganizationArn:${o}`),
          ...(p?.OrganizationalUnitArns ?? []).map((o) => `OrganizationalUnitArn:${o}`)];
        const aspects: Aspect[] = [
          { name: 'launch', declared: launchDeclared, outside, actual: launch },
          { name: 'snapshots', declared: p?.ShareSnapshots === 'true' ? accounts : [], outside: [], actual: snapshots },
          ...(encrypted ? [{ name: 'KMS grants', declared: p?.KmsGrants === 'false' ? [] : accounts, outside: [], actual: granted }] : []),
        ];
        verdicts.push(verdict(`${label} ${ami.imageId}`, aspects));
      }
      const desktopShared = await ws.sharedAccounts(workspaces, desktopImageId);
      const desktopRows = [...new Set([...DESKTOP_TEAMS_V1, ...DESKTOP_TEAMS_V2, CONSOLE_SHARE])]
        .map((who) => [desktopImageId, who, desktopShared.includes(who) ? 'yes' : '-']);
      console.log(`\n== ${title}`);
      printTable(['AMI', 'recipient', 'launch', 'snapshots', 'KMS grant'], amiRows);
      console.log('');
      printTable(['WorkSpaces image', 'recipient', 'shared'], desktopRows);
      if (declared) {
        verdicts.push(verdict(`desktop image ${desktopImageId}`, [
          { name: 'shared', declared: declared.desktop.properties.Accounts, outside: [CONSOLE_SHARE], actual: desktopShared },
        ]));
        console.log('\ndeclared vs actual (outside: shared outside the app, left as it was)');
        for (const v of verdicts) {
          allAsDeclared &&= v.ok;
          console.log(`  ${v.line}`);
        }
      }
    };

    await show('before: only the console shares');

    const wsInput = (p: SharedWorkspaceImageResourceProperties) => ({ imageId: p.ImageId, accounts: p.Accounts });

    console.log('');
    const v1 = await synthesize(ids, 1);
    const physical: Record<string, string> = {};
    for (const share of v1.amis) {
      const out = await handler(createEvent(share.properties, share.logicalId));
      physical[share.logicalId] = out.PhysicalResourceId!;
      console.log(`Create ${share.logicalId} -> ${out.PhysicalResourceId}, ${out.Data?.GrantCount} KMS grant(s)`);
    }
    physical[v1.desktop.logicalId] = await playWorkspaces(ws.createEvent(wsInput(v1.desktop.properties), v1.desktop.logicalId));
    console.log(`Create ${v1.desktop.logicalId} -> ${physical[v1.desktop.logicalId]}`);
    await show('after Create (app v1)', v1);
    await protectionReport(ec2, golden.imageId, 'after Create', true);

    console.log('');
    const v2 = await synthesize(ids, 2);
    for (const share of v2.amis) {
      const before = v1.amis.find((s) => s.logicalId === share.logicalId)!;
      const out = await handler(updateEvent(physical[share.logicalId], share.properties, before.properties, share.logicalId));
      console.log(`Update ${share.logicalId} -> ${out.PhysicalResourceId}, ${out.Data?.GrantCount} KMS grant(s)`);
    }
    const desktopId = v2.desktop.logicalId;
    await playWorkspaces(ws.updateEvent(physical[desktopId], wsInput(v2.desktop.properties), wsInput(v1.desktop.properties), desktopId));
    console.log(`Update ${v2.desktop.logicalId} -> ${physical[v2.desktop.logicalId]}`);
    const delta = (a: string[], b: string[]) => `${a.filter((x) => !b.includes(x)).join(', ')} dropped, ${b.filter((x) => !a.includes(x)).join(', ')} added`;
    console.log(`app v2: golden AMI ${delta(CONSUMERS_V1, CONSUMERS_V2)}`);
    console.log(`        desktop image ${delta(DESKTOP_TEAMS_V1, DESKTOP_TEAMS_V2)}`);
    await show('after Update (app v2)', v2);

    console.log('');
    for (const share of v2.amis) {
      await handler(deleteEvent(physical[share.logicalId], share.properties, share.logicalId));
      console.log(`Delete ${share.logicalId} -> done`);
    }
    await playWorkspaces(ws.deleteEvent(physical[v2.desktop.logicalId], wsInput(v2.desktop.properties), v2.desktop.logicalId));
    console.log(`Delete ${v2.desktop.logicalId} -> done`);
    // The stack is gone: the app declares nothing, and only the shares made outside it remain.
    const nothing: Synthesized = {
      amis: v2.amis.map((s) => ({ ...s, properties: { ...s.properties, Accounts: [], OrganizationArns: [], OrganizationalUnitArns: [] } })),
      desktop: { ...v2.desktop, properties: { ...v2.desktop.properties, Accounts: [] } },
    };
    await show('after Delete: only the console shares remain (verdict per image)', nothing);
    await protectionReport(ec2, golden.imageId, 'after Delete', false);
  } finally {
    ec2.destroy();
    kms.destroy();
    workspaces.destroy();
    await moto.stop();
  }
  if (!allAsDeclared) {
    console.error('some image differs from what the app declares');
    process.exitCode = 1;
  }
}

/**
 * Deregistration protection of an AMI, and, while it is on, whether someone outside the app can
 * deregister it (EC2 refuses): on while the app shares it, off after the last Delete.
 */
async function protectionReport(ec2: EC2Client, imageId: string, when: string, expectOn: boolean): Promise<void> {
  await settleAll();
  const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId], IncludeDisabled: true }))).Images?.[0];
  const state = image?.DeregistrationProtection ?? 'disabled';
  const on = state.startsWith('enabled');
  let outside = 'not tried';
  if (on) {
    outside = await ec2.send(new DeregisterImageCommand({ ImageId: imageId }))
      .then(() => 'ALLOWED: the AMI was deregistered', (err: Error) => `refused (${err.name})`);
  }
  console.log(`deregistration protection of the golden AMI ${when}: ${state}`);
  if (on) console.log(`  someone outside the app deregisters it: ${outside}`);
  if (on !== expectOn) throw new Error(`deregistration protection of ${imageId} is ${state} ${when}, expected ${expectOn ? 'on' : 'off'}`);
}

function printTable(header: string[], rows: string[][]): void {
  for (const line of tableLines(header, rows)) console.log(line);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
