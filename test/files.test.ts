import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/io/codec.js';
import { loadModel, saveModel } from '../src/io/files.js';
import { InputError } from '../src/errors.js';
import { externalReference } from '../src/io/external-data.js';
import { makeEntry } from '../src/graph/build.js';
import { fixture, tempDir } from './helpers.js';

function copyExternalFixture(folder: string): string {
  copyFileSync(fixture('external_data'), path.join(folder, 'external_data.onnx'));
  copyFileSync(fixture('external_data').replace('.onnx', '.weights'), path.join(folder, 'external_data.weights'));
  return path.join(folder, 'external_data.onnx');
}

async function runMlp(file: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  const x = new ort.Tensor('float32', Float32Array.from({ length: 32 }, (_, i) => (i % 5) / 5), [2, 16]);
  const out = await session.run({ x });
  await session.release();
  return out['y']!.data as Float32Array;
}

test('save then load gives the same model bytes, written atomically with no temp files left', async () => {
  const folder = tempDir();
  const out = path.join(folder, 'copy.onnx');
  await saveModel(await loadModel(fixture('cnn')), out);
  assert.deepEqual(readFileSync(out), readFileSync(fixture('cnn')));
  assert.deepEqual(readdirSync(folder), ['copy.onnx']);
});

test('loading keeps external references without reading the side files', async () => {
  const folder = tempDir();
  const file = copyExternalFixture(folder);
  rmSync(path.join(folder, 'external_data.weights'));
  const model = await loadModel(file);
  const reference = externalReference(model.graph!.initializer[0]!);
  assert.equal(reference?.location, 'external_data.weights');
  assert.equal(model.graph!.initializer[0]!.rawData.length, 0);
});

test('saving into a parent folder rewrites locations so they stay valid', async () => {
  const folder = tempDir();
  const sub = path.join(folder, 'models');
  mkdirSync(sub);
  const file = copyExternalFixture(sub);
  const model = await loadModel(file);
  const out = path.join(folder, 'moved.onnx');
  await saveModel(model, out);
  const saved = await loadModel(out);
  assert.equal(externalReference(saved.graph!.initializer[0]!)?.location, 'models/external_data.weights');
  assert.equal(externalReference(model.graph!.initializer[0]!)?.location, 'external_data.weights', 'the in-memory model is unchanged');
  assert.deepEqual(await runMlp(out), await runMlp(file));
});

test('saving into an unrelated folder fails clearly unless side files are copied', async () => {
  const source = tempDir();
  const target = tempDir();
  const model = await loadModel(copyExternalFixture(source));
  const out = path.join(target, 'out.onnx');
  await assert.rejects(saveModel(model, out), (error: unknown) => error instanceof InputError && /--copy-external-data/.test(error.message));
  assert.deepEqual(readdirSync(target), [], 'nothing written');
  await saveModel(model, out, { copyExternalData: true });
  assert.deepEqual(readdirSync(target).sort(), ['external_data.weights', 'out.onnx']);
  assert.deepEqual(await runMlp(out), await runMlp(path.join(source, 'external_data.onnx')));
});

test('external locations that are absolute or leave the folder are refused at load', async () => {
  const folder = tempDir();
  const model = await loadModel(copyExternalFixture(folder));
  for (const location of ['/etc/passwd', '../outside.bin', 'a/../../b.bin']) {
    const tensor = model.graph!.initializer[0]!;
    tensor.externalData = [makeEntry('location', location), makeEntry('offset', '0'), makeEntry('length', '4')];
    const file = path.join(folder, 'evil.onnx');
    writeFileSync(file, encodeModel(model));
    await assert.rejects(loadModel(file), (error: unknown) => error instanceof InputError && error.message.includes(location) && error.message.includes("tensor 'w1'"));
  }
});

test('a failed save leaves no partial output and keeps an existing file intact', async () => {
  const folder = tempDir();
  const out = path.join(folder, 'existing.onnx');
  writeFileSync(out, 'keep me');
  const source = tempDir();
  const model = await loadModel(copyExternalFixture(source));
  await assert.rejects(saveModel(model, out));
  assert.equal(readFileSync(out, 'utf8'), 'keep me');
  assert.deepEqual(readdirSync(folder), ['existing.onnx']);
  await assert.rejects(saveModel(model, path.join(folder, 'missing-dir', 'x.onnx')), /does not exist/);
  assert.equal(existsSync(path.join(folder, 'missing-dir')), false);
});
