/**
 * The machine a run happened on: what BENCHMARKS.md states beside the figures.
 */
import { execFileSync } from 'child_process';
import { existsSync, readFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly nproc: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly loadAverage: string;
  readonly awsCdkLib: string;
  readonly moto: string;
  readonly date: string;
  /** HEAD's short commit id. */
  readonly commit: string;
  /** Uncommitted changes under lambda/ and src/ when the run started (what ran is the working tree). */
  readonly dirtyCode: string[];
}

export function machineInfo(repoRoot: string): MachineInfo {
  return {
    cpuModel: cpuModel(),
    nproc: nproc(),
    memoryGiB: memTotalKiB() / 1024 / 1024,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((l) => l.toFixed(2)).join(' / '),
    awsCdkLib: packageVersion(repoRoot, 'aws-cdk-lib'),
    moto: motoVersion(repoRoot),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: git(repoRoot, ['rev-parse', '--short', 'HEAD']) || 'unknown',
    // Porcelain lines are "XY path"; the first may have lost its leading space to trim().
    dirtyCode: git(repoRoot, ['status', '--porcelain', '--', 'lambda', 'src']).split('\n').map((l) => l.replace(/^\s*\S+\s+/, '')).filter(Boolean),
  };
}

function git(repoRoot: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^model name\s*:/.test(l));
    if (line) return line.replace(/^model name\s*:\s*/, '').trim();
  } catch {
    // not Linux: fall back to what Node reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function nproc(): number {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    return os.availableParallelism?.() ?? os.cpus().length;
  }
}

function memTotalKiB(): number {
  try {
    const line = readFileSync('/proc/meminfo', 'utf8').split('\n').find((l) => l.startsWith('MemTotal:'));
    if (line) return Number(line.replace(/\D+/g, ''));
  } catch {
    // not Linux
  }
  return os.totalmem() / 1024;
}

function packageVersion(repoRoot: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function motoVersion(repoRoot: string): string {
  const python = path.join(repoRoot, '.venv', 'bin', 'python');
  if (!existsSync(python)) return 'not installed';
  try {
    return execFileSync(python, ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
