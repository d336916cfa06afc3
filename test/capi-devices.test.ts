/**
 * Devices on onnxruntime's C API against onnxruntime-node's own session, bit for bit: every fixture and every
 * element type that onnxruntime-node tensors hold, on 1, 2 and 3 devices, in split and merged runs, with ordinary,
 * shared and in-place buffers, from a file and from bytes; and the C API layer's own parts (statuses, metadata).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { ModelProtoSchema, TensorProto_DataType as DT, type NodeProto } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { asOrtInputs } from '../src/tensors/ort-tensor.js';
import { OrtSession } from '../src/runtime/onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../src/runtime/onnxruntime/session-options.js';
import { onnxruntimeVersion } from '../src/runtime/onnxruntime/library.js';
import { OrtError } from '../src/runtime/onnxruntime/status.js';
import { ArgumentError } from '../src/errors.js';
import { onnxruntimeNodeVersion } from '../src/runtime/gpu/providers.js';
import { threadPoolShortage, threadPoolSize } from '../src/runtime/onnxruntime/thread-pool.js';
import { fixture, fixtureNames, repoRoot, tempDir } from './helpers.js';
import { assertIdentical, bytesOf, feedsFor, type Feeds } from './session-helpers.js';


const symbolic = fixtureNames().filter((n) => n !== 'batch_coupled' && !n.startsWith('fixed_batch'));

test('every fixture on 1, 2 and 3 devices, split and merged, gives onnxruntime-node\'s outputs bit for bit', async () => {
  for (const name of symbolic) {
    const plain = await ort.InferenceSession.create(fixture(name), { intraOpNumThreads: 1 });
    for (const count of [1, 2, 3]) {
      const session = await ParallelSession.create(fixture(name), { devices: Array.from({ length: count }, () => 'cpu'), minRowsPerDevice: 1 });
      try {
        const whole = await feedsFor(name, 7, 3);
        const before = session.stats().total.batches;
        assertIdentical(await session.run(whole), await plain.run(asOrtInputs(whole)), `${name} on ${count} devices, batch 7`);
        if (count > 1) assert.equal(session.stats().total.batches - before, count, `${name}: split over the ${count} devices`);
        const requests = await Promise.all([1, 2, 3, 4].map((seed) => feedsFor(name, 2, 10 + seed)));
        const results = await Promise.all(requests.map((feeds) => session.run(feeds)));
        for (const [k, feeds] of requests.entries()) assertIdentical(results[k]!, await plain.run(asOrtInputs(feeds)), `${name} on ${count} devices, concurrent request ${k}`);
      } finally {
        await session.release();
      }
    }
    await plain.release();
  }
});

/** A model that passes each element type through an operator of its own: every type crosses in and out. */
async function elementTypesModel(file: string): Promise<void> {
  const graph = makeGraph({
    name: 'types',
    inputs: [
      makeValueInfo('half', DT.FLOAT16, ['batch', 3]),
      makeValueInfo('long', DT.INT64, ['batch', 3]),
      makeValueInfo('flag', DT.BOOL, ['batch', 3]),
      makeValueInfo('byte', DT.UINT8, ['batch', 3]),
      makeValueInfo('text', DT.STRING, ['batch', 3]),
      makeValueInfo('double', DT.DOUBLE, ['batch', 3]),
    ],
    outputs: [
      makeValueInfo('half_out', DT.FLOAT16, ['batch', 3]),
      makeValueInfo('long_out', DT.INT64, ['batch', 3]),
      makeValueInfo('flag_out', DT.BOOL, ['batch', 3]),
      makeValueInfo('byte_out', DT.UINT8, ['batch', 3]),
      makeValueInfo('text_out', DT.STRING, ['batch', 3]),
      makeValueInfo('double_out', DT.DOUBLE, ['batch', 3]),
    ],
    initializers: [],
    nodes: [
      makeNode('Mul', ['half', 'half'], ['half_out']),
      makeNode('Mul', ['long', 'long'], ['long_out']),
      makeNode('Not', ['flag'], ['flag_out']),
      makeNode('BitShift', ['byte', 'byte'], ['byte_out'], { direction: 'RIGHT' }),
      makeNode('Identity', ['text'], ['text_out']),
      makeNode('Sqrt', ['double'], ['double_out']),
    ],
  });
  await saveModel(makeModel(graph, { opset: 13 }), file);
}

function typedFeeds(batch: number, seed: number): Feeds {
  const n = batch * 3;
  const at = (i: number): number => ((i + 1) * 2654435761 + seed * 97) % 1000;
  return {
    half: new ort.Tensor('float16', Uint16Array.from({ length: n }, (_, i) => 0x3c00 + (at(i) % 512)), [batch, 3]),
    long: new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(at(i)) * 3_000_000_007n), [batch, 3]),
    flag: new ort.Tensor('bool', Uint8Array.from({ length: n }, (_, i) => at(i) % 2), [batch, 3]),
    byte: new ort.Tensor('uint8', Uint8Array.from({ length: n }, (_, i) => at(i) % 256), [batch, 3]),
    text: new ort.Tensor('string', Array.from({ length: n }, (_, i) => (i % 5 === 0 ? '' : `row ${Math.floor(i / 3)} élément ${at(i)} ✓`)), [batch, 3]),
    double: new ort.Tensor('float64', Float64Array.from({ length: n }, (_, i) => at(i) / 7), [batch, 3]),
  };
}

test('float16, int64, bool, uint8, string and float64 inputs and outputs on 1, 2 and 3 devices, split and merged, ordinary, shared, transferred and in-place buffers, bit for bit', async () => {
  const folder = tempDir();
  const file = path.join(folder, 'types.onnx');
  await elementTypesModel(file);
  const plain = await ort.InferenceSession.create(file);
  for (const count of [1, 2, 3]) {
    const session = await ParallelSession.create(file, { devices: Array.from({ length: count }, () => 'cpu'), minRowsPerDevice: 1 });
    try {
      for (const batch of [0, 1, 5]) {
        const feeds = typedFeeds(batch, batch);
        assertIdentical(await session.run(feeds), await plain.run(asOrtInputs(feeds)), `${count} devices, batch ${batch}`);
      }
      const requests = [1, 2, 3].map((seed) => typedFeeds(2, seed));
      const results = await Promise.all(requests.map((feeds) => session.run(feeds)));
      for (const [k, feeds] of requests.entries()) assertIdentical(results[k]!, await plain.run(asOrtInputs(feeds)), `${count} devices, merged request ${k}`);
      // Shared inputs and outputs written in place, for every numeric type.
      const feeds = typedFeeds(4, 9);
      const shared: Feeds = { text: feeds['text']! };
      for (const name of ['half', 'long', 'flag', 'byte', 'double']) {
        const tensor = session.allocate(name, 4);
        bytesOf(tensor.data).set(bytesOf(feeds[name]!.data));
        shared[name] = tensor;
      }
      const outputs = Object.fromEntries(['half_out', 'long_out', 'flag_out', 'byte_out', 'double_out'].map((o) => [o, session.allocateOutput(o, 4)]));
      const result = await session.run(shared, { outputs });
      for (const o of Object.keys(outputs)) assert.equal(result[o], outputs[o], `${o} is the caller's tensor`);
      assertIdentical(result, await plain.run(asOrtInputs(feeds)), `${count} devices, shared inputs, outputs in place`);
      // Inputs on buffers transferred from elsewhere (as from a worker's postMessage): read where they now lie.
      const original = typedFeeds(5, 11);
      const expected = await plain.run(asOrtInputs(original));
      const moved: Feeds = {};
      for (const [name, tensor] of Object.entries(typedFeeds(5, 11))) {
        const data = tensor.data as ArrayBufferView | string[];
        moved[name] = Array.isArray(data) ? tensor : new ort.Tensor(tensor.type as 'float32', structuredClone(data, { transfer: [data.buffer as ArrayBuffer] }) as Float32Array, tensor.dims);
        if (!Array.isArray(data)) assert.equal(data.byteLength, 0, `${name}: the original buffer is detached`);
      }
      assertIdentical(await session.run(moved), expected, `${count} devices, transferred inputs`);
    } finally {
      await session.release();
    }
  }
  await plain.release();
});

test('a model given as bytes (weights passed to onnxruntime in memory) and a model with external data give onnxruntime-node\'s outputs bit for bit', async () => {
  for (const [name, model] of [['mlp', readFileSync(fixture('mlp'))], ['cnn', readFileSync(fixture('cnn'))], ['external_data', fixture('external_data')]] as const) {
    const plain = await ort.InferenceSession.create(fixture(name), { intraOpNumThreads: 1 });
    const session = await ParallelSession.create(model, { devices: ['cpu', 'cpu'], minRowsPerDevice: 1 });
    try {
      const feeds = await feedsFor(name, 6, 4);
      assertIdentical(await session.run(feeds), await plain.run(feeds), `${name} from ${typeof model === 'string' ? 'its file' : 'bytes'}`);
    } finally {
      await Promise.all([session.release(), plain.release()]);
    }
  }
});

test('the C API layer: the library\'s version, a session\'s inputs and outputs, onnxruntime\'s errors with their codes, bad session options named', async () => {
  assert.equal(onnxruntimeVersion(), onnxruntimeNodeVersion(), 'the library onnxruntime-node installs');
  const options = createSessionOptions({ graphOptimizationLevel: 'all', intraOpNumThreads: 1, executionMode: 'sequential', enableCpuMemArena: false, enableMemPattern: false, logSeverityLevel: 3, logId: 'test', freeDimensionOverrides: { batch: 2 }, extra: { session: { intra_op: { allow_spinning: '0' } } } });
  try {
    const session = await OrtSession.create({ path: fixture('cnn') }, options);
    assert.deepEqual(session.inputs, [{ name: 'image', type: 'float32', dims: [-1, 3, 16, 16] }], 'a dim not fixed is -1');
    assert.deepEqual(session.outputs.map((o) => [o.name, o.type]), [['probs', 'float32']]);
    await session.release();
    await assert.rejects(OrtSession.create({ path: path.join(tempDir(), 'missing.onnx') }, options), (e: unknown) => e instanceof OrtError && e.code === 'NO_SUCHFILE');
    await assert.rejects(OrtSession.create({ bytes: new Uint8Array([1, 2, 3]) }, options), (e: unknown) => e instanceof OrtError && e.code === 'INVALID_PROTOBUF');
  } finally {
    releaseSessionOptions(options);
  }
  assert.throws(() => createSessionOptions({ graphOptimizationLevel: 'most' as 'all' }), (e: unknown) => e instanceof ArgumentError && /options\.sessionOptions\.graphOptimizationLevel must be one of 'disabled', 'basic', 'extended', 'layout', 'all' \(got "most"\)/.test(e.message));
  assert.throws(() => createSessionOptions({ intraOpNumThreads: -1 }), (e: unknown) => e instanceof ArgumentError && /intraOpNumThreads must be a whole number/.test(e.message));
});

/** If nodes nested `depth` deep, the innermost doubling x: onnxruntime recurses once per level, on the calling thread's stack. */
function nestedIfModel(depth: number): Uint8Array {
  let node: NodeProto = makeNode('Add', ['x', 'x'], [`y${depth}`]);
  for (let d = depth - 1; d >= 0; d--) {
    const then = makeGraph({ name: `then${d}`, inputs: [], outputs: [makeValueInfo(`y${d + 1}`, DT.FLOAT, undefined)], nodes: [node] });
    const otherwise = makeGraph({ name: `else${d}`, inputs: [], outputs: [makeValueInfo(`z${d}`, DT.FLOAT, undefined)], nodes: [makeNode('Identity', ['x'], [`z${d}`])] });
    node = makeNode('If', ['c'], [`y${d}`], { then_branch: then, else_branch: otherwise });
  }
  const graph = makeGraph({ name: 'nested', inputs: [makeValueInfo('x', DT.FLOAT, [2]), makeValueInfo('c', DT.BOOL, [])], outputs: [makeValueInfo('y0', DT.FLOAT, undefined)], nodes: [node] });
  return toBinary(ModelProtoSchema, makeModel(graph, { opset: 13 }));
}

test('calls into onnxruntime run on a full-size stack: a session of If nodes nested 24 deep is made and run (koffi\'s default 128 KiB crashes the process)', () => {
  const file = path.join(tempDir(), 'nested.onnx');
  writeFileSync(file, nestedIfModel(24));
  const url = (p: string): string => JSON.stringify(pathToFileURL(path.join(repoRoot, 'dist/src/runtime/onnxruntime', p)).href);
  const script = `
    const { OrtSession } = await import(${url('session.js')});
    const { createSessionOptions } = await import(${url('session-options.js')});
    const { tensorValue, tensorShape, readTensor } = await import(${url('values.js')});
    const { RunOptions } = await import(${url('run-options.js')});
    const session = await OrtSession.create({ path: ${JSON.stringify(file)} }, createSessionOptions({}));
    const x = tensorValue('float32', [2], new Float32Array([1, 2]));
    const c = tensorValue('bool', [], new Uint8Array([1]));
    const outputs = new BigUint64Array(1);
    await session.run(['x', 'c'], BigUint64Array.of(BigInt(x.handle), BigInt(c.handle)), ['y0'], outputs, new RunOptions());
    const y = Number(outputs[0]);
    console.log(JSON.stringify(Array.from(readTensor(y, tensorShape(y)))));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(child.signal, null, `the child was killed by ${child.signal}`);
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), '[2,4]');
});

test('more devices than libuv\'s thread pool can run at once are warned about, with the UV_THREADPOOL_SIZE that fixes it', async () => {
  assert.equal(threadPoolSize({}), 4);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '16' }), 16);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'many' }), 4);
  assert.equal(threadPoolShortage(3, 4), undefined);
  assert.equal(threadPoolShortage(4, 4), undefined, 'one thread per device');
  assert.match(threadPoolShortage(5, 4)!, /5 devices run on libuv's thread pool of 4 threads.*UV_THREADPOOL_SIZE=5 \(or 7, for a process with file system or DNS work besides\)/);
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const devices = Array.from({ length: threadPoolSize() + 1 }, () => 'cpu');
    const session = await ParallelSession.create(fixture('mlp'), { devices });
    const feeds = await feedsFor('mlp', 12, 2);
    assertIdentical(await session.run(feeds), await (await ort.InferenceSession.create(fixture('mlp'), { intraOpNumThreads: 1 })).run(feeds), `${devices.length} devices`);
    await session.release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(warnings.some((w) => /ParallelSession: \d+ devices run on libuv's thread pool/.test(w.message)), warnings.map((w) => w.message).join('; '));
  } finally {
    process.off('warning', onWarning);
  }
});

test('strings holding NUL characters and any Unicode cross whole, in and out, on 1 and 2 devices', async () => {
  const folder = tempDir();
  const file = path.join(folder, 'types.onnx');
  await elementTypesModel(file);
  const texts = ['he\u0000llo', '\u0000\u0001\u0002\u0003', '', 'trailing\u0000', '\u0000', 'élément ✓ 𝄞', 'a'.repeat(5000), 'x\u0000y\u0000z'];
  for (const count of [1, 2]) {
    const session = await ParallelSession.create(file, { devices: Array.from({ length: count }, () => 'cpu'), minRowsPerDevice: 1 });
    try {
      const feeds = typedFeeds(8, 3);
      feeds['text'] = new ort.Tensor('string', Array.from({ length: 24 }, (_, i) => texts[i % texts.length]!), [8, 3]);
      const result = await session.run(feeds);
      assert.deepEqual(result['text_out']!.data, feeds['text'].data, `${count} devices: each string as it was sent`);
    } finally {
      await session.release();
    }
  }
});
