/**
 * CUDA provider options in a Triton model configuration, where Triton's ONNX Runtime backend reads them:
 * - cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy and do_copy_in_default_stream as model
 *   `parameters` (`parameters { key: "gpu_mem_limit" value: { string_value: "4294967296" } }`), the enums as numbers
 *   (0 = EXHAUSTIVE / kNextPowerOfTwo, ...). Whenever a model has parameters, the backend sets these four from them,
 *   or to its defaults, after reading the accelerator below, so they are written here only.
 * - every other option in the "cuda" accelerator (`optimization { execution_accelerators { gpu_execution_accelerator
 *   [{ name: "cuda", parameters { key: "use_tf32" value: "0" } }] } }`), whose keys the backend hands to
 *   onnxruntime's UpdateCUDAProviderOptions as they are.
 * Both apply to every GPU instance of the model: an option for one GPU only is refused.
 */
import { InputError } from '../errors.js';
import { CUDA_OPTIONS, normalizeCudaOption, type CudaProviderOptions } from '../runtime/gpu/cuda-options.js';

/** One entry of `gpu_execution_accelerator`: its name and parameters (map<string, string>). */
export interface TritonAccelerator {
  name: 'tensorrt' | 'cuda';
  parameters: Record<string, string>;
}

/** The options the backend reads from the model's parameters: onnxruntime's value to the parameter's string. */
const MODEL_PARAMETERS: Readonly<Record<string, (value: string) => string>> = {
  cudnn_conv_algo_search: (value) => String(indexIn('cudnn_conv_algo_search', value)),
  gpu_mem_limit: (value) => value,
  arena_extend_strategy: (value) => String(indexIn('arena_extend_strategy', value)),
  do_copy_in_default_stream: (value) => value,
};

function indexIn(option: string, value: string): number {
  const kind = CUDA_OPTIONS[option]!;
  return 'names' in kind ? kind.names.indexOf(value) : -1;
}

/** Refuses provider options for a model with no GPU instance: they would apply to nothing. */
export function requireGpuInstance(flag: string, options: Record<string, unknown>, devices: readonly string[]): void {
  const entries = Object.entries(options);
  if (entries.length === 0 || devices.some((d) => d.startsWith('cuda:'))) return;
  throw new InputError(`${flag} ${entries.map(([k, v]) => `${k}=${String(v)}`).join(', ')}: the entry has no GPU instance (devices ${devices.join(', ')}), so GPU provider options would apply to nothing; leave them out`);
}

export interface TritonCudaSettings {
  /** Model parameters: the four options the backend reads there. */
  parameters: Record<string, string>;
  /** The "cuda" accelerator with every other option; undefined when there is none. */
  accelerator: TritonAccelerator | undefined;
}

/** Where Triton's backend reads each CUDA option given for every GPU instance, as it reads it. */
export function tritonCudaSettings(options: CudaProviderOptions, devices: readonly string[]): TritonCudaSettings {
  requireGpuInstance('--cuda-option', options, devices);
  const parameters: Record<string, string> = {};
  const accelerator: Record<string, string> = {};
  for (const [name, value] of Object.entries(options)) {
    const normalized = normalizeCudaOption(`--cuda-option ${name}=${String(value)}`, name, value);
    const write = MODEL_PARAMETERS[name];
    if (write !== undefined) parameters[name] = write(normalized);
    else accelerator[name] = normalized;
  }
  return { parameters, accelerator: Object.keys(accelerator).length === 0 ? undefined : { name: 'cuda', parameters: accelerator } };
}

/** Refuses a provider option for one GPU (`KEY=VALUE@cuda:K`): Triton applies a model's settings to every instance. */
export function refusePerDeviceOptions(flag: string, values: readonly string[] | undefined): void {
  const entry = values?.find((v) => v.includes('@'));
  if (entry === undefined) return;
  throw new InputError(`${flag} ${entry}: Triton applies a model's parameters to every instance on every GPU, so an option cannot differ per GPU; give it without @${entry.slice(entry.lastIndexOf('@') + 1)}`);
}

/**
 * The CUDA provider options of a model's configuration, read where the writer above writes them: the four in its
 * `parameters`, every other in the "cuda" accelerator's parameters; and the model's other parameter keys.
 */
export function cudaOptionsFromTritonParameters(parameters: Readonly<Record<string, { string_value?: string }>>, accelerator: Readonly<Record<string, string>> = {}): { options: CudaProviderOptions; others: string[] } {
  const options: CudaProviderOptions = {};
  for (const [key, value] of Object.entries(accelerator)) options[key] = normalizeCudaOption(`gpu_execution_accelerator 'cuda' parameter '${key}'`, key, value);
  const others: string[] = [];
  for (const [key, value] of Object.entries(parameters)) {
    if (!Object.hasOwn(MODEL_PARAMETERS, key)) others.push(key);
    // The backend's numbers are onnxruntime's enum values, which normalizeCudaOption takes as they are.
    else options[key] = normalizeCudaOption(`parameters '${key}'`, key, value.string_value ?? '');
  }
  return { options, others };
}
