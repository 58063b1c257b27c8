/**
 * AWS error codes are read in the adapters only: the rest of lambda/ works with what they mean
 * (isImageGone, amiRefusal, unshareMayBeNoop, isThrottling, ...). This test reads lambda/ as text
 * and fails when a string literal shaped like an AWS error code appears anywhere else.
 */
import { readdirSync, readFileSync } from 'fs';
import { join, relative } from 'path';

const LAMBDA = join(__dirname, '..', '..', 'lambda');

/** The modules that may name AWS error codes: one adapter per service, and the one for every service's SDK errors. */
const ADAPTERS = [
  'ami/adapter.ts',
  'workspaces/workspaces-adapter.ts',
  'common/claims-adapter.ts',
  'common/aws-errors-adapter.ts',
];

/**
 * A string literal that reads like an AWS error code: `Invalid...` (`InvalidAMIID.NotFound`),
 * `...Exception`, `Service.Reason` (`InvalidSnapshot.InUse`), or a name ending in what AWS's codes
 * end in (`ParameterNotFound`, `RequestLimitExceeded`, `OperationNotPermitted`, `AccessDenied`, ...).
 */
const CODE_LITERAL = /(['"`])((?:Invalid[A-Z]\w*(?:\.\w+)?)|(?:[A-Z]\w*Exception)|(?:[A-Z]\w*\.[A-Z]\w*)|(?:[A-Z]\w*(?:NotFound|Malformed|Unavailable|InUse|Exceeded|Denied|NotPermitted|Throttled|Throttling|Failure|Operation|Timeout|Fault)))\1/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every code-shaped literal in a file's code (comments left out), as `path:line: 'Code'`. */
function codeLiterals(path: string): string[] {
  const lines = readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).split('\n');
  return lines.flatMap((line, i) => [...line.replace(/\/\/.*$/, '').matchAll(CODE_LITERAL)]
    .map((m) => `${relative(LAMBDA, path)}:${i + 1}: ${m[0]}`));
}

describe('AWS error codes', () => {
  const files = sources(LAMBDA);

  test('the pattern finds the codes the adapters do name (so an empty result elsewhere means something)', () => {
    const found = ADAPTERS.flatMap((a) => codeLiterals(join(LAMBDA, a))).join('\n');
    for (const code of ['InvalidAMIID.NotFound', 'InvalidSnapshot.InUse', 'NotFoundException', 'ResourceNotFoundException', 'ParameterNotFound', 'AccessDenied', 'RequestLimitExceeded']) {
      expect(found).toContain(`'${code}'`);
    }
  });

  test('appear in the adapters only', () => {
    const outside = files.filter((f) => !ADAPTERS.includes(relative(LAMBDA, f).split('\\').join('/'))).flatMap(codeLiterals);
    expect(outside).toEqual([]);
  });
});
