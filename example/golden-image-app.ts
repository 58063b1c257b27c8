/**
 * The example golden-image app: a platform team's stack that shares its golden AMI with the
 * consumer accounts, one organization and one OU. `version` 2 is the next release of the same
 * app: one consumer account added, one dropped.
 *
 *   cdk synth --app "npx ts-node --project test/tsconfig.json example/golden-image-app.ts" -c goldenAmiId=ami-...
 */
import { App, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { SharedAmi } from '../src';

export interface GoldenImageStackProps extends StackProps {
  readonly goldenAmiId: string;
  /** 1: first release; 2: one consumer account added, one dropped. */
  readonly version: 1 | 2;
}

export const CONSUMERS_V1 = ['111111111111', '222222222222'];
export const CONSUMERS_V2 = ['222222222222', '333333333333'];
export const ORGANIZATION = 'arn:aws:organizations::999999999999:organization/o-goldenorg01';
export const WORKLOAD_OU = 'arn:aws:organizations::999999999999:ou/o-goldenorg01/ou-gold-workload1';

export class GoldenImageStack extends Stack {
  public readonly share: SharedAmi;

  constructor(scope: Construct, id: string, props: GoldenImageStackProps) {
    super(scope, id, props);
    this.share = new SharedAmi(this, 'GoldenAmiShare', {
      imageId: props.goldenAmiId,
      accounts: props.version === 1 ? CONSUMERS_V1 : CONSUMERS_V2,
      organizationArns: [ORGANIZATION],
      organizationalUnitArns: [WORKLOAD_OU],
      shareSnapshots: true,
    });
  }
}

export function goldenImageApp(goldenAmiId: string, version: 1 | 2, outdir?: string): App {
  const app = new App({ outdir });
  new GoldenImageStack(app, 'GoldenImage', {
    goldenAmiId, version, env: { account: '123456789012', region: 'us-east-1' },
  });
  return app;
}

if (require.main === module) {
  const probe = new App();
  const amiId = probe.node.tryGetContext('goldenAmiId') ?? 'ami-0123456789abcdef0';
  const version = Number(probe.node.tryGetContext('version') ?? 1) === 2 ? 2 : 1;
  goldenImageApp(amiId, version).synth();
}
