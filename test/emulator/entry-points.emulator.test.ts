/**
 * The deployed entry points, as Lambda runs them: the bundled asset (assets/lambda/<name>/index.js,
 * what the package ships) loaded afresh in a Node process of its own for every call, against the
 * local moto. The Provider framework runs SharedWorkspaceImage's onEvent and isComplete as two
 * Lambda functions (DESIGN.md, "Entry points"), so nothing may pass between them but the event:
 * here no module state, client or cache of one call can reach the next. Run `npx projen bundle`
 * first when running this file alone (the emulator task does).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { settleAll } from './moto';
import {
  createEvent, createWorkspaceImage, deleteEvent, isCompleteInput, setWorkspaceImageState, sharedAccounts, shareOutside, useWorkspacesMoto,
  WorkspaceShareInput,
} from './workspaces-fixture';
import { COMPLETION_KEY } from '../../lambda/workspaces/plan';

const ASSET = path.join(__dirname, '..', '..', 'assets', 'lambda', 'shared-workspace-image.lambda', 'index.js');
const A = '111111111111';
const B = '222222222222';
const OUTSIDE = '999999999999';

const fixture = useWorkspacesMoto();

/** Loads the asset in a new Node process, calls one of its exports with the event, and returns the answer. */
async function invoke(entry: 'onEvent' | 'isComplete', event: unknown): Promise<Record<string, unknown>> {
  if (!fs.existsSync(ASSET)) throw new Error(`${ASSET} does not exist: run "npx projen bundle" first`);
  await settleAll();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'entry-point-'));
  try {
    const eventFile = path.join(dir, 'event.json');
    const answerFile = path.join(dir, 'answer.json');
    fs.writeFileSync(eventFile, JSON.stringify(event));
    const script = `const fs = require('fs');
      const [asset, entry, eventFile, answerFile] = process.argv.slice(1);
      require(asset)[entry](JSON.parse(fs.readFileSync(eventFile, 'utf8')))
        .then((answer) => fs.writeFileSync(answerFile, JSON.stringify(answer)))
        .catch((err) => { console.error(err.message); process.exit(1); });`;
    // process.env points the SDK at moto (useWorkspacesMoto).
    execFileSync(process.execPath, ['-e', script, ASSET, entry, eventFile, answerFile], { env: process.env, stdio: 'pipe' });
    return JSON.parse(fs.readFileSync(answerFile, 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a PENDING image: onEvent hands over, each isComplete call in a process of its own waits, then shares; Delete the same way', async () => {
  const imageId = await createWorkspaceImage(fixture.workspaces, fixture.host);
  await shareOutside(fixture.workspaces, imageId, OUTSIDE);
  await setWorkspaceImageState(fixture.moto, imageId, 'PENDING');
  const input: WorkspaceShareInput = { imageId, accounts: [A, B] };
  const event = createEvent(input);

  const onEvent = await invoke('onEvent', event);
  expect(onEvent[COMPLETION_KEY]).toMatchObject({ Step: 'wait', ImageId: imageId });
  expect(await sharedAccounts(fixture.workspaces, imageId)).toEqual([OUTSIDE]);

  const poll = isCompleteInput(event, onEvent as { PhysicalResourceId?: string });
  expect(await invoke('isComplete', poll)).toEqual({ IsComplete: false });
  expect(await sharedAccounts(fixture.workspaces, imageId)).toEqual([OUTSIDE]);

  await setWorkspaceImageState(fixture.moto, imageId, 'AVAILABLE');
  expect(await invoke('isComplete', poll)).toEqual({ IsComplete: true });
  expect(await sharedAccounts(fixture.workspaces, imageId)).toEqual([A, B, OUTSIDE].sort());

  const physicalId = onEvent.PhysicalResourceId as string;
  const deleteCall = deleteEvent(physicalId, input);
  const onDelete = await invoke('onEvent', deleteCall);
  expect(onDelete.PhysicalResourceId).toBe(physicalId);
  expect(await invoke('isComplete', isCompleteInput(deleteCall, onDelete as { PhysicalResourceId?: string }))).toEqual({ IsComplete: true });
  expect(await sharedAccounts(fixture.workspaces, imageId)).toEqual([OUTSIDE]);
});
