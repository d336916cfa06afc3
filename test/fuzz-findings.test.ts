/**
 * One test for each defect the fuzz test found, on the smallest model that shows it: values that would
 * overflow or cannot be are refused by name, damaged structure is refused before the rewrite starts, and
 * nothing loops, recurses or allocates without bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clone, create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  FunctionProtoSchema,
  ModelProtoSchema,
  NodeDeviceConfigurationProtoSchema,
  OperatorSetIdProtoSchema,
  ShardingSpecProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DT,
  type ModelProto,
} from '../src/onnx.js';
import { InputError } from '../src/errors.js';
import { decodeModel, encodeModel, encodeModelChunks } from '../src/io/codec.js';
import { loadModel } from '../src/io/files.js';
import { externalReference } from '../src/io/external-data.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { shapeOf } from '../src/graph/types.js';
import { inspectModel } from '../src/inspect.js';
import { parallelize } from '../src/transform/parallelize.js';
import { PLAN_KEY, readPlan } from '../src/transform/plan.js';
import { gpuDevices } from '../src/transform/options.js';
import { integerWeights } from '../src/transform/split-sizes.js';
import { withDefaultOpset } from '../src/transform/opset.js';
import { verifyParallel } from '../src/verify/verify.js';
import { fixture } from './helpers.js';

const two = { devices: ['cuda:0', 'cuda:1'] };

/** y = Relu(x) with x and y of the given shape. */
function reluModel(shape: Array<number | string | null>, options: { opset?: number } = {}): ModelProto {
  return makeModel(
    makeGraph({ name: 'g', inputs: [makeValueInfo('x', DT.FLOAT, shape)], outputs: [makeValueInfo('y', DT.FLOAT, shape)], nodes: [makeNode('Relu', ['x'], ['y'], {}, { name: 'relu' })] }),
    { opset: options.opset ?? 13 },
  );
}

function setFirstDim(model: ModelProto, value: bigint): ModelProto {
  for (const info of [...model.graph!.input, ...model.graph!.output]) {
    const dim = info.type?.value.case === 'tensorType' ? info.type.value.value.shape!.dim[0]! : undefined;
    dim!.value = { case: 'dimValue', value };
  }
  return model;
}

/** Asserts that `work` throws an InputError whose message matches every pattern. */
function refuses(work: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(work, (error: unknown) => {
    assert.ok(error instanceof InputError, `an InputError, not ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

test('a fixed dim of -2^62 or 2^63-1 is refused by name and number (it overflowed int64 when scaled by N)', () => {
  refuses(() => parallelize(setFirstDim(reluModel([1, 4]), -(1n << 62n)), two), /input 'x': dim 0 is -4611686018427387904/, /fix the model's declared shape/);
  refuses(() => parallelize(setFirstDim(reluModel([1, 4]), (1n << 63n) - 1n), two), /input 'x': dim 0 is 9223372036854775807, larger than any tensor/);
  // Past int64: only a message object can hold it.
  refuses(() => parallelize(setFirstDim(reluModel([1, 4]), 1n << 64n), two), /input 'x': dim 0 is 18446744073709551616/);
});

test('a fixed batch B is refused when N*B is larger than any tensor, naming the product and the fix', () => {
  const model = setFirstDim(reluModel([1, 4]), 1n << 52n);
  refuses(() => parallelize(model, { devices: gpuDevices(4) }), /input 'x' has a fixed batch of 4503599627370496 on axis 0; 4 replicas of it make a batch of 18014398509481984/, /symbolic batch dim/);
  assert.equal(shapeOf(parallelize(model, { devices: gpuDevices(1) }).model.graph!.input[0]!)![0], 2 ** 52);
});

test('a dim of -1 is read as unknown: the batch is split at run time and the rewrite verifies', async () => {
  const model = setFirstDim(reluModel([1, 4]), -1n);
  assert.deepEqual(shapeOf(model.graph!.input[0]!), [null, 4]);
  const result = parallelize(model, two);
  assert.equal(result.report.inputs[0]!.batch, null);
  assert.ok(result.model.graph!.node.some((n) => n.opType === 'Shape'), 'the batch is read at run time');
  assert.equal((await verifyParallel(model, result)).status, 'passed');
  refuses(() => parallelize(setFirstDim(reluModel([1, 4]), -2n), two), /input 'x': dim 0 is -2; a dim is >= 0, or -1 where it is unknown/);
});

test('nodes listed before the node computing their input are rewritten right (onnxruntime sorts them itself)', async () => {
  const model = await loadModel(fixture('mlp'));
  model.graph!.node.reverse();
  const result = parallelize(model, { devices: gpuDevices(3) });
  assert.equal((await verifyParallel(model, result)).status, 'passed');
});

test('a graph that contains itself, or subgraphs nested too deep, are refused instead of overflowing the stack', async () => {
  const model = await loadModel(fixture('if_outer_scope'));
  const graph = model.graph!;
  graph.node[0]!.attribute.push(create(AttributeProtoSchema, { name: 'body', type: AttributeProto_AttributeType.GRAPH, g: graph }));
  refuses(() => parallelize(model, two), /nested more than 24 subgraphs deep/);
  refuses(() => inspectModel(model), /nested more than 24 subgraphs deep/);
});

test('a model object without a graph or with a bad ir_version is refused by inspect and the rewrite', () => {
  const noGraph = create(ModelProtoSchema, { irVersion: 8n });
  refuses(() => inspectModel(noGraph), /it has no graph/);
  refuses(() => parallelize(noGraph, two), /it has no graph/);
  const negative = reluModel(['N', 4]);
  negative.irVersion = -3n;
  refuses(() => parallelize(negative, two), /ir_version is -3/);
  refuses(() => decodeModel(toBinary(ModelProtoSchema, negative)), /ir_version is -3/);
});

test('a damaged execution plan is refused by readPlan with an InputError naming the field', () => {
  const { model } = parallelize(reluModel(['N', 4]), two);
  const withPlan = (value: string): ModelProto => {
    const copy = clone(ModelProtoSchema, model);
    copy.metadataProps.find((p) => p.key === PLAN_KEY)!.value = value;
    return copy;
  };
  const plan = JSON.parse(model.metadataProps.find((p) => p.key === PLAN_KEY)!.value) as Record<string, unknown>;
  const edited = (change: (p: Record<string, unknown>) => void): string => {
    const copy = structuredClone(plan);
    change(copy);
    return JSON.stringify(copy);
  };
  const cases: Array<[string, RegExp]> = [
    ['{"version":1,', /is damaged: the plan must be JSON/],
    ['null', /the plan must be a JSON object, not null/],
    [edited((p) => delete p['version']), /version must be 1, not nothing/],
    [edited((p) => (p['version'] = 2)), /execution plan version 2 is not supported/],
    [edited((p) => (p['devices'] = 'cuda:0')), /devices must be a list/],
    [edited((p) => (p['weights'] = [1])), /weights must be a list of 2 entries/],
    [edited((p) => ((p['inputs'] as Array<Record<string, unknown>>)[0]!['parts'] = [])), /inputs\[0\]\.parts must be a list of 2 entries, each a value name/],
    [edited((p) => ((p['inputs'] as Array<Record<string, unknown>>)[0]!['name'] = 'z')), /inputs\[0\]\.name must be the name of a graph input, not "z"/],
    [edited((p) => ((p['outputs'] as Array<Record<string, unknown>>)[0]!['axis'] = 5)), /outputs\[0\]\.axis must be null or a whole number from 0 to 1, not 5/],
    [edited((p) => ((p['outputs'] as Array<Record<string, unknown>>)[0]!['combine'] = 'sum')), /outputs\[0\]\.combine must be null \(the output has an axis\)/],
  ];
  for (const [value, pattern] of cases) {
    refuses(() => readPlan(withPlan(value)), pattern, /rewrite the original model again|not supported/);
    refuses(() => inspectModel(withPlan(value)), pattern);
  }
  assert.deepEqual(readPlan(withPlan(edited(() => undefined))), plan);
});

test('external data offsets and lengths that are not whole numbers are refused by name', () => {
  const tensor = makeTensor('w', DT.FLOAT, [2], new Float32Array(2));
  tensor.dataLocation = TensorProto_DataLocation.EXTERNAL;
  for (const [key, value] of [['offset', 'abc'], ['length', '-5'], ['length', '1e99'], ['offset', '99999999999999999999']]) {
    tensor.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: 'w.bin' }), create(StringStringEntryProtoSchema, { key: key!, value: value! })];
    refuses(() => externalReference(tensor), new RegExp(`tensor 'w': external data ${key} '${value}' is not a whole number of bytes`));
    refuses(() => inspectModel(makeModel(makeGraph({ name: 'g', nodes: [], inputs: [], outputs: [], initializers: [tensor] }), { opset: 13 })), /is not a whole number of bytes/);
  }
});

test('weights that need whole numbers past 1000000 are refused; exponent notation counts its decimals', () => {
  assert.deepEqual(integerWeights([3e-6, 1e-6]), [3, 1]);
  assert.deepEqual(integerWeights([1000000, 1]), [1000000, 1]);
  refuses(() => integerWeights([1e-7, 1]), /--weights 1e-7,1: not whole-number weights of at most 1000000 \(1e-7 is 0 at 6 decimals\)/);
  refuses(() => integerWeights([1e300, 1]), /1e\+300 is too large/);
  refuses(() => integerWeights([1, 1e9]), /as whole numbers 1:1000000000/);
  refuses(() => integerWeights([1.000001, 1]), /as whole numbers 1000001:1000000\); give weights closer together or with fewer decimals/);
  refuses(() => parallelize(reluModel(['N', 4]), { ...two, weights: [Number.MAX_VALUE, Number.MIN_VALUE] }), /not whole-number weights/);
  refuses(() => gpuDevices(100_000), /--gpus must be a whole number >= 1 and at most 1024/);
});

test('opset imports that are no opset are refused; raising the opset keeps one default-domain import', () => {
  const withImports = (...versions: Array<[string, bigint]>): ModelProto => {
    const model = reluModel(['N', 4]);
    model.opsetImport = versions.map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version }));
    return model;
  };
  refuses(() => parallelize(withImports(['', 0n]), two), /default domain \(ai\.onnx\) is at version 0, which is no opset/);
  refuses(() => parallelize(withImports(['', 1n << 40n]), two), /version 1099511627776, which is no opset/);
  refuses(() => parallelize(withImports(['', 13n], ['ai.onnx', 12n]), two), /imported at versions 13 and 12/);
  const raised = withDefaultOpset(withImports(['', 6n], ['ai.onnx', 6n], ['com.example', 1n]).opsetImport, 7);
  assert.deepEqual(raised.map((o) => [o.domain, o.version]), [['', 7n], ['com.example', 1n]]);
});

test('values with two producers, nodes writing graph inputs, twice-listed or unnamed outputs and missing bodies are refused', async () => {
  const twoProducers = reluModel(['N', 4]);
  twoProducers.graph!.node.push(makeNode('Neg', ['x'], ['y'], {}, { name: 'neg' }));
  refuses(() => parallelize(twoProducers, two), /value 'y' is written by two nodes, node 'relu' \(Relu\) and node 'neg' \(Neg\)/);
  const writesInput = reluModel(['N', 4]);
  writesInput.graph!.node[0]!.output[0] = 'x';
  refuses(() => parallelize(writesInput, two), /node 'relu' \(Relu\) writes 'x', an input of graph 'g'/);
  const listedTwice = reluModel(['N', 4]);
  listedTwice.graph!.output.push(listedTwice.graph!.output[0]!);
  refuses(() => parallelize(listedTwice, two), /output 'y' is listed twice among the graph's outputs/);
  const unnamed = reluModel(['N', 4]);
  unnamed.graph!.output[0]!.name = '';
  refuses(() => parallelize(unnamed, two), /the graph has an output without a name/);
  const noElse = await loadModel(fixture('if_outer_scope'));
  const ifNode = noElse.graph!.node.find((n) => n.opType === 'If')!;
  ifNode.attribute = ifNode.attribute.filter((a) => a.name !== 'else_branch');
  refuses(() => parallelize(noElse, two), /\(If\) has no else_branch graph|an If node has no else_branch graph/);
});

test('a Constant whose attribute type disagrees with its name, or holds an int past int64, is refused', () => {
  const constant = (attribute: ReturnType<typeof create<typeof AttributeProtoSchema>>): ModelProto => {
    const model = reluModel(['N', 4]);
    const node = makeNode('Constant', [], ['c'], {}, { name: 'c' });
    node.attribute = [attribute];
    model.graph!.node.unshift(node);
    return model;
  };
  const T = AttributeProto_AttributeType;
  refuses(() => parallelize(constant(create(AttributeProtoSchema, { name: 'value_float', type: T.INTS, ints: [1n] })), two), /node 'c' \(Constant\): attribute 'value_float' has type INTS, not FLOAT/);
  refuses(() => parallelize(constant(create(AttributeProtoSchema, { name: 'value_ints', type: T.INTS, ints: [1n << 63n] })), two), /'value_ints' holds 9223372036854775808, which is not a 64-bit integer/);
  // An unset type is taken from the name, as old exporters wrote it.
  const untyped = parallelize(constant(create(AttributeProtoSchema, { name: 'value_int', i: 7n })), two).model;
  assert.ok(untyped.graph!.initializer.some((t) => t.name === 'c'));
});

test('a negative --axis on a value of unknown rank, or an axis that is not a whole number, is refused', () => {
  const unknownRank = makeModel(
    makeGraph({ name: 'g', inputs: [makeValueInfo('x', DT.FLOAT, undefined)], outputs: [makeValueInfo('y', DT.FLOAT, undefined)], nodes: [makeNode('Relu', ['x'], ['y'])] }),
    { opset: 13 },
  );
  refuses(() => parallelize(unknownRank, { ...two, axes: { y: -1 } }), /--axis y=-1: the rank of output 'y' is unknown/);
  refuses(() => parallelize(unknownRank, { ...two, axes: { x: 1.5 } }), /--axis x=1.5: the axis must be a whole number/);
});

test('--combine sum or max of an output that is not numeric is refused', () => {
  const strings = makeModel(
    makeGraph({ name: 'g', inputs: [makeValueInfo('x', DT.STRING, ['N'])], outputs: [makeValueInfo('y', DT.STRING, [])], nodes: [makeNode('Identity', ['x'], ['y'])] }),
    { opset: 13 },
  );
  refuses(() => parallelize(strings, { ...two, combine: { y: 'sum' } }), /--combine y=sum needs a numeric output, and 'y' is string/);
  refuses(() => parallelize(strings, { ...two, combine: { y: 'max' } }), /--combine y=max needs a numeric output/);
});

test('a name holding a line break is escaped, so the message stays one line', () => {
  const model = reluModel(['N', 4]);
  model.graph!.output[0]!.name = 'y\nsecond line';
  model.graph!.node[0]!.output[0] = 'y\nsecond line';
  refuses(() => parallelize(model, { ...two, axes: { 'y\nsecond line': 7 } }), /^--axis y\\nsecond line=7: out of range for output 'y\\nsecond line' of rank 2$/);
});

test('a model of many local functions is encoded without a buffer for each', () => {
  const model = reluModel(['N', 4]);
  model.functions = Array.from({ length: 2000 }, (_, k) =>
    create(FunctionProtoSchema, { name: `f${k}`, domain: 'local', input: ['a'], output: ['b'], node: [makeNode('Relu', ['a'], ['b'])] }),
  );
  const chunks = encodeModelChunks(model);
  const held = [...new Set(chunks.map((c) => c.buffer))].reduce((sum, buffer) => sum + buffer.byteLength, 0);
  assert.ok(held < 4 * 2 ** 20, `${held} bytes of buffers held for ${chunks.reduce((s, c) => s + c.length, 0)} bytes`);
  assert.deepEqual(encodeModel(model), toBinary(ModelProtoSchema, model));
});

test('a value its field cannot hold (only a model built in code has one) is refused by the encoder with the field and value', () => {
  const model = reluModel(['N', 4]);
  const dim = model.graph!.input[0]!.type!.value.value as { shape: { dim: Array<{ value: unknown }> } };
  dim.shape.dim[1]!.value = { case: 'dimValue', value: 1n << 64n };
  refuses(() => encodeModel(model), /^model: field onnx\.TensorShapeProto\.Dimension\.dim_value holds 18446744073709551616, which is not a value of its type \(int64\)/);
  // The node encoder writes sharding specs itself: it refuses such a device as toBinary does, not wraps it.
  const placed = reluModel(['N', 4]);
  placed.graph!.node[0]!.deviceConfigurations = [
    create(NodeDeviceConfigurationProtoSchema, { configurationId: 'c', shardingSpec: [create(ShardingSpecProtoSchema, { tensorName: 'y', device: [1n << 64n] })] }),
  ];
  assert.throws(() => toBinary(ModelProtoSchema, placed), /invalid int64/);
  refuses(() => encodeModel(placed), /field onnx\.ShardingSpecProto\.device holds 18446744073709551616/);
});
