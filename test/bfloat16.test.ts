/**
 * bfloat16 graph inputs and outputs, end to end: the helpers' rounding against known bit patterns, ParallelSession
 * on 1, 2 and 3 CPU devices (split and merged runs, allocate and allocateOutput) bit for bit against one C API
 * session and against values computed here, --verify and `run` from the CLI, and serve over HTTP and gRPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/io/codec.js';
import { npyFromTensor, tensorFromNpy } from '../src/io/npy.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT, type ModelProto } from '../src/onnx.js';
import { ArgumentError } from '../src/errors.js';
import { bfloat16FromFloat32, bfloat16ToFloat32 } from '../src/index.js';
import { fromBfloat16, toBfloat16 } from '../src/tensors/bfloat16.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { PlainSession } from '../src/runtime/session/plain-session.js';
import { randomTensor } from '../src/tensors/feeds.js';
import { SeededRandom } from '../src/tensors/random.js';
import { parallelize } from '../src/transform/parallelize.js';
import { compareTensors } from '../src/verify/compare.js';
import { verifyParallel } from '../src/verify/verify.js';
import { describeTritonModel } from '../src/triton/config.js';
import { startServer } from '../src/serve/index.js';
import { runCli, tempDir } from './helpers.js';
import { tritonClient } from './serve-grpc-client.js';

const float32OfBits = (bits: number): number => new Float32Array(Uint32Array.of(bits).buffer)[0]!;
const hex = (bits: ArrayLike<number>): string[] => Array.from(bits, (b) => `0x${b.toString(16).padStart(4, '0')}`);
const isBfloat16NaN = (bits: number): boolean => (bits & 0x7f80) === 0x7f80 && (bits & 0x007f) !== 0;

/**
 * The bfloat16 nearest to the finite float32 with bits `bits`, found by comparing both neighbours' distances as
 * doubles; infinity counts as 2^128 there, the next step past the largest bfloat16 (IEEE's overflow rule).
 */
function nearestByDistance(bits: number): number {
  const value = float32OfBits(bits);
  const low = bits >>> 16;
  if (!Number.isFinite(value)) return low;
  const high = (low + 1) & 0xffff;
  const stepValue = (b: number): number => ((b & 0x7fff) === 0x7f80 ? Math.sign(fromBfloat16(b)) * 2 ** 128 : fromBfloat16(b));
  const below = Math.abs(value - stepValue(low));
  const above = Math.abs(stepValue(high) - value);
  if (below !== above) return below < above ? low : high;
  return low % 2 === 0 ? low : high;
}

test('bfloat16FromFloat32: round to nearest, ties to even, at every kind of value; bfloat16ToFloat32 is exact', () => {
  const cases: Array<[number, number, string]> = [
    [0x3f800000, 0x3f80, '1'],
    [0xc0000000, 0xc000, '-2'],
    [0x00000000, 0x0000, '0'],
    [0x80000000, 0x8000, '-0'],
    [0x7f800000, 0x7f80, 'infinity'],
    [0xff800000, 0xff80, '-infinity'],
    [0x3f808000, 0x3f80, 'a tie below an even pattern stays'],
    [0x3f818000, 0x3f82, 'a tie above an odd pattern goes up to even'],
    [0x3f808001, 0x3f81, 'just past the tie goes up'],
    [0x3f807fff, 0x3f80, 'just before the tie goes down'],
    [0x3fffffff, 0x4000, 'a carry out of the mantissa reaches the exponent'],
    [0x7f7fffff, 0x7f80, 'the largest float32 rounds to infinity'],
    [0x7f7f7fff, 0x7f7f, 'the largest bfloat16 below it stays'],
    [0x00010000, 0x0001, 'the smallest subnormal bfloat16'],
    [0x00008000, 0x0000, 'half of it: a tie, to even zero'],
    [0x00018000, 0x0002, 'one and a half of it: a tie, to even'],
    [0x00000001, 0x0000, 'the smallest float32 subnormal'],
    [0x807fffff, 0x8080, 'the largest negative subnormal rounds into the normals'],
  ];
  const rounded = bfloat16FromFloat32(new Float32Array(Uint32Array.from(cases, ([bits]) => bits).buffer));
  cases.forEach(([bits, expected, what], i) => assert.equal(rounded[i], expected, `${what}: 0x${bits.toString(16)} gave 0x${rounded[i]!.toString(16)}`));
  // NaNs stay NaN of their sign, also those whose payload lies only in the dropped half (plain truncation makes them infinities).
  const nans = bfloat16FromFloat32(new Float32Array(Uint32Array.of(0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff).buffer));
  assert.ok(Array.from(nans).every(isBfloat16NaN), hex(nans).join(' '));
  assert.deepEqual(Array.from(nans, (b) => b >>> 15), [0, 0, 1, 0], 'signs kept');
  assert.equal(toBfloat16(NaN), 0x7fc0);
  assert.equal(fromBfloat16(0x0001), 2 ** -133);
  assert.equal(fromBfloat16(0x7f7f), 3.3895313892515355e38);

  // Every pattern round-trips exactly, NaNs as NaNs.
  const every = Uint16Array.from({ length: 0x10000 }, (_, b) => b);
  const values = bfloat16ToFloat32(every);
  const back = bfloat16FromFloat32(values);
  for (let b = 0; b < 0x10000; b++) {
    if (isBfloat16NaN(b)) assert.ok(Number.isNaN(values[b]) && isBfloat16NaN(back[b]!), `NaN 0x${b.toString(16)}`);
    else assert.equal(back[b], b, `0x${b.toString(16)} (${values[b]})`);
  }
  // Seeded float32 patterns of every magnitude, against the nearest neighbour by distance.
  const random = new SeededRandom(11);
  const patterns = Uint32Array.from({ length: 100_000 }, () => Math.floor(random.next() * 2 ** 32));
  const mine = bfloat16FromFloat32(new Float32Array(patterns.buffer));
  patterns.forEach((bits, i) => {
    if (Number.isNaN(float32OfBits(bits))) assert.ok(isBfloat16NaN(mine[i]!));
    else assert.equal(mine[i], nearestByDistance(bits), `0x${bits.toString(16)}`);
  });
});

/** Multipliers of y, as bfloat16 bits in an initializer of the model. */
const SCALE = [2, -0.5, 1.5, 3];

/**
 * x: bfloat16 [batch, 4] -> y = bfloat16(relu(float(x)) * float(scale)), with `scale` a bfloat16 initializer, and
 * z = Concat(x, x) on axis 1, computed in bfloat16 (a passthrough of the bits).
 */
function bfloat16Model(): ModelProto {
  return makeModel(
    makeGraph({
      name: 'bf16',
      inputs: [makeValueInfo('x', DT.BFLOAT16, ['batch', 4])],
      outputs: [makeValueInfo('y', DT.BFLOAT16, ['batch', 4]), makeValueInfo('z', DT.BFLOAT16, ['batch', 8])],
      initializers: [makeTensor('scale', DT.BFLOAT16, [4], bfloat16FromFloat32(Float32Array.from(SCALE)))],
      nodes: [
        makeNode('Cast', ['x'], ['x_float'], { to: DT.FLOAT }),
        makeNode('Relu', ['x_float'], ['relu']),
        makeNode('Cast', ['scale'], ['scale_float'], { to: DT.FLOAT }),
        makeNode('Mul', ['relu', 'scale_float'], ['product']),
        makeNode('Cast', ['product'], ['y'], { to: DT.BFLOAT16 }),
        makeNode('Concat', ['x', 'x'], ['z'], { axis: 1 }),
      ],
    }),
    { opset: 17 },
  );
}

/** Seeded bfloat16 bits of values in [-4, 4), with the infinities, zero and one among them (not -0: Relu may keep its sign). */
function randomBits(rows: number, seed: number): Uint16Array {
  const random = new SeededRandom(seed);
  const bits = Uint16Array.from({ length: rows * 4 }, () => toBfloat16(random.signed(4)));
  if (bits.length > 7) bits.set([0x7f80, 0xff80, 0x0000, 0x3f80], 3);
  return bits;
}

/** y and z of bfloat16Model for `x`, computed here from the values. */
function expectedOutputs(x: Uint16Array): { y: Uint16Array; z: Uint16Array } {
  const values = bfloat16ToFloat32(x);
  const scale = bfloat16ToFloat32(bfloat16FromFloat32(Float32Array.from(SCALE)));
  const product = values.map((v, i) => Math.max(0, v) * scale[i % 4]!);
  const rows = x.length / 4;
  const z = new Uint16Array(rows * 8);
  for (let r = 0; r < rows; r++) {
    z.set(x.subarray(r * 4, r * 4 + 4), r * 8);
    z.set(x.subarray(r * 4, r * 4 + 4), r * 8 + 4);
  }
  return { y: bfloat16FromFloat32(product), z };
}

function assertBits(actual: ort.Tensor, expected: Uint16Array, dims: number[], label: string): void {
  assert.equal(actual.type, 'uint16', `${label}: a uint16 tensor of bits`);
  assert.deepEqual(actual.dims, dims, label);
  assert.deepEqual(hex(actual.data as Uint16Array), hex(expected), label);
}

test('ParallelSession on 1, 2 and 3 CPU devices: bfloat16 in and out as uint16 bits, bit for bit as one C API session and as computed here', { timeout: 180_000 }, async () => {
  const model = bfloat16Model();
  const bytes = encodeModel(model);
  const single = await PlainSession.create(model, { intraOpNumThreads: 1 });
  try {
    for (const devices of [['cpu'], ['cpu', 'cpu'], ['cpu', 'cpu', 'cpu']]) {
      const session = await ParallelSession.create(bytes, { devices, minRowsPerDevice: 1 });
      try {
        // Split runs: batches below, at and above the number of devices.
        for (const rows of [1, devices.length, 10]) {
          const x = randomBits(rows, rows * 7 + devices.length);
          const feeds = { x: new ort.Tensor('uint16', x, [rows, 4]) };
          const label = `${devices.length} devices, ${rows} rows`;
          const outputs = await session.run(feeds);
          const reference = await single.run(feeds);
          const expected = expectedOutputs(x);
          assertBits(outputs['y']!, expected.y, [rows, 4], `${label}: y as computed here`);
          assertBits(outputs['z']!, expected.z, [rows, 8], `${label}: z as computed here`);
          assertBits(reference['y']!, expected.y, [rows, 4], `${label}: the C API session's y`);
          assertBits(reference['z']!, expected.z, [rows, 8], `${label}: the C API session's z`);
        }

        // allocate() and allocateOutput(): inputs read and outputs written on shared memory.
        const rows = 7;
        const x = session.allocate('x', rows);
        assert.equal(x.type, 'uint16');
        (x.data as Uint16Array).set(randomBits(rows, 99));
        const y = session.allocateOutput('y', rows);
        const z = session.allocateOutput('z', rows);
        assert.deepEqual([y.type, y.dims, z.dims], ['uint16', [rows, 4], [rows, 8]]);
        const written = await session.run({ x }, { outputs: { y, z } });
        assert.equal(written['y'], y, 'the tensor given is the output');
        assert.equal(written['z'], z);
        const expected = expectedOutputs(x.data as Uint16Array);
        assertBits(y, expected.y, [rows, 4], `${devices.length} devices: y written into allocateOutput's tensor`);
        assertBits(z, expected.z, [rows, 8], `${devices.length} devices: z written into allocateOutput's tensor`);
        // A second run into the same tensors overwrites them.
        (x.data as Uint16Array).set(randomBits(rows, 100));
        await session.run({ x }, { outputs: { y } });
        assertBits(y, expectedOutputs(x.data as Uint16Array).y, [rows, 4], `${devices.length} devices: y written again`);
      } finally {
        await session.release();
      }
    }
  } finally {
    await single.release();
  }
});

test('ParallelSession merges queued bfloat16 requests into one run and cuts each one its own rows', { timeout: 120_000 }, async () => {
  const session = await ParallelSession.create(encodeModel(bfloat16Model()), { devices: ['cpu', 'cpu'], batching: { maxQueueDelayMs: 50 }, minRowsPerDevice: 64 });
  try {
    const inputs = Array.from({ length: 8 }, (_, k) => randomBits(2 + (k % 3), 300 + k));
    const answers = await Promise.all(inputs.map((x) => session.run({ x: new ort.Tensor('uint16', x, [x.length / 4, 4]) })));
    answers.forEach((outputs, k) => {
      const expected = expectedOutputs(inputs[k]!);
      assertBits(outputs['y']!, expected.y, [inputs[k]!.length / 4, 4], `request ${k}: y`);
      assertBits(outputs['z']!, expected.z, [inputs[k]!.length / 4, 8], `request ${k}: z`);
    });
    const devices = session.stats().devices;
    const requests = devices.reduce((sum, d) => sum + d.requests, 0);
    const batches = devices.reduce((sum, d) => sum + d.batches, 0);
    assert.equal(requests, 8);
    assert.ok(batches < requests, `${requests} requests in ${batches} runs: merged`);
  } finally {
    await session.release();
  }
});

test('bfloat16 given in another form, and element types no onnxruntime-node tensor holds, are refused naming the tensor', async () => {
  const session = await ParallelSession.create(encodeModel(bfloat16Model()), { devices: ['cpu', 'cpu'] });
  try {
    const wrong = new ort.Tensor('float32', new Float32Array(8), [2, 4]);
    await assert.rejects(session.run({ x: wrong }), (error: unknown) => error instanceof ArgumentError && /^feeds: input 'x' is bfloat16, got a float32 tensor; .*give its bits as a uint16 tensor/.test(error.message));
    const x = new ort.Tensor('uint16', randomBits(2, 1), [2, 4]);
    const target = session.allocateOutput('y', 2);
    const notBits = new ort.Tensor('float32', new Float32Array(new SharedArrayBuffer(32)), [2, 4]);
    await assert.rejects(session.run({ x }, { outputs: { y: notBits } }), /options.outputs\['y'\]: a float32 tensor for a bfloat16 output, which comes as its bits in a uint16 tensor/);
    await assert.rejects(session.run({ x }, { outputs: { y: session.allocateOutput('y', 3) } }), /options.outputs\['y'\]: dims \[3, 4\] for a batch of 2 rows/);
    assert.equal((await session.run({ x }, { outputs: { y: target } }))['y'], target);
  } finally {
    await session.release();
  }

  // float8 has no onnxruntime-node tensor type at all.
  const float8 = makeModel(
    makeGraph({ name: 'f8', inputs: [makeValueInfo('q', DT.FLOAT8E4M3FN, ['batch', 4])], outputs: [makeValueInfo('f', DT.FLOAT, ['batch', 4])], nodes: [makeNode('Cast', ['q'], ['f'], { to: DT.FLOAT })] }),
    { opset: 19, irVersion: 9 },
  );
  await assert.rejects(ParallelSession.create(encodeModel(float8), { devices: ['cpu', 'cpu'] }), (error: unknown) => error instanceof ArgumentError && /^model: input 'q' is of element type float8e4m3fn, which onnxruntime-node tensors cannot hold$/.test(error.message));
  const verify = await verifyParallel(float8, parallelize(float8, { devices: ['cpu', 'cpu'] }));
  assert.equal(verify.status, 'not-verifiable');
  assert.match(verify.reason!, /input 'q' is of element type float8e4m3fn/);

  // A bfloat16 output without a batch axis cannot be summed from its bits on the host.
  const summed = makeModel(
    makeGraph({
      name: 'sum',
      inputs: [makeValueInfo('x', DT.BFLOAT16, ['batch', 4])],
      outputs: [makeValueInfo('total', DT.BFLOAT16, [4])],
      nodes: [makeNode('Cast', ['x'], ['xf'], { to: DT.FLOAT }), makeNode('ReduceSum', ['xf'], ['sf'], { axes: [0], keepdims: 0 }), makeNode('Cast', ['sf'], ['total'], { to: DT.BFLOAT16 })],
    }),
    { opset: 12 },
  );
  await assert.rejects(ParallelSession.create(encodeModel(summed), { devices: ['cpu', 'cpu'], combine: { total: 'sum' } }), (error: unknown) => error instanceof ArgumentError && /^model: output 'total' is bfloat16 without a batch axis, which cannot be joined by sum across devices; use combine first or stack/.test(error.message));
});

test('random bfloat16 inputs are seeded bits of values in [-1, 1)', () => {
  const tensor = randomTensor(makeValueInfo('x', DT.BFLOAT16, ['batch', 4]), [3, 4], new SeededRandom(4));
  assert.equal(tensor.type, 'uint16');
  const values = bfloat16ToFloat32(tensor.data as Uint16Array);
  assert.ok(values.every((v) => v >= -1 && v <= 1), Array.from(values).join(' '));
  assert.ok(new Set(values).size > 6, 'varied values');
  assert.deepEqual(tensor.data, randomTensor(makeValueInfo('x', DT.BFLOAT16, ['batch', 4]), [3, 4], new SeededRandom(4)).data, 'the same for the same seed');
});

test('--verify compares bfloat16 outputs as values: a per-sample model passes, a model that mixes the batch fails', async () => {
  const model = bfloat16Model();
  const passed = await verifyParallel(model, parallelize(model, { devices: ['cpu', 'cpu', 'cpu'] }));
  assert.equal(passed.status, 'passed', passed.reason);
  assert.equal(passed.verified, true);
  assert.equal(passed.maxAbsError, 0);

  // y = x - mean(x over the batch): each replica's mean is its own rows'.
  const coupled = makeModel(
    makeGraph({
      name: 'coupled',
      inputs: [makeValueInfo('x', DT.BFLOAT16, ['batch', 4])],
      outputs: [makeValueInfo('y', DT.BFLOAT16, ['batch', 4])],
      nodes: [
        makeNode('Cast', ['x'], ['xf'], { to: DT.FLOAT }),
        makeNode('ReduceMean', ['xf'], ['mean'], { axes: [0], keepdims: 1 }),
        makeNode('Sub', ['xf', 'mean'], ['centered']),
        makeNode('Cast', ['centered'], ['y'], { to: DT.BFLOAT16 }),
      ],
    }),
    { opset: 13 },
  );
  const failed = await verifyParallel(coupled, parallelize(coupled, { devices: ['cpu', 'cpu'] }));
  assert.equal(failed.status, 'failed');
  assert.match(failed.reason!, /output 'y': element \d+: /);

  // The comparison itself: one bfloat16 step apart is equal, a tenth apart is not.
  const bits = (values: number[]): ort.Tensor => new ort.Tensor('uint16', bfloat16FromFloat32(Float32Array.from(values)), [values.length]);
  const nextUp = new ort.Tensor('uint16', Uint16Array.of(0x3f81, 0x4000), [2]);
  assert.equal(compareTensors(nextUp, bits([1, 2]), true).equal, true);
  assert.equal(compareTensors(bits([1.1, 2]), bits([1, 2]), true).equal, false);
  assert.equal(compareTensors(nextUp, bits([1, 2])).equal, false, 'as plain uint16, exact');
});

test('CLI: --verify, run, inspect and bench on a model with bfloat16 inputs and outputs', { timeout: 120_000 }, () => {
  const folder = tempDir();
  const file = path.join(folder, 'bf16.onnx');
  writeFileSync(file, encodeModel(bfloat16Model()));
  const rewrite = runCli([file, '--devices', 'cpu,cpu', '--verify']);
  assert.equal(rewrite.status, 0, rewrite.stderr);
  assert.match(rewrite.stdout, /verify: passed at batch 1 \(one replica\), 2, 3, 11/);

  const x = randomBits(5, 21);
  writeFileSync(path.join(folder, 'x.npy'), npyFromTensor(new ort.Tensor('uint16', x, [5, 4])));
  const run = runCli(['run', path.join(folder, 'bf16.parallel.onnx'), '--input', `x=${path.join(folder, 'x.npy')}`, '-o', path.join(folder, 'out')]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /y: uint16 \[5, 4\]/);
  const expected = expectedOutputs(x);
  assertBits(tensorFromNpy(readFileSync(path.join(folder, 'out', 'y.npy')), 'y.npy'), expected.y, [5, 4], 'y.npy');
  assertBits(tensorFromNpy(readFileSync(path.join(folder, 'out', 'z.npy')), 'z.npy'), expected.z, [5, 8], 'z.npy');

  const floats = path.join(folder, 'floats.npy');
  writeFileSync(floats, npyFromTensor(new ort.Tensor('float32', new Float32Array(20), [5, 4])));
  const wrong = runCli(['run', file, '--devices', 'cpu,cpu', '--input', `x=${floats}`, '-o', path.join(folder, 'out2')]);
  assert.equal(wrong.status, 2, wrong.stderr);
  assert.match(wrong.stderr, /input 'x' is bfloat16, got a float32 tensor; .*uint16/);

  const inspect = runCli(['inspect', file]);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, /x: bfloat16 \[batch, 4\]/);
  const bench = runCli(['bench', file, '--devices', 'cpu,cpu', '--batch', '6', '--runs', '3', '--json']);
  assert.equal(bench.status, 0, bench.stderr);
  const report = JSON.parse(bench.stdout) as { batch: number; single: { throughput: number }; parallel: { throughput: number } };
  assert.equal(report.batch, 6);
  assert.ok(report.single.throughput > 0 && report.parallel.throughput > 0, bench.stdout);

  const triton = describeTritonModel(bfloat16Model(), { name: 'bf16', devices: ['cpu'] });
  assert.deepEqual(triton.config.input.map((i) => i.dataType), ['TYPE_BF16']);
  assert.deepEqual(triton.config.output.map((o) => o.dataType), ['TYPE_BF16', 'TYPE_BF16']);
});

test('serve: BF16 as binary data over HTTP and gRPC, bit for bit; in JSON refused as Triton refuses it', { timeout: 120_000 }, async () => {
  const folder = tempDir();
  const file = path.join(folder, 'bf16.onnx');
  writeFileSync(file, encodeModel(bfloat16Model()));
  const server = await startServer({ model: file, session: { devices: ['cpu', 'cpu'] }, port: 0, metricsPort: null, grpcPort: 0 });
  const client = tritonClient(server.grpcAddress!);
  try {
    const metadata = (await (await fetch(`${server.url}/v2/models/bf16`)).json()) as { inputs: Array<{ datatype: string }>; outputs: Array<{ datatype: string }> };
    assert.deepEqual([...metadata.inputs, ...metadata.outputs].map((t) => t.datatype), ['BF16', 'BF16', 'BF16']);

    const x = randomBits(3, 5);
    const expected = expectedOutputs(x);
    const xBytes = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    const post = (header: Record<string, unknown>, binary?: Buffer): Promise<Response> => {
      const json = Buffer.from(JSON.stringify(header));
      const body = binary === undefined ? json : Buffer.concat([json, binary]);
      const headers: Record<string, string> = binary === undefined ? { 'content-type': 'application/json' } : { 'inference-header-content-length': String(json.byteLength) };
      return fetch(`${server.url}/v2/models/bf16/infer`, { method: 'POST', body, headers });
    };
    const binaryInput = { name: 'x', datatype: 'BF16', shape: [3, 4], parameters: { binary_data_size: xBytes.byteLength } };

    // HTTP, binary both ways: 2 bytes per element, the bits.
    const answer = await post({ inputs: [binaryInput], parameters: { binary_data_output: true } }, xBytes);
    assert.equal(answer.status, 200);
    const body = Buffer.from(await answer.arrayBuffer());
    const jsonLength = Number(answer.headers.get('inference-header-content-length'));
    const header = JSON.parse(body.toString('utf8', 0, jsonLength)) as { outputs: Array<{ name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }> };
    assert.deepEqual(header.outputs.map((o) => [o.name, o.datatype, o.shape, o.parameters.binary_data_size]), [['y', 'BF16', [3, 4], 24], ['z', 'BF16', [3, 8], 48]]);
    const bitsAt = (at: number, length: number): Uint16Array => new Uint16Array(new Uint8Array(body.subarray(at, at + length)).buffer);
    assert.deepEqual(hex(bitsAt(jsonLength, 24)), hex(expected.y));
    assert.deepEqual(hex(bitsAt(jsonLength + 24, 48)), hex(expected.z));

    // JSON: refused both ways, as Triton refuses BF16 in JSON, with a 400 that says to send binary data.
    const errorOf = async (response: Response): Promise<[number, string]> => [response.status, ((await response.json()) as { error: string }).error];
    const [jsonInStatus, jsonIn] = await errorOf(await post({ inputs: [{ name: 'x', datatype: 'BF16', shape: [3, 4], data: Array.from(bfloat16ToFloat32(x)) }], parameters: { binary_data_output: true } }));
    assert.equal(jsonInStatus, 400);
    assert.match(jsonIn, /^input 'x': receiving BF16 data via JSON is not supported \(as in Triton\); send it as binary data/);
    const [jsonOutStatus, jsonOut] = await errorOf(await post({ inputs: [binaryInput], outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'z' }] }, xBytes));
    assert.equal(jsonOutStatus, 400);
    assert.match(jsonOut, /^output 'z': sending BF16 data via JSON is not supported \(as in Triton\); ask for it as binary data/);
    const [allJsonStatus, allJson] = await errorOf(await post({ inputs: [binaryInput] }, xBytes));
    assert.equal(allJsonStatus, 400, 'outputs are JSON unless asked for as binary data');
    assert.match(allJson, /^output 'y': sending BF16 data via JSON/);
    const [wrongSizeStatus, wrongSize] = await errorOf(await post({ inputs: [{ ...binaryInput, parameters: { binary_data_size: 12 } }], parameters: { binary_data_output: true } }, xBytes.subarray(0, 12)));
    assert.equal(wrongSizeStatus, 400);
    assert.match(wrongSize, /^input 'x': binary_data_size is 12 bytes, but the shape holds 12 BF16 elements \(24 bytes\)$/);

    // gRPC: raw_input_contents in, raw_output_contents out.
    const request = { model_name: 'bf16', model_version: '', id: '', inputs: [{ name: 'x', datatype: 'BF16', shape: ['3', '4'] }], outputs: [], raw_input_contents: [xBytes] };
    const response = await client.call('ModelInfer', request);
    assert.deepEqual(response['outputs'].map((o: { name: string; datatype: string; shape: string[] }) => [o.name, o.datatype, o.shape.map(Number)]), [['y', 'BF16', [3, 4]], ['z', 'BF16', [3, 8]]]);
    const raw = response['raw_output_contents'] as Buffer[];
    assert.deepEqual(hex(new Uint16Array(new Uint8Array(raw[0]!).buffer)), hex(expected.y));
    assert.deepEqual(hex(new Uint16Array(new Uint8Array(raw[1]!).buffer)), hex(expected.z));
    const typed = { ...request, inputs: [{ ...request.inputs[0]!, contents: { uint_contents: Array.from(x) } }], raw_input_contents: [] };
    await assert.rejects(client.call('ModelInfer', typed), (error: grpc.ServiceError) => error.code === grpc.status.INVALID_ARGUMENT && error.details === "input 'x': datatype BF16 has no typed contents; send it in raw_input_contents");
  } finally {
    client.close();
    await server.close();
  }
});
