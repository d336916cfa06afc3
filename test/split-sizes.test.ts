import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { integerWeights, splitOffsets, splitSizes } from '../src/transform/split-sizes.js';
import { parallelize } from '../src/transform/parallelize.js';
import { loadModel } from '../src/io/files.js';
import { encodeModel } from '../src/io/codec.js';
import { makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType } from '../src/onnx.js';
import { fixture } from './helpers.js';

test('balanced splits differ by at most one, larger parts first', () => {
  assert.deepEqual(splitSizes(10, [1, 1, 1, 1]), [3, 3, 2, 2]);
  assert.deepEqual(splitSizes(8, [1, 1, 1, 1]), [2, 2, 2, 2]);
  assert.deepEqual(splitSizes(1, [1, 1, 1, 1]), [1, 0, 0, 0]);
  assert.deepEqual(splitSizes(0, [1, 1]), [0, 0]);
  for (let batch = 0; batch < 50; batch++) {
    for (let n = 1; n <= 6; n++) {
      const sizes = splitSizes(batch, Array(n).fill(1));
      assert.equal(sizes.reduce((a, b) => a + b, 0), batch);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
      assert.deepEqual([...sizes].sort((a, b) => b - a), sizes);
    }
  }
});

test('weighted splits follow the weights and hand the remainder to the first parts', () => {
  assert.deepEqual(integerWeights([2, 1]), [2, 1]);
  assert.deepEqual(integerWeights([1.5, 1]), [3, 2]);
  assert.deepEqual(integerWeights([12, 6]), [2, 1]);
  assert.deepEqual(splitSizes(9, [2, 1]), [6, 3]);
  assert.deepEqual(splitSizes(10, [2, 1]), [7, 3]);
  assert.deepEqual(splitSizes(1, [1, 1000]), [1, 0]);
  assert.deepEqual(splitOffsets([3, 3, 2, 2]), [0, 3, 6, 8]);
});

test('the graph computes the same split sizes as splitSizes, at every batch', async () => {
  for (const weights of [[1, 1, 1, 1], [2, 1], [3, 2, 1], [1, 5]]) {
    const n = weights.length;
    const { model } = parallelize(await loadModel(fixture('mlp')), { devices: Array(n).fill('cpu'), weights });
    // Expose what each replica computes: its first layer output, and the final output.
    for (let i = 0; i < n; i++) model.graph!.output.push(makeValueInfo(`replica${i}/h0`, TensorProto_DataType.FLOAT, undefined));
    const session = await ort.InferenceSession.create(encodeModel(model));
    for (const batch of [1, 2, 5, 10, 17]) {
      const x = new ort.Tensor('float32', new Float32Array(batch * 16).fill(0.5), [batch, 16]);
      const out = await session.run({ x });
      const expected = splitSizes(batch, integerWeights(weights));
      // A replica with an empty share is fed one stand-in row, dropped again at the join.
      const fed = expected.map((size) => Math.max(size, 1));
      assert.deepEqual(Array.from({ length: n }, (_, i) => out[`replica${i}/h0`]!.dims[0]), fed, `weights ${weights} batch ${batch}`);
      assert.deepEqual(out['y']!.dims, [batch, 8]);
    }
    await session.release();
  }
});
