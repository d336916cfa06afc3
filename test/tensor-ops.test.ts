import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { AxisJoin, combineTensors, concatAlongAxis, sliceAlongAxis, stack } from '../src/runtime/data/tensor-ops.js';

const t = (values: number[], dims: number[]): ort.Tensor => new ort.Tensor('float32', Float32Array.from(values), dims);
const values = (tensor: ort.Tensor): number[] => Array.from(tensor.data as Float32Array);

test('slicing along axis 0 is a view; along other axes one copy; concat undoes both', () => {
  const x = t([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [2, 3, 2]);
  const rows = sliceAlongAxis(x, 0, 1, 2);
  assert.equal((rows.data as Float32Array).buffer, (x.data as Float32Array).buffer, 'axis 0: a view');
  assert.deepEqual(values(rows), [6, 7, 8, 9, 10, 11]);
  const middle = sliceAlongAxis(x, 1, 1, 3);
  assert.deepEqual(middle.dims, [2, 2, 2]);
  assert.deepEqual(values(middle), [2, 3, 4, 5, 8, 9, 10, 11]);
  assert.deepEqual(values(concatAlongAxis([sliceAlongAxis(x, 1, 0, 1), middle], 1)), values(x));
  const strings = new ort.Tensor('string', ['a', 'b', 'c', 'd'], [2, 2]);
  assert.deepEqual(sliceAlongAxis(strings, 1, 1, 2).data, ['b', 'd']);
});

test('AxisJoin writes parts in place in any arrival order, and falls back to concat for unexpected shapes', () => {
  const x = t(Array.from({ length: 24 }, (_, i) => i), [2, 4, 3]);
  const rows = [1, 2, 1];
  const offsets = [0, 1, 3];
  const join = new AxisJoin(1, offsets, rows);
  for (const k of [2, 0, 1]) join.put(k, sliceAlongAxis(x, 1, offsets[k]!, offsets[k]! + rows[k]!));
  assert.deepEqual(join.result().dims, [2, 4, 3]);
  assert.deepEqual(values(join.result()), values(x));
  const odd = new AxisJoin(0, [0, 1], [1, 1]);
  odd.put(0, t([1, 2], [1, 2]));
  odd.put(1, t([3, 4, 5, 6], [2, 2]));
  assert.deepEqual(odd.result().dims, [3, 2]);
  assert.deepEqual(values(odd.result()), [1, 2, 3, 4, 5, 6]);
  // One part (one device, no micro-batches) is the result itself: not copied.
  const whole = t([1, 2, 3, 4], [2, 2]);
  const single = new AxisJoin(0, [0], [2]);
  single.put(0, whole);
  assert.equal(single.result(), whole);
});

test('combining values without a batch axis: first, sum, batch-weighted mean, max, stack; empty parts left out', () => {
  const parts = [t([1, 4], [2]), t([3, 2], [2]), undefined];
  const sizes = [3, 1, 0];
  assert.deepEqual(values(combineTensors('first', parts, sizes)), [1, 4]);
  assert.deepEqual(values(combineTensors('sum', parts, sizes)), [4, 6]);
  assert.deepEqual(values(combineTensors('mean', parts, sizes)), [1.5, 3.5]);
  assert.deepEqual(values(combineTensors('max', parts, sizes)), [3, 4]);
  assert.deepEqual(combineTensors('stack', parts, sizes).dims, [2, 2]);
  assert.deepEqual(stack([t([1], []), t([2], [])]).dims, [2]);
});
