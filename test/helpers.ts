import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const fixturesDir = path.join(repoRoot, 'fixtures');
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

export const fixture = (name: string): string => path.join(fixturesDir, `${name}.onnx`);

export function fixtureNames(): string[] {
  return readdirSync(fixturesDir)
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => f.slice(0, -'.onnx'.length))
    .sort();
}

export function tempDir(prefix = 'onnx-parallelize-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const result = spawnSync(process.execPath, [cliPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Where scripts/fetch-testdata.sh unpacks Debian's ONNX conformance data. */
export const conformanceRoot = path.join(repoRoot, '.cache/onnx-testdata/usr/share/libonnx-testdata/data');

export function ensureConformanceData(): void {
  const result = spawnSync('bash', [path.join(repoRoot, 'scripts/fetch-testdata.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`fetching libonnx-testdata failed: ${result.stderr}`);
}

export function conformanceModels(): string[] {
  ensureConformanceData();
  const models: string[] = [];
  for (const suite of ['node', 'pytorch-converted', 'pytorch-operator', 'simple']) {
    for (const test of readdirSync(path.join(conformanceRoot, suite)).sort()) models.push(path.join(conformanceRoot, suite, test, 'model.onnx'));
  }
  return models;
}
