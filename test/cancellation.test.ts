/**
 * Real cancellation: a request aborted (or timed out) while its run is inside onnxruntime terminates that run, and
 * its device answers the next request long before the aborted run could have finished. A run that merged several
 * requests goes on while any of them still waits for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { TimeoutError } from '../src/runtime/session/scheduler.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { SeededRandom } from '../src/tensors/random.js';
import { tempDir } from './helpers.js';
import { assertSame } from './session-helpers.js';

const width = 512;
const layers = 16;

/** Sixteen MatMul layers: onnxruntime checks for termination between nodes, so a long run stops within one layer. */
async function deepModel(): Promise<string> {
  const file = path.join(tempDir(), 'deep.onnx');
  const random = new SeededRandom(8);
  const initializers = Array.from({ length: layers }, (_, i) => makeTensor(`w${i}`, DT.FLOAT, [width, width], random.floats(width * width, 1 / 16)));
  const nodes = Array.from({ length: layers }, (_, i) => makeNode('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], [i === layers - 1 ? 'y' : `h${i}`]));
  const graph = makeGraph({ name: 'deep', inputs: [makeValueInfo('x', DT.FLOAT, ['batch', width])], outputs: [makeValueInfo('y', DT.FLOAT, ['batch', width])], initializers, nodes });
  await saveModel(makeModel(graph, { opset: 13 }), file);
  return file;
}

const input = (batch: number, seed: number): ort.Tensor => new ort.Tensor('float32', new SeededRandom(seed).floats(batch * width), [batch, width]);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('an abort or a timeout inside onnxruntime terminates the run: the device answers the next request before the aborted run could have finished', async () => {
  const file = await deepModel();
  const session = await ParallelSession.create(file, { devices: ['cpu'] });
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const big = input(1024, 1);
    const small = input(1, 2);
    const expectedSmall = await plain.run({ x: small });
    await session.run({ x: small });
    let started = performance.now();
    await session.run({ x: big });
    const fullMs = performance.now() - started;
    for (const how of ['abort', 'timeout'] as const) {
      const controller = new AbortController();
      started = performance.now();
      const aborted = session.run({ x: big }, how === 'abort' ? { signal: controller.signal } : { timeoutMs: 30 });
      const outcome = aborted.then(() => 'finished', (e: unknown) => e);
      await sleep(30);
      if (how === 'abort') controller.abort(new Error('the caller gave up'));
      const next = await session.run({ x: small });
      const answeredMs = performance.now() - started;
      assertSame(next, expectedSmall, `${how}: the next request`);
      const error = await outcome;
      assert.ok(how === 'abort' ? /the caller gave up/.test(String(error)) : error instanceof TimeoutError, `${how}: the request is rejected (${String(error)})`);
      assert.ok(answeredMs < fullMs * 0.75, `${how}: the next request was answered ${answeredMs.toFixed(0)} ms after the aborted one started; a whole run takes ${fullMs.toFixed(0)} ms`);
    }
    // The device is whole afterwards: a full run still gives onnxruntime-node's answer.
    assertSame(await session.run({ x: input(64, 3) }), await plain.run({ x: input(64, 3) }), 'after termination');
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});

test('a merged run is terminated only when every request in it is cancelled', async () => {
  const file = await deepModel();
  const session = await ParallelSession.create(file, { devices: ['cpu'] });
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    // A first request keeps the device busy while two more queue up; those two then share one run.
    session.deviceOf(0).delayRuns(100);
    const first = session.run({ x: input(1, 4) });
    const [a, b] = [input(512, 5), input(512, 6)];
    const controllerA = new AbortController();
    const runA = session.run({ x: a }, { signal: controllerA.signal }).then(() => 'finished', (e: unknown) => e);
    const runB = session.run({ x: b });
    await first;
    session.deviceOf(0).delayRuns(0);
    await sleep(20);
    controllerA.abort(new Error('A gave up'));
    assert.match(String(await runA), /A gave up/);
    assertSame(await runB, await plain.run({ x: b }), 'the request that still waited gets its answer from the run they shared');
    assert.equal(session.stats().devices[0]!.batchSizes[1024], 1, 'A and B shared one run of 1024 rows');
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});

test('runs aborted back to back: the device never holds more than one terminated run beside its work, and never stays busy', async () => {
  const file = await deepModel();
  const session = await ParallelSession.create(file, { devices: ['cpu'] });
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const outcomes: Array<Promise<unknown>> = [];
    for (let k = 0; k < 3; k++) {
      const controller = new AbortController();
      outcomes.push(session.run({ x: input(1024, 20 + k) }, { signal: controller.signal }).then(() => 'finished', (e: unknown) => e));
      await sleep(20);
      controller.abort(new Error(`run ${k} given up`));
      assert.ok(session.deviceOf(0).queueDepth <= 2, `at most one terminated run beside the next: ${session.deviceOf(0).queueDepth} inside onnxruntime`);
    }
    for (const [k, outcome] of outcomes.entries()) assert.match(String(await outcome), new RegExp(`run ${k} given up`));
    const small = input(3, 30);
    assertSame(await session.run({ x: small }), await plain.run({ x: small }), 'the device still answers');
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});

test('a split request aborted inside onnxruntime: every device\'s run is terminated and its pieces still waiting are dropped', async () => {
  const file = await deepModel();
  const session = await ParallelSession.create(file, { devices: ['cpu', 'cpu'], maxBatchPerDevice: 256 });
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const small = input(2, 41);
    await session.run({ x: small });
    // The abort comes a third of the way into the first pieces, however fast this machine runs one.
    let started = performance.now();
    await session.run({ x: input(256, 39) });
    const pieceMs = performance.now() - started;
    const before = session.stats().total.batches;
    const controller = new AbortController();
    // 2048 rows in pieces of at most 256: four runs waiting for each device.
    started = performance.now();
    const aborted = session.run({ x: input(2048, 40) }, { signal: controller.signal }).then(() => 'finished', (e: unknown) => e);
    await sleep(Math.max(1, pieceMs / 3 - (performance.now() - started)));
    controller.abort(new Error('split request given up'));
    assert.match(String(await aborted), /split request given up/);
    assertSame(await session.run({ x: small }), await plain.run({ x: small }), 'the next request');
    await sleep(50);
    const ran = session.stats().total.batches - before;
    assert.ok(ran <= 3, `${ran} runs counted: the pieces that waited were dropped (8 pieces, of which at most 2 ran before the abort, and the next request's)`);
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});
