/**
 * A model configuration as ParallelSession options, and what the server enforces per request:
 * - `instance_group`: KIND_GPU with `gpus` and `count` is `count` replicas on each listed GPU (`cuda:K`; no `gpus`:
 *   every GPU found, as Triton does), KIND_CPU with `count` is that many `cpu` replicas;
 * - `max_batch_size` and `dynamic_batching` (`preferred_batch_size`, `max_queue_delay_microseconds`) are the
 *   session's dynamic batching; without `dynamic_batching` requests run one by one, as Triton's default scheduler
 *   runs them; `default_queue_policy.max_queue_size` is the session's queue limit;
 * - `parameters` carry the CUDA provider options Triton's onnxruntime backend reads (gpu_mem_limit,
 *   arena_extend_strategy, cudnn_conv_algo_search, do_copy_in_default_stream) and its thread counts;
 * - the queue policy's timeouts, `max_batch_size` as a request limit, and each tensor's served dims and reshape are
 *   for the server (servingPolicyOf); what has no equivalent here is listed in `unsupported`.
 */
import type * as ort from 'onnxruntime-node';
import { ArgumentError } from '../errors.js';
import { lastGpuInventory } from '../runtime/gpu/gpus.js';
import type { ParallelSessionOptions } from '../runtime/session/parallel-session.js';
import { cudaOptionsFromTritonParameters } from '../triton/cuda-parameters.js';
import type { ModelTensor } from './auto-complete.js';
import type { ModelConfig, ModelDataType } from './model-config.js';
import type { ModelSource } from './model-source.js';
import { normalizeInstanceGroups } from './normalize.js';

/** Parameters of Triton's onnxruntime backend that are session options, and how. */
const SESSION_PARAMETERS: Readonly<Record<string, (value: string, options: ort.InferenceSession.SessionOptions) => void>> = {
  intra_op_thread_count: (value, options) => (options.intraOpNumThreads = wholeParameter('intra_op_thread_count', value)),
  inter_op_thread_count: (value, options) => (options.interOpNumThreads = wholeParameter('inter_op_thread_count', value)),
  execution_mode: (value, options) => (options.executionMode = wholeParameter('execution_mode', value) === 1 ? 'parallel' : 'sequential'),
};

function wholeParameter(key: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new ArgumentError(`parameters '${key}': expected a whole number (got '${value}')`);
  return Number(value);
}

/** The devices of the instance groups, one entry per instance. */
export function devicesOf(config: ModelConfig): string[] {
  const known = lastGpuInventory()?.gpus.map((g) => g.index) ?? [];
  const groups = normalizeInstanceGroups(config.name ?? '', config.instance_group ?? [], known);
  return groups.flatMap((group) => {
    const count = group.count ?? 1;
    const name = `instance_group '${group.name}'`;
    if (group.kind === 'KIND_MODEL') throw new ArgumentError(`${name}: KIND_MODEL (instances placed by the model) is not supported; use KIND_GPU or KIND_CPU`);
    if (group.kind === 'KIND_CPU') return Array.from({ length: count }, () => 'cpu');
    const gpus = group.gpus ?? [];
    if (gpus.length === 0) throw new ArgumentError(`${name}: KIND_GPU without gpus runs on every GPU, and no GPU was found; list the gpus, or use KIND_CPU`);
    return gpus.flatMap((gpu) => Array.from({ length: count }, () => `cuda:${gpu}`));
  });
}

const microsToMs = (us: number | undefined): number => (us ?? 0) / 1000;

export function sessionOptionsOf(config: ModelConfig, base: ParallelSessionOptions = {}): ParallelSessionOptions {
  const devices = devicesOf(config);
  const maxBatch = config.max_batch_size ?? 0;
  const dynamic = config.dynamic_batching;
  const batching: ParallelSessionOptions['batching'] =
    maxBatch > 0 && dynamic !== undefined
      ? {
          maxBatch,
          maxQueueDelayMs: microsToMs(dynamic.max_queue_delay_microseconds),
          ...((dynamic.preferred_batch_size ?? []).length > 0 ? { preferredBatch: [...dynamic.preferred_batch_size!] } : {}),
        }
      : false;
  const maxQueue = dynamic?.default_queue_policy?.max_queue_size ?? 0;

  const sessionOptions: ort.InferenceSession.SessionOptions = { ...base.sessionOptions };
  const { options: cuda, others } = cudaOptionsFromTritonParameters(config.parameters ?? {});
  for (const key of others) {
    const apply = Object.hasOwn(SESSION_PARAMETERS, key) ? SESSION_PARAMETERS[key] : undefined;
    if (apply !== undefined) apply(config.parameters![key]!.string_value ?? '', sessionOptions);
  }
  if (Object.keys(cuda).length > 0 && devices.some((d) => d.startsWith('cuda:'))) {
    const providers = (base.sessionOptions?.executionProviders ?? []).filter((p) => !(p === 'cuda' || (typeof p === 'object' && p.name === 'cuda')));
    const shared = (base.sessionOptions?.executionProviders ?? []).find((p): p is ort.InferenceSession.ExecutionProviderOption & { name: 'cuda' } => typeof p === 'object' && p.name === 'cuda');
    sessionOptions.executionProviders = [...providers, { ...shared, name: 'cuda', ...cuda } as ort.InferenceSession.ExecutionProviderConfig];
  }
  return {
    ...base,
    devices,
    batching,
    ...(maxQueue > 0 ? { maxQueue } : {}),
    sessionOptions,
  };
}

export interface ServedTensor {
  name: string;
  dataType: ModelDataType;
  /** The shape clients send and receive, without the batch dim when max_batch_size > 0; -1 for a free dim. */
  dims: number[];
  /** The shape the model sees (without the batch dim), when it differs from `dims`. */
  reshape?: number[];
}

export interface ServingPolicy {
  /** A request's batch (first dim) may not exceed this when > 0; 0: the model does not batch and dims are full shapes. */
  maxBatchSize: number;
  inputs: ServedTensor[];
  outputs: ServedTensor[];
  /** The dynamic batcher's default queue policy: a request's timeout, and whether a request may set its own. */
  queue: { defaultTimeoutMs?: number; timeoutAction: 'REJECT' | 'DELAY'; allowTimeoutOverride: boolean; maxQueueSize?: number };
  /** Settings of the configuration that have no equivalent here and are not applied, each with what it is. */
  unsupported: string[];
}

/**
 * The tensors as served. A rank-0 model tensor of a model that does not batch is configured as dims of 1 without a
 * reshape (Triton refuses an empty reshape there); its reshape here is [], the shape the model sees.
 */
function servedTensors(tensors: ModelConfig['input'], declared: readonly ModelTensor[] | undefined, maxBatch: number): ServedTensor[] {
  return (tensors ?? []).map((t) => {
    const scalar = maxBatch === 0 && t.reshape === undefined && declared?.find((d) => d.name === t.name)?.shape?.length === 0;
    const reshape = t.reshape !== undefined ? [...(t.reshape.shape ?? [])] : scalar ? [] : undefined;
    return { name: t.name ?? '', dataType: t.data_type ?? 'TYPE_INVALID', dims: [...(t.dims ?? [])], ...(reshape === undefined ? {} : { reshape }) };
  });
}

/** What the server enforces per request; `signature` (ModelSource.signature) tells the model's scalars. */
export function servingPolicyOf(config: ModelConfig, signature?: ModelSource['signature']): ServingPolicy {
  const policy = config.dynamic_batching?.default_queue_policy;
  const unsupported: string[] = [];
  const timeout = policy?.default_timeout_microseconds ?? 0;
  const action = policy?.timeout_action ?? 'REJECT';
  if (action === 'DELAY' && timeout > 0) unsupported.push('dynamic_batching.default_queue_policy.timeout_action DELAY (a timed-out request is rejected instead)');
  const dynamic = config.dynamic_batching;
  if (dynamic !== undefined) {
    if ((dynamic.priority_levels ?? 0) > 0) unsupported.push('dynamic_batching.priority_levels (all requests share one queue)');
    if (Object.keys(dynamic.priority_queue_policy ?? {}).length > 0) unsupported.push('dynamic_batching.priority_queue_policy');
  }
  if (config.sequence_batching !== undefined) unsupported.push('sequence_batching (requests are batched without sequence state)');
  const accelerators = (config['optimization'] as { execution_accelerators?: unknown } | undefined)?.execution_accelerators;
  if (accelerators !== undefined) unsupported.push('optimization.execution_accelerators (the CUDA or CPU provider runs the model)');
  const { others } = cudaOptionsFromTritonParameters(config.parameters ?? {});
  for (const key of others) if (!Object.hasOwn(SESSION_PARAMETERS, key)) unsupported.push(`parameters '${key}'`);
  return {
    maxBatchSize: config.max_batch_size ?? 0,
    inputs: servedTensors(config.input, signature?.inputs, config.max_batch_size ?? 0),
    outputs: servedTensors(config.output, signature?.outputs, config.max_batch_size ?? 0),
    queue: {
      ...(timeout > 0 ? { defaultTimeoutMs: timeout / 1000 } : {}),
      timeoutAction: action,
      allowTimeoutOverride: policy?.allow_timeout_override ?? false,
      ...((policy?.max_queue_size ?? 0) > 0 ? { maxQueueSize: policy!.max_queue_size! } : {}),
    },
    unsupported,
  };
}
