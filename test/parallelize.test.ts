import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { clone } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DT, type ModelProto, type NodeProto } from '../src/onnx.js';
import { encodeModel } from '../src/io/codec.js';
import { loadModel } from '../src/io/files.js';
import { InputError } from '../src/errors.js';
import { forEachGraph, subgraphsOf } from '../src/graph/walk.js';
import { shapeOf } from '../src/graph/types.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { parallelize } from '../src/transform/parallelize.js';
import { verifyParallel } from '../src/verify/verify.js';
import { batchCouplingSuspects } from '../src/verify/batch-coupling.js';
import { SeededRandom } from '../src/tensors/random.js';
import { fixture, fixtureNames } from './helpers.js';

const separableFixtures = fixtureNames().filter((name) => name !== 'batch_coupled');
const devices = (n: number): string[] => Array.from({ length: n }, (_, i) => `cuda:${i}`);
const weightsFor: Record<number, number[]> = { 2: [2, 1], 3: [3, 2, 1], 4: [1, 2, 3, 4] };

for (const name of separableFixtures) {
  test(`${name}: rewritten outputs equal the original's for N = 2, 3, 4, balanced and weighted`, async () => {
    const model = await loadModel(fixture(name));
    const fixed = name.startsWith('fixed_batch');
    for (const n of [2, 3, 4]) {
      for (const weights of fixed ? [undefined] : [undefined, weightsFor[n]]) {
        const result = parallelize(model, { devices: devices(n), ...(weights === undefined ? {} : { weights }) });
        const verify = await verifyParallel(model, result);
        const label = `${name} N=${n} weights=${weights ?? 'balanced'}`;
        assert.equal(verify.status, 'passed', `${label}: ${verify.reason}`);
        assert.equal(verify.verified, true, label);
        const batches = verify.runs.map((r) => r.batch);
        assert.deepEqual(batches, fixed ? [n * (name === 'fixed_batch1' ? 1 : 2)] : [1, n, n + 1, 4 * n + 3], label);
        assert.ok(verify.runs.every((r) => r.status === 'passed'), label);
      }
    }
  });
}

test('outputs match a direct run of the original, without the verifier (MLP, batch 7 over 3)', async () => {
  const original = await loadModel(fixture('mlp'));
  const { model } = parallelize(original, { devices: devices(3) });
  const random = new SeededRandom(5);
  const x = new ort.Tensor('float32', random.floats(7 * 16), [7, 16]);
  const a = await (await ort.InferenceSession.create(fixture('mlp'))).run({ x });
  const b = await (await ort.InferenceSession.create(encodeModel(model))).run({ x });
  assert.deepEqual(b['y']!.dims, [7, 8]);
  const ya = a['y']!.data as Float32Array;
  const yb = b['y']!.data as Float32Array;
  for (let i = 0; i < ya.length; i++) assert.ok(Math.abs(ya[i]! - yb[i]!) <= 1e-5 * Math.max(1, Math.abs(ya[i]!)), `element ${i}`);
});

test('a model that is not separable per sample fails verification', async () => {
  const model = await loadModel(fixture('batch_coupled'));
  const verify = await verifyParallel(model, parallelize(model, { devices: devices(2) }));
  assert.equal(verify.status, 'failed');
  assert.match(verify.reason!, /output 'y'/);
  assert.deepEqual(verify.suspects, ['Softmax (axis 0)']);
});

test('operators that can mix samples are named as a hint, from their attributes; separable ones are not', async () => {
  const graphOf = (nodes: NodeProto[]) =>
    makeModel(makeGraph({ name: 'g', inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 4])], outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 4])], nodes }), { opset: 13 });
  const coupled = graphOf([
    makeNode('Softmax', ['x'], ['a'], { axis: 0 }, { name: 'sm' }),
    makeNode('ReduceMean', ['a'], ['b'], { axes: [0] }, { name: 'mean' }),
    makeNode('ReduceSum', ['b'], ['c'], {}, { name: 'total' }),
    makeNode('ArgMax', ['c'], ['d'], {}, { name: 'best' }),
    makeNode('DynamicQuantizeLinear', ['d'], ['q', 'scale', 'zero'], {}, { name: 'dq' }),
  ]);
  assert.deepEqual(batchCouplingSuspects(coupled), [
    "Softmax 'sm' (axis 0)",
    "ReduceMean 'mean' (over axis 0)",
    "ReduceSum 'total' (over all axes)",
    "ArgMax 'best' (axis 0)",
    "DynamicQuantizeLinear 'dq' (one quantization scale for the whole batch)",
  ]);
  const separable = graphOf([
    makeNode('Softmax', ['x'], ['a'], {}),
    makeNode('ReduceMean', ['a'], ['b'], { axes: [1] }),
    makeNode('ReduceSum', ['b', 'axes'], ['c'], {}),
    makeNode('ArgMax', ['c'], ['d'], { axis: 1 }),
    makeNode('LayerNormalization', ['d', 'scale'], ['y'], {}),
  ]);
  assert.deepEqual(batchCouplingSuspects(separable), []);
  assert.deepEqual(batchCouplingSuspects(await loadModel(fixture('mlp'))), []);
});

test('drop-in: names, element types and ranks kept; symbolic batch stays symbolic; fixed batch B becomes N*B', async () => {
  for (const name of separableFixtures) {
    const original = await loadModel(fixture(name));
    const { model } = parallelize(original, { devices: devices(3) });
    const before = original.graph!;
    const after = model.graph!;
    assert.deepEqual(after.input.map((i) => i.name), before.input.map((i) => i.name), name);
    assert.deepEqual(after.output.map((o) => o.name), before.output.map((o) => o.name), name);
    const pairs = [...before.input.map((v, k) => [v, after.input[k]!] as const), ...before.output.map((v, k) => [v, after.output[k]!] as const)];
    for (const [b, a] of pairs) {
      assert.equal(a.type?.value.value?.$typeName, b.type?.value.value?.$typeName, `${name}/${b.name}`);
      const sb = shapeOf(b);
      const sa = shapeOf(a);
      assert.equal(sa?.length, sb?.length, `${name}/${b.name} rank`);
      sb?.forEach((dim, axis) => {
        if (typeof dim === 'string') assert.equal(sa![axis], dim, `${name}/${b.name} symbolic dim stays`);
        else if (name.startsWith('fixed_batch') && axis === 0) assert.equal(sa![axis], 3 * dim!, `${name}/${b.name} fixed batch`);
        else assert.equal(sa![axis], dim, `${name}/${b.name} other dims unchanged`);
      });
    }
  }
});

/** The size of everything but tensor data: what the rewrite may repeat per replica. */
function nonWeightBytes(model: ModelProto): number {
  const copy = clone(ModelProtoSchema, model);
  forEachGraph(copy.graph!, (g) => {
    g.initializer = [];
    g.sparseInitializer = [];
    for (const node of g.node) if (node.opType === 'Constant') node.attribute = [];
  });
  return encodeModel(copy).length;
}

/** Tensor bytes of a model (initializers and Constant values, bodies included). */
function weightBytes(model: ModelProto): number {
  return encodeModel(model).length - nonWeightBytes(model);
}

test('weights are stored once: every fixture keeps its tensor bytes, only split constants are added', async () => {
  for (const name of [...separableFixtures, 'constant_weights']) {
    const original = name === 'constant_weights' ? constantWeightsModel() : await loadModel(fixture(name));
    for (const n of [2, 4]) {
      const added = weightBytes(parallelize(original, { devices: devices(n) }).model) - weightBytes(original);
      assert.ok(added >= 0 && added <= 64 * n, `${name} N=${n}: ${added} tensor bytes added`);
    }
  }
});

test('output size <= input + (N-1) x non-weight bytes, plus 5%, on a model of realistic size', async () => {
  const r = new SeededRandom(21);
  const layers = 6;
  const model = makeModel(
    makeGraph({
      name: 'mid',
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 256])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 256])],
      initializers: Array.from({ length: layers }, (_, i) => makeTensor(`w${i}`, DT.FLOAT, [256, 256], r.floats(256 * 256, 0.05))),
      nodes: Array.from({ length: layers }, (_, i) => makeNode('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], [i === layers - 1 ? 'y' : `h${i}`], {}, { name: `layer${i}` })),
    }),
    { opset: 13 },
  );
  const inputBytes = encodeModel(model).length;
  for (const n of [2, 4, 8]) {
    const out = encodeModel(parallelize(model, { devices: devices(n) }).model).length;
    const bound = (inputBytes + (n - 1) * nonWeightBytes(model)) * 1.05;
    assert.ok(out <= bound, `N=${n}: ${out} > ${bound.toFixed(0)}`);
  }
  for (const name of ['cnn', 'lstm', 'recurrent_state']) {
    const original = await loadModel(fixture(name));
    const out = encodeModel(parallelize(original, { devices: devices(2) }).model).length;
    assert.ok(out < 2 * encodeModel(original).length, `${name}: weights not duplicated`);
  }
});

/** Weights as Constant nodes (as Paddle and some PyTorch exports do), one of them inside a Loop body. */
function constantWeightsModel(): ModelProto {
  const r = new SeededRandom(3);
  const w = makeTensor('w', DT.FLOAT, [64, 64], r.floats(64 * 64, 0.1));
  const wBody = makeTensor('wb', DT.FLOAT, [64, 64], r.floats(64 * 64, 0.1));
  const body = makeGraph({
    name: 'body',
    inputs: [makeValueInfo('i', DT.INT64, []), makeValueInfo('c', DT.BOOL, []), makeValueInfo('h', DT.FLOAT, ['batch', 64])],
    outputs: [makeValueInfo('c_out', DT.BOOL, []), makeValueInfo('h_out', DT.FLOAT, ['batch', 64])],
    nodes: [makeNode('Identity', ['c'], ['c_out']), makeNode('Constant', [], ['wb_value'], { value: wBody }), makeNode('MatMul', ['h', 'wb_value'], ['hm']), makeNode('Tanh', ['hm'], ['h_out'])],
  });
  return makeModel(
    makeGraph({
      name: 'constant_weights',
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 64])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 64])],
      nodes: [
        makeNode('Constant', [], ['w_value'], { value: w }),
        makeNode('Constant', [], ['trips'], { value: makeTensor('t', DT.INT64, [], BigInt64Array.of(2n)) }),
        makeNode('Constant', [], ['go'], { value: makeTensor('g', DT.BOOL, [], Uint8Array.of(1)) }),
        makeNode('MatMul', ['x', 'w_value'], ['h0']),
        makeNode('Loop', ['trips', 'go', 'h0'], ['y'], { body }),
      ],
    }),
    { opset: 13 },
  );
}

test('Constant weights, in the graph and in Loop bodies, are hoisted and shared; results stay equal', async () => {
  const original = constantWeightsModel();
  const result = parallelize(original, { devices: devices(3) });
  let constants = 0;
  forEachGraph(result.model.graph!, (g) => (constants += g.node.filter((n) => n.opType === 'Constant').length));
  assert.equal(constants, 0, 'no Constant node left in any replica');
  assert.equal(result.model.graph!.initializer.filter((t) => t.dims.join() === '64,64').length, 2, 'each weight stored once');
  assert.equal((await verifyParallel(original, result)).status, 'passed');
});

test('names are unique: every value is defined once, node names are distinct, bodies are renamed too', async () => {
  for (const name of separableFixtures) {
    const { model } = parallelize(await loadModel(fixture(name)), { devices: devices(3) });
    const defined = new Set<string>();
    const nodeNames = new Set<string>();
    forEachGraph(model.graph!, (g, depth) => {
      const define = (value: string): void => {
        if (value === '') return;
        assert.ok(!defined.has(value), `${name}: '${value}' defined twice`);
        defined.add(value);
      };
      if (depth === 0) [...g.input.map((i) => i.name), ...g.initializer.map((t) => t.name)].forEach(define);
      else g.input.forEach((i) => define(i.name));
      for (const node of g.node) {
        node.output.forEach(define);
        if (node.name !== '') {
          assert.ok(!nodeNames.has(node.name), `${name}: node name '${node.name}' twice`);
          nodeNames.add(node.name);
        }
      }
    });
  }
});

test('device tags: IR 11 configuration, per-node device configurations and metadata, host split and join', async () => {
  const { model } = parallelize(await loadModel(fixture('if_outer_scope')), { devices: ['cuda:0', 'cuda:2'] });
  assert.equal(model.irVersion, 11n);
  assert.equal(model.configuration.length, 1);
  assert.deepEqual(model.configuration[0]!.device, ['cuda:0', 'cuda:2']);
  assert.equal(model.configuration[0]!.numDevices, 2);
  const meta = (n: { metadataProps: Array<{ key: string; value: string }> }, key: string) => n.metadataProps.find((p) => p.key === key)?.value;
  let replicaNodes = 0;
  let bodyNodes = 0;
  for (const node of model.graph!.node) {
    const replica = meta(node, 'replica');
    assert.ok(replica !== undefined, `node ${node.name} has a replica tag`);
    if (replica === 'host') {
      assert.equal(meta(node, 'device'), 'cpu');
      continue;
    }
    replicaNodes += 1;
    const index = Number(replica);
    assert.equal(meta(node, 'device'), ['cuda:0', 'cuda:2'][index]);
    assert.equal(node.deviceConfigurations[0]!.configurationId, model.configuration[0]!.name);
    assert.deepEqual(node.deviceConfigurations[0]!.shardingSpec.map((s) => s.device), node.output.map(() => [BigInt(index)]));
    for (const { graph } of subgraphsOf(node)) {
      for (const inner of graph.node) {
        bodyNodes += 1;
        assert.equal(meta(inner, 'device'), meta(node, 'device'));
        assert.equal(inner.deviceConfigurations.length, 1);
      }
    }
  }
  assert.equal(replicaNodes, 4);
  assert.equal(bodyNodes, 4);
});

test('--ir-version 10 writes metadata only, lower writes names only, and IR is never lowered', async () => {
  const mlp = await loadModel(fixture('mlp'));
  const v10 = parallelize(mlp, { devices: devices(2), irVersion: 10 }).model;
  assert.equal(v10.irVersion, 10n);
  assert.equal(v10.configuration.length, 0);
  assert.ok(v10.graph!.node.every((n) => n.deviceConfigurations.length === 0 && n.metadataProps.some((p) => p.key === 'device')));
  const v8 = parallelize(mlp, { devices: devices(2), irVersion: 8 }).model;
  assert.equal(v8.irVersion, 8n);
  assert.ok(v8.graph!.node.every((n) => n.deviceConfigurations.length === 0 && n.metadataProps.length === 0));
  const ir11 = await loadModel(fixture('ir11_devices'));
  assert.equal(parallelize(ir11, { devices: devices(2), irVersion: 10 }).model.irVersion, 11n);
  for (const model of [v10, v8]) await (await ort.InferenceSession.create(encodeModel(model))).release();
});

test('the rewrite is deterministic and does not modify its input', async () => {
  const bytes = readFileSync(fixture('loop'));
  const model = await loadModel(fixture('loop'));
  const first = encodeModel(parallelize(model, { devices: devices(3) }).model);
  const second = encodeModel(parallelize(model, { devices: devices(3) }).model);
  assert.deepEqual(first, second);
  assert.deepEqual(Buffer.from(encodeModel(model)), bytes);
  assert.ok(statSync(fixture('loop')).size === bytes.length);
});

function reduceModel(op: string): ModelProto {
  return makeModel(
    makeGraph({
      name: 'reduce',
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 4])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 4]), makeValueInfo('total', DT.FLOAT, [])],
      nodes: [makeNode('Relu', ['x'], ['y']), makeNode(op, ['x'], ['total'], { keepdims: 0 })],
    }),
    { opset: 13 },
  );
}

test('outputs without a batch axis need --combine; sum, mean and max reproduce batch reductions exactly', async () => {
  assert.throws(() => parallelize(reduceModel('ReduceSum'), { devices: devices(2) }), (e: unknown) => e instanceof InputError && /output 'total'.*--combine total=/.test(e.message));
  for (const [op, mode] of [['ReduceSum', 'sum'], ['ReduceMean', 'mean'], ['ReduceMax', 'max']] as const) {
    const model = reduceModel(op);
    for (const n of [2, 3, 4]) {
      const verify = await verifyParallel(model, parallelize(model, { devices: devices(n), combine: { total: mode } }));
      assert.equal(verify.status, 'passed', `${op} ${mode} N=${n}: ${verify.reason}`);
    }
  }
  const model = reduceModel('ReduceSum');
  assert.equal((await verifyParallel(model, parallelize(model, { devices: devices(2), combine: { total: 'first' } }))).status, 'failed');
  const stacked = parallelize(model, { devices: devices(3), combine: { total: 'stack' } });
  assert.deepEqual(shapeOf(stacked.model.graph!.output[1]!), ['replicas']);
  assert.equal((await verifyParallel(model, stacked)).status, 'passed');
});

test('an input the original rejects is not verifiable rather than a mismatch', async () => {
  const model = makeModel(
    makeGraph({
      name: 'gather',
      inputs: [makeValueInfo('index', DT.INT64, ['batch'])],
      outputs: [makeValueInfo('rows', DT.FLOAT, ['batch', 4])],
      initializers: [makeTensor('table', DT.FLOAT, [0, 4], new Float32Array(0))],
      nodes: [makeNode('Gather', ['table', 'index'], ['rows'])],
    }),
    { opset: 13 },
  );
  const verify = await verifyParallel(model, parallelize(model, { devices: devices(2) }));
  assert.equal(verify.status, 'not-verifiable');
  assert.equal(verify.verified, false);
  assert.match(verify.reason!, /rejects the generated inputs/);
});

function oldOpsetMlp(opset: number, ops: 'matmul' | 'add'): ModelProto {
  const r = new SeededRandom(8);
  return makeModel(
    makeGraph({
      name: `opset${opset}`,
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 4])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 3])],
      initializers: [makeTensor('w', DT.FLOAT, [4, 3], r.floats(12))],
      nodes: ops === 'matmul' ? [makeNode('MatMul', ['x', 'w'], ['h']), makeNode('Relu', ['h'], ['y'])] : [makeNode('MatMul', ['x', 'w'], ['h']), makeNode('Add', ['h', 'h'], ['y'])],
    }),
    { opset, irVersion: 3 },
  );
}

test('symbolic batches below opset 10: Gather over row indices (NonZero at 9, Loop at 7-8), opset raised only when safe', async () => {
  for (const opset of [9, 8, 7]) {
    const model = oldOpsetMlp(opset, 'add');
    const result = parallelize(model, { devices: devices(3) });
    assert.equal(result.report.opset.to, opset);
    const ops = new Set(result.model.graph!.node.map((n) => n.opType));
    assert.ok(!ops.has('Slice'), `opset ${opset}: no Slice with dynamic bounds`);
    assert.ok(ops.has('Gather') && ops.has(opset >= 9 ? 'NonZero' : 'Loop'), `opset ${opset}: ${[...ops]}`);
    assert.equal((await verifyParallel(model, result)).status, 'passed', `opset ${opset}`);
  }
  const raised = parallelize(oldOpsetMlp(6, 'matmul'), { devices: devices(2) });
  assert.equal(raised.report.opset.to, 7);
  assert.match(raised.report.notes.join(), /raised from 6 to 7/);
  assert.equal((await verifyParallel(oldOpsetMlp(6, 'matmul'), raised)).status, 'passed');
  assert.throws(() => parallelize(oldOpsetMlp(6, 'add'), { devices: devices(2) }), (e: unknown) => e instanceof InputError && /opset 6.*Add.*opset 7/.test(e.message));
});

test('a fixed batch at an old opset is cut with constant Slice attributes', async () => {
  const model = oldOpsetMlp(6, 'add');
  const x = model.graph!.input[0]!;
  const shape = x.type!.value.value as { shape: { dim: Array<{ value: unknown }> } };
  shape.shape.dim[0]!.value = { case: 'dimValue', value: 2n };
  const result = parallelize(model, { devices: devices(2) });
  assert.equal(result.report.opset.to, 6);
  const slice = result.model.graph!.node.find((n) => n.opType === 'Slice')!;
  assert.deepEqual(slice.attribute.map((a) => a.name).sort(), ['axes', 'ends', 'starts']);
});

test('recurrent state and LSTM batch axes are inferred from shared dim names', async () => {
  const rnn = parallelize(await loadModel(fixture('recurrent_state')), { devices: devices(2) }).report;
  assert.deepEqual(rnn.inputs.map((i) => [i.name, i.axis]), [['x', 0], ['state', 1]]);
  assert.deepEqual(rnn.outputs.map((o) => [o.name, o.axis]), [['y', 0], ['new_state', 1]]);
  const lstm = parallelize(await loadModel(fixture('lstm')), { devices: devices(2) }).report;
  assert.deepEqual(lstm.outputs.map((o) => [o.name, o.axis]), [['Y', 2], ['Y_h', 1]]);
  const side = parallelize(await loadModel(fixture('scalar_side_input')), { devices: devices(2) }).report;
  assert.deepEqual(side.inputs.map((i) => [i.name, i.axis, i.split]), [['audio', 0, 'balanced'], ['gain', null, 'shared']]);
});

test('option errors name the option and the fix', async () => {
  const mlp = await loadModel(fixture('mlp'));
  const cases: Array<[Parameters<typeof parallelize>[1], RegExp]> = [
    [{ devices: [] }, /at least one device/],
    [{ devices: ['gpu0'] }, /'gpu0' is not a device/],
    [{ devices: devices(2), weights: [1] }, /--weights has 1 values for 2 devices/],
    [{ devices: devices(2), weights: [1, 0] }, /positive/],
    [{ devices: devices(2), axes: { nope: 0 } }, /--axis nope: the model has no input or output named 'nope'/],
    [{ devices: devices(2), axes: { x: 2 } }, /--axis x=2: out of range for input 'x' of rank 2/],
    [{ devices: devices(2), combine: { nope: 'sum' } }, /--combine nope/],
  ];
  for (const [options, pattern] of cases) assert.throws(() => parallelize(mlp, options), (e: unknown) => e instanceof InputError && pattern.test(e.message), String(pattern));
  const fixed = await loadModel(fixture('fixed_batch1'));
  assert.throws(() => parallelize(fixed, { devices: devices(2), weights: [2, 1] }), /fixed batch of 1.*--weights needs a symbolic batch/);
});

test('fixed shapes: the first dim shared by inputs and outputs is the batch; an input whose first dim differs is shared', async () => {
  const model = makeModel(
    makeGraph({
      name: 'fixed_with_table',
      inputs: [makeValueInfo('ids', DT.INT64, [2, 3]), makeValueInfo('table', DT.FLOAT, [10, 4])],
      outputs: [makeValueInfo('vectors', DT.FLOAT, [2, 3, 4])],
      nodes: [makeNode('Gather', ['table', 'ids'], ['vectors'])],
    }),
    { opset: 13 },
  );
  const result = parallelize(model, { devices: devices(2) });
  assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis]), [['ids', 0], ['table', null]]);
  assert.match(result.report.inputs[1]!.reason, /first dim 10 differs from the batch 2/);
  assert.deepEqual(shapeOf(result.model.graph!.input[0]!), [4, 3]);
  assert.deepEqual(shapeOf(result.model.graph!.input[1]!), [10, 4]);
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});

test('a model rewritten already is refused', async () => {
  const once = parallelize(await loadModel(fixture('mlp')), { devices: devices(2) }).model;
  assert.throws(() => parallelize(once, { devices: devices(2) }), (e: unknown) => e instanceof InputError && /rewritten by onnx-parallelize already \(2 replicas/.test(e.message));
});

test('--verify-input samples of the original fixed batch are repeated for every replica', async () => {
  const model = await loadModel(fixture('fixed_batch2'));
  const x = new ort.Tensor('float32', new SeededRandom(4).floats(2 * 24), [2, 4, 6]);
  const verify = await verifyParallel(model, parallelize(model, { devices: devices(3) }), { samples: { x } });
  assert.equal(verify.status, 'passed', verify.reason);
  assert.deepEqual(verify.runs.map((r) => r.batch), [6, 6]);
});

test('outputs that are an input or a weight pass through without a join', async () => {
  const model = makeModel(
    makeGraph({
      name: 'passthrough',
      inputs: [makeValueInfo('x', DT.FLOAT, ['b', 3])],
      outputs: [makeValueInfo('x', DT.FLOAT, ['b', 3]), makeValueInfo('y', DT.FLOAT, ['b', 3]), makeValueInfo('c', DT.FLOAT, [2])],
      initializers: [makeTensor('c', DT.FLOAT, [2], Float32Array.of(1, 2))],
      nodes: [makeNode('Neg', ['x'], ['y'])],
    }),
    { opset: 13 },
  );
  const result = parallelize(model, { devices: devices(3), combine: { c: 'first' } });
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});

test('recurrent models exported at a fixed batch: LSTM inputs and outputs are split on their batch axes', async () => {
  const hidden = 4;
  const r = new SeededRandom(30);
  const model = makeModel(
    makeGraph({
      name: 'fixed_lstm',
      inputs: [makeValueInfo('X', DT.FLOAT, [5, 1, 3]), makeValueInfo('h0', DT.FLOAT, [1, 1, hidden])],
      outputs: [makeValueInfo('Y', DT.FLOAT, [5, 1, 1, hidden]), makeValueInfo('Y_h', DT.FLOAT, [1, 1, hidden])],
      initializers: [makeTensor('W', DT.FLOAT, [1, 4 * hidden, 3], r.floats(48)), makeTensor('R', DT.FLOAT, [1, 4 * hidden, hidden], r.floats(64))],
      nodes: [makeNode('LSTM', ['X', 'W', 'R', '', '', 'h0'], ['Y', 'Y_h'], { hidden_size: hidden })],
    }),
    { opset: 14 },
  );
  const result = parallelize(model, { devices: devices(2) });
  assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis, i.reason]), [['X', 1, 'batch axis of LSTM'], ['h0', 1, 'batch axis of LSTM']]);
  assert.deepEqual(result.report.outputs.map((o) => [o.name, o.axis]), [['Y', 2], ['Y_h', 1]]);
  assert.deepEqual(shapeOf(result.model.graph!.input[0]!), [5, 2, 3]);
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});

test('an input without the batch dim and with a fixed first dim (position ids [1, seq]) is fed whole', async () => {
  const model = makeModel(
    makeGraph({
      name: 'positions',
      inputs: [makeValueInfo('tokens', DT.FLOAT, ['batch', 'seq']), makeValueInfo('positions', DT.FLOAT, [1, 'seq'])],
      outputs: [makeValueInfo('out', DT.FLOAT, ['batch', 'seq'])],
      nodes: [makeNode('Add', ['tokens', 'positions'], ['out'])],
    }),
    { opset: 13 },
  );
  const result = parallelize(model, { devices: devices(2) });
  assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis]), [['tokens', 0], ['positions', null]]);
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});

test('a fixed batch with a free sequence length or image size: the fixed first dim is the batch, not the free dim', async () => {
  // A transformer exported at batch 1 with a dynamic sequence: the shared dim name is the sequence.
  const text = makeModel(
    makeGraph({
      name: 'fixed_batch_text',
      inputs: [makeValueInfo('input_ids', DT.INT64, [1, 'sequence']), makeValueInfo('attention_mask', DT.INT64, [1, 'sequence'])],
      outputs: [makeValueInfo('logits', DT.FLOAT, [1, 'sequence'])],
      nodes: [makeNode('Mul', ['input_ids', 'attention_mask'], ['masked']), makeNode('Cast', ['masked'], ['cast'], { to: DT.FLOAT }), makeNode('Softmax', ['cast'], ['logits'], { axis: 1 })],
    }),
    { opset: 13 },
  );
  const textResult = parallelize(text, { devices: devices(2) });
  assert.deepEqual(textResult.report.inputs.map((i) => [i.name, i.axis, i.batch]), [['input_ids', 0, 1], ['attention_mask', 0, 1]]);
  assert.match(textResult.report.inputs[0]!.reason, /fixed batch 1 .*dim 'sequence' is on no first dim/);
  assert.deepEqual(textResult.report.outputs.map((o) => [o.name, o.axis]), [['logits', 0]]);
  assert.deepEqual(shapeOf(textResult.model.graph!.input[0]!), [2, 'sequence']);
  assert.equal((await verifyParallel(text, textResult)).status, 'passed');
  // A segmentation model exported at batch 1 with a free image size, and a rank-0 threshold beside it.
  const image = makeModel(
    makeGraph({
      name: 'fixed_batch_image',
      inputs: [makeValueInfo('image', DT.FLOAT, [1, 3, 'height', 'width']), makeValueInfo('threshold', DT.FLOAT, [])],
      outputs: [makeValueInfo('mask', DT.FLOAT, [1, 2, 'height', 'width']), makeValueInfo('score', DT.FLOAT, [1, 2])],
      initializers: [makeTensor('w', DT.FLOAT, [2, 3, 1, 1], new SeededRandom(31).floats(6))],
      nodes: [
        makeNode('Conv', ['image', 'w'], ['conv']),
        makeNode('Sub', ['conv', 'threshold'], ['mask']),
        makeNode('ReduceMean', ['mask'], ['score'], { axes: [2, 3], keepdims: 0 }),
      ],
    }),
    { opset: 13 },
  );
  const imageResult = parallelize(image, { devices: devices(2) });
  assert.deepEqual(imageResult.report.inputs.map((i) => [i.name, i.axis]), [['image', 0], ['threshold', null]]);
  assert.deepEqual(imageResult.report.outputs.map((o) => [o.name, o.axis]), [['mask', 0], ['score', 0]]);
  assert.equal((await verifyParallel(image, imageResult)).status, 'passed');
});

test('a dim named as the batch wins over one on axis 0 (sequence-first models)', async () => {
  const model = makeModel(
    makeGraph({
      name: 'sequence_first',
      inputs: [makeValueInfo('x', DT.FLOAT, ['seq_len', 'batch_size', 4])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['seq_len', 'batch_size', 4])],
      nodes: [makeNode('Softmax', ['x'], ['y'], { axis: 0 })],
    }),
    { opset: 13 },
  );
  const result = parallelize(model, { devices: devices(2) });
  assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis, i.batch]), [['x', 1, 'batch_size']]);
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});

test('unnamed dynamic dims: the first dim that is not fixed is the batch; an output named after an input takes its axis', async () => {
  const model = makeModel(
    makeGraph({
      name: 'unnamed_state',
      inputs: [makeValueInfo('input', DT.FLOAT, [null, null]), makeValueInfo('state', DT.FLOAT, [2, null, 4]), makeValueInfo('sr', DT.INT64, [])],
      outputs: [makeValueInfo('output', DT.FLOAT, [null, 1]), makeValueInfo('stateN', DT.FLOAT, [null, null, null])],
      initializers: [makeTensor('axes', DT.INT64, [1], BigInt64Array.of(1n))],
      nodes: [
        makeNode('ReduceMean', ['input', 'axes'], ['output'], { keepdims: 1 }),
        makeNode('Tanh', ['state'], ['stateN']),
      ],
    }),
    { opset: 18 },
  );
  const result = parallelize(model, { devices: devices(2) });
  assert.deepEqual(result.report.inputs.map((i) => [i.name, i.axis]), [['input', 0], ['state', 1], ['sr', null]]);
  assert.deepEqual(result.report.outputs.map((o) => [o.name, o.axis, o.reason]), [['output', 0, 'first dim not fixed'], ['stateN', 1, "as input 'state'"]]);
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});
