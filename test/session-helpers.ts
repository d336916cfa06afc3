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

/** The same outputs, within --verify's tolerances. */
export function assertSame(actual: Feeds, expected: Feeds, label: string): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${label}: output names`);
  for (const [name, tensor] of Object.entries(expected)) {
    const comparison = compareTensors(actual[name]!, tensor);
    assert.ok(comparison.equal, `${label} output '${name}': ${comparison.detail}`);
  }
}
