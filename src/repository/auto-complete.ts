/**
 * Completing a model configuration from the ONNX file, as Triton's onnxruntime backend does (AutoCompleteConfig):
 * when the configuration lists no inputs or no outputs, they are filled in from the model (name, data_type, dims;
 * a scalar or a batch-only value as `dims: [1]` with `reshape: { shape: [] }`), and `max_batch_size` is set when
 * the model batches and none is given, with the dynamic batcher turned on. A configuration that lists both inputs
 * and outputs is left as it is, as Triton leaves it.
 *
 * Whether the model batches, and its dims, come from the same analysis `onnx-parallelize triton` writes its
 * config.pbtxt from (describeTritonModel): every input and output has a symbolic batch on axis 0. The model file is
 * read in a worker of its own, so its bytes never live on the main thread's heap.
 */
import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { tritonDims, type TritonTensor } from '../triton/config.js';
import type { TritonDataType } from '../triton/data-types.js';
import type { ModelConfig, ModelTensorConfig } from './model-config.js';

/**
 * `max_batch_size` given to a model that batches when its configuration has none: Triton's onnxruntime backend
 * takes it from `--backend-config=onnxruntime,default-max-batch-size=N`, 4 by default, and so is it here.
 */
export const AUTO_COMPLETE_MAX_BATCH = 4;

/** An input or output as the model declares it: Triton's data type (undefined: none), dims with -1 where not fixed. */
export interface ModelTensor {
  name: string;
  dataType: TritonDataType | undefined;
  /** Undefined when the model does not give the rank. */
  shape: number[] | undefined;
}

export type DescribeAnswer =
  | {
      type: 'described';
      signature: { inputs: ModelTensor[]; outputs: ModelTensor[] };
      /** The inputs and outputs as Triton's configuration writes them and whether the model batches, or why they cannot be written. */
      description: { inputs: TritonTensor[]; outputs: TritonTensor[]; batches: boolean; reason: string } | { problem: string };
      /** The devices of a model rewritten by onnx-parallelize (its replicas' tags). */
      planDevices?: string[];
    }
  | { type: 'failed'; name: string; message: string };

export type ModelDescription = Extract<DescribeAnswer, { type: 'described' }>;

/** The model file's signature, its inputs and outputs as Triton's configuration writes them, and whether it batches. */
export function describeModelFile(file: string): Promise<ModelDescription> {
  const worker = new Worker(new URL('./describe-worker.js', import.meta.url), { workerData: file, execArgv: [] });
  return new Promise((resolve, reject) => {
    let answer: DescribeAnswer | undefined;
    worker.once('message', (message: DescribeAnswer) => (answer = message));
    worker.once('error', (error) => reject(new Error(`reading ${file} failed: ${error.message}`)));
    worker.once('exit', (code) => {
      if (answer === undefined) return reject(new Error(`the worker reading ${file} exited (code ${code})`));
      if (answer.type === 'failed') return reject(answer.name === 'InputError' ? new InputError(answer.message) : new Error(answer.message));
      resolve(answer);
    });
  });
}

/**
 * A description from the signature alone, by Triton's backend's own rule (every input and output has a free first
 * dim: the model batches), for a model the batch-axis analysis does not take (one rewritten by onnx-parallelize).
 */
export function describeSignature(signature: ModelDescription['signature']): ModelDescription['description'] {
  const all = [...signature.inputs, ...signature.outputs];
  const untyped = all.find((t) => t.dataType === undefined || t.shape === undefined);
  if (untyped !== undefined) return { problem: `'${untyped.name}' has no ${untyped.dataType === undefined ? 'tensor type Triton has a name for' : 'shape'} in the model` };
  const batches = signature.inputs.length > 0 && all.every((t) => t.shape!.length > 0 && t.shape![0] === -1);
  const tensor = (t: ModelTensor): TritonTensor => ({ name: t.name, dataType: t.dataType!, ...tritonDims(t.shape!, batches) });
  return {
    inputs: signature.inputs.map(tensor),
    outputs: signature.outputs.map(tensor),
    batches,
    reason: batches ? 'every input and output has a free first dim' : 'not every input and output has a free first dim',
  };
}

/** Whether Triton's backend would complete this configuration (it lists no inputs or no outputs). */
export function needsAutoComplete(config: ModelConfig): boolean {
  return (config.input ?? []).length === 0 || (config.output ?? []).length === 0;
}

const tensorConfig = (t: TritonTensor): ModelTensorConfig => ({ name: t.name, data_type: t.dataType, dims: [...t.dims], ...(t.reshape === undefined ? {} : { reshape: { shape: [...t.reshape] } }) });

/** The configuration completed from the model's description; throws where Triton's auto-complete fails. */
export function autoComplete(config: ModelConfig, described: ModelDescription): ModelConfig {
  if (!needsAutoComplete(config)) return config;
  const model = described.description;
  if ('problem' in model) throw new InputError(`cannot complete the configuration from the model: ${model.problem}`);
  const out: ModelConfig = { ...config };
  const given = config.max_batch_size ?? 0;
  if (model.batches) {
    if (given === 0) out.max_batch_size = AUTO_COMPLETE_MAX_BATCH;
    if (out.max_batch_size! > 1 && out.dynamic_batching === undefined && out.sequence_batching === undefined) out.dynamic_batching = {};
  } else if (given !== 0) {
    throw new InputError(`autofill failed for model '${config.name ?? ''}': model does not support batching while non-zero max_batch_size is specified (${model.reason}); set max_batch_size: 0`);
  }
  // A model that batches but is configured with max_batch_size 0 is not possible here: 0 means "not given".
  if ((config.input ?? []).length === 0) out.input = model.inputs.map(tensorConfig);
  if ((config.output ?? []).length === 0) out.output = model.outputs.map(tensorConfig);
  return out;
}
