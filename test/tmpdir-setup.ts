/**
 * jest globalSetup: a synthesis without an outdir (an App, Template.fromStack) writes a cdk.out*
 * folder of a few MB into the temporary directory, and nothing removes it. For the whole run,
 * TMPDIR points at one folder of its own (the workers inherit it); tmpdir-teardown.ts removes it.
 */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

export default function setup(): void {
  const dir = mkdtempSync(join(tmpdir(), 'cdk-shared-images-jest-'));
  process.env.SHARED_IMAGES_JEST_TMPDIR = dir;
  process.env.SHARED_IMAGES_JEST_OUTER_TMPDIR = process.env.TMPDIR ?? '';
  process.env.TMPDIR = dir;
}
