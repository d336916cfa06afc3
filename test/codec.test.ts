import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { create, toBinary } from '@bufbuild/protobuf';
import { decodeModel, encodeModel, encodeModelChunks } from '../src/io/codec.js';
import { ModelProtoSchema, TensorProto_DataType } from '../src/onnx.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { conformanceModels, fixture, fixtureNames } from './helpers.js';

function roundTripDifferences(files: string[]): string[] {
  const different: string[] = [];
  for (const file of files) {
    const bytes = readFileSync(file);
    const again = encodeModel(decodeModel(bytes, file));
    if (Buffer.compare(Buffer.from(again.buffer, again.byteOffset, again.byteLength), bytes) !== 0) different.push(file);
  }
  return different;
}

test('every fixture decodes and encodes to the same bytes', () => {
  const files = fixtureNames().map(fixture);
  assert.ok(files.length >= 17);
  assert.deepEqual(roundTripDifferences(files), []);
});

test('all 1,072 conformance models of libonnx-testdata round-trip byte for byte', () => {
  const files = conformanceModels();
  assert.equal(files.length, 1072);
  const different = roundTripDifferences(files);
  console.log(`lossless round trip: ${files.length - different.length} of ${files.length} conformance models identical`);
  assert.deepEqual(different, []);
});

test('fields unknown to the schema survive the round trip', () => {
  const bytes = readFileSync(fixture('mlp'));
  // field 99 (length-delimited, "hello") on the model, appended after the known fields.
  const extra = Buffer.from([0x9a, 0x06, 5, ...Buffer.from('hello')]);
  const withUnknown = Buffer.concat([bytes, extra]);
  const model = decodeModel(withUnknown);
  assert.equal(model.$unknown?.length, 1);
  assert.deepEqual(Buffer.from(encodeModel(model)), withUnknown);
});

test('IR 11 device fields are decoded and kept', () => {
  const model = decodeModel(readFileSync(fixture('ir11_devices')));
  assert.equal(model.irVersion, 11n);
  assert.deepEqual(model.configuration[0]?.device, ['cuda:0', 'cuda:1']);
  assert.equal(model.graph!.node[0]!.deviceConfigurations[0]!.configurationId, 'two_gpus');
  assert.equal(model.graph!.node[4]!.metadataProps[0]!.value, 'cuda:1');
});

test('large tensor data is written from the decoded buffer without a copy', () => {
  const big = new Float32Array(256 * 1024).map((_, i) => i % 7);
  const model = makeModel(
    makeGraph({
      name: 'g',
      inputs: [makeValueInfo('x', TensorProto_DataType.FLOAT, ['n', 256 * 1024])],
      outputs: [makeValueInfo('y', TensorProto_DataType.FLOAT, ['n', 256 * 1024])],
      initializers: [makeTensor('small', TensorProto_DataType.FLOAT, [2], Float32Array.of(1, 2)), makeTensor('big', TensorProto_DataType.FLOAT, [256 * 1024], big)],
      nodes: [makeNode('Add', ['x', 'big'], ['y'])],
    }),
    { opset: 13 },
  );
  const bytes = toBinary(ModelProtoSchema, model);
  const decoded = decodeModel(bytes);
  const raw = decoded.graph!.initializer[1]!.rawData;
  assert.equal(raw.buffer, bytes.buffer, 'raw_data is a view into the file bytes');
  const chunks = encodeModelChunks(decoded);
  assert.ok(chunks.some((chunk) => chunk === raw), 'the weight bytes are one of the written chunks, as they are');
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(bytes));
});

test('a model built in memory encodes the same as protobuf-es toBinary', () => {
  const model = create(ModelProtoSchema, { irVersion: 9n, graph: makeGraph({ name: 'g', inputs: [], outputs: [], nodes: [] }) });
  assert.deepEqual(encodeModel(model), toBinary(ModelProtoSchema, model));
});
