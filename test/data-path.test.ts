/**
 * The data path of ParallelSession: ordinary and shared (allocate) inputs, read by onnxruntime where they lie, on
 * one device and two, with batching on and off, batch axis 0 and 1, float16, outputs written into the result or the
 * caller's tensors, and outputs fed on into another session. Every path returns what a plain session returns, and
 * a caller's arrays are left as they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { ArgumentError } from '../src/errors.js';
import { gatheredInput, pieceInput, rowsView } from '../src/runtime/data/run-data.js';
import { GatherBuffers } from '../src/runtime/data/gather-buffers.js';
import { SPARE_MIN_BYTES, SpareOutputs } from '../src/runtime/data/spare-outputs.js';
import { asOrtInputs } from '../src/tensors/ort-tensor.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { SeededRandom } from '../src/tensors/random.js';
import { fixture, tempDir } from './helpers.js';
import { assertIdentical, assertSame, feedsFor, type Feeds } from './session-helpers.js';

type Mode = 'ordinary' | 'shared';

const bytesOf = (tensor: ort.Tensor): Uint8Array => {
  const data = tensor.data as ArrayBufferView;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
};

/** A deep copy of feeds, each on an ArrayBuffer of its own. */
const copyFeeds = (feeds: Feeds): Feeds =>
  Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.type as 'float32', (t.data as Float32Array).slice(), t.dims)]));

/** The same feeds on shared memory from `session.allocate`. */
function sharedFeeds(session: ParallelSession, feeds: Feeds): Feeds {
  return Object.fromEntries(
    Object.entries(feeds).map(([name, t]) => {
      const shared = session.allocate(name, t.dims);
      assert.ok((shared.data as ArrayBufferView).buffer instanceof SharedArrayBuffer, `${name} is on a SharedArrayBuffer`);
      assert.deepEqual(shared.dims, t.dims);
      assert.equal(shared.type, t.type);
      bytesOf(shared).set(bytesOf(t));
      return [name, shared];
    }),
  );
}

test('every input path returns what a plain session returns: 1 and 2 devices, batching on and off, axis 0 and 1, float16', async () => {
  const batches = [1, 5, 19];
  for (const name of ['mlp', 'gru_with_state', 'recurrent_state', 'fp16_weights']) {
    const plain = await ort.InferenceSession.create(fixture(name));
    const inputs = await Promise.all(batches.map((batch, k) => feedsFor(name, batch, 40 + k)));
    const expected: Feeds[] = [];
    for (const feeds of inputs) expected.push(await plain.run(asOrtInputs(feeds)));
    await plain.release();
    for (const devices of [['cpu'], ['cpu', 'cpu']]) {
      for (const batching of [undefined, false as const]) {
        const session = await ParallelSession.create(fixture(name), { devices, minRowsPerDevice: 2, ...(batching === false ? { batching } : {}) });
        try {
          for (const mode of ['ordinary', 'shared'] as Mode[]) {
            const label = `${name} on ${devices.join(',')} batching ${batching === false ? 'off' : 'on'}, ${mode} inputs`;
            const given = inputs.map((feeds) => (mode === 'shared' ? sharedFeeds(session, feeds) : copyFeeds(feeds)));
            const before = given.map((feeds) => Object.values(feeds).map((t) => bytesOf(t).slice()));
            // Concurrently, so that batching merges them where it is on.
            const results = await Promise.all(given.map((feeds) => session.run(feeds)));
            results.forEach((result, k) => assertSame(result, expected[k]!, `${label}, batch ${batches[k]}`));
            given.forEach((feeds, k) =>
              Object.values(feeds).forEach((t, j) => {
                assert.notEqual((t.data as ArrayBufferView).byteLength, 0, `${label}: the caller's array is not detached`);
                assert.deepEqual(bytesOf(t), before[k]![j], `${label}: the caller's array is unchanged`);
              }),
            );
          }
        } finally {
          await session.release();
        }
      }
    }
  }
});

test('a split result is one buffer that each device wrote its rows into; a view of a larger buffer is read where it lies', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'], minRowsPerDevice: 1 });
  const plain = await ort.InferenceSession.create(fixture('mlp'));
  try {
    const feeds = await feedsFor('mlp', 9, 3);
    const result = await session.run(feeds);
    assert.equal(session.stats().total.batches, 2, 'split over both devices');
    assertSame(result, await plain.run(feeds), 'split');
    const y = result['y']!.data as Float32Array;
    assert.equal(y.buffer.byteLength, 9 * 8 * 4, 'the result is one buffer of exactly its rows (made before the runs, not joined after)');
    const larger = new Float32Array(10 * 16);
    larger.set(feeds['x']!.data as Float32Array, 16);
    const view = new ort.Tensor('float32', larger.subarray(16), [9, 16]);
    assertSame(await session.run({ x: view }), result, 'a view of a larger buffer');
    assert.equal(larger.byteLength, 10 * 16 * 4, 'the caller\'s buffer is left whole');
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});

test('outputs of a split run feed on into another session: recurrent state joined on axis 1', async () => {
  const session = await ParallelSession.create(fixture('recurrent_state'), { devices: ['cpu', 'cpu'], minRowsPerDevice: 1 });
  const plain = await ort.InferenceSession.create(fixture('recurrent_state'));
  try {
    const first = await feedsFor('recurrent_state', 9, 11);
    const step = await session.run(first);
    const plainStep = await plain.run(first);
    assertSame(step, plainStep, 'first step');
    assert.equal(session.stats().total.batches, 2, 'the first step ran split over both devices');
    const next = { x: first['x']!, state: step['new_state']! };
    assertSame(await plain.run(next), await plain.run({ x: first['x']!, state: plainStep['new_state']! }), 'the joined state fed to a plain session');
    assertSame(await session.run(next), await plain.run(next), 'and to ParallelSession again');
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});

test('ordinary and shared inputs reach onnxruntime without a copy: a run sees what is written into them before it starts', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'], minRowsPerDevice: 1 });
  const plain = await ort.InferenceSession.create(fixture('mlp'));
  try {
    for (const shared of [true, false]) {
      const x = shared ? session.allocate('x', 8) : new ort.Tensor('float32', new Float32Array(8 * 16), [8, 16]);
      const data = x.data as Float32Array;
      data.fill(0.5);
      const changed = await plain.run({ x: new ort.Tensor('float32', new Float32Array(8 * 16).fill(-2), [8, 16]) });
      // Each device's run waits before it starts; the rows are changed meanwhile. Read in place, the run sees the
      // change; copied, it would not.
      session.deviceOf(0).delayRuns(400);
      session.deviceOf(1).delayRuns(400);
      const pending = session.run({ x });
      await new Promise((resolve) => setTimeout(resolve, 150));
      data.fill(-2);
      assertSame(await pending, changed, `${shared ? 'shared' : 'ordinary'} input read in place`);
    }
  } finally {
    await Promise.all([session.release(), plain.release()]);
  }
});

test('a run\'s rows of an input are a view where they are one block (axis 0, or nothing before the axis), else copied once', () => {
  const data = new Float32Array(new SharedArrayBuffer(2 * 6 * 3 * 4)).map((_, i) => i);
  const rows = pieceInput(new ort.Tensor('float32', data.subarray(0, 36), [6, 6]), 0, 2, 3);
  assert.equal((rows.data as Float32Array).buffer, data.buffer, 'axis 0: a view of the caller\'s buffer');
  assert.deepEqual(rows.dims, [6, 6].map((d, k) => (k === 0 ? 3 : d)));
  assert.deepEqual(Array.from(rows.data as Float32Array), Array.from(data.subarray(12, 30)));
  const axis1 = pieceInput(new ort.Tensor('float32', data, [2, 6, 3]), 1, 4, 2);
  assert.notEqual((axis1.data as Float32Array).buffer, data.buffer, 'axis 1 with rows before it: a copy');
  assert.deepEqual(axis1.dims, [2, 2, 3]);
  assert.deepEqual(Array.from(axis1.data as Float32Array), [12, 13, 14, 15, 16, 17, 30, 31, 32, 33, 34, 35]);
  const leading = rowsView(data, [1, 12, 3], 1, 4, 2) as Float32Array;
  assert.equal(leading.buffer, data.buffer, 'axis 1 after a dim of 1: a view');
  assert.deepEqual(Array.from(leading), [12, 13, 14, 15, 16, 17]);
  assert.equal(rowsView(data, [2, 6, 3], 1, 0, 2), undefined);
});

test('allocate: a zero-filled shared tensor of the input type and shape, or an ArgumentError naming the input', async () => {
  const session = await ParallelSession.create(fixture('gru_with_state'), { devices: ['cpu'] });
  try {
    const h = session.allocate('initial_h', 5);
    assert.deepEqual(h.dims, [1, 5, 8], 'rows go on the batch axis (1 here)');
    assert.equal(h.type, 'float32');
    assert.ok((h.data as Float32Array).every((v) => v === 0));
    assert.throws(() => session.allocate('nope', 2), (e: unknown) => e instanceof ArgumentError && /'nope' is not an input.*X, initial_h/.test(e.message));
    assert.throws(() => session.allocate('X', -1), (e: unknown) => e instanceof ArgumentError && /rows must be a whole number/.test(e.message));
    assert.throws(() => session.allocate('X', [4, 2]), (e: unknown) => e instanceof ArgumentError && /rank 3/.test(e.message));
  } finally {
    await session.release();
  }
  const fp16 = await ParallelSession.create(fixture('fp16_weights'), { devices: ['cpu'] });
  try {
    assert.equal(fp16.allocate('x', 3).type, 'float16');
  } finally {
    await fp16.release();
  }
  const cnn = await ParallelSession.create(fixture('cnn'), { devices: ['cpu'] });
  try {
    assert.deepEqual(cnn.allocate('image', 2).dims, [2, 3, 16, 16]);
  } finally {
    await cnn.release();
  }
});

test('outputs written into tensors from allocateOutput equal a plain session: 1 and 2 devices, whole and split, axis 0, 1 and 2, float16', async () => {
  for (const name of ['mlp', 'gru_with_state', 'recurrent_state', 'fp16_weights']) {
    const plain = await ort.InferenceSession.create(fixture(name));
    for (const devices of [['cpu'], ['cpu', 'cpu']]) {
      const session = await ParallelSession.create(fixture(name), { devices, minRowsPerDevice: 2, maxBatchPerDevice: 8 });
      try {
        for (const [k, batch] of [1, 19, 19].entries()) {
          const label = `${name} on ${devices.join(',')}, batch ${batch}${k === 2 ? ', the same tensors again' : ''}`;
          const feeds = await feedsFor(name, batch, 60 + k);
          const expected = await plain.run(asOrtInputs(feeds));
          const outputs = Object.fromEntries(session.outputNames.map((o) => [o, session.allocateOutput(o, expected[o]!.dims)]));
          if (k === 2) for (const t of Object.values(outputs)) bytesOf(t).fill(0xff); // written over, not left as they were
          const before = session.stats().total.batches;
          const result = await session.run(feeds, { outputs });
          for (const o of session.outputNames) assert.equal(result[o], outputs[o], `${label}: ${o} is the tensor given`);
          assertSame(result, expected, label);
          const runs = session.stats().total.batches - before;
          // 19 rows in runs of at most 8: 8+8+3 on one device; 10 and 9 over two, each as 8 and the rest.
          if (batch === 19) assert.equal(runs, devices.length === 1 ? 3 : 4, `${label}: ran in pieces, each writing its own rows`);
        }
      } finally {
        await session.release();
      }
    }
    await plain.release();
  }
});

test('options.outputs: a tensor that cannot take the output is an ArgumentError naming it; the caller\'s other requests still merge', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu'] });
  try {
    const feeds = await feedsFor('mlp', 4, 9);
    const expectError = async (outputs: Record<string, ort.Tensor>, pattern: RegExp): Promise<void> =>
      assert.rejects(session.run(feeds, { outputs }), (e: unknown) => e instanceof ArgumentError && pattern.test(e.message));
    await expectError({ z: session.allocateOutput('y', 4) }, /options\.outputs\['z'\]: not an output of the model \(outputs: y\)/);
    await expectError({ y: new ort.Tensor('float32', new Float32Array(32), [4, 8]) }, /options\.outputs\['y'\]: its data must be on a SharedArrayBuffer.*allocateOutput\('y', rows\)/);
    await expectError({ y: session.allocateOutput('y', 5) }, /options\.outputs\['y'\]: dims \[5, 8\] for a batch of 4 rows/);
    await expectError({ y: session.allocateOutput('y', [4, 9]) }, /dims \[4, 9\] where the model gives \[batch, 8\]/);
    await expectError({ y: new ort.Tensor('int32', new Int32Array(new SharedArrayBuffer(128)), [4, 8]) }, /a int32 tensor for a float32 output/);
    assert.throws(() => session.allocateOutput('x', 2), (e: unknown) => e instanceof ArgumentError && /allocateOutput: 'x' is not an output of the model \(outputs: y\)/.test(e.message));
    const y = session.allocateOutput('y', 4);
    assert.deepEqual(y.dims, [4, 8]);
    assert.ok((y.data as Float32Array).buffer instanceof SharedArrayBuffer);
    // Requests with tensors to write into run alone; the others are merged as before.
    const plainFeeds = await Promise.all([1, 2, 3].map((seed) => feedsFor('mlp', 2, seed)));
    const before = session.stats().total.batches;
    const [own, ...others] = await Promise.all([session.run(feeds, { outputs: { y } }), ...plainFeeds.map((f) => session.run(f))]);
    assert.equal(own['y'], y);
    assert.equal(others.length, 3);
    assert.ok(session.stats().total.batches - before <= 3, 'the three other requests shared runs');
  } finally {
    await session.release();
  }
});

test('stats() gives each device the median time inside onnxruntime and the median round trip, the round trip the longer', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'] });
  try {
    const before = session.stats().devices[0]!;
    assert.equal(before.medianRunMs, undefined);
    const feeds = await feedsFor('mlp', 2, 5);
    for (let i = 0; i < 6; i++) await session.run(feeds);
    const used = session.stats().devices.find((d) => d.batches > 0)!;
    assert.ok(used.medianRunMs! > 0, `median run ${used.medianRunMs}`);
    assert.ok(used.medianRoundTripMs! >= used.medianRunMs!, `round trip ${used.medianRoundTripMs} >= run ${used.medianRunMs}`);
  } finally {
    await session.release();
  }
});

test('GatherBuffers lends each buffer to one run at a time, reuses what is given back, and keeps at most its limits', () => {
  const buffers = new GatherBuffers(2, 1000);
  const first = buffers.take(100);
  assert.ok(first.byteLength >= 100);
  const second = buffers.take(100);
  assert.notEqual(second, first, 'a buffer lent out is not lent again');
  buffers.giveBack(first);
  assert.equal(buffers.take(90), first, 'a buffer given back is reused for a run that fits in it');
  assert.notEqual(buffers.take(first.byteLength + 1), first, 'nor lent when too small');
  buffers.giveBack(first);
  const large = buffers.take(600);
  buffers.giveBack(second);
  buffers.giveBack(large);
  assert.equal(buffers.freeBytes, large.byteLength + second.byteLength, 'past two buffers the smallest is let go');
  assert.equal(buffers.take(10), second, 'the smallest that fits is lent');
  const huge = buffers.take(2000);
  buffers.giveBack(huge);
  assert.equal(buffers.freeBytes, large.byteLength, 'a buffer larger than the byte limit is not kept');
  buffers.giveBack(new ArrayBuffer(0));
  assert.equal(buffers.freeBytes, large.byteLength, 'an empty buffer is not kept');
  const byBytes = new GatherBuffers(8, 1000);
  const [p, q, r] = [byBytes.take(400), byBytes.take(400), byBytes.take(80)];
  for (const buffer of [r, p, q]) byBytes.giveBack(buffer);
  assert.equal(byBytes.freeBytes, p.byteLength + q.byteLength, 'past the byte limit the smallest is let go');
  assert.notEqual(byBytes.take(10), r);
});

test('gatheredInput writes the rows into the buffer it is given, which may be larger than they need', () => {
  const a = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [2, 2]);
  const b = new ort.Tensor('float32', Float32Array.from([5, 6, 7, 8, 9, 10]), [3, 2]);
  const buffer = new ArrayBuffer(64);
  const asked: number[] = [];
  const input = gatheredInput([{ tensor: a, start: 1, size: 1 }, { tensor: b, start: 0, size: 3 }], (part) => part.tensor, 0, (bytes) => (asked.push(bytes), buffer));
  assert.deepEqual(asked, [32]);
  assert.deepEqual(input.dims, [4, 2]);
  assert.equal((input.data as Float32Array).buffer, buffer);
  assert.deepEqual([...(input.data as Float32Array)], [3, 4, 5, 6, 7, 8, 9, 10]);
});

/** Twelve 256-wide MatMul layers: runs long enough (a millisecond or more) for the main thread to gather the next run meanwhile. */
async function deepModel(): Promise<string> {
  const file = path.join(tempDir(), 'deep.onnx');
  const random = new SeededRandom(3);
  const width = 256;
  const layers = 12;
  const initializers = Array.from({ length: layers }, (_, i) => makeTensor(`w${i}`, DT.FLOAT, [width, width], random.floats(width * width, 1 / 16)));
  const nodes = Array.from({ length: layers }, (_, i) => makeNode('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], [i === layers - 1 ? 'y' : `h${i}`]));
  const graph = makeGraph({ name: 'deep', inputs: [makeValueInfo('x', DT.FLOAT, ['batch', width])], outputs: [makeValueInfo('y', DT.FLOAT, ['batch', width])], initializers, nodes });
  await saveModel(makeModel(graph, { opset: 13 }), file);
  return file;
}

test('merged runs on reused gather buffers: waves of growing and shrinking merges on two devices at once, and merges cancelled inside onnxruntime, answer as a plain session does', async () => {
  const file = await deepModel();
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const session = await ParallelSession.create(file, { devices: ['cpu', 'cpu'] });
  try {
    const waves = [[1, 2, 1, 3, 1, 2, 1, 1], [5, 7, 6, 8, 4, 9, 7, 5, 6, 8], [1, 1, 2, 1], [3, 9, 2, 8, 1, 7, 4, 6, 2]];
    let seed = 100;
    const batchesBefore = session.stats().total.batches;
    for (const [w, sizes] of waves.entries()) {
      for (let round = 0; round < 4; round++) {
        const feeds = sizes.map((rows) => ({ x: new ort.Tensor('float32', new SeededRandom(seed++).floats(rows * 256), [rows, 256]) }));
        const expected: Feeds[] = [];
        for (const f of feeds) expected.push(await plain.run(f));
        // Requests cancelled while inside onnxruntime: their runs are terminated, and the next requests merge on
        // the same devices while those may still be returning.
        const doomed = new AbortController();
        const cancelled = feeds.map((f) => session.run(f, { signal: doomed.signal }).catch((error: unknown) => error));
        setTimeout(() => doomed.abort(new Error('cancelled')), 0);
        // Two waves at once: both devices gather and run merged requests together.
        const results = await Promise.all([...feeds, ...feeds].map((f) => session.run(f)));
        results.forEach((result, k) => assertIdentical(result, expected[k % feeds.length]!, `wave ${w} round ${round}, request ${k} (${sizes[k % feeds.length]} rows)`));
        await Promise.all(cancelled);
      }
    }
    const { batchSizes, requests, batches } = session.stats().total;
    assert.ok(batches - batchesBefore < requests / 2, `requests were merged (${requests} requests in ${batches - batchesBefore} runs: ${JSON.stringify(batchSizes)})`);
  } finally {
    await Promise.all([session.release(), plain.release()]);
    rmSync(path.dirname(file), { recursive: true, force: true });
  }
});

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('SpareOutputs makes one large output ahead per output, hands it to the next run of that type and length only, and never twice', async () => {
  const spares = new SpareOutputs();
  const count = SPARE_MIN_BYTES / 4;
  const first = spares.take(0, 'float32', count);
  assert.ok(first instanceof Float32Array && first.length === count);
  spares.prepare(0, 'float32', count, first.byteLength);
  spares.prepare(0, 'float32', count, first.byteLength); // already being made: not made twice
  assert.notEqual(spares.take(0, 'float32', count), first, 'before the main thread is free, a fresh array');
  await nextTurn();
  const made = spares.take(0, 'float32', count);
  assert.ok(made instanceof Float32Array && made.length === count, 'the spare made ahead');
  assert.notEqual(spares.take(0, 'float32', count), made, 'a spare is taken once');
  spares.prepare(0, 'float32', count, first.byteLength);
  await nextTurn();
  assert.ok(spares.ready(0));
  assert.ok(spares.take(0, 'int32', count) instanceof Int32Array, 'another type gets a fresh array');
  assert.equal((spares.take(0, 'float32', count - 1) as Float32Array).length, count - 1, 'another length gets a fresh array');
  assert.ok(spares.ready(0), 'and the spare waits for a run it fits');
  spares.prepare(1, 'float32', 16, 64);
  await nextTurn();
  assert.ok(!spares.ready(1), 'small outputs are not made ahead');
  spares.prepare(1, 'float32', count, first.byteLength);
  spares.clear();
  await nextTurn();
  assert.ok(!spares.ready(0) && !spares.ready(1), 'cleared: none kept, none made after');
});

test('large outputs made ahead: run after run on one device, each caller keeps its own output, equal to a plain session\'s', async () => {
  const file = await deepModel();
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const session = await ParallelSession.create(file, { devices: ['cpu'] });
  try {
    const rows = 1536; // 1.5 MB out: made ahead
    const kept: Array<{ result: Feeds; expected: Feeds }> = [];
    for (let k = 0; k < 6; k++) {
      const x = new ort.Tensor('float32', new SeededRandom(500 + k).floats(rows * 256), [rows, 256]);
      kept.push({ result: await session.run({ x }), expected: await plain.run({ x }) });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    kept.forEach(({ result, expected }, k) => assertIdentical(result, expected, `run ${k}, checked after every run`));
    const buffers = new Set(kept.map(({ result }) => (result.y!.data as Float32Array).buffer));
    assert.equal(buffers.size, kept.length, 'every run wrote into memory of its own');
  } finally {
    await Promise.all([session.release(), plain.release()]);
    rmSync(path.dirname(file), { recursive: true, force: true });
  }
});
