import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/io/codec.js';
import { loadModel } from '../src/io/files.js';
import { concreteDims, inputShape, randomFeeds } from '../src/tensors/feeds.js';
import { externalData, fixtureBuilders } from '../scripts/make-fixtures.js';
import { fixture, fixtureNames } from './helpers.js';

test('the generator reproduces every committed fixture byte for byte', () => {
  for (const [name, build] of Object.entries(fixtureBuilders)) {
    assert.deepEqual(Buffer.from(encodeModel(build())), readFileSync(fixture(name)), name);
  }
  const { model, sideFile } = externalData();
  assert.deepEqual(Buffer.from(encodeModel(model)), readFileSync(fixture('external_data')));
  assert.deepEqual(Buffer.from(sideFile), readFileSync(fixture('external_data').replace('.onnx', '.weights')));
});

for (const name of fixtureNames()) {
  test(`fixture ${name} runs in onnxruntime-node on a seeded input`, async () => {
    const model = await loadModel(fixture(name));
    const inputs = model.graph!.input.filter((i) => !model.graph!.initializer.some((t) => t.name === i.name));
    const dims = Object.fromEntries(inputs.map((info) => [info.name, concreteDims(inputShape(info), () => 3)]));
    const session = await ort.InferenceSession.create(fixture(name));
    try {
      const outputs = await session.run(randomFeeds(inputs, { dims }));
      assert.deepEqual(Object.keys(outputs).sort(), model.graph!.output.map((o) => o.name).sort());
      for (const [outName, tensor] of Object.entries(outputs)) {
        assert.ok(tensor.size > 0, `${outName} is not empty`);
        if (tensor.type === 'float32') assert.ok((tensor.data as Float32Array).every(Number.isFinite), `${outName} is finite`);
      }
    } finally {
      await session.release();
    }
  });
}
