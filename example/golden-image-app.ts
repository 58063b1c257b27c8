/**
 * The example golden-image app: a platform team's stack that shares its encrypted golden AMI
 * (snapshots included, KMS key granted automatically) with the consumer accounts, and its
 * unencrypted base AMI with a whole organization and one OU, and its WorkSpaces desktop image
 * with the desktop teams' accounts. `version` 2 is the next release of the same app: one consumer
 * account added, one dropped, on the golden AMI and on the desktop image alike.
 *
 *   cdk synth --app "npx ts-node --project example/tsconfig.json example/golden-image-app.ts" \
 *     -c goldenAmiId=ami-... -c baseAmiId=ami-... -c desktopImageId=wsi-...
 */
import { App, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { SharedAmi, SharedWorkspaceImage } from '../src';

export interface GoldenImageStackProps extends StackProps {
  /** Encrypted with a customer managed key: shared with accounts (KMS grants follow). */
  readonly goldenAmiId: string;
  /** Unencrypted: shared with the organization and the workload OU. */
  readonly baseAmiId: string;
  /** A WorkSpaces custom image: shared with the desktop teams' accounts. */
  readonly desktopImageId: string;
  /** 1: first release; 2: one consumer account added, one dropped. */
  readonly version: 1 | 2;
}

export const CONSUMERS_V1 = ['111111111111', '222222222222'];
export const CONSUMERS_V2 = ['222222222222', '333333333333'];
export const DESKTOP_TEAMS_V1 = ['555555555555', '666666666666'];
export const DESKTOP_TEAMS_V2 = ['666666666666', '777777777777'];
export const ORGANIZATION = 'arn:aws:organizations::999999999999:organization/o-goldenorg01';
export const WORKLOAD_OU = 'arn:aws:organizations::999999999999:ou/o-goldenorg01/ou-gold-workload1';

export class GoldenImageStack extends Stack {
  constructor(scope: Construct, id: string, props: GoldenImageStackProps) {
    super(scope, id, props);
    new SharedAmi(this, 'GoldenAmiShare', {
      imageId: props.goldenAmiId,
      accounts: props.version === 1 ? CONSUMERS_V1 : CONSUMERS_V2,
      shareSnapshots: true,
    });
    new SharedAmi(this, 'BaseAmiShare', {
      imageId: props.baseAmiId,
      organizationArns: [ORGANIZATION],
      organizationalUnitArns: [WORKLOAD_OU],
    });
    new SharedWorkspaceImage(this, 'DesktopImageShare', {
      imageId: props.desktopImageId,
      accounts: props.version === 1 ? DESKTOP_TEAMS_V1 : DESKTOP_TEAMS_V2,
    });
  }
}

export interface GoldenImageAppProps {
  readonly goldenAmiId: string;
  readonly baseAmiId: string;
  readonly desktopImageId: string;
  readonly version: 1 | 2;
  readonly outdir?: string;
}

export function goldenImageApp(props: GoldenImageAppProps): App {
  const app = new App({ outdir: props.outdir });
  new GoldenImageStack(app, 'GoldenImage', { ...props, env: { account: '123456789012', region: 'us-east-1' } });
  return app;
}

if (require.main === module) {
  const probe = new App();
  goldenImageApp({
    goldenAmiId: probe.node.tryGetContext('goldenAmiId') ?? 'ami-0123456789abcdef0',
    baseAmiId: probe.node.tryGetContext('baseAmiId') ?? 'ami-0fedcba9876543210',
    desktopImageId: probe.node.tryGetContext('desktopImageId') ?? 'wsi-0123abcde',
    version: Number(probe.node.tryGetContext('version') ?? 1) === 2 ? 2 : 1,
  }).synth();
}
