/** jest globalTeardown: removes the run's temporary folder (see tmpdir-setup.ts). */
import { rmSync } from 'fs';

export default function teardown(): void {
  const dir = process.env.SHARED_IMAGES_JEST_TMPDIR;
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (process.env.SHARED_IMAGES_JEST_OUTER_TMPDIR) process.env.TMPDIR = process.env.SHARED_IMAGES_JEST_OUTER_TMPDIR;
  else delete process.env.TMPDIR;
}
