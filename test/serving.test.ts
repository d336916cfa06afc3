import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ParallelSession, QueueFullError, TimeoutError } from '../src/runtime/session/parallel-session.js';
import { loadModel } from '../src/io/files.js';
import { encodeModel } from '../src/io/codec.js';
import { concreteDims, inputShape, randomFeeds } from '../src/tensors/feeds.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { fixture } from './helpers.js';
import { assertSame, feedsFor, type Feeds } from './session-helpers.js';

const sizes = [1, 3, 17, 1, 3, 17, 1, 1, 3, 17, 2, 5];

test('concurrent requests of different sizes each get exactly their own rows: batching on and off, weights auto', async () => {
  for (const name of ['mlp', 'cnn', 'two_in_two_out', 'attention_block', 'gru_with_state', 'recurrent_state', 'int8_qdq', 'fp16_weights']) {
    const plain = await ort.InferenceSession.create(fixture(name));
    const all = await Promise.all(sizes.map((batch, k) => feedsFor(name, batch, 300 + k)));
    const expected: Feeds[] = [];
    for (const feeds of all) expected.push(await plain.run(feeds));
    await plain.release();
    for (const options of [{}, { batching: false as const }, { weights: 'auto' as const }, { batching: { maxBatch: 8, preferredBatch: [4, 8] } }]) {
      const session = await ParallelSession.create(fixture(name), { devices: ['cpu', 'cpu'], ...options });
      try {
        const results = await Promise.all(all.map((feeds) => session.run(feeds)));
        results.forEach((result, k) => assertSame(result, expected[k]!, `${name} ${JSON.stringify(options)} request ${k} (batch ${sizes[k]})`));
        const stats = session.stats();
        assert.equal(stats.total.rows, sizes.reduce((a, b) => a + b, 0), 'every row ran once');
        if (options.batching === false) assert.ok(stats.total.batches >= sizes.length, 'no merging with batching off');
        else assert.ok(stats.total.batches < sizes.length, `requests merged (${stats.total.batches} runs for ${sizes.length} requests)`);
      } finally {
        await session.release();
      }
    }
  }
});

test('queued requests are merged into one run, and each caller gets back views of it', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu'] });
  session.deviceOf(0).delayRuns(200);
  const first = session.run(await feedsFor('mlp', 1, 1));
  // Queued while the device sleeps through the first run: merged into one run.
  const queued = await Promise.all([2, 3, 4, 5].map((k) => feedsFor('mlp', k, k)));
  const results = await Promise.all(queued.map((feeds) => session.run(feeds)));
  await first;
  const stats = session.stats();
  assert.equal(stats.total.batches, 2, `two runs for five requests (got ${stats.total.batches})`);
  assert.equal(stats.devices[0]!.requests, 5);
  const buffers = new Set(results.map((r) => (r['y']!.data as Float32Array).buffer));
  assert.equal(buffers.size, 1, 'the merged requests\' outputs are views of one run');
  await session.release();
});

test('devices that answer in the same turn share what their callers send next, instead of one taking it all', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'] });
  try {
    for (const replica of [0, 1]) session.deviceOf(replica).delayRuns(150);
    const feeds = await Promise.all([1, 2].map((k) => feedsFor('mlp', 1, k)));
    // Two callers, each sending a second request as soon as its first is answered.
    const callers = feeds.map((f) => session.run(f).then(() => session.run(f)));
    // The main thread is held until both devices have answered, so both answers are handled in one turn.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
    await Promise.all(callers);
    const { devices, total } = session.stats();
    assert.deepEqual(total.batchSizes, { 1: 4 }, `four runs of one request each (got ${JSON.stringify(total.batchSizes)})`);
    assert.deepEqual(Object.keys(total.batchBusyMs), ['1']);
    assert.equal(total.batchBusyMs[1], total.busyMs, 'the time of those runs, by their size');
    assert.deepEqual(devices.map((d) => d.requests), [2, 2], 'each device ran one request of each round');
  } finally {
    await session.release();
  }
});

/** Inputs x [batch, 4] and a side input without a batch axis (rank 0): y = x * s. */
function scaledModel(): Uint8Array {
  return encodeModel(
    makeModel(
      makeGraph({
        name: 'scaled',
        inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 4]), makeValueInfo('s', DT.FLOAT, [])],
        outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 4])],
        nodes: [makeNode('Mul', ['x', 's'], ['y'])],
      }),
      { opset: 13 },
    ),
  );
}

test('requests that must not be merged are not: other values of an unbatched input, combined outputs, a fixed batch', async () => {
  const scaled = await ParallelSession.create(scaledModel(), { devices: ['cpu'] });
  scaled.deviceOf(0).delayRuns(150);
  const x = new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]);
  const scale = (v: number): ort.Tensor => new ort.Tensor('float32', Float32Array.of(v), []);
  const head = scaled.run({ x, s: scale(1) });
  const [a, b, c] = await Promise.all([scaled.run({ x, s: scale(2) }), scaled.run({ x, s: scale(3) }), scaled.run({ x, s: scale(2) })]);
  await head;
  assert.deepEqual(Array.from(a['y']!.data as Float32Array), [2, 4, 6, 8]);
  assert.deepEqual(Array.from(b['y']!.data as Float32Array), [3, 6, 9, 12]);
  assert.deepEqual(Array.from(c['y']!.data as Float32Array), [2, 4, 6, 8]);
  // s=2 twice merged, s=3 alone: 1 + 2 runs (never s=2 with s=3).
  assert.equal(scaled.stats().total.batches, 3);
  await scaled.release();

  const summing = encodeModel(
    makeModel(
      makeGraph({
        name: 'summing',
        inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 2])],
        outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 2]), makeValueInfo('total', DT.FLOAT, [])],
        nodes: [makeNode('Relu', ['x'], ['y']), makeNode('ReduceSum', ['x'], ['total'], { keepdims: 0 })],
      }),
      { opset: 13 },
    ),
  );
  const combined = await ParallelSession.create(summing, { devices: ['cpu'], combine: { total: 'sum' } });
  combined.deviceOf(0).delayRuns(100);
  const rows = (n: number): ort.Tensor => new ort.Tensor('float32', new Float32Array(2 * n).fill(1), [n, 2]);
  const totals = await Promise.all([1, 2, 3, 4].map((n) => combined.run({ x: rows(n) })));
  assert.deepEqual(totals.map((t) => (t['total']!.data as Float32Array)[0]), [2, 4, 6, 8], 'each caller gets the sum of its own rows');
  assert.equal(combined.stats().total.batches, 4, 'an output joined by --combine: never merged');
  await combined.release();

  const fixed = await ParallelSession.create(fixture('fixed_batch2'), { devices: ['cpu', 'cpu'] });
  fixed.deviceOf(0).delayRuns(100);
  fixed.deviceOf(1).delayRuns(100);
  const model = await loadModel(fixture('fixed_batch2'));
  const info = model.graph!.input[0]!;
  const fixedFeeds = randomFeeds([info], { dims: { [info.name]: concreteDims(inputShape(info), () => 2) }, seed: 5 });
  await Promise.all(Array.from({ length: 6 }, () => fixed.run(fixedFeeds)));
  const fixedStats = fixed.stats();
  assert.equal(fixedStats.total.batches, 6, 'a fixed-batch model runs every request on its own');
  await fixed.release();
});

test('a slowed device gets a smaller share of the work', async () => {
  for (const weights of ['auto' as const, undefined]) {
    const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'], batching: false, ...(weights === undefined ? {} : { weights }) });
    session.deviceOf(1).delayRuns(30);
    const feeds = await Promise.all(Array.from({ length: 6 }, (_, k) => feedsFor('mlp', 2, k)));
    for (let round = 0; round < 4; round++) await Promise.all(feeds.map((f) => session.run(f)));
    if (weights === 'auto') {
      // Large requests are split by measured throughput: the slow device's share shrinks.
      const before = session.stats().devices[1]!.rows;
      await session.run(await feedsFor('mlp', 64, 9));
      const share = session.stats().devices[1]!.rows - before;
      assert.ok(share < 20, `slow device took ${share} of 64 rows`);
    }
    const [fast, slow] = session.stats().devices;
    assert.ok(slow!.requests < fast!.requests, `slow device ran ${slow!.requests} requests, the fast one ${fast!.requests}`);
    await session.release();
  }
});

test('maxQueue rejects at once; AbortSignal removes a queued request; timeoutMs rejects with a TimeoutError', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu'], maxQueue: 2, batching: false });
  session.deviceOf(0).delayRuns(150);
  const feeds = await feedsFor('mlp', 1, 1);
  const running = session.run(feeds);
  const queued = [session.run(feeds), session.run(feeds)];
  await assert.rejects(session.run(feeds), (error: Error) => error instanceof QueueFullError && /maxQueue 2/.test(error.message));
  assert.equal(session.stats().rejected, 1);
  await Promise.all([running, ...queued]);

  const controller = new AbortController();
  const head = session.run(feeds);
  const aborted = session.run(feeds, { signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  await head;
  assert.equal(session.stats().total.requests, 4, 'the aborted request never ran');
  const already = AbortSignal.abort();
  await assert.rejects(session.run(feeds, { signal: already }), { name: 'AbortError' });

  const slow = session.run(feeds, { timeoutMs: 20 });
  await assert.rejects(slow, (error: Error) => error instanceof TimeoutError && /timed out after 20 ms/.test(error.message));
  await assert.rejects(session.run(feeds, { timeoutMs: -1 }), /options.timeoutMs/);
  await session.release();
});

test('a device that dies mid-batch rejects exactly the requests of that batch, naming the device', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu', 'cpu'] });
  session.deviceOf(0).delayRuns(300);
  session.deviceOf(1).delayRuns(300);
  const feeds = await Promise.all(Array.from({ length: 8 }, (_, k) => feedsFor('mlp', 1, k)));
  // Both devices take a share of the eight queued requests; device 1 is ended while it runs its batch.
  const outcomes = feeds.map((f) => session.run(f).then(() => 'ok', (e: Error) => e.message));
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Lost while it waits inside its run (the test delay, before onnxruntime is entered).
  session.deviceOf(1).kill();
  const results = await Promise.all(outcomes);
  const failed = results.filter((r) => r !== 'ok');
  assert.ok(failed.length > 0 && failed.length < 8, `some but not all failed: ${JSON.stringify(results)}`);
  for (const message of failed) assert.match(message, /device cpu \(replica 1\)/);
  const { devices } = session.stats();
  assert.equal(failed.length, 8 - devices[0]!.requests, 'exactly the requests device 1 was running failed');
  await session.release();
});

test('release() with requests still queued rejects them all and releases the sessions', async () => {
  const session = await ParallelSession.create(fixture('mlp'), { devices: ['cpu'], batching: false });
  session.deviceOf(0).delayRuns(100);
  const feeds = await feedsFor('mlp', 1, 1);
  const outcomes = Array.from({ length: 5 }, () => session.run(feeds).then(() => 'ok', (e: Error) => e.message));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await session.release();
  const results = await Promise.all(outcomes);
  assert.ok(results.filter((r) => /released/.test(r)).length >= 4, JSON.stringify(results));
  assert.equal(session.stats().queued, 0);
  await assert.rejects(session.run(feeds), /released/);
});

test('bad run and batching options quote the option', async () => {
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cpu'], batching: { maxBatch: 0 } }), /options.batching.maxBatch/);
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cpu'], batching: { preferredBatch: [4, -1] } }), /options.batching.preferredBatch/);
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cpu'], maxQueue: -1 }), /options.maxQueue/);
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cpu'], weights: 'fast' as unknown as 'auto' }), /options.weights/);
});
