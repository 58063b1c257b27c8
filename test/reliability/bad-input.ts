/**
 * Malformed properties as CloudFormation could deliver them (it passes on whatever the template or
 * a mismatched construct version holds): wrong types, bad ids, huge lists, duplicates, unknown and
 * missing keys, and malformed events. Each Create and Update carrying them must be refused before
 * any AWS call (so before any mutation) with one clear sentence; a Delete carrying them must still
 * succeed (a stack must never stick in DELETE_FAILED over its own properties).
 *
 * Played against moto with a real image, so that a check the handler skipped would show up as a
 * real change.
 */
import { ReliabilityEnv } from './harness';
import { MAX_MESSAGE } from '../../lambda/common/errors';
import { handler as amiHandler } from '../../lambda/shared-ami.lambda';
import { handler as workspaceHandler } from '../../lambda/shared-workspace-image.lambda';
import { amiProperties, createAmi, launchPermissions, recordAwsCalls, STACK_ID } from '../emulator/moto';
import { createWorkspaceImage, recordWorkspacesCalls, sharedAccounts, workspaceImageProperties } from '../emulator/workspaces-fixture';

type Props = Record<string, unknown>;

/** One row: how to spoil valid properties (or the event), and what the sentence must say. */
export interface BadInput {
  readonly name: string;
  /** The properties sent, from the valid ones. */
  readonly props: (valid: Props) => unknown;
  /** The event changed otherwise (e.g. its StackId or RequestType). */
  readonly event?: (event: Record<string, unknown>) => Record<string, unknown>;
  /** What the message must contain (the problem named). */
  readonly says: RegExp;
  /** Also played as a Delete, which must succeed and revoke nothing it cannot have granted. @default true */
  readonly deleteToo?: boolean;
}

const ACCOUNT = '111111111111';
const OTHER = '222222222222';
const ORG = 'arn:aws:organizations::123456789012:organization/o-exampleorg1';
const OU = 'arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-ab12-cdef3456';
const accounts = (n: number, from = 100000000000): string[] => Array.from({ length: n }, (_, i) => String(from + i));
const without = (p: Props, key: string): Props => Object.fromEntries(Object.entries(p).filter(([k]) => k !== key));

/** Rows both handlers share (ImageId and Accounts exist on both). */
function common(kind: 'AMI' | 'WorkSpaces'): BadInput[] {
  const idProblem = kind === 'AMI' ? /is not an AMI id/ : /is not a WorkSpaces image id/;
  return [
    { name: 'ImageId missing', props: (v) => without(v, 'ImageId'), says: idProblem },
    { name: 'ImageId a number', props: (v) => ({ ...v, ImageId: 12345678 }), says: /imageId 12345678 is not/ },
    { name: 'ImageId empty', props: (v) => ({ ...v, ImageId: '' }), says: /imageId "" is not/ },
    { name: 'ImageId a list', props: (v) => ({ ...v, ImageId: [v.ImageId] }), says: idProblem },
    { name: 'ImageId an unresolved token object', props: (v) => ({ ...v, ImageId: { Ref: 'GoldenImage' } }), says: /imageId \{"Ref":"GoldenImage"\} is not/ },
    { name: 'ImageId an unresolved token string', props: (v) => ({ ...v, ImageId: '${Token[TOKEN.123]}' }), says: idProblem },
    { name: 'ImageId uppercase', props: (v) => ({ ...v, ImageId: String(v.ImageId).toUpperCase() }), says: idProblem },
    { name: 'ImageId with a trailing space', props: (v) => ({ ...v, ImageId: `${v.ImageId} ` }), says: idProblem },
    { name: 'ImageId of the other kind of image', props: (v) => ({ ...v, ImageId: kind === 'AMI' ? 'wsi-0123abcde' : 'ami-0123456789abcdef0' }), says: idProblem },
    { name: 'ImageId 100,000 characters long', props: (v) => ({ ...v, ImageId: `${String(v.ImageId).slice(0, 4)}${'a'.repeat(100_000)}` }), says: idProblem },
    { name: 'Accounts a string, not a list', props: (v) => ({ ...v, Accounts: ACCOUNT }), says: /Accounts must be a list, got "111111111111"/ },
    { name: 'Accounts a number', props: (v) => ({ ...v, Accounts: 111111111111 }), says: /Accounts must be a list, got 111111111111/ },
    { name: 'Accounts an object', props: (v) => ({ ...v, Accounts: { 0: ACCOUNT } }), says: /Accounts must be a list/ },
    { name: 'account id as a number', props: (v) => ({ ...v, Accounts: [111111111111] }), says: /Accounts: 111111111111 is not a valid account id/ },
    { name: 'account id of 11 digits', props: (v) => ({ ...v, Accounts: ['11111111111'] }), says: /Accounts: "11111111111" is not a valid account id/ },
    { name: 'account id of 13 digits', props: (v) => ({ ...v, Accounts: ['1111111111111'] }), says: /"1111111111111" is not a valid account id/ },
    { name: 'account id with dashes', props: (v) => ({ ...v, Accounts: ['1111-1111-1111'] }), says: /"1111-1111-1111" is not a valid account id/ },
    { name: 'account id with a newline', props: (v) => ({ ...v, Accounts: [`${ACCOUNT}\n`] }), says: /is not a valid account id/ },
    { name: 'account id in non-ASCII digits', props: (v) => ({ ...v, Accounts: ['１１１１１１１１１１１１'] }), says: /is not a valid account id/ },
    { name: 'an ARN where an account id belongs', props: (v) => ({ ...v, Accounts: [`arn:aws:iam::${ACCOUNT}:root`] }), says: /is not a valid account id/ },
    { name: 'a null account', props: (v) => ({ ...v, Accounts: [ACCOUNT, null] }), says: /Accounts: null is not a valid account id/ },
    { name: 'a nested list of accounts', props: (v) => ({ ...v, Accounts: [[ACCOUNT]] }), says: /Accounts: \["111111111111"\] is not a valid account id/ },
    { name: 'an object as an account', props: (v) => ({ ...v, Accounts: [{ Account: ACCOUNT }] }), says: /is not a valid account id/ },
    { name: 'one bad account among good ones', props: (v) => ({ ...v, Accounts: [ACCOUNT, 'x', OTHER] }), says: /Accounts: "x" is not a valid account id/ },
    { name: '5,000 malformed accounts', props: (v) => ({ ...v, Accounts: Array.from({ length: 5000 }, (_, i) => `acct-${i}`) }), says: /Accounts: "acct-0" is not a valid account id.*and 4\d{3} more problems/ },
    { name: 'no recipient: Accounts empty', props: (v) => ({ ...v, Accounts: [], ...(kind === 'AMI' ? { OrganizationArns: [], OrganizationalUnitArns: [] } : {}) }), says: kind === 'AMI' ? /no recipient/ : /no account/ },
    { name: 'no recipient: Accounts missing', props: (v) => without(without(without(v, 'Accounts'), 'OrganizationArns'), 'OrganizationalUnitArns'), says: kind === 'AMI' ? /no recipient/ : /no account/ },
    { name: 'a flag in Python spelling ("True")', props: (v) => ({ ...v, TakeOverExistingShares: 'True' }), says: /TakeOverExistingShares must be "true" or "false", got "True"/ },
    { name: 'a flag "yes"', props: (v) => ({ ...v, GuardImage: 'yes' }), says: /GuardImage must be "true" or "false", got "yes"/ },
    { name: 'a flag "TRUE"', props: (v) => ({ ...v, ForceUnshare: 'TRUE' }), says: /ForceUnshare must be "true" or "false", got "TRUE"/ },
    { name: 'a flag 1', props: (v) => ({ ...v, DeleteImage: 1 }), says: /DeleteImage must be "true" or "false", got 1/ },
    { name: 'unknown key (a typo)', props: (v) => ({ ...v, Account: [ACCOUNT] }), says: /unknown properties Account \(the handler and the construct are from different versions\?\)/ },
    { name: 'unknown key (camelCase)', props: (v) => ({ ...v, accounts: [ACCOUNT] }), says: /unknown properties accounts/ },
    { name: 'unknown key (Tags)', props: (v) => ({ ...v, Tags: [{ Key: 'a', Value: 'b' }] }), says: /unknown properties Tags/ },
    { name: 'unknown key 5,000 characters long', props: (v) => ({ ...v, ['X'.repeat(5000)]: 'x' }), says: /unknown properties "X{20,}\.\.\. \(the handler/ },
    { name: '2,000 unknown keys', props: (v) => ({ ...v, ...Object.fromEntries(accounts(2000).map((k) => [`Key${k}`, k])) }), says: /unknown properties Key100000000000, .* and 1995 more/ },
    { name: 'many problems at once', props: () => ({ ImageId: 'nope', Accounts: 'nope', GuardImage: 'nope', Extra: 1 }), says: /unknown properties Extra.*imageId "nope".*Accounts must be a list.*GuardImage must be/ },
    { name: 'properties null', props: () => null, says: idProblem },
    { name: 'properties a string', props: () => 'ImageId=x', says: idProblem },
    { name: 'properties a list', props: (v) => [v], says: idProblem },
    { name: 'StackId not a CloudFormation ARN', props: (v) => v, event: (e) => ({ ...e, StackId: 'demo-stack' }), says: /StackId "demo-stack" is not a CloudFormation stack ARN/, deleteToo: false },
    { name: 'RequestType unknown', props: (v) => v, event: (e) => ({ ...e, RequestType: 'Upsert' }), says: /Unknown request type "Upsert"/, deleteToo: false },
  ];
}

export function amiBadInputs(): BadInput[] {
  return [
    ...common('AMI'),
    { name: 'AMI id of 9 hex digits', props: (v) => ({ ...v, ImageId: 'ami-123456789' }), says: /imageId "ami-123456789" is not an AMI id/ },
    { name: 'organization id instead of its ARN', props: (v) => ({ ...v, OrganizationArns: ['o-exampleorg1'] }), says: /OrganizationArns: "o-exampleorg1" is not a valid organization ARN/ },
    { name: 'an OU ARN in OrganizationArns', props: (v) => ({ ...v, OrganizationArns: [OU] }), says: /OrganizationArns: .* is not a valid organization ARN/ },
    { name: 'an organization ARN in OrganizationalUnitArns', props: (v) => ({ ...v, OrganizationalUnitArns: [ORG] }), says: /OrganizationalUnitArns: .* is not a valid organizational unit ARN/ },
    { name: 'organization ARN uppercase', props: (v) => ({ ...v, OrganizationArns: [ORG.toUpperCase()] }), says: /is not a valid organization ARN/ },
    { name: 'OrganizationArns a string', props: (v) => ({ ...v, OrganizationArns: ORG }), says: /OrganizationArns must be a list/ },
    { name: 'ShareSnapshots "yes"', props: (v) => ({ ...v, ShareSnapshots: 'yes' }), says: /ShareSnapshots must be "true" or "false", got "yes"/ },
    { name: 'KmsGrants a list', props: (v) => ({ ...v, KmsGrants: ['true'] }), says: /KmsGrants must be "true" or "false", got \["true"\]/ },
    { name: 'a key alias in DeclaredKeyArns', props: (v) => ({ ...v, DeclaredKeyArns: ['alias/golden'] }), says: /DeclaredKeyArns: "alias\/golden" is not a valid KMS key ARN/ },
    { name: 'a key id in DeclaredKeyArns', props: (v) => ({ ...v, DeclaredKeyArns: ['1234abcd-12ab-34cd-56ef-1234567890ab'] }), says: /is not a valid KMS key ARN/ },
    { name: 'a WorkSpaces-only spelling', props: (v) => ({ ...v, AllowCopyImage: 'true' }), says: /unknown properties AllowCopyImage/ },
  ];
}

export function workspaceBadInputs(): BadInput[] {
  return [
    ...common('WorkSpaces'),
    { name: 'image id of 8 characters', props: (v) => ({ ...v, ImageId: 'wsi-12345678' }), says: /imageId "wsi-12345678" is not a WorkSpaces image id/ },
    { name: 'an AMI-only key (OrganizationArns)', props: (v) => ({ ...v, OrganizationArns: [ORG] }), says: /unknown properties OrganizationArns/ },
    { name: 'an AMI-only key (ShareSnapshots)', props: (v) => ({ ...v, ShareSnapshots: 'true' }), says: /unknown properties ShareSnapshots/ },
  ];
}

/** What became of one row. */
export interface BadInputResult {
  readonly construct: 'SharedAmi' | 'SharedWorkspaceImage';
  readonly name: string;
  readonly requestType: string;
  /** Undefined when the row behaved as required. */
  readonly problem?: string;
}

/** Why `message` is not the clear refusal the row asks for, or undefined. */
export function refusalProblem(err: unknown, says: RegExp, construct: string): string | undefined {
  if (!(err instanceof Error)) return `threw ${String(err)}`;
  if (err.name !== 'ShareError') return `a raw ${err.name}: ${err.message.slice(0, 200)}`;
  const m = err.message;
  if (m.length > MAX_MESSAGE) return `${m.length} characters`;
  if (/[\r\n]/.test(m)) return 'more than one line';
  if (!says.test(m)) return `does not say ${says}: ${m.slice(0, 400)}`;
  if (/properties are invalid/.test(m) && !m.endsWith(`Fix the ${construct} construct's props and deploy again.`)) return `lost its ending (what to do): ...${m.slice(-120)}`;
  return undefined;
}

/** A construct's handler, a real image of it in moto, and the valid properties the rows spoil. */
export interface BadInputTarget {
  readonly construct: BadInputResult['construct'];
  readonly valid: Props;
  readonly physicalId: string;
  invoke(event: Record<string, unknown>): Promise<Played>;
  /** How many shares the image holds now. */
  shares(): Promise<number>;
}

/** Plays a handler and records its AWS calls. */
async function played(call: () => Promise<unknown>, recorder: { calls: unknown[]; mutating(): unknown[]; restore(): void }): Promise<Played> {
  try {
    return { answer: await call(), calls: recorder.calls.length, mutating: recorder.mutating().length };
  } catch (error) {
    return { error, calls: recorder.calls.length, mutating: recorder.mutating().length };
  } finally {
    recorder.restore();
  }
}

/** An AMI in moto and the SharedAmi handler. The handlers must reach moto through the environment already (startReliabilityEnv). */
export async function amiTarget(env: ReliabilityEnv): Promise<BadInputTarget> {
  const ami = await createAmi(env.ec2);
  return {
    construct: 'SharedAmi',
    valid: amiProperties({ imageId: ami.imageId, accounts: [ACCOUNT] }) as unknown as Props,
    physicalId: `shared-ami:${ami.imageId}`,
    invoke: (event) => played(() => amiHandler(event as unknown as Parameters<typeof amiHandler>[0]), recordAwsCalls()),
    shares: async () => (await launchPermissions(env.ec2, ami.imageId)).length,
  };
}

/** A WorkSpaces image in moto and the SharedWorkspaceImage handler. */
export async function workspaceTarget(env: ReliabilityEnv): Promise<BadInputTarget> {
  const imageId = await createWorkspaceImage(env.workspaces, await env.workspaceHost());
  return {
    construct: 'SharedWorkspaceImage',
    valid: workspaceImageProperties({ imageId, accounts: [ACCOUNT] }) as unknown as Props,
    physicalId: `shared-wsi:${imageId}`,
    invoke: (event) => played(() => workspaceHandler(event as unknown as Parameters<typeof workspaceHandler>[0]), recordWorkspacesCalls()),
    shares: async () => (await sharedAccounts(env.workspaces, imageId)).length,
  };
}

interface Played {
  readonly answer?: unknown;
  readonly error?: unknown;
  readonly calls: number;
  readonly mutating: number;
}

/**
 * Plays one row as a Create and an Update (and, unless the row says otherwise, a Delete): the Create
 * and Update must be refused before any AWS call with the row's sentence, the Delete must succeed.
 */
export async function playBadInput(target: BadInputTarget, row: BadInput): Promise<BadInputResult[]> {
  const { construct, valid, physicalId } = target;
  const results: BadInputResult[] = [];
  const base = {
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/unused',
    StackId: STACK_ID,
    RequestId: 'f0e1d2c3-0000-4000-8000-000000000000',
    LogicalResourceId: 'Share',
    ResourceType: construct === 'SharedAmi' ? 'Custom::SharedAmi' : 'Custom::SharedWorkspaceImage',
  };
  const spoiled = row.props(valid);
  const shape = row.event ?? ((e: Record<string, unknown>) => e);
  const events: Array<[string, Record<string, unknown>]> = [
    ['Create', shape({ ...base, RequestType: 'Create', ResourceProperties: spoiled })],
    ['Update', shape({ ...base, RequestType: 'Update', PhysicalResourceId: physicalId, ResourceProperties: spoiled, OldResourceProperties: valid })],
  ];
  for (const [requestType, event] of events) {
    const outcome = await target.invoke(event);
    let problem: string | undefined;
    if (!('error' in outcome)) problem = `accepted (answered ${JSON.stringify(outcome.answer)})`;
    else if (outcome.calls > 0) problem = `made ${outcome.calls} AWS calls (${outcome.mutating} mutating) before refusing`;
    else problem = refusalProblem(outcome.error, row.says, construct);
    if (!problem && await target.shares() !== 0) problem = 'the image is shared after the refusal';
    results.push({ construct, name: row.name, requestType, ...(problem ? { problem } : {}) });
  }
  if (row.deleteToo ?? true) {
    // A Delete carrying the bad properties: never stuck; nothing was granted, so nothing changes (its
    // well-formed recipients may be sent a removal, since reads lag writes: a no-op for AWS).
    const outcome = await target.invoke({ ...base, RequestType: 'Delete', PhysicalResourceId: physicalId, ResourceProperties: spoiled });
    let problem: string | undefined;
    if ('error' in outcome) problem = `the Delete failed: ${String((outcome.error as Error)?.message ?? outcome.error).slice(0, 300)}`;
    else if ((outcome.answer as { PhysicalResourceId?: string }).PhysicalResourceId !== physicalId) problem = `the Delete answered ${JSON.stringify(outcome.answer)}`;
    else if (await target.shares() !== 0) problem = 'the image is shared after the Delete';
    results.push({ construct, name: row.name, requestType: 'Delete', ...(problem ? { problem } : {}) });
  }
  return results;
}

/**
 * Duplicates are not refused: duplicates may be de-duplicated (the construct warns at synth
 * time). A Create whose Accounts repeat one account 10,000 times shares it once, with one mutating
 * call; the Delete then removes it (leaving the image unshared for the next row).
 */
export async function playDuplicates(target: BadInputTarget): Promise<BadInputResult[]> {
  const { construct, valid, physicalId } = target;
  const name = 'one account 10,000 times (de-duplicated, shared once)';
  const base = { ServiceToken: 'x', ResponseURL: 'https://example.com', StackId: STACK_ID, RequestId: 'r', LogicalResourceId: 'Share', ResourceType: 'Custom::X' };
  const props = { ...valid, Accounts: Array.from({ length: 10_000 }, () => ACCOUNT) };
  const created = await target.invoke({ ...base, RequestType: 'Create', ResourceProperties: props });
  let problem: string | undefined;
  if ('error' in created) problem = `refused: ${String((created.error as Error)?.message ?? created.error).slice(0, 300)}`;
  else if (created.mutating !== 1) problem = `made ${created.mutating} mutating calls, expected 1`;
  else if (await target.shares() !== 1) problem = `the image holds ${await target.shares()} shares, expected 1`;
  const deleted = await target.invoke({ ...base, RequestType: 'Delete', PhysicalResourceId: physicalId, ResourceProperties: props });
  if (!problem && 'error' in deleted) problem = `the Delete failed: ${String((deleted.error as Error)?.message ?? deleted.error).slice(0, 300)}`;
  if (!problem && await target.shares() !== 0) problem = 'the image is still shared after the Delete';
  return [{ construct, name, requestType: 'Create', ...(problem ? { problem } : {}) }];
}

/** Every row of both tables, against a real image of each kind. */
export async function runBadInputs(env: ReliabilityEnv): Promise<BadInputResult[]> {
  const results: BadInputResult[] = [];
  const ami = await amiTarget(env);
  for (const row of amiBadInputs()) results.push(...await playBadInput(ami, row));
  results.push(...await playDuplicates(ami));
  const ws = await workspaceTarget(env);
  for (const row of workspaceBadInputs()) results.push(...await playBadInput(ws, row));
  results.push(...await playDuplicates(ws));
  return results;
}
