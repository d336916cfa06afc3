/**
 * float16 on whatever Node runs the tests: Uint16Array bit patterns everywhere, and Float16Array where it
 * exists (Node 24+), in and out of onnxruntime-node, ParallelSession, the joins, .npy files and --verify.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/io/files.js';
import { npyFromTensor, readNpy, tensorFromNpy } from '../src/io/npy.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { AxisJoin, combineTensors, concatAlongAxis, sliceAlongAxis } from '../src/runtime/data/tensor-ops.js';
import { float16Bits, float16Storage, float16Values, fromHalf, hasFloat16Array, isFloat16Array, toHalf, type Float16Data } from '../src/tensors/float16.js';
import { asOrtInput, ortInputTensor } from '../src/tensors/ort-tensor.js';
import { randomTensor } from '../src/tensors/feeds.js';
import { SeededRandom } from '../src/tensors/random.js';
import { parallelize } from '../src/transform/parallelize.js';
import { compareTensors } from '../src/verify/compare.js';
import { verifyParallel } from '../src/verify/verify.js';
import { fixture, runCli, tempDir } from './helpers.js';

/** This runtime's Float16Array, where it has one. */
const Float16 = (globalThis as { Float16Array?: new (values: number | ArrayLike<number> | ArrayBufferLike, byteOffset?: number, length?: number) => Float16Data & ArrayLike<number> }).Float16Array;

const bitsOf = (tensor: ort.Tensor): number[] => Array.from(float16Bits(tensor.data as Float16Data));

/** Seeded half bit patterns of values in [-1, 1). */
function randomBits(count: number, seed: number): Uint16Array {
  const random = new SeededRandom(seed);
  return Uint16Array.from({ length: count }, () => toHalf(random.signed(1)));
}

test('the runtime and onnxruntime-node agree on the float16 form: Float16Array exactly where the runtime has it', () => {
  assert.equal(hasFloat16Array(), Float16 !== undefined);
  const made = new ort.Tensor('float16', new Uint16Array(4), [4]);
  assert.equal(isFloat16Array(made.data), hasFloat16Array(), `onnxruntime-common holds ${made.data.constructor.name}`);
  assert.equal(isFloat16Array(float16Storage(new Uint16Array(4))), hasFloat16Array());
});

test('half conversion: every bit pattern round-trips, rounding is to nearest with ties to even, carries reach the exponent', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = fromHalf(bits);
    if (Number.isNaN(value)) assert.ok(Number.isNaN(fromHalf(toHalf(value))), `NaN ${bits.toString(16)}`);
    else assert.equal(toHalf(value), bits, `0x${bits.toString(16)} (${value})`);
  }
  // Values halfway between neighbours, and just below a power of two (the mantissa carries into the exponent).
  for (let bits = 0; bits < 0x7bff; bits++) {
    const low = fromHalf(bits);
    const high = fromHalf(bits + 1);
    const tie = (low + high) / 2;
    assert.equal(toHalf(tie), bits % 2 === 0 ? bits : bits + 1, `tie between 0x${bits.toString(16)} and the next`);
    assert.equal(toHalf(low + (high - low) * 0.75), bits + 1, `0x${bits.toString(16)} + 3/4 ulp`);
  }
  assert.equal(fromHalf(toHalf(1.9999)), 2);
  assert.equal(toHalf(65519), 0x7bff, 'below the halfway point to 2^16: the largest half');
  assert.equal(toHalf(65520), 0x7c00, 'halfway to 2^16: infinity');
  assert.equal(toHalf(-0), 0x8000);
  assert.equal(toHalf(2 ** -25), 0, 'half the smallest subnormal: ties to even, to zero');
  assert.equal(toHalf(2 ** -25 * 1.5), 1);
  if (Float16 !== undefined) {
    // The runtime's own conversion, on seeded doubles of every magnitude.
    const random = new SeededRandom(5);
    const native = new Float16(1);
    const nativeBits = new Uint16Array(native.buffer);
    for (let i = 0; i < 200_000; i++) {
      const value = random.signed(1) * 2 ** random.int(-26, 17);
      (native as unknown as number[])[0] = value;
      assert.equal(toHalf(value), nativeBits[0], `${value}`);
    }
  }
});

test('float16Bits and float16Storage are views over the same bytes, not copies', () => {
  const bits = Uint16Array.of(0x3c00, 0xc000, 0x7bff);
  const storage = float16Storage(bits);
  assert.equal(storage.buffer, bits.buffer);
  assert.equal(float16Bits(storage).buffer, bits.buffer);
  assert.deepEqual(Array.from(float16Values(storage)), [1, -2, 65504]);
  if (Float16 !== undefined) {
    const values = new Float16([0.5, -0.25]);
    assert.deepEqual(Array.from(float16Bits(values)), [0x3800, 0xb400]);
    assert.equal(float16Bits(values).buffer, values.buffer);
  }
});

/** y = x @ w computed here from the fixture's half weights, for the fp16_weights fixture. */
async function fp16Reference(x: Uint16Array, batch: number): Promise<number[]> {
  const model = await loadModel(fixture('fp16_weights'));
  const raw = model.graph!.initializer.find((t) => t.name === 'w16')!.rawData;
  const w = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const y: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < 4; j++) {
      let sum = 0;
      for (let k = 0; k < 8; k++) sum += fromHalf(x[b * 8 + k]!) * fromHalf(w[k * 4 + j]!);
      y.push(sum);
    }
  }
  return y;
}

function assertNearReference(actual: ort.Tensor, reference: number[], label: string): void {
  const values = float16Values(actual.data as Float16Data);
  assert.equal(values.length, reference.length, label);
  // One half ulp of rounding on top of float32 sums.
  reference.forEach((expected, i) => assert.ok(Math.abs(values[i]! - expected) <= 2 ** -10 * Math.max(Math.abs(expected), 2 ** -4), `${label} element ${i}: ${values[i]}, expected ${expected}`));
}

test('a float16 model in a plain session: Uint16Array input, and Float16Array input where it exists, give the same bits', async () => {
  const batch = 5;
  const x = randomBits(batch * 8, 21);
  const reference = await fp16Reference(x, batch);
  const session = await ort.InferenceSession.create(fixture('fp16_weights'));
  try {
    const fromBits = (await session.run({ x: ortInputTensor('float16', x, [batch, 8]) }))['y']!;
    assert.equal(fromBits.type, 'float16');
    assert.equal(isFloat16Array(fromBits.data), hasFloat16Array(), 'outputs hold the runtime form');
    assertNearReference(fromBits, reference, 'Uint16Array input');
    // A tensor made the ordinary way (a Float16Array inside on Node 24+) is fed through asOrtInput.
    const ordinary = new ort.Tensor('float16', x.slice(), [batch, 8]);
    assert.deepEqual(bitsOf((await session.run({ x: asOrtInput(ordinary) }))['y']!), bitsOf(fromBits));
    if (Float16 !== undefined) {
      const values = new Float16(x.buffer.slice(0) as ArrayBuffer);
      const fromValues = (await session.run({ x: ortInputTensor('float16', values, [batch, 8]) }))['y']!;
      assert.deepEqual(bitsOf(fromValues), bitsOf(fromBits), 'Float16Array input');
    }
  } finally {
    await session.release();
  }
});

test('a float16 model in ParallelSession: Uint16Array input, and Float16Array input where it exists, give the same bits as a plain session', async () => {
  const batch = 7;
  const x = randomBits(batch * 8, 22);
  const reference = await fp16Reference(x, batch);
  const session = await ParallelSession.create(fixture('fp16_weights'), { devices: ['cpu', 'cpu'], weights: [2, 1] });
  try {
    const fromBits = (await session.run({ x: ortInputTensor('float16', x, [batch, 8]) }))['y']!;
    assert.equal(fromBits.type, 'float16');
    assert.deepEqual(fromBits.dims, [batch, 4]);
    assertNearReference(fromBits, reference, 'Uint16Array input');
    assert.deepEqual(bitsOf((await session.run({ x: new ort.Tensor('float16', x.slice(), [batch, 8]) }))['y']!), bitsOf(fromBits), 'an ordinary ort.Tensor');
    if (Float16 !== undefined) {
      const fromValues = (await session.run({ x: new ort.Tensor('float16', new Float16(x.buffer.slice(0) as ArrayBuffer) as unknown as Uint16Array, [batch, 8]) }))['y']!;
      assert.deepEqual(bitsOf(fromValues), bitsOf(fromBits), 'Float16Array input');
    }
    await assert.rejects(session.run({ x: { type: 'float16', dims: [batch, 8], data: new Float32Array(batch * 8) } as unknown as ort.Tensor }), /input 'x' is float16: its data must be a Uint16Array of half bit patterns or a Float16Array, got Float32Array/);
  } finally {
    await session.release();
  }
});

test('joins of float16 parts copy bit patterns between either form and give the form onnxruntime-node returns', () => {
  const bits = randomBits(24, 23);
  bits[5] = 0x7e01; // a NaN payload survives only a bit copy
  const whole = ortInputTensor('float16', bits, [4, 6]);
  const forms = (part: ort.Tensor, k: number): ort.Tensor => (k % 2 === 0 ? ortInputTensor('float16', part.data as Float16Data, part.dims) : new ort.Tensor('float16', float16Storage(float16Bits(part.data as Float16Data).slice()) as Uint16Array, part.dims));
  const rows = [sliceAlongAxis(whole, 0, 0, 1), sliceAlongAxis(whole, 0, 1, 3), sliceAlongAxis(whole, 0, 3, 4)].map(forms);
  const joined = concatAlongAxis(rows, 0);
  assert.deepEqual(bitsOf(joined), Array.from(bits));
  assert.equal(isFloat16Array(joined.data), hasFloat16Array());
  const columns = [sliceAlongAxis(whole, 1, 0, 4), sliceAlongAxis(whole, 1, 4, 6)].map(forms);
  assert.deepEqual(bitsOf(concatAlongAxis(columns, 1)), Array.from(bits));
  const join = new AxisJoin(1, [0, 4], [4, 2]);
  join.put(1, columns[1]!);
  join.put(0, columns[0]!);
  assert.deepEqual(bitsOf(join.result()), Array.from(bits));
  assert.equal(isFloat16Array(join.result().data), hasFloat16Array());
});

test('sum, mean and max of float16 values are computed on the values, not on their bit patterns', () => {
  const a = ortInputTensor('float16', Uint16Array.of(toHalf(1.5), toHalf(-2), toHalf(0.25)), [3]);
  const b = new ort.Tensor('float16', float16Storage(Uint16Array.of(toHalf(0.5), toHalf(-4), toHalf(1))) as Uint16Array, [3]);
  const values = (tensor: ort.Tensor): number[] => Array.from(float16Values(tensor.data as Float16Data));
  assert.deepEqual(values(combineTensors('sum', [a, b], [1, 3])), [2, -6, 1.25]);
  assert.deepEqual(values(combineTensors('mean', [a, b], [1, 3])), [0.75, -3.5, 0.8125]);
  assert.deepEqual(values(combineTensors('max', [a, b], [1, 3])), [1.5, -2, 1]);
  assert.equal(combineTensors('sum', [a, b], [1, 3]).type, 'float16');
});

test('.npy <f2: either form is written as the same bytes, read back bit for bit, and runs in onnxruntime-node', async () => {
  const bits = randomBits(3 * 8, 24);
  const bytes = npyFromTensor(ortInputTensor('float16', bits, [3, 8]));
  assert.match(Buffer.from(bytes.subarray(0, 64)).toString('latin1'), /'descr':'<f2'.*'shape':\(3,8\)/);
  assert.deepEqual(npyFromTensor(new ort.Tensor('float16', bits.slice(), [3, 8])), bytes, 'an ordinary ort.Tensor');
  if (Float16 !== undefined) assert.deepEqual(npyFromTensor(new ort.Tensor('float16', new Float16(bits.buffer.slice(0) as ArrayBuffer) as unknown as Uint16Array, [3, 8])), bytes, 'Float16Array data');
  const folder = tempDir();
  const file = path.join(folder, 'x.npy');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, bytes);
  const read = await readNpy(file);
  assert.equal(read.type, 'float16');
  assert.deepEqual(read.dims, [3, 8]);
  assert.deepEqual(bitsOf(read), Array.from(bits));
  assert.deepEqual(tensorFromNpy(readFileSync(file), file).dims, [3, 8]);
  const session = await ort.InferenceSession.create(fixture('fp16_weights'));
  try {
    assertNearReference((await session.run({ x: read }))['y']!, await fp16Reference(bits, 3), 'input read from .npy');
  } finally {
    await session.release();
  }
});

test('onnx-parallelize run reads and writes <f2 .npy files', async () => {
  const folder = tempDir();
  const bits = randomBits(5 * 8, 25);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path.join(folder, 'x.npy'), npyFromTensor(ortInputTensor('float16', bits, [5, 8])));
  const out = path.join(folder, 'out');
  const result = runCli(['run', fixture('fp16_weights'), '--devices', 'cpu,cpu', '--input', `x=${path.join(folder, 'x.npy')}`, '-o', out]);
  assert.equal(result.status, 0, result.stderr + result.stdout);
  const y = tensorFromNpy(readFileSync(path.join(out, 'y.npy')), 'y.npy');
  assert.equal(y.type, 'float16');
  assertNearReference(y, await fp16Reference(bits, 5), 'y.npy');
});

test('--verify compares float16 outputs for real: it passes on the fixture and fails on a changed half', async () => {
  const model = await loadModel(fixture('fp16_weights'));
  const verify = await verifyParallel(model, parallelize(model, { devices: ['cpu', 'cpu'] }));
  assert.equal(verify.status, 'passed', verify.reason);
  assert.equal(verify.verified, true);
  assert.ok(verify.runs.every((r) => r.status === 'passed'), JSON.stringify(verify.runs));
  const expected = randomTensor(model.graph!.input[0]!, [2, 8], new SeededRandom(3));
  const changed = float16Bits(expected.data as Float16Data).slice();
  changed[7] = toHalf(fromHalf(changed[7]!) * 1.1 + 0.1);
  assert.equal(compareTensors(new ort.Tensor('float16', expected.data as Uint16Array, [2, 8]), expected).equal, true, 'either form, same values');
  const comparison = compareTensors(ortInputTensor('float16', changed, [2, 8]), expected);
  assert.equal(comparison.equal, false);
  assert.match(comparison.detail!, /^element 7:/);
});

