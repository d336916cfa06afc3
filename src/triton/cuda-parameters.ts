/**
 * CUDA provider options in a Triton model configuration. Triton's ONNX Runtime backend documents four of them as
 * model `parameters` (`parameters { key: "gpu_mem_limit" value: { string_value: "4294967296" } }`), read for every
 * GPU instance of the model: cudnn_conv_algo_search and arena_extend_strategy as numbers (0 = EXHAUSTIVE /
 * kNextPowerOfTwo, ...), gpu_mem_limit in bytes and do_copy_in_default_stream as given. Any other option is refused,
 * as is an option for one GPU only: the parameters apply to the whole model.
 */
import { InputError } from '../errors.js';
import { CUDA_OPTIONS, normalizeCudaOption, type CudaProviderOptions } from '../runtime/gpu/cuda-options.js';

/** How the backend reads each option it takes from `parameters`: onnxruntime's value to the parameter's string. */
const TRITON_PARAMETERS: Readonly<Record<string, (value: string) => string>> = {
  cudnn_conv_algo_search: (value) => String(indexIn('cudnn_conv_algo_search', value)),
  gpu_mem_limit: (value) => value,
  arena_extend_strategy: (value) => String(indexIn('arena_extend_strategy', value)),
  do_copy_in_default_stream: (value) => value,
};

function indexIn(option: string, value: string): number {
  const kind = CUDA_OPTIONS[option]!;
  return 'names' in kind ? kind.names.indexOf(value) : -1;
}

/** The model `parameters` for CUDA provider options given for every GPU instance; refuses what Triton cannot take. */
export function tritonCudaParameters(options: CudaProviderOptions, devices: readonly string[]): Record<string, string> {
  const entries = Object.entries(options);
  if (entries.length === 0) return {};
  if (!devices.some((d) => d.startsWith('cuda:'))) {
    throw new InputError(`--cuda-option ${entries.map(([k, v]) => `${k}=${String(v)}`).join(', ')}: the entry has no GPU instance (devices ${devices.join(', ')}), so CUDA options would apply to nothing; leave them out`);
  }
  const parameters: Record<string, string> = {};
  for (const [name, value] of entries) {
    const where = `--cuda-option ${name}=${String(value)}`;
    const normalized = normalizeCudaOption(where, name, value);
    const write = TRITON_PARAMETERS[name];
    if (write === undefined) {
      throw new InputError(
        `${where}: Triton's ONNX Runtime backend reads only ${Object.keys(TRITON_PARAMETERS).join(', ')} from a model's parameters; leave ${name} out of the export (the backend takes other CUDA options in the config's optimization section, which this export does not write)`,
      );
    }
    parameters[name] = write(normalized);
  }
  return parameters;
}

/** Refuses a --cuda-option for one GPU (`KEY=VALUE@cuda:K`): Triton applies a model's parameters to every instance. */
export function refusePerDeviceCudaOptions(values: readonly string[] | undefined): void {
  const entry = values?.find((v) => v.includes('@'));
  if (entry === undefined) return;
  throw new InputError(`--cuda-option ${entry}: Triton applies a model's parameters to every instance on every GPU, so an option cannot differ per GPU; give it without @${entry.slice(entry.lastIndexOf('@') + 1)}`);
}

/** The CUDA provider options in a model's `parameters` (the keys the writer above writes), and the other keys. */
export function cudaOptionsFromTritonParameters(parameters: Readonly<Record<string, { string_value?: string }>>): { options: CudaProviderOptions; others: string[] } {
  const options: CudaProviderOptions = {};
  const others: string[] = [];
  for (const [key, value] of Object.entries(parameters)) {
    if (!Object.hasOwn(TRITON_PARAMETERS, key)) others.push(key);
    // The backend's numbers are onnxruntime's enum values, which normalizeCudaOption takes as they are.
    else options[key] = normalizeCudaOption(`parameters '${key}'`, key, value.string_value ?? '');
  }
  return { options, others };
}
