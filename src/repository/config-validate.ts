/**
 * Triton's own checks of a complete configuration (model_config_utils.cc: ValidateModelConfig, ValidateIOShape,
 * ValidateModelInput/Output), in its words, for what a served ONNX model uses: max_batch_size, the dynamic batcher's
 * preferred sizes, instance counts, and each input's and output's name, data_type, dims and reshape.
 */
import type { ModelConfig, ModelTensorConfig } from './model-config.js';

const WILDCARD = -1;

function elementCount(dims: readonly number[]): number {
  return dims.includes(WILDCARD) ? WILDCARD : dims.reduce((n, d) => n * d, 1);
}

function ioProblem(kind: 'input' | 'output', io: ModelTensorConfig, maxBatch: number): string | undefined {
  const prefix = `model ${kind} `;
  if (io.name === undefined || io.name === '') return `${prefix}must specify 'name'`;
  const named = `${prefix}'${io.name}' `;
  if (io.data_type === undefined || io.data_type === 'TYPE_INVALID') return `${named}must specify 'data_type'`;
  const dims = io.dims ?? [];
  if (dims.length === 0) return `${named}must specify 'dims'`;
  const reshape = io.reshape === undefined ? undefined : (io.reshape.shape ?? []);
  if (reshape !== undefined && reshape.length === 0 && maxBatch === 0) return `${named}cannot have empty reshape for non-batching model as scalar tensors are not supported`;
  if (dims.some((d) => d < 1 && d !== WILDCARD)) return `${named}dimension must be integer >= 1, or -1 to indicate a variable-size dimension`;
  if (reshape !== undefined) {
    if (reshape.some((d) => d < 1 && d !== WILDCARD)) return `${named}reshape dimensions must be integer >= 1, or -1 to indicate a variable-size dimension`;
    const dimsSize = elementCount(dims);
    const reshapeSize = reshape.length === 0 ? 0 : elementCount(reshape);
    if (dimsSize !== reshapeSize && (reshapeSize !== 0 || dimsSize !== 1)) return `${named}has different size for dims and reshape`;
  }
  if (io['is_shape_tensor'] === true) return 'shape tensors are only supported for TensorRT platform';
  if (kind === 'input' && (io['format'] === 'FORMAT_NHWC' || io['format'] === 'FORMAT_NCHW') && dims.length !== 3) return 'model input NHWC/NCHW require 3 dims';
  return undefined;
}

/** What Triton refuses in the configuration, or undefined. */
export function configProblem(config: ModelConfig): string | undefined {
  const name = config.name ?? '';
  const maxBatch = config.max_batch_size ?? 0;
  if (maxBatch < 0) return `'max_batch_size' must be non-negative value for ${name}`;
  for (const size of config.dynamic_batching?.preferred_batch_size ?? []) {
    if (size < 1) return `dynamic batching preferred size must be positive for ${name}`;
    if (size > maxBatch) return `dynamic batching preferred size must be <= max batch size for ${name}`;
  }
  for (const group of config.instance_group ?? []) {
    if ((group.count ?? 1) < 1) return `instance group ${group.name ?? ''} of model ${name} must specify 'count' >= 1`;
    if ((group.gpus ?? []).some((g) => g < 0)) return `instance group ${group.name ?? ''} of model ${name} specifies invalid or unsupported gpu id ${(group.gpus ?? []).find((g) => g < 0)}`;
  }
  for (const [kind, list] of [['input', config.input], ['output', config.output]] as const) {
    for (const io of list ?? []) {
      const problem = ioProblem(kind, io, maxBatch);
      if (problem !== undefined) return `${problem} for ${name}`;
    }
  }
  return undefined;
}
