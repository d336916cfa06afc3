import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProtoSchema } from '../src/onnx.js';
import { makeGraph } from '../src/graph/build.js';
import { fixture, fixturesDir, runCli, tempDir } from './helpers.js';

test('inspect summarizes a model for people', () => {
  const result = runCli(['inspect', fixture('cnn')]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /IR version 8; opsets ai\.onnx 13/);
  assert.match(result.stdout, /image: float \[N, 3, 16, 16\]/);
  assert.match(result.stdout, /probs: float \[N, 10\]/);
  assert.match(result.stdout, /nodes: 7 \(/);
  assert.match(result.stdout, /initializers: 8, /);
});

test('inspect --json reports subgraphs, functions, external data and device tags', () => {
  const json = (name: string) => {
    const result = runCli(['inspect', fixture(name), '--json']);
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  assert.deepEqual(json('if_outer_scope').subgraphs.map((s: { attribute: string }) => s.attribute), ['then_branch', 'else_branch']);
  assert.deepEqual(json('local_function').functions, [{ domain: 'local', name: 'ScaledRelu', nodes: 3 }]);
  assert.deepEqual(json('external_data').externalData, [{ location: 'external_data.weights', tensors: 4, bytes: 3232 }]);
  const devices = json('ir11_devices').devices;
  assert.deepEqual(devices.configurations, [{ name: 'two_gpus', numDevices: 2, devices: ['cuda:0', 'cuda:1'] }]);
  assert.equal(devices.annotatedNodes, 5);
  assert.deepEqual(json('lstm').inputs, [{ name: 'X', type: 'float', shape: [5, 'batch', 8] }]);
  assert.equal(json('mlp').parallel, null);
});

test('every kind of bad file gets a one-line error naming the file and exit code 2', () => {
  const folder = tempDir();
  const write = (name: string, bytes: Uint8Array | string): string => {
    const file = path.join(folder, name);
    writeFileSync(file, bytes);
    return file;
  };
  const good = readFileSync(fixture('mlp'));
  const cases: Array<[string, string, RegExp]> = [
    ['missing file', path.join(folder, 'nope.onnx'), /no such file/],
    ['a directory', fixturesDir, /is a directory/],
    ['empty file', write('empty.onnx', ''), /empty/],
    ['random bytes', write('random.onnx', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)), /not an ONNX model/],
    ['truncated model', write('truncated.onnx', good.subarray(0, good.length - 100)), /not an ONNX model/],
    ['a TensorProto', write('tensor.onnx', toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 't', dims: [2n, 3n], dataType: 1, floatData: [1, 2, 3, 4, 5, 6] }))), /not an ONNX model/],
    ['a text file', write('text.onnx', 'ir_version: 8\ngraph { name: "g" }\n'), /not an ONNX model/],
    ['ir_version 0', write('ir0.onnx', toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 0n, graph: makeGraph({ name: 'g', nodes: [], inputs: [], outputs: [] }) }))), /ir_version is missing or 0/],
    ['no graph', write('nograph.onnx', toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n }))), /no graph/],
  ];
  for (const [what, file, pattern] of cases) {
    const result = runCli(['inspect', file]);
    assert.equal(result.status, 2, `${what}: exit code`);
    assert.equal(result.stdout, '', `${what}: nothing on stdout`);
    assert.match(result.stderr, pattern, `${what}: message`);
    assert.ok(result.stderr.includes(file), `${what}: names the file`);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${what}: one line, no stack: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /\s+at\s+\S+ \(/, `${what}: no stack trace`);
  }
});

test('usage errors exit 2', () => {
  assert.equal(runCli(['inspect']).status, 2);
  assert.equal(runCli(['inspect', fixture('mlp'), '--bogus']).status, 2);
});

test('inspect shows the data-parallel plan of a rewritten model', () => {
  const folder = tempDir();
  const out = path.join(folder, 'cnn.parallel.onnx');
  assert.equal(runCli([fixture('cnn'), '--devices', 'cuda:0,cuda:1', '--weights', '2,1', '-o', out, '--quiet']).status, 0);
  const text = runCli(['inspect', out]);
  assert.match(text.stdout, /data-parallel: 2 replicas on cuda:0, cuda:1 \(weights 2:1; inputs image@0\)/);
  assert.match(text.stdout, /device-annotated nodes: \d+ \(cpu \d+, cuda:0 7, cuda:1 7\)/);
  const again = runCli([out, '--gpus', '2']);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /rewritten by onnx-parallelize already/);
});
