/**
 * Integration app for SharedAmi: shares an AMI read from SSM with an account, an organization and
 * an OU, snapshot permissions on. Its snapshot (integ.shared-ami.js.snapshot/) is verified by
 * `npx projen integ` without deploying; `npx projen integ:update` re-synthesizes it.
 * A real deployment (`integ-runner --update-on-failed` with credentials) needs an AMI owned by the
 * deploying account at the SSM parameter below.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { SharedAmi } from '../../src';

const app = new App();
/** Exported so that the test suite can run cdk-nag over it. */
export const stack = new Stack(app, 'SharedAmiInteg');
const share = new SharedAmi(stack, 'GoldenAmi', {
  imageId: ssm.StringParameter.valueForStringParameter(stack, '/cdk-shared-images/integ/ami-id'),
  accounts: ['111111111111'],
  organizationArns: ['arn:aws:organizations::111111111111:organization/o-exampleorg1'],
  organizationalUnitArns: ['arn:aws:organizations::111111111111:ou/o-exampleorg1/ou-ab12-cdef3456'],
  shareSnapshots: true,
});

const integ = new IntegTest(app, 'SharedAmiIntegTest', { testCases: [stack] });
integ.assertions
  .awsApiCall('EC2', 'describeImageAttribute', { ImageId: share.sharedAmiId, Attribute: 'launchPermission' })
  .expect(ExpectedResult.objectLike({ LaunchPermissions: Match.arrayWith([{ UserId: '111111111111' }]) }));
