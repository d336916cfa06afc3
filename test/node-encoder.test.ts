import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { clone, create, toBinary } from '@bufbuild/protobuf';
import { NodeDeviceConfigurationProtoSchema, NodeProtoSchema, ShardingSpecProtoSchema, type ModelProto, type NodeProto } from '../src/onnx.js';
import { copyNode } from '../src/graph/placement.js';
import { withFields } from '../src/graph/copy.js';
import { decodeModel } from '../src/io/codec.js';
import { ByteSink, NodeEncoder } from '../src/io/node-encoder.js';
import { forEachNodeList } from '../src/graph/walk.js';
import { makeEntry, makeNode } from '../src/graph/build.js';
import { parallelize } from '../src/transform/parallelize.js';
import { conformanceModels, fixture, fixtureNames } from './helpers.js';

function mismatches(model: ModelProto, label: string): string[] {
  const encoder = new NodeEncoder();
  const found: string[] = [];
  forEachNodeList(model, (nodes: NodeProto[]) => {
    for (const node of nodes) {
      const sink = new ByteSink();
      encoder.write(sink, 1, node);
      const expected = toBinary(NodeProtoSchema, node);
      const header = sink.length - expected.length;
      if (Buffer.compare(sink.bytes.subarray(header, sink.length), Buffer.from(expected)) !== 0) found.push(`${label}: node '${node.name}' (${node.opType})`);
    }
  });
  return found;
}

test('the fast node encoder writes exactly what toBinary writes, for every node of fixtures, conformance models and their rewrites', () => {
  const problems: string[] = [];
  let models = 0;
  for (const file of [...fixtureNames().map(fixture), ...conformanceModels()]) {
    const model = decodeModel(readFileSync(file), file);
    problems.push(...mismatches(model, file));
    try {
      problems.push(...mismatches(parallelize(model, { devices: ['cuda:0', 'cuda:1'], axes: {}, combine: Object.fromEntries(model.graph!.output.map((o) => [o.name, 'first' as const])) }).model, `${file} rewritten`));
    } catch {
      // models the rewrite refuses are covered by their own tests
    }
    models += 1;
  }
  assert.ok(models > 1000);
  assert.deepEqual(problems, []);
});

test('non-ASCII names, long names, unknown fields and negative int64s encode like toBinary', () => {
  const node = makeNode('Relu', ['入力', 'x'.repeat(300), 'x'.repeat(64), 'x'.repeat(65)], ['出力', 'relu_é', 'relu_\u{1F600}'], { big: -5, neg: [-1, 2 ** 40] }, { name: 'ノード', domain: 'com.example' });
  node.metadataProps.push(makeEntry('clé', 'valeur'));
  node.$unknown = [{ no: 99, wireType: 2, data: Uint8Array.of(3, 1, 2, 3) }];
  for (const candidate of [node, { ...node, $unknown: undefined } as NodeProto]) {
    const sink = new ByteSink();
    new NodeEncoder().write(sink, 1, candidate);
    const expected = toBinary(NodeProtoSchema, candidate);
    assert.deepEqual(Buffer.from(sink.bytes.subarray(sink.length - expected.length, sink.length)), Buffer.from(expected));
  }
});

test('placed nodes: device_configurations derived from outputs, built on first read and then kept as data', () => {
  const placement = {
    configuration: create(NodeDeviceConfigurationProtoSchema, { configurationId: 'cfg' }),
    sharding: create(ShardingSpecProtoSchema, { device: [3n] }),
  };
  const node = copyNode(create(NodeProtoSchema, { opType: 'Split' }), { input: ['a'], output: ['y', '', 'z'], name: undefined, attribute: [], metadataProps: [] }, placement);
  const encode = (n: NodeProto): Buffer => {
    const sink = new ByteSink();
    new NodeEncoder().write(sink, 1, n);
    return Buffer.from(sink.bytes.subarray(0, sink.length));
  };
  const expected = (n: NodeProto): Buffer => {
    const sink = new ByteSink();
    sink.lengthDelimited(1, toBinary(NodeProtoSchema, n));
    return Buffer.from(sink.bytes.subarray(0, sink.length));
  };
  // Unread, the encoder writes the list from the outputs, and a copy with other outputs derives its own.
  const fromOutputs = encode(node);
  const renamed = withFields(node, { output: ['w'] });
  assert.deepEqual(renamed.deviceConfigurations[0]!.shardingSpec.map((s) => s.tensorName), ['w']);
  const derived = node.deviceConfigurations;
  assert.equal(derived.length, 1);
  assert.equal(derived[0]!.configurationId, 'cfg');
  assert.deepEqual(derived[0]!.shardingSpec.map((s) => [s.tensorName, s.device]), [['y', [3n]], ['z', [3n]]]);
  assert.equal(node.deviceConfigurations, derived, 'read once, then kept');
  assert.deepEqual(fromOutputs, expected(node));
  const cloned = clone(NodeProtoSchema, node);
  assert.deepEqual(toBinary(NodeProtoSchema, cloned), toBinary(NodeProtoSchema, node));
  // Changes to the list are kept and written, like changes to any field.
  derived[0]!.pipelineStage = 2;
  assert.equal(node.deviceConfigurations[0]!.pipelineStage, 2);
  assert.deepEqual(encode(node), expected(node));
  assert.notDeepEqual(encode(node), fromOutputs);
  node.deviceConfigurations = [create(NodeDeviceConfigurationProtoSchema, { configurationId: 'other' })];
  assert.equal(node.deviceConfigurations[0]!.configurationId, 'other');
  assert.equal(renamed.deviceConfigurations[0]!.configurationId, 'cfg');
  assert.deepEqual(encode(node), expected(node));
  // Lengths of two and three bytes, at every nesting level (node, configuration, sharding spec, name).
  for (const size of [127, 128, 200, 16383, 16384, 70000]) {
    const long = copyNode(create(NodeProtoSchema), { input: ['é'.repeat(size)], output: ['o'.repeat(size), 'p'], name: 'n', attribute: [], metadataProps: [] }, placement);
    assert.deepEqual(encode(long), expected(long), `names of ${size} characters`);
  }
});
