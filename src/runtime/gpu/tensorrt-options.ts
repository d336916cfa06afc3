/**
 * onnxruntime's TensorRT execution provider options: every option its parser (TensorrtExecutionProviderInfo::
 * FromProviderOptions, which UpdateTensorRTProviderOptions feeds) takes, by its name, with the kind of value it
 * parses. Checked early, with onnxruntime's wording for an unknown name, and normalized to the strings onnxruntime
 * parses. A device that runs TensorRT keeps CUDA as the fallback for the nodes TensorRT does not take.
 */
import { CUDA_OPTIONS } from './cuda-options.js';
import { POINTER_REASON, STREAM_REFUSALS, BYTES, FLAG, TEXT, WHOLE, intFrom, normalizeProviderOption, normalizeProviderOptions, type OptionKind, type ProviderCatalogue, type ProviderOptionValue } from './option-values.js';

export type TensorrtProviderOptions = Record<string, ProviderOptionValue>;

/** The TensorRT provider's options a user can set, by name, in the order of onnxruntime's parser. */
export const TENSORRT_OPTIONS: Readonly<Record<string, OptionKind>> = {
  trt_max_partition_iterations: WHOLE,
  trt_min_subgraph_size: WHOLE,
  trt_max_workspace_size: BYTES,
  trt_fp16_enable: FLAG,
  trt_bf16_enable: FLAG,
  trt_int8_enable: FLAG,
  trt_int8_calibration_table_name: TEXT,
  trt_int8_use_native_calibration_table: FLAG,
  trt_dla_enable: FLAG,
  trt_dla_core: WHOLE,
  trt_dump_subgraphs: FLAG,
  trt_engine_cache_enable: FLAG,
  trt_engine_cache_path: TEXT,
  trt_weight_stripped_engine_enable: FLAG,
  trt_onnx_model_folder_path: TEXT,
  trt_engine_cache_prefix: TEXT,
  trt_engine_decryption_enable: FLAG,
  trt_engine_decryption_lib_path: TEXT,
  trt_force_sequential_engine_build: FLAG,
  trt_context_memory_sharing_enable: FLAG,
  trt_layer_norm_fp32_fallback: FLAG,
  trt_timing_cache_enable: FLAG,
  trt_timing_cache_path: TEXT,
  trt_force_timing_cache: FLAG,
  trt_detailed_build_log: FLAG,
  trt_build_heuristics_enable: FLAG,
  trt_sparsity_enable: FLAG,
  trt_builder_optimization_level: intFrom(0, 5),
  trt_auxiliary_streams: intFrom(-1),
  trt_tactic_sources: TEXT,
  trt_extra_plugin_lib_paths: TEXT,
  trt_profile_min_shapes: TEXT,
  trt_profile_max_shapes: TEXT,
  trt_profile_opt_shapes: TEXT,
  trt_cuda_graph_enable: FLAG,
  trt_dump_ep_context_model: FLAG,
  trt_ep_context_file_path: TEXT,
  trt_ep_context_embed_mode: intFrom(0, 1),
  trt_engine_hw_compatible: FLAG,
  trt_op_types_to_exclude: TEXT,
  trt_preview_features: TEXT,
  trt_load_user_initializer: FLAG,
};

/** Options onnxruntime's TensorRT provider parses that cannot be given here, and why. */
export const TENSORRT_REFUSED: Readonly<Record<string, string>> = {
  device_id: 'each device sets its own (cuda:K runs TensorRT with device_id K); give per-device options for cuda:K instead',
  ...STREAM_REFUSALS,
  trt_onnx_bytestream: `it is the model's bytes in memory, and ${POINTER_REASON}; onnx-parallelize gives each device its model itself`,
  trt_onnx_bytestream_size: 'it goes with trt_onnx_bytestream, which cannot be set here; onnx-parallelize gives each device its model itself',
  trt_external_data_bytestream: `it is the model's external data in memory, and ${POINTER_REASON}; onnx-parallelize gives each device its weights itself`,
  trt_external_data_bytestream_size: 'it goes with trt_external_data_bytestream, which cannot be set here; onnx-parallelize gives each device its weights itself',
};

export const TENSORRT_CATALOGUE: ProviderCatalogue = {
  provider: 'TensorRT',
  options: TENSORRT_OPTIONS,
  refused: TENSORRT_REFUSED,
  belongsElsewhere: (name) =>
    name in CUDA_OPTIONS
      ? "it is the CUDA provider's, which runs beside TensorRT as its fallback; give it as a CUDA option (a { name: 'cuda', ... } entry of executionProviders, deviceOptions['cuda:K'], or --cuda-option)"
      : undefined,
};

/** The value of one option as onnxruntime parses it; throws an ArgumentError quoting `where` when it does not fit. */
export function normalizeTensorrtOption(where: string, name: string, value: unknown): string {
  return normalizeProviderOption(TENSORRT_CATALOGUE, where, name, value);
}

/** Every option of `options` normalized; `where` names the object (an option path) in errors. */
export function normalizeTensorrtOptions(where: string, options: unknown): Record<string, string> {
  return normalizeProviderOptions(TENSORRT_CATALOGUE, where, options, "{ trt_fp16_enable: true, trt_engine_cache_enable: true, trt_engine_cache_path: '/var/cache/trt' }");
}
