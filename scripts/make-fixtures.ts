/**
 * Deterministic generator of the models in fixtures/. `npm run fixtures` rebuilds them byte for byte.
 * Every weight comes from a seeded generator; nothing depends on time or the machine.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import {
  DeviceConfigurationProtoSchema,
  FunctionProtoSchema,
  NodeDeviceConfigurationProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DT,
  type ModelProto,
  type TensorProto,
} from '../src/onnx.js';
import { encodeModel } from '../src/io/codec.js';
import { int64Tensor, makeEntry, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { SeededRandom } from '../src/tensors/random.js';
import { float32ToHalfArray } from '../src/tensors/float16.js';

const F = DT.FLOAT;

function weights(random: SeededRandom, name: string, dims: number[], scale = 0.5): TensorProto {
  return makeTensor(name, F, dims, random.floats(dims.reduce((a, b) => a * b, 1), scale));
}

function mlp(): ModelProto {
  const r = new SeededRandom(1);
  return makeModel(
    makeGraph({
      name: 'mlp',
      inputs: [makeValueInfo('x', F, ['batch', 16])],
      outputs: [makeValueInfo('y', F, ['batch', 8])],
      initializers: [weights(r, 'w1', [16, 32]), weights(r, 'b1', [32]), weights(r, 'w2', [32, 8]), weights(r, 'b2', [8])],
      nodes: [
        makeNode('MatMul', ['x', 'w1'], ['h0'], {}, { name: 'fc1' }),
        makeNode('Add', ['h0', 'b1'], ['h1'], {}, { name: 'fc1_bias' }),
        makeNode('Relu', ['h1'], ['h2'], {}, { name: 'relu' }),
        makeNode('MatMul', ['h2', 'w2'], ['h3'], {}, { name: 'fc2' }),
        makeNode('Add', ['h3', 'b2'], ['y'], {}, { name: 'fc2_bias' }),
      ],
    }),
    { opset: 17 },
  );
}

function cnn(): ModelProto {
  const r = new SeededRandom(2);
  return makeModel(
    makeGraph({
      name: 'cnn',
      inputs: [makeValueInfo('image', F, ['N', 3, 16, 16])],
      outputs: [makeValueInfo('probs', F, ['N', 10])],
      initializers: [
        weights(r, 'conv_w', [8, 3, 3, 3]),
        weights(r, 'conv_b', [8]),
        weights(r, 'bn_scale', [8]),
        weights(r, 'bn_bias', [8]),
        weights(r, 'bn_mean', [8], 0.1),
        makeTensor('bn_var', F, [8], Float32Array.from({ length: 8 }, () => 0.5 + r.next())),
        weights(r, 'fc_w', [10, 512], 0.1),
        weights(r, 'fc_b', [10]),
      ],
      nodes: [
        makeNode('Conv', ['image', 'conv_w', 'conv_b'], ['c'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv' }),
        makeNode('BatchNormalization', ['c', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], ['bn'], {}, { name: 'bn' }),
        makeNode('Relu', ['bn'], ['act'], {}, { name: 'relu' }),
        makeNode('MaxPool', ['act'], ['pool'], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' }),
        makeNode('Flatten', ['pool'], ['flat'], { axis: 1 }, { name: 'flatten' }),
        makeNode('Gemm', ['flat', 'fc_w', 'fc_b'], ['logits'], { transB: 1 }, { name: 'fc' }),
        makeNode('Softmax', ['logits'], ['probs'], { axis: 1 }, { name: 'softmax' }),
      ],
    }),
    { opset: 13 },
  );
}

function twoInTwoOut(): ModelProto {
  const r = new SeededRandom(3);
  return makeModel(
    makeGraph({
      name: 'two_in_two_out',
      inputs: [makeValueInfo('features', F, ['batch', 8]), makeValueInfo('mask', F, ['batch', 4])],
      outputs: [makeValueInfo('score', F, ['batch', 4]), makeValueInfo('gated', F, ['batch', 4])],
      initializers: [weights(r, 'w', [12, 4])],
      nodes: [
        makeNode('Concat', ['features', 'mask'], ['joined'], { axis: 1 }),
        makeNode('MatMul', ['joined', 'w'], ['score']),
        makeNode('Sigmoid', ['score'], ['gate']),
        makeNode('Mul', ['gate', 'mask'], ['gated']),
      ],
    }),
    { opset: 13 },
  );
}

/** Exported at a fixed batch, with the batch baked into the Reshape target like many exporters do. */
function fixedBatch(batch: number): ModelProto {
  const r = new SeededRandom(10 + batch);
  return makeModel(
    makeGraph({
      name: `fixed_batch${batch}`,
      inputs: [makeValueInfo('x', F, [batch, 4, 6])],
      outputs: [makeValueInfo('y', F, [batch, 5])],
      initializers: [int64Tensor('flat_shape', [batch, 24]), weights(r, 'w', [24, 5])],
      nodes: [makeNode('Reshape', ['x', 'flat_shape'], ['flat']), makeNode('MatMul', ['flat', 'w'], ['y'])],
    }),
    { opset: 13 },
  );
}

/** A recurrent cell whose state has the batch on axis 1: [layers=2, batch, 64] in and out. */
function recurrentState(): ModelProto {
  const r = new SeededRandom(4);
  return makeModel(
    makeGraph({
      name: 'recurrent_state',
      inputs: [makeValueInfo('x', F, ['batch', 8]), makeValueInfo('state', F, [2, 'batch', 64])],
      outputs: [makeValueInfo('y', F, ['batch', 64]), makeValueInfo('new_state', F, [2, 'batch', 64])],
      initializers: [weights(r, 'wx', [8, 64], 0.3), weights(r, 'wh', [64, 64], 0.1)],
      nodes: [
        makeNode('MatMul', ['x', 'wx'], ['xin']),
        makeNode('MatMul', ['state', 'wh'], ['hin']),
        makeNode('Add', ['hin', 'xin'], ['pre']),
        makeNode('Tanh', ['pre'], ['new_state']),
        makeNode('ReduceMean', ['new_state'], ['y'], { axes: [0], keepdims: 0 }),
      ],
    }),
    { opset: 13 },
  );
}

/** A rank-0 side input (like a sample rate) that every replica gets unchanged. */
function scalarSideInput(): ModelProto {
  const r = new SeededRandom(5);
  return makeModel(
    makeGraph({
      name: 'scalar_side_input',
      inputs: [makeValueInfo('audio', F, ['batch', 32]), makeValueInfo('gain', F, [])],
      outputs: [makeValueInfo('features', F, ['batch', 4])],
      initializers: [weights(r, 'w', [32, 4])],
      nodes: [makeNode('Mul', ['audio', 'gain'], ['scaled']), makeNode('MatMul', ['scaled', 'w'], ['features'])],
    }),
    { opset: 13 },
  );
}

/** If whose branches read outer-scope values (the input and an initializer). */
function ifOuterScope(): ModelProto {
  const r = new SeededRandom(6);
  const thenBranch = makeGraph({
    name: 'then',
    inputs: [],
    outputs: [makeValueInfo('then_out', F, ['batch', 4])],
    nodes: [makeNode('Add', ['x', 'bias'], ['then_out'])],
  });
  const elseBranch = makeGraph({
    name: 'else',
    inputs: [],
    outputs: [makeValueInfo('else_out', F, ['batch', 4])],
    nodes: [makeNode('Mul', ['x', 'bias'], ['else_out'])],
  });
  return makeModel(
    makeGraph({
      name: 'if_outer_scope',
      inputs: [makeValueInfo('x', F, ['batch', 4]), makeValueInfo('use_add', DT.BOOL, [])],
      outputs: [makeValueInfo('y', F, ['batch', 4])],
      initializers: [weights(r, 'bias', [4])],
      nodes: [makeNode('If', ['use_add'], ['branch_out'], { then_branch: thenBranch, else_branch: elseBranch }), makeNode('Relu', ['branch_out'], ['y'])],
    }),
    { opset: 13 },
  );
}

/** Loop with a fixed trip count; the body reads an outer-scope weight and keeps a Constant of its own. */
function loop(): ModelProto {
  const r = new SeededRandom(7);
  const body = makeGraph({
    name: 'loop_body',
    inputs: [makeValueInfo('i', DT.INT64, []), makeValueInfo('cond_in', DT.BOOL, []), makeValueInfo('v_in', F, ['batch', 4])],
    outputs: [makeValueInfo('cond_out', DT.BOOL, []), makeValueInfo('v_out', F, ['batch', 4])],
    nodes: [
      makeNode('Identity', ['cond_in'], ['cond_out']),
      makeNode('Constant', [], ['half'], { value: makeTensor('half', F, [], Float32Array.of(0.5)) }),
      makeNode('Mul', ['v_in', 'half'], ['scaled']),
      makeNode('Add', ['scaled', 'step'], ['v_out']),
    ],
  });
  return makeModel(
    makeGraph({
      name: 'loop',
      inputs: [makeValueInfo('x', F, ['batch', 4])],
      outputs: [makeValueInfo('y', F, ['batch', 4])],
      initializers: [int64Tensor('trip_count', [3], []), makeTensor('keep_going', DT.BOOL, [], Uint8Array.of(1)), weights(r, 'step', [4])],
      nodes: [makeNode('Loop', ['trip_count', 'keep_going', 'x'], ['y'], { body })],
    }),
    { opset: 13 },
  );
}

/** Scan over the sequence axis (1) of a batch-first input: a running sum with per-step outputs. */
function scan(): ModelProto {
  const body = makeGraph({
    name: 'scan_body',
    inputs: [makeValueInfo('sum_in', F, ['batch', 4]), makeValueInfo('x_t', F, ['batch', 4])],
    outputs: [makeValueInfo('sum_out', F, ['batch', 4]), makeValueInfo('step_out', F, ['batch', 4])],
    nodes: [makeNode('Add', ['sum_in', 'x_t'], ['sum_out']), makeNode('Tanh', ['sum_out'], ['step_out'])],
  });
  return makeModel(
    makeGraph({
      name: 'scan',
      inputs: [makeValueInfo('init', F, ['batch', 4]), makeValueInfo('seq', F, ['batch', 5, 4])],
      outputs: [makeValueInfo('total', F, ['batch', 4]), makeValueInfo('steps', F, ['batch', 5, 4])],
      nodes: [makeNode('Scan', ['init', 'seq'], ['total', 'steps'], { body, num_scan_inputs: 1, scan_input_axes: [1], scan_output_axes: [1] })],
    }),
    { opset: 16 },
  );
}

/** LSTM in its default layout: sequence first, batch on axis 1 of X and Y_h, axis 2 of Y. */
function lstm(): ModelProto {
  const r = new SeededRandom(8);
  const hidden = 16;
  return makeModel(
    makeGraph({
      name: 'lstm',
      inputs: [makeValueInfo('X', F, [5, 'batch', 8])],
      outputs: [makeValueInfo('Y', F, [5, 1, 'batch', hidden]), makeValueInfo('Y_h', F, [1, 'batch', hidden])],
      initializers: [weights(r, 'W', [1, 4 * hidden, 8], 0.3), weights(r, 'R', [1, 4 * hidden, hidden], 0.3), weights(r, 'B', [1, 8 * hidden], 0.1)],
      nodes: [makeNode('LSTM', ['X', 'W', 'R', 'B'], ['Y', 'Y_h'], { hidden_size: hidden })],
    }),
    { opset: 14 },
  );
}

/** A model-local function (domain `local`) called from the graph. */
function localFunction(): ModelProto {
  const r = new SeededRandom(9);
  const model = makeModel(
    makeGraph({
      name: 'local_function',
      inputs: [makeValueInfo('x', F, ['batch', 6])],
      outputs: [makeValueInfo('y', F, ['batch', 6])],
      initializers: [weights(r, 'w', [6, 6])],
      nodes: [makeNode('MatMul', ['x', 'w'], ['h']), makeNode('ScaledRelu', ['h'], ['y'], {}, { domain: 'local', name: 'scaled_relu' })],
    }),
    { opset: 17, domains: { local: 1 } },
  );
  model.functions.push(
    create(FunctionProtoSchema, {
      name: 'ScaledRelu',
      domain: 'local',
      input: ['a'],
      output: ['b'],
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
      node: [
        makeNode('Relu', ['a'], ['r']),
        makeNode('Constant', [], ['two'], { value: makeTensor('two', F, [], Float32Array.of(2)) }),
        makeNode('Mul', ['r', 'two'], ['b']),
      ],
    }),
  );
  return model;
}

/** The MLP with its weights in a side file, external_data.weights. Returns the model and the side file. */
export function externalData(): { model: ModelProto; sideFile: Uint8Array } {
  const model = mlp();
  model.graph!.name = 'external_data';
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of model.graph!.initializer) {
    const bytes = tensor.rawData;
    parts.push(bytes);
    tensor.rawData = new Uint8Array(0);
    tensor.dataLocation = TensorProto_DataLocation.EXTERNAL;
    tensor.externalData = [makeEntry('location', 'external_data.weights'), makeEntry('offset', String(offset)), makeEntry('length', String(bytes.length))];
    offset += bytes.length;
  }
  return { model, sideFile: Buffer.concat(parts) };
}

/** IR 11 with multi-device annotations: two matmuls tagged for two devices of one configuration. */
function ir11Devices(): ModelProto {
  const model = mlp();
  model.irVersion = 11n;
  model.graph!.name = 'ir11_devices';
  model.configuration.push(create(DeviceConfigurationProtoSchema, { name: 'two_gpus', numDevices: 2, device: ['cuda:0', 'cuda:1'] }));
  model.graph!.node.forEach((node, index) => {
    const device = index < 3 ? 0 : 1;
    node.deviceConfigurations.push(create(NodeDeviceConfigurationProtoSchema, { configurationId: 'two_gpus', pipelineStage: device }));
    node.metadataProps.push(makeEntry('device', `cuda:${device}`));
  });
  return model;
}

/** fp16 weights, cast to float32 at run time (a common storage-only half-precision export). */
function fp16Weights(): ModelProto {
  const r = new SeededRandom(11);
  return makeModel(
    makeGraph({
      name: 'fp16_weights',
      inputs: [makeValueInfo('x', DT.FLOAT16, ['batch', 8])],
      outputs: [makeValueInfo('y', DT.FLOAT16, ['batch', 4])],
      initializers: [makeTensor('w16', DT.FLOAT16, [8, 4], float32ToHalfArray(r.floats(32, 0.5)))],
      nodes: [
        makeNode('Cast', ['x'], ['x32'], { to: F }),
        makeNode('Cast', ['w16'], ['w32'], { to: F }),
        makeNode('MatMul', ['x32', 'w32'], ['y32']),
        makeNode('Cast', ['y32'], ['y'], { to: DT.FLOAT16 }),
      ],
    }),
    { opset: 13 },
  );
}

/** int8 QuantizeLinear/DequantizeLinear around a MatMul with int8 weights (a QDQ export). */
function int8Qdq(): ModelProto {
  const r = new SeededRandom(12);
  const q = Int8Array.from({ length: 16 * 8 }, () => r.int(-127, 127));
  return makeModel(
    makeGraph({
      name: 'int8_qdq',
      inputs: [makeValueInfo('x', F, ['batch', 16])],
      outputs: [makeValueInfo('y', F, ['batch', 8])],
      initializers: [
        makeTensor('x_scale', F, [], Float32Array.of(0.02)),
        makeTensor('x_zero', DT.INT8, [], Int8Array.of(0)),
        makeTensor('w_q', DT.INT8, [16, 8], q),
        makeTensor('w_scale', F, [], Float32Array.of(0.01)),
        makeTensor('w_zero', DT.INT8, [], Int8Array.of(0)),
      ],
      nodes: [
        makeNode('QuantizeLinear', ['x', 'x_scale', 'x_zero'], ['x_q']),
        makeNode('DequantizeLinear', ['x_q', 'x_scale', 'x_zero'], ['x_dq']),
        makeNode('DequantizeLinear', ['w_q', 'w_scale', 'w_zero'], ['w_dq']),
        makeNode('MatMul', ['x_dq', 'w_dq'], ['y']),
      ],
    }),
    { opset: 13 },
  );
}

/** Softmax over the batch axis: not separable per sample. --verify must catch it. */
function batchCoupled(): ModelProto {
  return makeModel(
    makeGraph({
      name: 'batch_coupled',
      inputs: [makeValueInfo('x', F, ['batch', 4])],
      outputs: [makeValueInfo('y', F, ['batch', 4])],
      nodes: [makeNode('Softmax', ['x'], ['y'], { axis: 0 })],
    }),
    { opset: 13 },
  );
}

/**
 * An attention block as PyTorch exports it: the head split is a Reshape whose target shape is computed from
 * Shape at run time, softmax over the last axis, LayerNormalization.
 */
function attentionBlock(): ModelProto {
  const r = new SeededRandom(13);
  const d = 16;
  const heads = 2;
  return makeModel(
    makeGraph({
      name: 'attention_block',
      inputs: [makeValueInfo('tokens', F, ['batch', 'seq', d])],
      outputs: [makeValueInfo('hidden', F, ['batch', 'seq', d])],
      initializers: [
        weights(r, 'wq', [d, d], 0.2),
        weights(r, 'wk', [d, d], 0.2),
        weights(r, 'wv', [d, d], 0.2),
        weights(r, 'ln_scale', [d]),
        weights(r, 'ln_bias', [d]),
        int64Tensor('head_dims', [heads, d / heads]),
        int64Tensor('zero_one', [0, 1]),
        int64Tensor('merged', [d]),
      ],
      nodes: [
        makeNode('Shape', ['tokens'], ['shape']),
        makeNode('Gather', ['shape', 'zero_one'], ['batch_seq'], { axis: 0 }),
        makeNode('Concat', ['batch_seq', 'head_dims'], ['split_shape'], { axis: 0 }),
        makeNode('Concat', ['batch_seq', 'merged'], ['merge_shape'], { axis: 0 }),
        ...['q', 'k', 'v'].flatMap((n) => [
          makeNode('MatMul', ['tokens', `w${n}`], [`${n}_flat`]),
          makeNode('Reshape', [`${n}_flat`, 'split_shape'], [`${n}_heads`]),
          makeNode('Transpose', [`${n}_heads`], [`${n}_t`], { perm: n === 'k' ? [0, 2, 3, 1] : [0, 2, 1, 3] }),
        ]),
        makeNode('MatMul', ['q_t', 'k_t'], ['scores']),
        makeNode('Softmax', ['scores'], ['attention'], { axis: -1 }),
        makeNode('MatMul', ['attention', 'v_t'], ['context']),
        makeNode('Transpose', ['context'], ['context_t'], { perm: [0, 2, 1, 3] }),
        makeNode('Reshape', ['context_t', 'merge_shape'], ['context_flat']),
        makeNode('Add', ['context_flat', 'tokens'], ['residual']),
        makeNode('LayerNormalization', ['residual', 'ln_scale', 'ln_bias'], ['hidden'], { axis: -1 }),
      ],
    }),
    { opset: 17 },
  );
}

/** A GRU with its initial state as an input, as exported recurrent models often are: [1, batch, hidden]. */
function gruWithState(): ModelProto {
  const r = new SeededRandom(14);
  const hidden = 8;
  return makeModel(
    makeGraph({
      name: 'gru_with_state',
      inputs: [makeValueInfo('X', F, [4, 'batch', 6]), makeValueInfo('initial_h', F, [1, 'batch', hidden])],
      outputs: [makeValueInfo('Y', F, [4, 1, 'batch', hidden]), makeValueInfo('Y_h', F, [1, 'batch', hidden])],
      initializers: [weights(r, 'W', [1, 3 * hidden, 6], 0.3), weights(r, 'R', [1, 3 * hidden, hidden], 0.3), weights(r, 'B', [1, 6 * hidden], 0.1)],
      nodes: [makeNode('GRU', ['X', 'W', 'R', 'B', '', 'initial_h'], ['Y', 'Y_h'], { hidden_size: hidden })],
    }),
    { opset: 14 },
  );
}

export const fixtureBuilders: Record<string, () => ModelProto> = {
  mlp,
  cnn,
  two_in_two_out: twoInTwoOut,
  fixed_batch1: () => fixedBatch(1),
  fixed_batch2: () => fixedBatch(2),
  recurrent_state: recurrentState,
  scalar_side_input: scalarSideInput,
  if_outer_scope: ifOuterScope,
  loop,
  scan,
  lstm,
  local_function: localFunction,
  ir11_devices: ir11Devices,
  fp16_weights: fp16Weights,
  int8_qdq: int8Qdq,
  batch_coupled: batchCoupled,
  attention_block: attentionBlock,
  gru_with_state: gruWithState,
};

export function writeFixtures(): void {
  const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');
  mkdirSync(folder, { recursive: true });
  for (const [name, build] of Object.entries(fixtureBuilders)) writeFileSync(path.join(folder, `${name}.onnx`), encodeModel(build()));
  const { model, sideFile } = externalData();
  writeFileSync(path.join(folder, 'external_data.onnx'), encodeModel(model));
  writeFileSync(path.join(folder, 'external_data.weights'), sideFile);
  process.stdout.write(`wrote ${Object.keys(fixtureBuilders).length + 1} fixtures to ${folder}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) writeFixtures();
