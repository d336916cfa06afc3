/**
 * Checks of a Triton model-repository entry that do not trust the code that wrote it:
 * - config.pbtxt is parsed by protoc against Triton's ModelConfig schema (proto/triton/model_config.proto), and the
 *   binary it encodes to is decoded back (with @bufbuild/protobuf, from protoc's descriptor set) to read the values;
 * - the model in 1/ is opened with onnxruntime, and the config is compared with what the session reports, the
 *   way Triton's onnxruntime backend validates a config when it loads a model.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { createFileRegistry, fromBinary, toJson, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import * as ort from 'onnxruntime-node';
import { repoRoot } from '../helpers.js';

const protoFolder = path.join(repoRoot, 'proto/triton');
const protoFile = 'model_config.proto';

export interface DecodedTensor {
  name: string;
  data_type: string;
  dims: number[];
  reshape?: { shape: number[] };
}

export interface DecodedConfig {
  name: string;
  platform: string;
  max_batch_size: number;
  input: DecodedTensor[];
  output: DecodedTensor[];
  instance_group: Array<{ kind: string; count: number; gpus: number[] }>;
  dynamic_batching?: { preferred_batch_size: number[]; max_queue_delay_microseconds: number };
  /** Model parameters: key to string_value. */
  parameters: Record<string, string>;
}

function protoc(args: string[], input?: string): Buffer {
  const result = spawnSync('protoc', [`--proto_path=${protoFolder}`, ...args, protoFile], { input: input ?? '', maxBuffer: 1 << 26 });
  if (result.error !== undefined && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('protoc is missing: run scripts/ensure-protoc.sh (it installs Debian\'s protobuf-compiler) before the tests');
  }
  if (result.status !== 0) throw new Error(`protoc ${args.join(' ')} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

let modelConfigSchema: DescMessage | undefined;

function schema(): DescMessage {
  if (modelConfigSchema === undefined) {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'triton-proto-')), 'model_config.pb');
    protoc([`--descriptor_set_out=${out}`]);
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
    modelConfigSchema = registry.getMessage('inference.ModelConfig');
    assert.ok(modelConfigSchema !== undefined, 'inference.ModelConfig is in the descriptor set');
  }
  return modelConfigSchema;
}

const numbersIn = (values: unknown): number[] => (values as Array<string | number>).map(Number);

/** Parses config.pbtxt text with protoc against Triton's schema and returns its fields (int64s as numbers). */
export function parseConfig(text: string): DecodedConfig {
  const encoded = protoc(['--encode=inference.ModelConfig'], text);
  const json = toJson(schema(), fromBinary(schema(), encoded), { useProtoFieldName: true, alwaysEmitImplicit: true }) as Record<string, unknown>;
  const tensor = (t: Record<string, unknown>): DecodedTensor => ({
    name: t['name'] as string,
    data_type: t['data_type'] as string,
    dims: numbersIn(t['dims']),
    ...(t['reshape'] === undefined ? {} : { reshape: { shape: numbersIn((t['reshape'] as { shape: unknown }).shape) } }),
  });
  const batching = json['dynamic_batching'] as Record<string, unknown> | undefined;
  const parameters = (json['parameters'] ?? {}) as Record<string, { string_value: string }>;
  return {
    parameters: Object.fromEntries(Object.entries(parameters).map(([key, value]) => [key, value.string_value])),
    name: json['name'] as string,
    platform: json['platform'] as string,
    max_batch_size: json['max_batch_size'] as number,
    input: (json['input'] as Array<Record<string, unknown>>).map(tensor),
    output: (json['output'] as Array<Record<string, unknown>>).map(tensor),
    instance_group: (json['instance_group'] as Array<Record<string, unknown>>).map((g) => ({ kind: g['kind'] as string, count: g['count'] as number, gpus: numbersIn(g['gpus']) })),
    ...(batching === undefined
      ? {}
      : { dynamic_batching: { preferred_batch_size: numbersIn(batching['preferred_batch_size']), max_queue_delay_microseconds: Number(batching['max_queue_delay_microseconds']) } }),
  };
}

/** onnxruntime-node's element type names as Triton names them. */
const tritonTypeOf: Record<string, string> = {
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  bfloat16: 'TYPE_BF16',
  float64: 'TYPE_FP64',
  int8: 'TYPE_INT8',
  int16: 'TYPE_INT16',
  int32: 'TYPE_INT32',
  int64: 'TYPE_INT64',
  uint8: 'TYPE_UINT8',
  uint16: 'TYPE_UINT16',
  uint32: 'TYPE_UINT32',
  uint64: 'TYPE_UINT64',
  bool: 'TYPE_BOOL',
  string: 'TYPE_STRING',
};

/** What Triton's onnxruntime backend checks of each config tensor against the session's view of the model. */
function checkTensors(kind: string, config: DecodedTensor[], session: readonly ort.InferenceSession.ValueMetadata[], maxBatchSize: number): void {
  assert.deepEqual(config.map((t) => t.name), session.map((m) => m.name), `${kind} names and order`);
  for (const [i, meta] of session.entries()) {
    const tensor = config[i]!;
    assert.ok(meta.isTensor, `${kind} ${meta.name} is a tensor`);
    assert.equal(tensor.data_type, tritonTypeOf[meta.type], `${kind} ${meta.name} data_type`);
    const modelDims = meta.shape.map((d) => (typeof d === 'number' ? d : -1));
    // Triton's onnxruntime backend feeds a rank-0 input of a model that does not batch from dims of 1 (no reshape:
    // Triton refuses an empty reshape when max_batch_size is 0).
    const scalar = modelDims.length === 0 && maxBatchSize === 0;
    const seen = scalar ? [] : (tensor.reshape?.shape ?? tensor.dims);
    assert.ok(tensor.dims.length > 0, `${kind} ${meta.name}: Triton needs at least one dim`);
    assert.ok(tensor.dims.every((d) => d === -1 || d >= 1), `${kind} ${meta.name}: dims are >= 1 or -1`);
    // The shape the model sees (the reshape when there is one) is the model's shape, without the batch when batching.
    if (maxBatchSize > 0) assert.equal(modelDims[0], -1, `${kind} ${meta.name}: a batching model has a free first dim`);
    assert.deepEqual(seen, maxBatchSize > 0 ? modelDims.slice(1) : modelDims, `${kind} ${meta.name}: the shape the model sees`);
    if (tensor.reshape !== undefined) {
      // Triton: the reshape has as many elements as dims (a dim of -1 stands for the same unknown on both sides).
      const count = (shape: number[]): [number, number] => [shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1), shape.filter((d) => d === -1).length];
      assert.deepEqual(count(tensor.reshape.shape), count(tensor.dims), `${kind} ${meta.name}: the reshape has the elements of dims`);
    }
    // A scalar of a model that does not batch is dims [1]; a batch-only value of a batching model is dims [1] reshaped to [].
    if (scalar) assert.deepEqual([tensor.dims, tensor.reshape], [[1], undefined], `${kind} ${meta.name}: dims [1] without reshape`);
    else if (seen.length === 0) assert.deepEqual([tensor.dims, tensor.reshape?.shape], [[1], []], `${kind} ${meta.name}: dims [1] with reshape []`);
  }
}

/**
 * Checks DIR/NAME: config.pbtxt parses against Triton's schema, names the entry, and matches the model in
 * 1/model.onnx (which has the original's bytes and opens in onnxruntime from there). Returns the parsed config.
 */
export async function checkEntry(entry: string, original: string): Promise<DecodedConfig> {
  const config = parseConfig(readFileSync(path.join(entry, 'config.pbtxt'), 'utf8'));
  assert.equal(config.name, path.basename(entry), 'the config names its folder');
  assert.equal(config.platform, 'onnxruntime_onnx');
  const copied = path.join(entry, '1', 'model.onnx');
  assert.ok(readFileSync(copied).equals(readFileSync(original)), 'model.onnx is the original model, byte for byte');
  const session = await ort.InferenceSession.create(copied);
  try {
    checkTensors('input', config.input, session.inputMetadata, config.max_batch_size);
    checkTensors('output', config.output, session.outputMetadata, config.max_batch_size);
  } finally {
    await session.release();
  }
  assert.ok(config.instance_group.length > 0);
  for (const group of config.instance_group) {
    assert.ok(group.count >= 1);
    assert.equal(group.gpus.length, group.kind === 'KIND_GPU' ? 1 : 0);
  }
  assert.equal(config.dynamic_batching !== undefined, config.max_batch_size > 0, 'dynamic batching exactly when the model batches');
  return config;
}
