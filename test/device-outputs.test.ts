/**
 * Outputs kept in the device's memory (`preferredOutputLocation: 'gpu-buffer'`, bound with IoBinding) and fed on to
 * the next session without a copy into JavaScript memory, here on CPU devices (onnxruntime's memory): the same
 * bytes as a plain session, the request run whole on one device, values held by the runs that read them, given
 * back when disposed or collected, and clear errors for what cannot be.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { makeGraph, makeModel, makeNode, makeValueInfo, makeTensor } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { ArgumentError } from '../src/errors.js';
import { keptValueCount } from '../src/runtime/memory/device-values.js';
import { fixture, tempDir } from './helpers.js';
import { assertIdentical, bytesOf, feedsFor, type Feeds } from './session-helpers.js';

/** x -> Relu -> h (float32) and h * 2 -> twice (float64): one output a device tensor can hold and one it cannot. */
async function stageModel(file: string): Promise<void> {
  const graph = makeGraph({
    name: 'stage',
    inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 4])],
    outputs: [makeValueInfo('h', DT.FLOAT, ['batch', 4]), makeValueInfo('wide', DT.DOUBLE, ['batch', 4])],
    initializers: [makeTensor('two', DT.FLOAT, [], Float32Array.of(2))],
    nodes: [makeNode('Relu', ['x'], ['h']), makeNode('Mul', ['h', 'two'], ['twice']), makeNode('Cast', ['twice'], ['wide'], { to: DT.DOUBLE })],
  });
  await saveModel(makeModel(graph, { opset: 13 }), file);
}

/** h -> h * 3 + 1 -> y: the next stage of a pipeline. */
async function nextModel(file: string): Promise<void> {
  const graph = makeGraph({
    name: 'next',
    inputs: [makeValueInfo('h', DT.FLOAT, ['batch', 4])],
    outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 4])],
    initializers: [makeTensor('three', DT.FLOAT, [], Float32Array.of(3)), makeTensor('one', DT.FLOAT, [], Float32Array.of(1))],
    nodes: [makeNode('Mul', ['h', 'three'], ['scaled']), makeNode('Add', ['scaled', 'one'], ['y'])],
  });
  await saveModel(makeModel(graph, { opset: 13 }), file);
}

const rows = (batch: number, seed: number): ort.Tensor => new ort.Tensor('float32', Float32Array.from({ length: batch * 4 }, (_, i) => Math.sin(seed * 31 + i) * 3), [batch, 4]);

test("outputs kept in device memory: 'gpu-buffer' tensors with the plain session's bytes, each request run whole on one device", async () => {
  const plain = await ort.InferenceSession.create(fixture('mlp'), { intraOpNumThreads: 1 });
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'], minRowsPerDevice: 1, sessionOptions: { preferredOutputLocation: 'gpu-buffer' } });
  try {
    const feeds = await feedsFor('mlp', 16, 5);
    const before = session.stats().total.batches;
    const kept = await session.run(feeds);
    assert.equal(session.stats().total.batches - before, 1, 'not split over the two devices');
    const expected = await plain.run(feeds);
    for (const [name, tensor] of Object.entries(kept)) {
      assert.equal(tensor.location, 'gpu-buffer', `${name}: left in the device's memory`);
      assert.throws(() => tensor.data, /not on CPU|data is not/i, `${name}: no JavaScript data until downloaded`);
    }
    const downloaded: Feeds = {};
    for (const [name, tensor] of Object.entries(kept)) {
      const data = await tensor.getData(true);
      downloaded[name] = new ort.Tensor(tensor.type as 'float32', data as Float32Array, tensor.dims);
    }
    assertIdentical(downloaded, expected, 'mlp kept on cpu,cpu');
    // Concurrent requests are not merged either: each comes back whole and right.
    const requests = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => feedsFor('mlp', 3, seed)));
    const runsBefore = session.stats().total.batches;
    const results = await Promise.all(requests.map((r) => session.run(r)));
    assert.equal(session.stats().total.batches - runsBefore, requests.length, 'one run per request');
    for (const [k, result] of results.entries()) {
      const got: Feeds = {};
      for (const [name, tensor] of Object.entries(result)) got[name] = new ort.Tensor(tensor.type as 'float32', (await tensor.getData(true)) as Float32Array, tensor.dims);
      assertIdentical(got, await plain.run(requests[k]!), `request ${k}`);
    }
  } finally {
    await session.release();
    await plain.release();
  }
});

test('a kept output feeds the next session as it is, also while its tensor is disposed, and not after', async () => {
  const dir = tempDir();
  await stageModel(path.join(dir, 'stage.onnx'));
  await nextModel(path.join(dir, 'next.onnx'));
  const first = await ParallelSession.create(path.join(dir, 'stage.onnx'), { devices: ['cpu'], sessionOptions: { preferredOutputLocation: { h: 'gpu-buffer' } } });
  const second = await ParallelSession.create(path.join(dir, 'next.onnx'), { devices: ['cpu', 'cpu'], minRowsPerDevice: 1 });
  try {
    const chains = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(async (seed) => {
      const x = rows(5, seed);
      const { h, wide } = await first.run({ x });
      assert.equal(h!.location, 'gpu-buffer');
      assert.equal(wide!.location, 'cpu', "the output not named stays on the CPU");
      const pending = second.run({ h: h! });
      h!.dispose(); // the run holds the value until onnxruntime is done with it
      const { y } = await pending;
      const expected = Float32Array.from(x.data as Float32Array, (v) => Math.fround(Math.fround(Math.max(v, 0) * 3) + 1));
      assert.ok(bytesOf(y!.data).equals(bytesOf(expected)), `chain ${seed}: y = relu(x) * 3 + 1`);
      assert.deepEqual([...(wide!.data as Float64Array)], Array.from(x.data as Float32Array, (v) => Math.fround(Math.max(v, 0) * 2)));
      return h!;
    }));
    await assert.rejects(second.run({ h: chains[0]! }), (error: unknown) => error instanceof ArgumentError && /input 'h' is a disposed tensor/.test(error.message));
    const foreign = ort.Tensor.fromGpuBuffer({ size: 80, mapState: 'unmapped' } as unknown as ort.Tensor.GpuBufferType, { dataType: 'float32', dims: [5, 4] });
    await assert.rejects(second.run({ h: foreign }), (error: unknown) => error instanceof ArgumentError && /'gpu-buffer' tensor that no ParallelSession made/.test(error.message));
  } finally {
    await first.release();
    await second.release();
  }
});

test('kept outputs dropped without dispose are given back by the garbage collector, while runs still read others', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const dir = tempDir();
  await stageModel(path.join(dir, 'stage.onnx'));
  await nextModel(path.join(dir, 'next.onnx'));
  const first = await ParallelSession.create(path.join(dir, 'stage.onnx'), { devices: ['cpu', 'cpu'], sessionOptions: { preferredOutputLocation: { h: 'gpu-buffer' } } });
  const second = await ParallelSession.create(path.join(dir, 'next.onnx'), { devices: ['cpu'] });
  try {
    // In a function of its own, so that no frame of this test keeps the last output reachable.
    const rounds = async (): Promise<void> => {
    for (let round = 0; round < 20; round++) {
      const x = rows(64, round);
      const pending: Array<Promise<Feeds>> = [];
      for (let k = 0; k < 10; k++) {
        const { h } = await first.run({ x });
        if (k % 2 === 0) pending.push(second.run({ h: h! })); // the others are dropped
        gc();
      }
      const expected = Float32Array.from(x.data as Float32Array, (v) => Math.fround(Math.fround(Math.max(v, 0) * 3) + 1));
      for (const { y } of await Promise.all(pending)) assert.ok(bytesOf(y!.data).equals(bytesOf(expected)), `round ${round}`);
    }
    };
    const before = keptValueCount();
    await rounds();
    // Every kept output is unreachable now: the collector's finalizers give them all back.
    for (let tries = 0; tries < 50 && keptValueCount() > before; tries++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(keptValueCount(), before, 'values of collected tensors given back');
  } finally {
    await first.release();
    await second.release();
  }
});

test('what cannot stay in device memory is refused before any device starts, naming the output and the fix', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'stage.onnx');
  await stageModel(file);
  const refused = async (sessionOptions: ort.InferenceSession.SessionOptions, pattern: RegExp): Promise<void> => {
    await assert.rejects(ParallelSession.create(file, { devices: ['cpu'], sessionOptions }), (error: unknown) => error instanceof ArgumentError && pattern.test(error.message));
  };
  await refused({ preferredOutputLocation: 'gpu-buffer' }, /preferredOutputLocation: output 'wide' is float64, which onnxruntime-node's tensors cannot hold in device memory .*\{ 'wide': 'cpu' \}/);
  await refused({ preferredOutputLocation: { nope: 'gpu-buffer' } }, /preferredOutputLocation: 'nope' is not an output of the model \(outputs: h, wide\)/);
  await refused({ preferredOutputLocation: 'texture' }, /preferredOutputLocation must be 'cpu' or 'gpu-buffer' \(got "texture"\)/);
  await refused({ preferredOutputLocation: { h: 'cpu-pinned' } }, /preferredOutputLocation\['h'\]: 'cpu-pinned' is not a place .*allocateOutput/);
  const session = await ParallelSession.create(file, { devices: ['cpu'], maxBatchPerDevice: 4, sessionOptions: { preferredOutputLocation: { h: 'gpu-buffer' } } });
  try {
    await assert.rejects(session.run({ x: rows(6, 1) }), (error: unknown) => error instanceof ArgumentError && /a batch of 6 rows, but a run that keeps outputs in device memory runs whole on one device, which takes at most 4/.test(error.message));
    await assert.rejects(session.run({ x: rows(2, 1) }, { outputs: { h: session.allocateOutput('h', 2) } }), (error: unknown) => error instanceof ArgumentError && /options.outputs\['h'\]: the output stays in device memory/.test(error.message));
    // CPU devices allocate on shared memory, as before: page-locked memory is for sessions on GPUs.
    const input = session.allocate('x', 3);
    assert.equal(input.location, 'cpu');
    assert.ok((input.data as Float32Array).buffer instanceof SharedArrayBuffer);
  } finally {
    await session.release();
  }
});
