/** Feeds for the fixtures and the comparison of outputs, shared by the tests of ParallelSession and serving. */
import assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-node';
import { loadModel } from '../src/io/files.js';
import { compareTensors } from '../src/verify/compare.js';
import { concreteDims, inputShape, randomFeeds } from '../src/tensors/feeds.js';
import { fixture } from './helpers.js';

export type Feeds = Record<string, ort.Tensor>;

/** Seeded feeds for a fixture: `batch` rows on the dims named batch or N, 3 on the other free dims. */
export async function feedsFor(name: string, batch: number, seed = 7): Promise<Feeds> {
  const model = await loadModel(fixture(name));
  const initializers = new Set(model.graph!.initializer.map((t) => t.name));
  const inputs = model.graph!.input.filter((i) => !initializers.has(i.name));
  const dims = Object.fromEntries(inputs.map((info) => [info.name, concreteDims(inputShape(info), (dim) => (dim === 'batch' || dim === 'N' ? batch : 3))]));
  return randomFeeds(inputs, { dims, seed });
}

/** A tensor's bytes (numeric data) as a Buffer over them. */
export const bytesOf = (data: unknown): Buffer => {
  const view = data as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
};

/** The same outputs, bit for bit: names, types, dims and every byte (strings: every string). */
export function assertIdentical(actual: Feeds, expected: Feeds, label: string): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${label}: output names`);
  for (const [name, tensor] of Object.entries(expected)) {
    const got = actual[name]!;
    assert.equal(got.type, tensor.type, `${label} '${name}': type`);
    assert.deepEqual([...got.dims], [...tensor.dims], `${label} '${name}': dims`);
    if (tensor.type === 'string') assert.deepEqual(got.data, tensor.data, `${label} '${name}': strings`);
    else assert.ok(bytesOf(got.data).equals(bytesOf(tensor.data)), `${label} '${name}': the bytes differ`);
  }
}

/** The same outputs, within --verify's tolerances. */
export function assertSame(actual: Feeds, expected: Feeds, label: string): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${label}: output names`);
  for (const [name, tensor] of Object.entries(expected)) {
    const comparison = compareTensors(actual[name]!, tensor);
    assert.ok(comparison.equal, `${label} output '${name}': ${comparison.detail}`);
  }
}
