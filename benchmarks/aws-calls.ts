/**
 * Section 2, AWS calls: the real handlers, with real SDK v3 clients, against moto (through the
 * latency proxy at zero added latency). Every call is counted twice: by a recording wrapper around
 * the SDK clients' `send` (test/emulator's `recordAwsCalls` / `recordWorkspacesCalls`) and by the
 * proxy, which sees each HTTP request (retries included). Beside each figure: the minimum the API
 * allows and the per-account baseline (one call per changed account, as Terraform's
 * `aws_ami_launch_permission` / Pulumi's `ec2.AmiLaunchPermission` make them).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { WorkSpacesClient } from '@aws-sdk/client-workspaces';
import type { LatencyProxy } from './lib/proxy';
import { accountIds, progress, timed } from './lib/stats';
import { LAUNCH_PERMISSION_BATCH } from '../lambda/ami/plan';
import { handler as amiHandler } from '../lambda/shared-ami.lambda';
import { handler as workspacesHandler } from '../lambda/shared-workspace-image.lambda';
import { SHARE_CONCURRENCY } from '../lambda/workspaces/plan';
import * as moto from '../test/emulator/moto';
import * as ws from '../test/emulator/workspaces-fixture';

export interface CallRow {
  readonly kind: 'ami' | 'workspaces';
  readonly scenario: string;
  /** Recipients declared after the event (before it, for a delete). */
  readonly accounts: number;
  readonly kmsGrants?: boolean;
  /** Recipients added plus recipients removed. */
  readonly changes: number;
  /** Calls that change AWS, by operation. */
  readonly mutating: Record<string, number>;
  readonly mutatingTotal: number;
  /** Describe / Get / List calls. */
  readonly reads: number;
  /** HTTP requests the proxy saw (equals SDK calls when nothing was retried). */
  readonly httpRequests: number;
  /** The fewest mutating calls the API allows for this change. */
  readonly minimumMutating: number;
  /** Mutating calls when every account is its own resource. */
  readonly perAccountBaseline: number;
  /** The image's permissions afterwards are exactly the declared ones. */
  readonly verified: boolean;
  /** Handler wall time against moto with no added latency (context only). */
  readonly ms: number;
}

export interface AwsCallsResult {
  readonly rows: CallRow[];
  readonly batch: number;
  readonly concurrency: number;
}

export interface EmulatorContext {
  readonly moto: moto.Moto;
  readonly proxy: LatencyProxy;
  /** Direct to moto (not through the proxy), for setup and read-back. */
  readonly ec2: EC2Client;
  readonly workspaces: WorkSpacesClient;
  readonly host: ws.WorkspaceHost;
}

export interface AwsCallsOptions {
  readonly amiCounts: number[];
  readonly workspacesCounts: number[];
}

const isRead = (name: string): boolean => /^(Describe|Get|List)/.test(name);

function tally(names: string[]): { mutating: Record<string, number>; mutatingTotal: number; reads: number } {
  const mutating: Record<string, number> = {};
  for (const n of names.filter((x) => !isRead(x))) mutating[n] = (mutating[n] ?? 0) + 1;
  return { mutating, mutatingTotal: names.filter((x) => !isRead(x)).length, reads: names.filter(isRead).length };
}

/** Runs `fn` with every EC2 / KMS / WorkSpaces SDK call recorded and the proxy's counters fresh. */
async function observe(ctx: EmulatorContext, fn: () => Promise<unknown>): Promise<{ names: string[]; httpRequests: number; ms: number }> {
  await ctx.proxy.reset();
  const aws = moto.recordAwsCalls();
  const wsCalls = ws.recordWorkspacesCalls();
  let ms: number;
  try {
    ms = (await timed(fn)).ms;
  } finally {
    wsCalls.restore();
    aws.restore();
  }
  const stats = await ctx.proxy.stats();
  return { names: [...aws.calls.map((c) => c.name), ...wsCalls.calls.map((c) => c.name)], httpRequests: stats.requests, ms };
}

async function amiScenarios(ctx: EmulatorContext, counts: number[], rows: CallRow[]): Promise<void> {
  const amiMinimum = (changes: number): number => Math.ceil(changes / LAUNCH_PERMISSION_BATCH);
  const userIds = async (imageId: string): Promise<string[]> => (await moto.launchPermissions(ctx.ec2, imageId))
    .filter((k) => k.startsWith('UserId:')).map((k) => k.slice('UserId:'.length)).sort();
  const same = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

  for (const kmsGrants of [false, true]) {
    const largest = Math.max(...counts);
    for (const n of counts) {
      const ami = await moto.createAmi(ctx.ec2, `bench-${kmsGrants ? 'kms' : 'nokms'}-${n}`);
      const accounts = accountIds(n);
      const props = { imageId: ami.imageId, accounts, kmsGrants };
      const create = await observe(ctx, () => amiHandler(moto.createEvent(props)));
      rows.push({
        kind: 'ami',
        scenario: 'create',
        accounts: n,
        kmsGrants,
        changes: n,
        ...tally(create.names),
        httpRequests: create.httpRequests,
        minimumMutating: amiMinimum(n),
        perAccountBaseline: n,
        verified: same(await userIds(ami.imageId), accounts),
        ms: create.ms,
      });
      progress(`calls AMI create N=${n} kms=${kmsGrants}: ${JSON.stringify(tally(create.names))}`);
      if (n !== largest) continue;

      // Update: drop the first 5, add 5 new.
      const physicalId = `shared-ami:${ami.imageId}`;
      const updated = { ...props, accounts: [...accounts.slice(5), ...accountIds(5, 900_000_000_000)] };
      const update = await observe(ctx, () => amiHandler(moto.updateEvent(physicalId, updated, props)));
      rows.push({
        kind: 'ami',
        scenario: 'update: add 5, drop 5',
        accounts: n,
        kmsGrants,
        changes: 10,
        ...tally(update.names),
        httpRequests: update.httpRequests,
        minimumMutating: amiMinimum(10),
        perAccountBaseline: 10,
        verified: same(await userIds(ami.imageId), updated.accounts),
        ms: update.ms,
      });
      const noop = await observe(ctx, () => amiHandler(moto.updateEvent(physicalId, updated, updated)));
      rows.push({
        kind: 'ami',
        scenario: 'update: no change',
        accounts: n,
        kmsGrants,
        changes: 0,
        ...tally(noop.names),
        httpRequests: noop.httpRequests,
        minimumMutating: 0,
        perAccountBaseline: 0,
        verified: same(await userIds(ami.imageId), updated.accounts),
        ms: noop.ms,
      });
      const del = await observe(ctx, () => amiHandler(moto.deleteEvent(physicalId, updated)));
      rows.push({
        kind: 'ami',
        scenario: 'delete',
        accounts: n,
        kmsGrants,
        changes: n,
        ...tally(del.names),
        httpRequests: del.httpRequests,
        minimumMutating: amiMinimum(n),
        perAccountBaseline: n,
        verified: (await userIds(ami.imageId)).length === 0,
        ms: del.ms,
      });
      progress(`calls AMI update/no-op/delete N=${n} kms=${kmsGrants}: ${JSON.stringify([update, noop, del].map((o) => tally(o.names).mutatingTotal))}`);
    }
  }
}

/** One CloudFormation event through the WorkSpaces handler the way the Provider framework runs it: onEvent, then isComplete. */
export async function playWorkspaces(event: Parameters<typeof workspacesHandler>[0]): Promise<void> {
  const answer = await workspacesHandler(event) as { PhysicalResourceId?: string };
  for (let poll = 0; poll < 10; poll++) {
    const done = await workspacesHandler(ws.isCompleteInput(event, answer) as never) as { IsComplete?: boolean };
    if (done.IsComplete) return;
  }
  throw new Error('the WorkSpaces share did not complete within 10 isComplete calls');
}

async function workspacesScenarios(ctx: EmulatorContext, counts: number[], rows: CallRow[]): Promise<void> {
  const largest = Math.max(...counts);
  const same = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
  for (const n of counts) {
    const imageId = await ws.createWorkspaceImage(ctx.workspaces, ctx.host);
    const accounts = accountIds(n);
    const input = { imageId, accounts };
    const create = await observe(ctx, () => playWorkspaces(ws.createEvent(input)));
    rows.push({
      kind: 'workspaces',
      scenario: 'create',
      accounts: n,
      changes: n,
      ...tally(create.names),
      httpRequests: create.httpRequests,
      minimumMutating: n,
      perAccountBaseline: n,
      verified: same(await ws.sharedAccounts(ctx.workspaces, imageId), accounts),
      ms: create.ms,
    });
    progress(`calls WorkSpaces create N=${n}: ${JSON.stringify(tally(create.names))}`);
    if (n !== largest) continue;

    const physicalId = `shared-wsi:${imageId}`;
    const updated = { imageId, accounts: [...accounts.slice(5), ...accountIds(5, 900_000_000_000)] };
    const update = await observe(ctx, () => playWorkspaces(ws.updateEvent(physicalId, updated, input)));
    rows.push({
      kind: 'workspaces',
      scenario: 'update: add 5, drop 5',
      accounts: n,
      changes: 10,
      ...tally(update.names),
      httpRequests: update.httpRequests,
      minimumMutating: 10,
      perAccountBaseline: 10,
      verified: same(await ws.sharedAccounts(ctx.workspaces, imageId), updated.accounts),
      ms: update.ms,
    });
    const noop = await observe(ctx, () => playWorkspaces(ws.updateEvent(physicalId, updated, updated)));
    rows.push({
      kind: 'workspaces',
      scenario: 'update: no change',
      accounts: n,
      changes: 0,
      ...tally(noop.names),
      httpRequests: noop.httpRequests,
      minimumMutating: 0,
      perAccountBaseline: 0,
      verified: same(await ws.sharedAccounts(ctx.workspaces, imageId), updated.accounts),
      ms: noop.ms,
    });
    const del = await observe(ctx, () => playWorkspaces(ws.deleteEvent(physicalId, updated)));
    rows.push({
      kind: 'workspaces',
      scenario: 'delete',
      accounts: n,
      changes: n,
      ...tally(del.names),
      httpRequests: del.httpRequests,
      minimumMutating: n,
      perAccountBaseline: n,
      verified: (await ws.sharedAccounts(ctx.workspaces, imageId)).length === 0,
      ms: del.ms,
    });
    progress(`calls WorkSpaces update/no-op/delete N=${n}: ${JSON.stringify([update, noop, del].map((o) => tally(o.names).mutatingTotal))}`);
  }
}

export async function runAwsCalls(ctx: EmulatorContext, options: AwsCallsOptions): Promise<AwsCallsResult> {
  await ctx.proxy.configure({ latencyMs: 0, ratePerSecond: 0 });
  const rows: CallRow[] = [];
  await amiScenarios(ctx, options.amiCounts, rows);
  await workspacesScenarios(ctx, options.workspacesCounts, rows);
  return { rows, batch: LAUNCH_PERMISSION_BATCH, concurrency: SHARE_CONCURRENCY };
}
