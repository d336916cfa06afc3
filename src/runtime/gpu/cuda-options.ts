/**
 * onnxruntime's CUDA execution provider options: every option its parser (CUDAExecutionProviderInfo::
 * FromProviderOptions, which UpdateCUDAProviderOptions feeds) takes, by its name, with the kind of value it parses.
 * Names and values are checked early, with onnxruntime's wording for an unknown name, and normalized to the strings
 * onnxruntime parses.
 */
import { TENSORRT_OPTIONS } from './tensorrt-options.js';
import { POINTER_REASON, STREAM_REFUSALS, BYTES, FLAG, WHOLE, normalizeProviderOption, normalizeProviderOptions, type OptionKind, type ProviderCatalogue, type ProviderOptionValue } from './option-values.js';

/** Option values as the library takes them: strings (as on the command line), numbers or booleans. */
export type CudaOptionValue = ProviderOptionValue;
export type CudaProviderOptions = Record<string, CudaOptionValue>;

/** The CUDA provider's options a user can set, by name, in the order of onnxruntime's parser. */
export const CUDA_OPTIONS: Readonly<Record<string, OptionKind>> = {
  gpu_mem_limit: BYTES,
  arena_extend_strategy: { names: ['kNextPowerOfTwo', 'kSameAsRequested'] },
  cudnn_conv_algo_search: { names: ['EXHAUSTIVE', 'HEURISTIC', 'DEFAULT'] },
  do_copy_in_default_stream: FLAG,
  cudnn_conv_use_max_workspace: FLAG,
  enable_cuda_graph: FLAG,
  cudnn_conv1d_pad_to_nc1d: FLAG,
  enable_skip_layer_norm_strict_mode: FLAG,
  prefer_nhwc: FLAG,
  use_ep_level_unified_stream: FLAG,
  use_tf32: FLAG,
  sdpa_kernel: WHOLE,
  fuse_conv_bias: FLAG,
  tunable_op_enable: FLAG,
  tunable_op_tuning_enable: FLAG,
  tunable_op_max_tuning_duration_ms: WHOLE,
};

/** Options onnxruntime's CUDA provider parses that cannot be given here, and why. */
export const CUDA_REFUSED: Readonly<Record<string, string>> = {
  device_id: 'each device sets its own (cuda:K runs with device_id K); give per-device options for cuda:K instead',
  ...STREAM_REFUSALS,
  gpu_external_alloc: `it is a function, and ${POINTER_REASON}; use gpu_mem_limit and arena_extend_strategy`,
  gpu_external_free: `it is a function, and ${POINTER_REASON}; use gpu_mem_limit and arena_extend_strategy`,
  gpu_external_empty_cache: `it is a function, and ${POINTER_REASON}; use gpu_mem_limit and arena_extend_strategy`,
  default_memory_arena_cfg: 'it is an OrtArenaCfg object, not an option onnxruntime parses from a string; use gpu_mem_limit and arena_extend_strategy',
};

export const CUDA_CATALOGUE: ProviderCatalogue = {
  provider: 'CUDA',
  options: CUDA_OPTIONS,
  refused: CUDA_REFUSED,
  belongsElsewhere: (name) =>
    name in TENSORRT_OPTIONS
      ? "it is the TensorRT provider's; give it as a TensorRT option (a { name: 'tensorrt', ... } entry of executionProviders, deviceOptions['cuda:K'].tensorrt, or --tensorrt-option)"
      : undefined,
};

/** The value of one option as onnxruntime parses it; throws an ArgumentError quoting `where` when it does not fit. */
export function normalizeCudaOption(where: string, name: string, value: unknown): string {
  return normalizeProviderOption(CUDA_CATALOGUE, where, name, value);
}

/** Every option of `options` normalized; `where` names the object (an option path) in errors. */
export function normalizeCudaOptions(where: string, options: unknown): Record<string, string> {
  return normalizeProviderOptions(CUDA_CATALOGUE, where, options, '{ gpu_mem_limit: 5e9 }');
}
