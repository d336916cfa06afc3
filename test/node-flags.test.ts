/**
 * ParallelSession starts and gives a plain session's results whatever flags Node was started with: worker
 * threads reject many of the main process's flags (ERR_WORKER_INVALID_EXEC_ARGV), so the device workers must
 * not inherit them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/index.js';
import { compareTensors } from '../src/verify/compare.js';
import { fixture, repoRoot } from './helpers.js';

/** Creates, runs and releases a ParallelSession on two CPU devices, and compares it with a plain session. */
async function parallelAgainstPlain(): Promise<{ equal: boolean; detail: string | undefined }> {
  const x = new ort.Tensor('float32', Float32Array.from({ length: 7 * 16 }, (_, i) => Math.sin(i)), [7, 16]);
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'] });
  const actual = await session.run({ x });
  await session.release();
  const plain = await ort.InferenceSession.create(fixture('mlp'));
  const expected = await plain.run({ x });
  await plain.release();
  const comparison = compareTensors(actual['y']!, expected['y']!);
  return { equal: comparison.equal, detail: comparison.detail };
}

/** Set in a child this file starts: it then runs parallelAgainstPlain and prints its flags and the result. */
const childMode = 'ONNX_PARALLELIZE_NODE_FLAGS_CHILD';
const thisFile = fileURLToPath(import.meta.url);

interface ChildReport {
  execArgv: string[];
  equal: boolean;
  detail: string | null;
}

function runChild(flags: string[]): ChildReport {
  const env: NodeJS.ProcessEnv = { ...process.env, [childMode]: '1' };
  delete env['NODE_TEST_CONTEXT'];
  const result = spawnSync(process.execPath, [...flags, thisFile], { cwd: repoRoot, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.signal, null, `flags ${flags.join(' ')}: the child was killed (timed out?)\n${result.stderr}`);
  assert.equal(result.status, 0, `flags ${flags.join(' ')}: the child failed\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ChildReport;
}

const flagSets: string[][] = [
  ['--max-old-space-size=4096'],
  ['--stack-trace-limit=50'],
  ['--enable-source-maps'],
  ['--expose-gc'],
  ['--max-old-space-size=4096', '--stack-trace-limit=50', '--enable-source-maps', '--expose-gc'],
];

if (process.env[childMode] === '1') {
  const { equal, detail } = await parallelAgainstPlain();
  (globalThis as { gc?: () => void }).gc?.();
  const report: ChildReport = { execArgv: process.execArgv, equal, detail: detail ?? null };
  console.log(JSON.stringify(report));
} else {
  for (const flags of flagSets) {
    test(`a child started with ${flags.join(' ')}: create, run and release give a plain session's outputs`, () => {
      const child = runChild(flags);
      for (const flag of flags) assert.ok(child.execArgv.includes(flag), `the child ran with ${flag} (its flags: ${child.execArgv.join(' ')})`);
      assert.ok(child.equal, `outputs differ from a plain session: ${child.detail}`);
    });
  }

  test("a child started with this test runner's own flags (they differ from one Node version to the next)", () => {
    const child = runChild(process.execArgv);
    assert.deepEqual(child.execArgv, process.execArgv);
    assert.ok(child.equal, `outputs differ from a plain session: ${child.detail}`);
  });

  test("inside the test runner's process, with its flags", async () => {
    const { equal, detail } = await parallelAgainstPlain();
    assert.ok(equal, `outputs differ from a plain session (flags: ${process.execArgv.join(' ')}): ${detail}`);
  });
}
