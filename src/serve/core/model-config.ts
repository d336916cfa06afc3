/**
 * The served model's configuration in the JSON form of Triton's `inference.ModelConfig`, as Triton's
 * `GET /v2/models/NAME/config` gives it (the model configuration extension): what `perf_analyzer` and
 * `tritonclient`'s `get_model_config` read. A model whose every input and output has its batch on a symbolic
 * axis 0 (ParallelSession merges and cuts such requests) is described as Triton describes a batching model:
 * `max_batch_size` > 0 and dims without the batch. Any other model has `max_batch_size` 0 and full dims.
 */
import type { BatchingOptions } from '../../runtime/session/scheduler.js';
import type { ExecutionPlan } from '../../transform/plan.js';
import { instanceGroups, MAX_INT32, TRITON_PLATFORM, tritonDims } from '../../triton/config.js';
import { tritonTypeOfDatatype } from './datatypes.js';
import type { ModelSignature, TensorSignature } from './signature.js';

export interface ServedModel {
  name: string;
  signature: ModelSignature;
  devices: readonly string[];
  /** ParallelSession's plan (the batch axis of each input and output); undefined for a backend without one. */
  plan: Pick<ExecutionPlan, 'inputs' | 'outputs'> | undefined;
  /** The session's dynamic batching, or false when it is off. */
  batching: BatchingOptions | false;
}

/** Whether requests of `model` are merged and cut on a batch axis 0, as Triton's batching does. */
function batches(model: ServedModel): boolean {
  const { plan, signature } = model;
  if (plan === undefined) return false;
  const dynamicFirst = (t: TensorSignature): boolean => t.shape !== undefined && t.shape.length > 0 && t.shape[0] === -1;
  return (
    plan.inputs.every((i) => i.axis === 0 && i.fixedBatch === null) &&
    plan.outputs.every((o) => o.axis === 0 && o.combine === null) &&
    [...signature.inputs, ...signature.outputs].every(dynamicFirst)
  );
}

function tensorConfig(t: TensorSignature, batched: boolean): { name: string; data_type: string; dims: number[]; reshape?: { shape: number[] } } {
  const { dims, reshape } = t.shape === undefined ? { dims: [-1], reshape: undefined } : tritonDims(t.shape, batched);
  return { name: t.name, data_type: tritonTypeOfDatatype(t.datatype), dims, ...(reshape === undefined ? {} : { reshape: { shape: reshape } }) };
}

export function servedModelConfig(model: ServedModel): Record<string, unknown> {
  const batched = batches(model);
  const { batching } = model;
  return {
    name: model.name,
    platform: TRITON_PLATFORM,
    backend: 'onnxruntime',
    version_policy: { latest: { num_versions: 1 } },
    // Triton's max_batch_size is an int32: the server takes any batch, so without --max-batch it is the largest.
    max_batch_size: batched ? Math.min(batching === false ? MAX_INT32 : (batching.maxBatch ?? MAX_INT32), MAX_INT32) : 0,
    input: model.signature.inputs.map((t) => ({ ...tensorConfig(t, batched), format: 'FORMAT_NONE', is_shape_tensor: false, allow_ragged_batch: false, optional: false })),
    output: model.signature.outputs.map((t) => ({ ...tensorConfig(t, batched), label_filename: '', is_shape_tensor: false })),
    ...(batched && batching !== false
      ? { dynamic_batching: { preferred_batch_size: batching.preferredBatch ?? [], max_queue_delay_microseconds: Math.round((batching.maxQueueDelayMs ?? 0) * 1000) } }
      : {}),
    instance_group: instanceGroups([...model.devices], model.devices.map(() => 1)).map((g, i) => ({ name: `${model.name}_${i}`, kind: g.kind, count: g.count, gpus: g.gpus })),
    default_model_filename: 'model.onnx',
    parameters: {},
  };
}
