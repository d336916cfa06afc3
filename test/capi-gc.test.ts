/**
 * Buffers onnxruntime points into survive garbage collection: in a child started with --expose-gc, hundreds of
 * concurrent requests on two devices (ordinary inputs dropped by the caller at once, shared inputs, outputs written
 * in place, requests that time out while inside onnxruntime, merged requests gathered into reused buffers) run
 * while the collector is forced again and again, then large requests one after another on one device, each written
 * into the output made ahead while the one before ran.
 * The child must neither crash nor return a wrong row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { TimeoutError } from '../src/runtime/session/scheduler.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { SeededRandom } from '../src/tensors/random.js';
import { repoRoot, tempDir } from './helpers.js';

const childMode = 'ONNX_PARALLELIZE_GC_CHILD';
const width = 256;

/** Rows of request k: each request's own values, made again from k to check its answer. */
const rowsOf = (k: number, batch: number): Float32Array => new SeededRandom(1000 + k).floats(batch * width);

async function stress(file: string): Promise<{ requests: number; timedOut: number; checked: number }> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const session = await ParallelSession.create(file, { devices: ['cpu', 'cpu'], minRowsPerDevice: 4 });
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  let collecting = true;
  // The collector runs between every few callbacks while runs are inside onnxruntime.
  const collector = (): void => {
    gc();
    if (collecting) setImmediate(collector);
  };
  setImmediate(collector);
  const count = 400;
  const pending: Array<Promise<{ k: number; batch: number; y: Float32Array } | 'timed out'>> = [];
  for (let k = 0; k < count; k++) {
    const batch = 1 + (k % 23);
    const mode = k % 4;
    // The caller keeps no reference to its input (or its output tensor) once run() has been called.
    const x = mode === 1 ? session.allocate('x', batch) : new ort.Tensor('float32', rowsOf(k, batch), [batch, width]);
    if (mode === 1) (x.data as Float32Array).set(rowsOf(k, batch));
    const options = mode === 2 ? { outputs: { y: session.allocateOutput('y', batch) } } : mode === 3 && k % 8 === 3 ? { timeoutMs: 1 } : {};
    pending.push(
      session.run({ x }, options).then(
        (out) => ({ k, batch, y: out['y']!.data as Float32Array }),
        (error: unknown) => {
          if (error instanceof TimeoutError) return 'timed out' as const;
          throw error;
        },
      ),
    );
    if (k % 16 === 0) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const results = await Promise.all(pending);
  collecting = false;
  let checked = 0;
  for (const result of results) {
    if (result === 'timed out') continue;
    const expected = await plain.run({ x: new ort.Tensor('float32', rowsOf(result.k, result.batch), [result.batch, width]) });
    const want = expected['y']!.data as Float32Array;
    if (want.length !== result.y.length || want.some((v, i) => v !== result.y[i])) throw new Error(`request ${result.k} (batch ${result.batch}): wrong rows`);
    checked++;
  }
  // Large requests run whole, one after another on one device: each gets the output the device made ahead while
  // the one before ran (1.1 MB: made ahead), and the caller drops it while the collector runs.
  const single = await ParallelSession.create(file, { devices: ['cpu'] });
  const large = 1100;
  let previous: { y: Float32Array; copy: Float32Array } | undefined;
  for (let k = 0; k < 12; k++) {
    const out = await single.run({ x: new ort.Tensor('float32', rowsOf(count + k, large), [large, width]) });
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const y = out['y']!.data as Float32Array;
    const want = (await plain.run({ x: new ort.Tensor('float32', rowsOf(count + k, large), [large, width]) }))['y']!.data as Float32Array;
    if (want.length !== y.length || want.some((v, i) => v !== y[i])) throw new Error(`large request ${k}: wrong rows`);
    // The answer before this one, kept by its caller, is untouched by this run.
    if (previous !== undefined && (previous.y.buffer === y.buffer || previous.y.some((v, i) => v !== previous!.copy[i]))) throw new Error(`large request ${k}: wrote into the answer before it`);
    previous = { y, copy: y.slice() };
    checked++;
  }
  await Promise.all([session.release(), single.release(), plain.release()]);
  return { requests: count + 12, timedOut: results.filter((r) => r === 'timed out').length, checked };
}

async function writeModel(file: string): Promise<void> {
  const random = new SeededRandom(5);
  const initializers = [0, 1, 2].map((i) => makeTensor(`w${i}`, DT.FLOAT, [width, width], random.floats(width * width, 1 / 16)));
  const nodes = [0, 1, 2].flatMap((i) => [makeNode('MatMul', [i === 0 ? 'x' : `a${i - 1}`, `w${i}`], [`m${i}`]), makeNode('Relu', [`m${i}`], [i === 2 ? 'y' : `a${i}`])]);
  const graph = makeGraph({ name: 'gc', inputs: [makeValueInfo('x', DT.FLOAT, ['batch', width])], outputs: [makeValueInfo('y', DT.FLOAT, ['batch', width])], initializers, nodes });
  await saveModel(makeModel(graph, { opset: 13 }), file);
}

if (process.env[childMode] !== undefined) {
  console.log(JSON.stringify(await stress(process.env[childMode])));
} else {
  test('hundreds of concurrent requests on two devices while the collector runs again and again: no crash, every row right', async () => {
    const file = path.join(tempDir(), 'gc.onnx');
    await writeModel(file);
    const env: NodeJS.ProcessEnv = { ...process.env, [childMode]: file };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { cwd: repoRoot, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(child.signal, null, `the child was killed by ${child.signal}\n${child.stderr}`);
    assert.equal(child.status, 0, `the child failed\n${child.stderr}`);
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { requests: number; timedOut: number; checked: number };
    assert.equal(report.checked + report.timedOut, report.requests);
    // One request in eight may time out (1 ms); every other one is answered and checked.
    assert.ok(report.checked >= report.requests - report.requests / 8, `${report.checked} of ${report.requests} answered and checked`);
  });
}
