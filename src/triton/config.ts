/**
 * A Triton Inference Server model configuration for an ONNX model, a function from model (and options) to the
 * configuration and a report of what was decided. The batch axes come from the rewrite's own analysis
 * (decideAxes), so Triton's batching is used exactly when the rewrite would split every input and output on a
 * symbolic axis 0: then `max_batch_size` > 0, the dims leave the batch out, and the dynamic batcher is on.
 * Otherwise `max_batch_size` is 0 and the dims are the full shapes. Triton replicates the model itself: each
 * device gets an instance group with one instance per unit of its weight.
 */
import type { ModelProto, ValueInfoProto } from '../onnx.js';
import { InputError } from '../errors.js';
import { describeType, elemTypeOf, formatShape, shapeOf, type Dim } from '../graph/types.js';
import { decideAxes, runtimeInputs } from '../transform/batch-axes.js';
import { checkOptions, type CombineMode } from '../transform/options.js';
import { readPlan } from '../transform/plan.js';
import { integerWeights } from '../transform/split-sizes.js';
import type { CudaProviderOptions } from '../runtime/gpu/cuda-options.js';
import { tritonCudaParameters } from './cuda-parameters.js';
import { tritonDataType, type TritonDataType } from './data-types.js';
import { checkModelName } from './names.js';

export const TRITON_PLATFORM = 'onnxruntime_onnx';
/** `max_batch_size` of a model that batches, when --max-batch is not given. */
export const DEFAULT_MAX_BATCH = 64;
/** Triton's max_batch_size and preferred_batch_size are int32. */
export const MAX_INT32 = 2 ** 31 - 1;
/** Each instance is a whole copy of the model on its device: more than this per device is a mistake in --weights. */
const MAX_INSTANCES_PER_DEVICE = 64;

export interface TritonOptions {
  /** One entry per replica: `cuda:K` or `cpu`; repeated devices add up. */
  devices: string[];
  /** Relative share of each device, as in the rewrite; it becomes the number of instances on that device. */
  weights?: number[];
  /** Batch axis of an input or output by name; `null`: none. */
  axes?: Record<string, number | null>;
  /** How the rewrite would join an output without batch axis (Triton's batcher cannot: such a model does not batch). */
  combine?: Record<string, CombineMode>;
  /** The model's name in the repository: its folder, and the name clients call it by. */
  name: string;
  /** `max_batch_size` when the model batches (DEFAULT_MAX_BATCH when absent). */
  maxBatch?: number;
  /** The dynamic batcher's `max_queue_delay_microseconds` (0, Triton's default, when absent). */
  maxQueueDelayUs?: number;
  /** The dynamic batcher's `preferred_batch_size` list. */
  preferredBatch?: number[];
  /**
   * CUDA provider options for every GPU instance, written as model `parameters` where Triton's ONNX Runtime backend
   * reads them (cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy, do_copy_in_default_stream); any other
   * option is refused with the reason.
   */
  cudaOptions?: CudaProviderOptions;
}

export interface TritonTensor {
  name: string;
  dataType: TritonDataType;
  /** Without the batch dim when the model batches; -1 for a dim that is not fixed. */
  dims: number[];
  /** The shape the model sees, when it differs from `dims` (a batch-only value of a model that batches: dims [1], reshape []). */
  reshape?: number[];
}

export interface TritonInstanceGroup {
  kind: 'KIND_GPU' | 'KIND_CPU';
  /** Instances on each listed GPU (or on the CPU). */
  count: number;
  /** The GPU of a KIND_GPU group; empty for KIND_CPU. */
  gpus: number[];
}

export interface TritonDynamicBatching {
  preferredBatchSize: number[];
  maxQueueDelayMicroseconds: number;
}

/** The part of Triton's `inference.ModelConfig` that is written. */
export interface TritonModelConfig {
  name: string;
  platform: typeof TRITON_PLATFORM;
  maxBatchSize: number;
  input: TritonTensor[];
  output: TritonTensor[];
  instanceGroup: TritonInstanceGroup[];
  dynamicBatching: TritonDynamicBatching | null;
  /** Model parameters (`parameters { key: ... value: { string_value: ... } }`): the CUDA options Triton's backend reads. */
  parameters: Record<string, string>;
}

interface TensorReport extends TritonTensor {
  /** The shape declared in the model. */
  shape: Dim[];
  axis: number | null;
  batch: Dim;
  reason: string;
}

export interface TritonReport {
  name: string;
  devices: string[];
  /** Integer weights: the instance count of each device entry. */
  weights: number[];
  maxBatchSize: number;
  batching: {
    enabled: boolean;
    /** Why the model batches, or why not. */
    reason: string;
    /** Everything that keeps Triton's batcher off (empty when it is on). */
    blockers: string[];
  };
  inputs: TensorReport[];
  outputs: Array<TensorReport & { combine: CombineMode | null }>;
  instanceGroups: TritonInstanceGroup[];
  dynamicBatching: TritonDynamicBatching | null;
  parameters: Record<string, string>;
}

export interface TritonDescription {
  config: TritonModelConfig;
  report: TritonReport;
}

function tensorShape(kind: 'input' | 'output', info: ValueInfoProto): { dataType: TritonDataType; shape: Dim[] } {
  const what = `${kind} '${info.name}'`;
  const elemType = elemTypeOf(info);
  if (elemType === undefined) throw new InputError(`${what} is a ${describeType(info.type)}, not a tensor; Triton's onnxruntime backend takes tensors only`);
  const dataType = tritonDataType(elemType);
  if (dataType === undefined) throw new InputError(`${what} has element type ${describeType(info.type)}, which Triton's model configuration has no type for`);
  const shape = shapeOf(info);
  if (shape === undefined) throw new InputError(`${what} has no shape in the model, and Triton's configuration needs its dims; export the model with shapes (or run ONNX shape inference on it)`);
  if (shape.includes(0)) throw new InputError(`${what} has shape ${formatShape(shape)} with a dim of 0, which Triton's configuration cannot express`);
  return { dataType, shape };
}

/**
 * Triton's dims for a shape: the batch dim left out when the model batches, -1 where a dim is not fixed.
 * Triton needs at least one dim. A batch-only `[batch]` value of a model that batches is written `dims: [ 1 ]`
 * with `reshape: { shape: [ ] }`, the shape the model sees. A scalar of a model that does not batch is written
 * `dims: [ 1 ]` alone: Triton refuses an empty reshape when max_batch_size is 0, and its onnxruntime backend feeds
 * a rank-0 model input from dims of 1 as a scalar.
 */
export function tritonDims(shape: Dim[], batched: boolean): Pick<TritonTensor, 'dims' | 'reshape'> {
  const dims = (batched ? shape.slice(1) : shape).map((d) => (typeof d === 'number' ? d : -1));
  if (dims.length > 0) return { dims };
  return batched ? { dims: [1], reshape: [] } : { dims: [1] };
}

/** Why the value keeps Triton's batcher off, or undefined when its batch is a symbolic axis 0. */
function batchBlocker(kind: 'input' | 'output', name: string, axis: number | null, batch: Dim, reason: string, combine: CombineMode | null): string | undefined {
  const what = `${kind} '${name}'`;
  if (combine !== null) return `${what} is combined with ${combine} across replicas, while Triton's batcher can only cut outputs on axis 0`;
  if (axis === null) return kind === 'input' ? `${what} has no batch axis (${reason})` : `${what} has no batch axis (${reason}) and would need --combine`;
  if (axis !== 0) return `${what} has its batch on axis ${axis} (${reason}), while Triton batches on axis 0 only`;
  if (typeof batch === 'number') return `${what} has a fixed batch of ${batch}`;
  return undefined;
}

function checkWholeNumber(option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new InputError(`${option} must be a whole number from ${min} to ${max} (got ${value})`);
}

/** One group per distinct device, in the order first given; a device's count is the sum of its weights. */
export function instanceGroups(devices: string[], weights: number[]): TritonInstanceGroup[] {
  const counts = new Map<string, number>();
  devices.forEach((device, i) => counts.set(device, (counts.get(device) ?? 0) + weights[i]!));
  return [...counts].map(([device, count]) => {
    if (count > MAX_INSTANCES_PER_DEVICE) {
      throw new InputError(`--weights ${weights.join(',')} asks for ${count} instances on ${device}, each a whole copy of the model; give small whole-number weights such as 2,1`);
    }
    return device === 'cpu' ? { kind: 'KIND_CPU', count, gpus: [] } : { kind: 'KIND_GPU', count, gpus: [Number(device.slice('cuda:'.length))] };
  });
}

/** max_batch_size and the dynamic batcher from the options; batching options on a model that cannot batch are refused. */
function batchingSettings(options: TritonOptions, blockers: string[]): { maxBatchSize: number; dynamicBatching: TritonDynamicBatching | null } {
  if (options.maxBatch !== undefined) checkWholeNumber('--max-batch', options.maxBatch, 1, MAX_INT32);
  if (options.maxQueueDelayUs !== undefined) checkWholeNumber('--max-queue-delay-us', options.maxQueueDelayUs, 0, Number.MAX_SAFE_INTEGER);
  if (blockers.length > 0) {
    const given = [
      options.maxBatch === undefined ? undefined : `--max-batch ${options.maxBatch}`,
      options.maxQueueDelayUs === undefined ? undefined : `--max-queue-delay-us ${options.maxQueueDelayUs}`,
      options.preferredBatch === undefined ? undefined : `--preferred-batch ${options.preferredBatch.join(',')}`,
    ].filter((o): o is string => o !== undefined);
    if (given.length > 0) throw new InputError(`${given.join(', ')}: the model cannot take Triton's batching (${blockers[0]}); leave the batching options out (max_batch_size 0)`);
    return { maxBatchSize: 0, dynamicBatching: null };
  }
  const maxBatchSize = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const preferred = options.preferredBatch ?? [];
  for (const size of preferred) checkWholeNumber(`--preferred-batch ${preferred.join(',')}: each size`, size, 1, maxBatchSize);
  if (new Set(preferred).size !== preferred.length) throw new InputError(`--preferred-batch ${preferred.join(',')}: give each size once`);
  return { maxBatchSize, dynamicBatching: { preferredBatchSize: [...preferred], maxQueueDelayMicroseconds: options.maxQueueDelayUs ?? 0 } };
}

export function describeTritonModel(model: ModelProto, options: TritonOptions): TritonDescription {
  checkModelName(options.name);
  checkOptions({ devices: options.devices, ...(options.weights === undefined ? {} : { weights: options.weights }), ...(options.combine === undefined ? {} : { combine: options.combine }) });
  const graph = model.graph;
  if (graph === undefined) throw new InputError('the model has no graph');
  const plan = readPlan(model);
  if (plan !== undefined) {
    throw new InputError(`the model was rewritten by onnx-parallelize already (${plan.devices.length} replicas on ${plan.devices.join(', ')}); give the original model: Triton runs one copy of it per instance`);
  }
  const weights = integerWeights(options.weights ?? options.devices.map(() => 1));
  const groups = instanceGroups(options.devices, weights);
  const parameters = tritonCudaParameters(options.cudaOptions ?? {}, options.devices);

  const axes = decideAxes(graph, runtimeInputs(graph), options.axes ?? {}, options.combine ?? {});
  const inputs = axes.inputs.map((a) => ({ ...tensorShape('input', a.info), name: a.info.name, axis: a.axis, batch: a.batchDim, reason: a.reason }));
  const outputs = axes.outputs.map((a) => ({ ...tensorShape('output', a.info), name: a.info.name, axis: a.axis, batch: a.batchDim, reason: a.reason, combine: a.combine }));
  const blockers = [
    ...inputs.map((t) => batchBlocker('input', t.name, t.axis, t.batch, t.reason, null)),
    ...outputs.map((t) => batchBlocker('output', t.name, t.axis, t.batch, t.reason, t.combine)),
  ].filter((b): b is string => b !== undefined);
  if (inputs.length === 0) blockers.push('the model has no inputs to batch');
  const batches = blockers.length === 0;

  const { maxBatchSize, dynamicBatching } = batchingSettings(options, blockers);

  const batchNames = [...new Set(inputs.map((t) => t.batch))].map((d) => (typeof d === 'string' ? `'${d}'` : 'unnamed'));
  const reason = batches
    ? `every input and output has a symbolic batch (${batchNames.join(', ')}) on axis 0; max_batch_size ${options.maxBatch === undefined ? 'is the default (set it with --max-batch)' : 'from --max-batch'}`
    : `${blockers.join('; ')}: Triton runs each request whole, with the model's full shapes`;

  const withDims = <T extends { shape: Dim[] }>(t: T): T & Pick<TritonTensor, 'dims' | 'reshape'> => ({ ...t, ...tritonDims(t.shape, batches) });
  const inputReports = inputs.map(withDims);
  const outputReports = outputs.map(withDims);
  const tensor = (t: TensorReport): TritonTensor => ({ name: t.name, dataType: t.dataType, dims: t.dims, ...(t.reshape === undefined ? {} : { reshape: t.reshape }) });
  return {
    config: {
      name: options.name,
      platform: TRITON_PLATFORM,
      maxBatchSize,
      input: inputReports.map(tensor),
      output: outputReports.map(tensor),
      instanceGroup: groups,
      dynamicBatching,
      parameters,
    },
    report: {
      name: options.name,
      devices: [...options.devices],
      weights,
      maxBatchSize,
      batching: { enabled: batches, reason, blockers },
      inputs: inputReports,
      outputs: outputReports,
      instanceGroups: groups,
      dynamicBatching,
      parameters,
    },
  };
}
