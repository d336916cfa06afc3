/**
 * TensorRT provider options in a Triton model configuration: the "tensorrt" accelerator
 * (`optimization { execution_accelerators { gpu_execution_accelerator [{ name: "tensorrt", parameters { key:
 * "precision_mode" value: "FP16" } }] } }`), under the keys Triton's ONNX Runtime backend reads (its table
 * "Parameter mapping between ONNX Runtime and Triton ONNXRuntime Backend"). The backend refuses any other key, so an
 * option it has no key for is refused here, with the reason. TensorRT needs a Triton whose ONNX Runtime backend was
 * built with TensorRT (the NGC images are).
 */
import { InputError } from '../errors.js';
import { normalizeTensorrtOption, type TensorrtProviderOptions } from '../runtime/gpu/tensorrt-options.js';
import { requireGpuInstance, type TritonAccelerator } from './cuda-parameters.js';

/** onnxruntime's option to the backend's key, for the options it reads under another name or as they are. */
const BACKEND_KEYS: Readonly<Record<string, string>> = {
  trt_max_workspace_size: 'max_workspace_size_bytes',
  trt_int8_calibration_table_name: 'int8_calibration_table_name',
  trt_int8_use_native_calibration_table: 'int8_use_native_calibration_table',
  ...Object.fromEntries(
    [
      'trt_max_partition_iterations',
      'trt_min_subgraph_size',
      'trt_dla_enable',
      'trt_dla_core',
      'trt_engine_cache_enable',
      'trt_engine_cache_path',
      'trt_engine_cache_prefix',
      'trt_dump_subgraphs',
      'trt_force_sequential_engine_build',
      'trt_context_memory_sharing_enable',
      'trt_layer_norm_fp32_fallback',
      'trt_timing_cache_enable',
      'trt_timing_cache_path',
      'trt_force_timing_cache',
      'trt_detailed_build_log',
      'trt_build_heuristics_enable',
      'trt_sparsity_enable',
      'trt_builder_optimization_level',
      'trt_auxiliary_streams',
      'trt_tactic_sources',
      'trt_extra_plugin_lib_paths',
      'trt_profile_min_shapes',
      'trt_profile_max_shapes',
      'trt_profile_opt_shapes',
      'trt_cuda_graph_enable',
      'trt_dump_ep_context_model',
      'trt_ep_context_file_path',
      'trt_ep_context_embed_mode',
    ].map((name) => [name, name]),
  ),
};

/** The precision flags, which the backend reads as one key, precision_mode. */
const PRECISIONS: Readonly<Record<string, string>> = { trt_fp16_enable: 'FP16', trt_bf16_enable: 'BF16', trt_int8_enable: 'INT8' };

/** The TensorRT options Triton's backend has a key for (precision flags included). */
export const TRITON_TENSORRT_OPTIONS: readonly string[] = [...Object.keys(PRECISIONS), ...Object.keys(BACKEND_KEYS)];

/** The "tensorrt" accelerator for TensorRT on every GPU instance with `options`; refuses what the backend cannot take. */
export function tritonTensorrtAccelerator(options: TensorrtProviderOptions, devices: readonly string[]): TritonAccelerator {
  requireGpuInstance('--tensorrt-option', options, devices);
  const parameters: Record<string, string> = {};
  const precisions: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    const where = `--tensorrt-option ${name}=${String(value)}`;
    const normalized = normalizeTensorrtOption(where, name, value);
    const precision = PRECISIONS[name];
    if (precision !== undefined) {
      if (normalized === '1') {
        precisions.push(`${name} (${precision})`);
        parameters['precision_mode'] = precision;
      }
      continue;
    }
    const key = BACKEND_KEYS[name];
    if (key === undefined) {
      throw new InputError(`${where}: Triton's ONNX Runtime backend has no parameter for ${name} (it takes TensorRT's ${TRITON_TENSORRT_OPTIONS.join(', ')}); leave it out of the export`);
    }
    parameters[key] = normalized;
  }
  if (precisions.length > 1) {
    throw new InputError(`--tensorrt-option: Triton's ONNX Runtime backend takes one precision (precision_mode), and ${precisions.join(' and ')} are both on; keep one`);
  }
  return { name: 'tensorrt', parameters };
}

/** The TensorRT provider options of a "tensorrt" accelerator's parameters: the reading of tritonTensorrtAccelerator's keys. */
export function tensorrtOptionsFromAccelerator(parameters: Readonly<Record<string, string>>): TensorrtProviderOptions {
  const options: TensorrtProviderOptions = {};
  for (const [key, value] of Object.entries(parameters)) {
    const where = `gpu_execution_accelerator 'tensorrt' parameter '${key}'`;
    if (key === 'precision_mode') {
      const flag = Object.entries(PRECISIONS).find(([, mode]) => mode === value.toUpperCase())?.[0];
      if (flag !== undefined) options[flag] = '1';
      else if (value.toUpperCase() !== 'FP32') throw new InputError(`${where}: '${value}' is not a precision; use FP32, ${Object.values(PRECISIONS).join(', ')}`);
      continue;
    }
    const name = Object.entries(BACKEND_KEYS).find(([, backendKey]) => backendKey === key)?.[0];
    if (name === undefined) throw new InputError(`${where}: Triton's ONNX Runtime backend has no such TensorRT parameter (it takes precision_mode and ${Object.values(BACKEND_KEYS).join(', ')})`);
    options[name] = normalizeTensorrtOption(where, name, value);
  }
  return options;
}
