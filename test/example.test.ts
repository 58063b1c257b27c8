/**
 * The example golden-image app and the integ app, as users would synthesize them: cdk-nag's
 * AwsSolutions pack finds nothing unacknowledged, and the app has one handler per construct type.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { stack as integStack } from './integ/integ.shared-ami';
import { nagFindings } from './nag';
import { goldenImageApp } from '../example/golden-image-app';
import { SHARED_AMI_RESOURCE_TYPE, SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE } from '../src/private/contract';

function exampleStack(): Stack {
  const app = goldenImageApp({
    goldenAmiId: 'ami-0123456789abcdef0', baseAmiId: 'ami-0fedcba9876543210', desktopImageId: 'wsi-0123abcde', version: 1,
  });
  return app.node.findChild('GoldenImage') as Stack;
}

test('the example app passes cdk-nag AwsSolutions', () => {
  expect(nagFindings(exampleStack())).toEqual([]);
});

test('the integ app passes cdk-nag AwsSolutions', () => {
  expect(nagFindings(integStack)).toEqual([]);
});

test('the example app: three shares, one handler per construct type', () => {
  const t = Template.fromStack(exampleStack());
  t.resourceCountIs(SHARED_AMI_RESOURCE_TYPE, 2);
  t.resourceCountIs(SHARED_WORKSPACE_IMAGE_RESOURCE_TYPE, 1);
  const descriptions = Object.values(t.findResources('AWS::Lambda::Function')).map((f) => String(f.Properties.Description ?? ''));
  expect(descriptions.filter((d) => d.includes('SharedAmiProvider handler'))).toHaveLength(1);
  // WorkSpaces: one handler, deployed as two functions of the same bundle (onEvent, isComplete).
  expect(descriptions.filter((d) => d.includes('SharedWorkspaceImageProvider handler')).sort()).toEqual([
    expect.stringContaining('(isComplete)'), expect.stringContaining('(onEvent)'),
  ]);
});
