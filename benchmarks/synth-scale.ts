/**
 * Section 1, synth scale: one stack holding N shares (each a distinct literal image id with two
 * accounts), synthesized with our constructs and with the baselines users write today:
 *
 * - (a) one `AwsCustomResource` per share calling `ModifyImageAttribute` with all its accounts (the
 *   usual hand-written CDK answer; here given an `onDelete` that revokes, which the usual one lacks);
 * - (b) one `AwsCustomResource` per account and image, the way Terraform (`aws_ami_launch_permission`)
 *   and Pulumi (`ec2.AmiLaunchPermission`) model a share.
 *
 * WorkSpaces has no IaC resource at all and its API shares with one account per call, so an
 * `AwsCustomResource` (one SDK call per lifecycle event) can only model it per account: there
 * (a) and (b) are the same template.
 */
import { mkdtempSync, rmSync, statSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as cr from 'aws-cdk-lib/custom-resources';
import { SharedAmi, SharedWorkspaceImage } from '../src';
import { median, nowMs, progress } from './lib/stats';
import {
  CFN_RESOURCE_LIMIT, CFN_TEMPLATE_LIMIT, IAM_ROLE_INLINE_POLICY_LIMIT, IAM_ROLE_TRUST_POLICY_LIMIT, policyChars,
} from '../src/private/policy-size';

export type ImageKind = 'ami' | 'workspaces';

export interface SynthVariant {
  readonly key: string;
  readonly kind: ImageKind;
  readonly label: string;
  /** Ours (true) or a baseline. */
  readonly ours: boolean;
  /** Adds share `i` (two accounts) to the stack. */
  add(stack: Stack, i: number): void;
}

export interface SynthRow {
  readonly variant: string;
  readonly n: number;
  /** Synth wall times (construct tree + app.synth()), milliseconds, one per repetition. */
  readonly samplesMs: number[];
  readonly medianMs: number;
  /** The template file as `cdk synth` writes it (1-space indentation). */
  readonly templateBytes: number;
  /** The same template without indentation (`suppressTemplateIndentation: true`). */
  readonly minifiedBytes: number;
  readonly resources: number;
  readonly lambdaFunctions: number;
  /** Lambda functions that run this library's handler code (the rest are the Provider framework's). */
  readonly handlerFunctions: number;
  readonly stateMachines: number;
  /** The largest aggregate of inline policies on one IAM role, whitespace-free characters, intrinsics resolved approximately. */
  readonly maxRoleInlinePolicyChars: number;
  /** Minified JSON bytes of the template's resources, summed by resource type. */
  readonly bytesByType: Record<string, number>;
}

/** One stack of the size a platform team ships (see `catalogue`), synthesized with validation on. */
export interface CatalogueResult {
  readonly sharedAmi: number;
  readonly sharedWorkspaceImage: number;
  readonly accountsPerShare: number;
  readonly resources: number;
  readonly templateBytes: number;
  readonly minifiedBytes: number;
  /** The largest share role's inline policy and trust policy, handler roles' inline policies: longest partition and region names. */
  readonly maxShareRolePolicyChars: number;
  readonly maxTrustPolicyChars: number;
  readonly maxHandlerRolePolicyChars: number;
  readonly ms: number;
}

export interface SynthScaleResult {
  readonly catalogue?: CatalogueResult;
  readonly counts: number[];
  readonly repetitions: Record<number, number>;
  readonly variants: Array<Pick<SynthVariant, 'key' | 'kind' | 'label' | 'ours'>>;
  readonly rows: SynthRow[];
}

/** The two accounts of share `i` (distinct across shares). */
export function shareAccounts(i: number): string[] {
  return [String(300_000_000_000 + 2 * i), String(300_000_000_001 + 2 * i)];
}

export function amiId(i: number): string {
  return `ami-${i.toString(16).padStart(17, '0')}`;
}

export function workspaceImageId(i: number): string {
  return `wsi-${i.toString(36).padStart(9, '0')}`;
}

function imageArn(stack: Stack, service: 'ec2' | 'workspaces', id: string): string {
  return service === 'ec2'
    ? stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: id })
    : stack.formatArn({ service: 'workspaces', resource: 'workspaceimage', resourceName: id });
}

/** A hand-written share of one AMI with `accounts` in one ModifyImageAttribute. */
function awsCustomResourceAmi(stack: Stack, id: string, imageId: string, accounts: string[]): void {
  const call = (op: 'Add' | 'Remove'): cr.AwsSdkCall => ({
    service: 'EC2',
    action: 'modifyImageAttribute',
    parameters: { ImageId: imageId, LaunchPermission: { [op]: accounts.map((UserId) => ({ UserId })) } },
    physicalResourceId: cr.PhysicalResourceId.of(`${imageId}:${accounts.join(',')}`),
  });
  new cr.AwsCustomResource(stack, id, {
    onCreate: call('Add'),
    onUpdate: call('Add'),
    onDelete: call('Remove'),
    policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [imageArn(stack, 'ec2', imageId)] }),
    installLatestAwsSdk: false,
  });
}

/** A hand-written share of one WorkSpaces image with one account (the API takes one per call). */
function awsCustomResourceWorkspaces(stack: Stack, id: string, imageId: string, account: string): void {
  const call = (allow: boolean): cr.AwsSdkCall => ({
    service: 'WorkSpaces',
    action: 'updateWorkspaceImagePermission',
    parameters: { ImageId: imageId, SharedAccountId: account, AllowCopyImage: allow },
    physicalResourceId: cr.PhysicalResourceId.of(`${imageId}:${account}`),
  });
  new cr.AwsCustomResource(stack, id, {
    onCreate: call(true),
    onUpdate: call(true),
    onDelete: call(false),
    policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [imageArn(stack, 'workspaces', imageId)] }),
    installLatestAwsSdk: false,
  });
}

export const SYNTH_VARIANTS: SynthVariant[] = [
  {
    key: 'ami-ours',
    kind: 'ami',
    ours: true,
    label: '`SharedAmi` (default, `kmsGrants: true`)',
    add: (stack, i) => new SharedAmi(stack, `Share${i}`, { imageId: amiId(i), accounts: shareAccounts(i) }),
  },
  {
    key: 'ami-ours-nokms',
    kind: 'ami',
    ours: true,
    label: '`SharedAmi` with `kmsGrants: false`',
    add: (stack, i) => new SharedAmi(stack, `Share${i}`, { imageId: amiId(i), accounts: shareAccounts(i), kmsGrants: false }),
  },
  {
    key: 'ami-baseline-a',
    kind: 'ami',
    ours: false,
    label: '(a) one `AwsCustomResource` per share',
    add: (stack, i) => awsCustomResourceAmi(stack, `Share${i}`, amiId(i), shareAccounts(i)),
  },
  {
    key: 'ami-baseline-b',
    kind: 'ami',
    ours: false,
    label: '(b) one `AwsCustomResource` per account (Terraform / Pulumi model)',
    add: (stack, i) => shareAccounts(i).forEach((a, j) => awsCustomResourceAmi(stack, `Share${i}Account${j}`, amiId(i), [a])),
  },
  {
    key: 'ws-ours',
    kind: 'workspaces',
    ours: true,
    label: '`SharedWorkspaceImage`',
    add: (stack, i) => new SharedWorkspaceImage(stack, `Share${i}`, { imageId: workspaceImageId(i), accounts: shareAccounts(i) }),
  },
  {
    key: 'ws-baseline',
    kind: 'workspaces',
    ours: false,
    label: '(a) = (b) one `AwsCustomResource` per account',
    add: (stack, i) => shareAccounts(i).forEach((a, j) => awsCustomResourceWorkspaces(stack, `Share${i}Account${j}`, workspaceImageId(i), a)),
  },
];

interface Template {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

/** Builds and synthesizes one stack of `n` shares; returns the wall time and the template's figures. */
function synthOnce(variant: SynthVariant, n: number): { ms: number; row: Omit<SynthRow, 'variant' | 'n' | 'samplesMs' | 'medianMs'> } {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  try {
    const start = nowMs();
    // Lift CDK's 500-resource synth check so the large baselines synthesize at all; whether a
    // template fits CloudFormation's limits is reported beside it instead.
    const app = new App({ outdir, context: { '@aws-cdk/core:stackResourceLimit': 0 } });
    const stack = new Stack(app, 'Bench');
    for (let i = 0; i < n; i++) variant.add(stack, i);
    // Past CloudFormation's 500 resources or 1 MB, the constructs' own validation refuses the stack.
    // Synthesis skips validation for every variant alike, so that the scale figures exist at every
    // N; the report extrapolates where each cap lies.
    const assembly = app.synth({ skipValidation: true });
    const elapsed = nowMs() - start;
    const artifact = assembly.getStackByName('Bench');
    const template = artifact.template as Template;
    const resources = Object.values(template.Resources);
    return {
      ms: elapsed,
      row: {
        templateBytes: statSync(artifact.templateFullPath).size,
        minifiedBytes: Buffer.byteLength(JSON.stringify(template)),
        resources: resources.length,
        lambdaFunctions: resources.filter((r) => r.Type === 'AWS::Lambda::Function').length,
        handlerFunctions: resources.filter((r) => r.Type === 'AWS::Lambda::Function'
          && String(r.Properties?.Description ?? '').startsWith('cdk-shared-images ')).length,
        stateMachines: resources.filter((r) => r.Type === 'AWS::StepFunctions::StateMachine').length,
        maxRoleInlinePolicyChars: maxRoleInlinePolicyChars(template),
        bytesByType: bytesByType(template),
      },
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

export interface SynthScaleOptions {
  readonly counts: number[];
  /** Timed repetitions per N (after one untimed warm-up synth per variant). */
  readonly repetitions: (n: number) => number;
}

export function runSynthScale(options: SynthScaleOptions): SynthScaleResult {
  const rows: SynthRow[] = [];
  const repetitions: Record<number, number> = {};
  for (const n of options.counts) repetitions[n] = options.repetitions(n);
  for (const variant of SYNTH_VARIANTS) {
    synthOnce(variant, 1); // warm-up: module loading, asset fingerprint cache
    for (const n of options.counts) {
      const samples: number[] = [];
      let row: ReturnType<typeof synthOnce>['row'] | undefined;
      for (let r = 0; r < repetitions[n]; r++) {
        const once = synthOnce(variant, n);
        samples.push(once.ms);
        row = once.row;
      }
      const result: SynthRow = { variant: variant.key, n, samplesMs: samples, medianMs: median(samples), ...row! };
      rows.push(result);
      progress(`synth ${variant.key} N=${n}: median ${result.medianMs.toFixed(0)} ms over ${samples.length}, ${result.resources} resources, ${result.templateBytes} bytes`);
    }
  }
  const catalogue = synthCatalogue();
  progress(`synth catalogue: ${catalogue.resources} resources, ${catalogue.minifiedBytes} bytes minified, ${catalogue.templateBytes} indented`);
  return {
    catalogue,
    counts: options.counts,
    repetitions,
    variants: SYNTH_VARIANTS.map(({ key, kind, label, ours }) => ({ key, kind, label, ours })),
    rows,
  };
}

/**
 * A platform team's catalogue in one stack: 200 SharedAmi and 20 SharedWorkspaceImage of 20
 * accounts each; every tenth AMI share also shares its snapshots and grants the accounts' Auto
 * Scaling roles, every tenth (another) shares with an organization under a key defined in the app.
 * Environment-agnostic (partition and region counted with the longest names), with
 * `suppressTemplateIndentation`, path metadata as the CDK CLI writes it, and synthesized with validation on: the library's own check
 * would refuse it past any cap.
 */
export function synthCatalogue(): CatalogueResult {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'bench-catalogue-'));
  try {
    const start = nowMs();
    // As the CDK CLI synthesizes by default: resource path metadata and the analytics resource on.
    const app = new App({ outdir, analyticsReporting: true, context: { 'aws:cdk:enable-path-metadata': true } });
    const stack = new Stack(app, 'GoldenImageCatalogue', { suppressTemplateIndentation: true });
    const keys = Array.from({ length: 4 }, (_, i) => new kms.Key(stack, `Key${i}`, { enableKeyRotation: true }));
    const accounts = (share: number): string[] => Array.from({ length: 20 }, (_, j) => String(400_000_000_000 + share * 20 + j));
    for (let i = 0; i < 200; i++) {
      new SharedAmi(stack, `Ami${i}`, {
        imageId: amiId(i),
        accounts: accounts(i),
        shareSnapshots: i % 10 === 1,
        kmsGrantsForAutoScaling: i % 10 === 1,
        ...(i % 10 === 3 ? { organizationArns: ['arn:aws:organizations::999999999999:organization/o-exampleorg1'], encryptionKeys: [keys[i % 4]] } : {}),
      });
    }
    for (let i = 0; i < 20; i++) new SharedWorkspaceImage(stack, `Desktop${i}`, { imageId: workspaceImageId(i), accounts: accounts(200 + i) });
    const artifact = app.synth().getStackByName('GoldenImageCatalogue');
    const ms = nowMs() - start;
    const template = artifact.template as Template;
    const roles = Object.values(template.Resources).filter((r) => r.Type === 'AWS::IAM::Role');
    const shareRoles = roles.filter((r) => JSON.stringify(r.Properties?.Path ?? '').includes('cdk-shared-images'));
    const inline = (r: { Properties?: Record<string, unknown> }): number =>
      ((r.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []).reduce((sum, p) => sum + policyChars(p.PolicyDocument), 0);
    const handlerPolicies = Object.entries(template.Resources).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.includes('HandlerRoleDefaultPolicy'));
    return {
      sharedAmi: 200,
      sharedWorkspaceImage: 20,
      accountsPerShare: 20,
      resources: Object.keys(template.Resources).length,
      templateBytes: Buffer.byteLength(JSON.stringify(template, undefined, 1)),
      minifiedBytes: statSync(artifact.templateFullPath).size,
      maxShareRolePolicyChars: Math.max(...shareRoles.map(inline)),
      maxTrustPolicyChars: Math.max(...shareRoles.map((r) => policyChars(r.Properties?.AssumeRolePolicyDocument))),
      maxHandlerRolePolicyChars: Math.max(...handlerPolicies.map(([, r]) => policyChars(r.Properties?.PolicyDocument))),
      ms,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function bytesByType(template: Template): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of Object.values(template.Resources)) out[r.Type] = (out[r.Type] ?? 0) + JSON.stringify(r).length;
  return out;
}

// ---------------------------------------------------------------------------------------------
// IAM's limit on a role's inline policies (10,240 characters, whitespace not counted)
// ---------------------------------------------------------------------------------------------

export { CFN_RESOURCE_LIMIT, CFN_TEMPLATE_LIMIT, IAM_ROLE_INLINE_POLICY_LIMIT, IAM_ROLE_TRUST_POLICY_LIMIT };

/**
 * Every AWS::IAM::Policy counts toward the aggregate of each role it is attached to, as do the
 * role's own `Policies`. Intrinsics are resolved to literals at least as long as the real values
 * (`policyChars`: the longest partition and region names, references to ARNs with the longest role
 * name): the same estimate the synth-time check uses.
 */
const BENCH_PSEUDO = { stackName: 'Bench' };
function maxRoleInlinePolicyChars(template: Template): number {
  const perRole = new Map<string, number>();
  const addTo = (role: string, chars: number): void => {
    perRole.set(role, (perRole.get(role) ?? 0) + chars);
  };
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (r.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []) {
        addTo(logicalId, policyChars(p.PolicyDocument, BENCH_PSEUDO));
      }
    }
    if (r.Type === 'AWS::IAM::Policy') {
      const chars = policyChars(r.Properties?.PolicyDocument, BENCH_PSEUDO);
      for (const role of (r.Properties?.Roles as Array<{ Ref?: string }> | undefined) ?? []) {
        if (role.Ref) addTo(role.Ref, chars);
      }
    }
  }
  return Math.max(0, ...perRole.values());
}

