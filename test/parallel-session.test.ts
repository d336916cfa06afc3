import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ArgumentError } from '../src/errors.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { missingCudaProvider } from '../src/runtime/gpu/providers.js';
import { loadModel } from '../src/io/files.js';
import { encodeModel } from '../src/io/codec.js';
import { parallelize } from '../src/transform/parallelize.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { SeededRandom } from '../src/tensors/random.js';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyFileSync, writeFileSync } from 'node:fs';
import { createSession } from '../src/runtime/session/session-source.js';
import { fixture, fixtureNames, fixturesDir, repoRoot, tempDir } from './helpers.js';
import { assertSame, feedsFor, type Feeds } from './session-helpers.js';

async function plainRun(name: string, feeds: Feeds): Promise<Feeds> {
  const session = await ort.InferenceSession.create(fixture(name));
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const symbolic = fixtureNames().filter((n) => n !== 'batch_coupled' && !n.startsWith('fixed_batch'));

test('equal to a plain session for every fixture, at batches below, at and above N, balanced and weighted', async () => {
  for (const name of symbolic) {
    for (const [devices, weights] of [[['cpu', 'cpu'], undefined], [['cpu', 'cpu', 'cpu'], [3, 1, 2]]] as const) {
      const session = await ParallelSession.create(fixture(name), { devices: [...devices], ...(weights === undefined ? {} : { weights: [...weights] }) });
      try {
        for (const batch of [1, 2, 3, 7]) {
          const feeds = await feedsFor(name, batch);
          assertSame(await session.run(feeds), await plainRun(name, feeds), `${name} on ${devices.length} devices, batch ${batch}`);
        }
      } finally {
        await session.release();
      }
    }
  }
});

test('fixed-batch models: every device runs exactly the exported batch, any multiple of it is accepted', async () => {
  for (const [name, b] of [['fixed_batch1', 1], ['fixed_batch2', 2]] as const) {
    const session = await ParallelSession.create(fixture(name), { devices: ['cpu', 'cpu'] });
    try {
      for (const k of [2, 3, 5]) {
        const random = new SeededRandom(k);
        const x = new ort.Tensor('float32', random.floats(k * b * 24), [k * b, 4, 6]);
        const out = await session.run({ x });
        const expected: number[] = [];
        for (let i = 0; i < k; i++) {
          const part = new ort.Tensor('float32', (x.data as Float32Array).slice(i * b * 24, (i + 1) * b * 24), [b, 4, 6]);
          expected.push(...((await plainRun(name, { x: part }))['y']!.data as Float32Array));
        }
        assert.deepEqual(out['y']!.dims, [k * b, 5]);
        assert.deepEqual(Array.from(out['y']!.data as Float32Array), expected, `${name} batch ${k * b}`);
      }
      if (b === 2) await assert.rejects(session.run({ x: new ort.Tensor('float32', new Float32Array(3 * 24), [3, 4, 6]) }), (e: unknown) => e instanceof TypeError && /multiple of 2/.test(e.message));
    } finally {
      await session.release();
    }
  }
});

test('a rewritten model runs on the devices its tags name; tags can be overridden', async () => {
  const { model } = parallelize(await loadModel(fixture('cnn')), { devices: ['cpu', 'cpu', 'cpu'] });
  const session = await ParallelSession.create(encodeModel(model));
  assert.deepEqual(session.devices, ['cpu', 'cpu', 'cpu']);
  const feeds = await feedsFor('cnn', 5);
  assertSame(await session.run(feeds), await plainRun('cnn', feeds), 'tagged cnn');
  await session.release();
  const gpuTagged = parallelize(await loadModel(fixture('cnn')), { devices: ['cuda:0', 'cuda:1'] }).model;
  const overridden = await ParallelSession.create(encodeModel(gpuTagged), { devices: ['cpu', 'cpu'] });
  assertSame(await overridden.run(feeds), await plainRun('cnn', feeds), 'cuda-tagged cnn on cpu');
  await overridden.release();
});

test('external data is read by every device session', async () => {
  const session = await ParallelSession.create(fixture('external_data'), { devices: ['cpu', 'cpu'] });
  const feeds = await feedsFor('mlp', 5);
  assertSame(await session.run(feeds), await plainRun('external_data', feeds), 'external data');
  await session.release();
});

/** x -> (y = Relu(x), runs = ReduceSum(x)): with --combine runs=stack, one entry per (micro-)batch that ran. */
function countingModel(): Uint8Array {
  return encodeModel(
    makeModel(
      makeGraph({
        name: 'counting',
        inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 2])],
        outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 2]), makeValueInfo('rows', DT.FLOAT, [])],
        nodes: [makeNode('Relu', ['x'], ['y']), makeNode('ReduceSum', ['x'], ['rows'], { keepdims: 0 })],
      }),
      { opset: 13 },
    ),
  );
}

test('a request too small to split runs whole on one device; a large one is split over all', async () => {
  const session = await ParallelSession.create(countingModel(), { devices: ['cpu', 'cpu', 'cpu'], combine: { rows: 'stack' }, minRowsPerDevice: 2 });
  const small = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 1, 1, 1), [2, 2]) });
  assert.deepEqual(Array.from(small['rows']!.data as Float32Array), [4], 'one device ran both rows (their sum)');
  assert.deepEqual(Array.from(small['y']!.data as Float32Array), [1, 1, 1, 1]);
  const large = await session.run({ x: new ort.Tensor('float32', new Float32Array(14).fill(1), [7, 2]) });
  assert.deepEqual(Array.from(large['rows']!.data as Float32Array), [6, 4, 4], 'split 3, 2, 2 rows over the three devices');
  assert.deepEqual(large['y']!.dims, [7, 2]);
  await session.release();
});

test('maxBatchPerDevice runs each share in micro-batches, with the same results', async () => {
  const session = await ParallelSession.create(countingModel(), { devices: ['cpu', 'cpu'], combine: { rows: 'stack' }, maxBatchPerDevice: 2 });
  const x = new ort.Tensor('float32', Float32Array.from({ length: 18 }, () => 1), [9, 2]);
  const out = await session.run({ x });
  // shares 5 and 4, in micro-batches of 2: 2+2+1 and 2+2
  assert.deepEqual(Array.from(out['rows']!.data as Float32Array), [4, 4, 2, 4, 4]);
  assert.deepEqual(out['y']!.dims, [9, 2]);
  await session.release();
  const mlp = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'], maxBatchPerDevice: 3 });
  const feeds = await feedsFor('mlp', 13);
  assertSame(await mlp.run(feeds), await plainRun('mlp', feeds), 'micro-batched mlp');
  await mlp.release();
});

test('concurrent runs are pipelined and each gets its own results', async () => {
  const session = await ParallelSession.create(fixture('cnn'), { devices: ['cpu', 'cpu'] });
  const all = await Promise.all(Array.from({ length: 8 }, async (_, k) => feedsFor('cnn', 1 + k, 100 + k)));
  const results = await Promise.all(all.map((feeds) => session.run(feeds)));
  for (const [k, feeds] of all.entries()) assertSame(results[k]!, await plainRun('cnn', feeds), `run ${k}`);
  await session.release();
});

test('wrong feeds give a TypeError naming the input before any work starts', async () => {
  const session = await ParallelSession.create(fixture('two_in_two_out'), { devices: ['cpu', 'cpu'] });
  const good = await feedsFor('two_in_two_out', 4);
  const cases: Array<[Feeds, RegExp]> = [
    [{ features: good['features']! }, /input 'mask' is missing/],
    [{ ...good, extra: good['mask']! }, /'extra' is not an input/],
    [{ ...good, mask: new ort.Tensor('int32', new Int32Array(16), [4, 4]) }, /input 'mask' must be float32, got int32/],
    [{ ...good, mask: new ort.Tensor('float32', new Float32Array(16), [16]) }, /input 'mask' must have rank 2/],
    [{ ...good, mask: new ort.Tensor('float32', new Float32Array(20), [4, 5]) }, /input 'mask' dim 1 must be 4, got 5/],
    [{ ...good, mask: new ort.Tensor('float32', new Float32Array(12), [3, 4]) }, /input 'mask' has batch 3 .* 'features' has 4/],
    // Objects that only look like tensors: more values than their dims hold, or dims that are not whole numbers.
    [{ ...good, mask: { type: 'float32', dims: [4, 4], data: new Float32Array(32) } as unknown as ort.Tensor }, /input 'mask' has 32 values, but its dims \[4, 4\] hold 16/],
    [{ ...good, mask: { type: 'float32', dims: [4, 4.5], data: new Float32Array(18) } as unknown as ort.Tensor }, /input 'mask' dim 1 must be a whole number >= 0, got 4.5/],
  ];
  for (const [feeds, pattern] of cases) await assert.rejects(session.run(feeds), (e: unknown) => e instanceof ArgumentError && e instanceof TypeError && pattern.test(e.message), String(pattern));
  assertSame(await session.run(good), await plainRun('two_in_two_out', good), 'still works after bad feeds');
  await session.release();
});

test('a device that dies leaves the others running; with none left, runs fail at once naming the device', async () => {
  const session = await ParallelSession.create(fixture('cnn'), { devices: ['cpu', 'cpu'] });
  const feeds = await feedsFor('cnn', 40);
  assertSame(await session.run(feeds), await plainRun('cnn', feeds), 'before');
  const died = async (replica: number): Promise<void> => {
    session.deviceOf(replica).kill();
    while (session.deviceOf(replica).alive) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await died(1);
  const after = await feedsFor('cnn', 40, 9);
  assertSame(await session.run(after), await plainRun('cnn', after), 'on the device left');
  assert.equal(session.stats().devices[1]!.requests, 1, 'the dead device took nothing more');
  await died(0);
  const started = Date.now();
  await assert.rejects(session.run(await feedsFor('cnn', 4)), /no device can run any more \(device cpu \(replica 0\) stopped \(killed\)\)/);
  assert.ok(Date.now() - started < 1000, 'fails at once');
  await session.release();
});

test('release() with runs pending rejects them and releases every session once its runs are over', async () => {
  const session = await ParallelSession.create(fixture('cnn'), { devices: ['cpu', 'cpu'] });
  const runs = await Promise.all([1, 2, 3].map((k) => feedsFor('cnn', 200, k)));
  const pending = runs.map((feeds) => session.run(feeds).then(() => 'resolved', (e: unknown) => e));
  await session.release();
  for (const outcome of await Promise.all(pending)) assert.match(String(outcome), /released/);
  for (const i of [0, 1]) assert.equal(session.deviceOf(i).queueDepth, 0, `device ${i}: nothing left inside onnxruntime`);
  await assert.rejects(session.run(runs[0]!), /released/);
});

test('start-up failures of several devices are reported together; a missing CUDA provider names its library and the fix', async () => {
  const missing = missingCudaProvider();
  if (missing === undefined) {
    // A machine with the CUDA provider installed: the same call must then start (or fail for another reason).
    const session = await ParallelSession.create(fixture('mlp'), { devices: ['cuda:0'] }).catch((e: unknown) => e);
    if (session instanceof ParallelSession) await session.release();
    return;
  }
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cuda:0', 'cuda:1'] }), (e: unknown) => {
    const message = (e as Error).message;
    assert.match(message, /2 of 2 devices failed to start/);
    assert.match(message, /device cuda:0 \(replica 0\)/);
    assert.match(message, /device cuda:1 \(replica 1\)/);
    assert.match(message, /libonnxruntime_providers_cuda\.so/);
    assert.match(message, /--onnxruntime-node-install=cuda12/);
    return true;
  });
});

test('argument errors quote the parameter', async () => {
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['gpu'] }), /options\.devices: 'gpu' is not a device/);
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cpu'], maxBatchPerDevice: 0 }), /options\.maxBatchPerDevice/);
  await assert.rejects(ParallelSession.create(42 as unknown as string), /model: expected a file path or the bytes/);
});

test('string and int64 tensors reach onnxruntime and come back', async () => {
  const model = makeModel(
    makeGraph({
      name: 'strings',
      inputs: [makeValueInfo('words', DT.STRING, ['batch', 2]), makeValueInfo('ids', DT.INT64, ['batch'])],
      outputs: [makeValueInfo('same', DT.STRING, ['batch', 2]), makeValueInfo('twice', DT.INT64, ['batch'])],
      nodes: [makeNode('Identity', ['words'], ['same']), makeNode('Add', ['ids', 'ids'], ['twice'])],
    }),
    { opset: 13 },
  );
  const session = await ParallelSession.create(encodeModel(model), { devices: ['cpu', 'cpu'] });
  const out = await session.run({ words: new ort.Tensor('string', ['a', 'b', 'c', 'd', 'e', 'f'], [3, 2]), ids: new ort.Tensor('int64', BigInt64Array.of(1n, 2n, 3n), [3]) });
  assert.deepEqual(out['same']!.data, ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.deepEqual(Array.from(out['twice']!.data as BigInt64Array), [2n, 4n, 6n]);
  await session.release();
});

test('an idle session does not keep the process alive: a script that never calls release() still exits', () => {
  const script = `
    import { ParallelSession } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'dist/src/runtime/session/parallel-session.js')).href)};
    import * as ort from 'onnxruntime-node';
    const session = await ParallelSession.create(${JSON.stringify(fixture('mlp'))}, { devices: ['cpu', 'cpu'] });
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(5 * 16), [5, 16]) });
    console.log(out.y.dims.join('x'));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.signal, null, 'exited by itself');
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), '5x8');
});

test('a read-only model folder works as any other: nothing is written beside the model', async () => {
  const folder = tempDir();
  for (const file of ['external_data.onnx', 'external_data.weights']) copyFileSync(path.join(fixturesDir, file), path.join(folder, file));
  const model = path.join(folder, 'external_data.onnx');
  const feeds = await feedsFor('mlp', 5);
  const expected = await plainRun('external_data', feeds);
  // chattr +i makes the folder read-only even for root (CI runs as root); where it is not supported, the
  // sessions are still checked.
  const locked = spawnSync('chattr', ['+i', folder]).status === 0;
  try {
    if (locked) assert.throws(() => writeFileSync(path.join(folder, 'probe'), ''), 'the folder is read-only');
    const session = await ParallelSession.create(model, { devices: ['cpu', 'cpu'] });
    assertSame(await session.run(feeds), expected, 'ParallelSession');
    await session.release();
    // A rewritten model's sessions get the side file's weights from memory.
    const rewritten = parallelize(await loadModel(model), { devices: ['cpu', 'cpu'] }).model;
    const plain = await createSession(rewritten);
    assertSame(await plain.run(feeds), expected, 'rewritten model');
    await plain.release();
  } finally {
    if (locked) spawnSync('chattr', ['-i', folder]);
  }
});

test("the caller's buffers are never detached, Node Buffers included", async () => {
  const model = makeModel(
    makeGraph({ name: 'bytes', inputs: [makeValueInfo('x', DT.UINT8, ['b', 4])], outputs: [makeValueInfo('y', DT.UINT8, ['b', 4])], nodes: [makeNode('Identity', ['x'], ['y'])] }),
    { opset: 13 },
  );
  const session = await ParallelSession.create(encodeModel(model), { devices: ['cpu', 'cpu'] });
  const data = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const floats = new Float32Array(12).fill(1);
  for (let round = 0; round < 3; round++) {
    const out = await session.run({ x: new ort.Tensor('uint8', data, [3, 4]) });
    assert.deepEqual(Array.from(out['y']!.data as Uint8Array), Array.from(data));
  }
  assert.equal(data.length, 12);
  assert.deepEqual(Array.from(data), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  await session.release();
  const mlp = await ParallelSession.create(fixture('two_in_two_out'), { devices: ['cpu', 'cpu'] });
  const features = new Float32Array(3 * 8).fill(0.5);
  await mlp.run({ features: new ort.Tensor('float32', features, [3, 8]), mask: new ort.Tensor('float32', floats, [3, 4]) });
  assert.equal(features.length, 24, 'batched input intact');
  assert.equal(floats.length, 12, 'second input intact');
  await mlp.release();
});

