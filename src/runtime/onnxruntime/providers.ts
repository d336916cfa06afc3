/**
 * Execution providers appended to session options from option records (onnxruntime's own names and string
 * values, as its CUDA and TensorRT providers document them): TensorRT first, then CUDA, the CPU last (implicit),
 * which is the order in which onnxruntime gives them nodes.
 */
import { ortApi, type Handle, type OrtApi } from './library.js';
import { check, Out } from './status.js';

/** Provider options by provider, for one device. */
export interface ProviderOptions {
  cuda?: Record<string, string>;
  tensorrt?: Record<string, string>;
}

/** Provider option records are passed as two arrays of strings. */
function update(api: OrtApi, fn: 'UpdateCUDAProviderOptions' | 'UpdateTensorRTProviderOptions', handle: Handle, options: Record<string, string>): void {
  const keys = Object.keys(options);
  if (keys.length === 0) return;
  check(api, api[fn](handle, keys, keys.map((k) => options[k]!), keys.length));
}

/** How each provider's options are made, filled, appended to session options and released, in the order appended. */
const PROVIDERS = [
  { name: 'tensorrt', create: 'CreateTensorRTProviderOptions', update: 'UpdateTensorRTProviderOptions', append: 'SessionOptionsAppendExecutionProvider_TensorRT_V2', release: 'ReleaseTensorRTProviderOptions' },
  { name: 'cuda', create: 'CreateCUDAProviderOptions', update: 'UpdateCUDAProviderOptions', append: 'SessionOptionsAppendExecutionProvider_CUDA_V2', release: 'ReleaseCUDAProviderOptions' },
] as const;

/** Appends the providers of `providers` to `sessionOptions`. UpdateCUDAProviderOptions loads the CUDA provider, and fails where it is missing. */
export function appendProviders(sessionOptions: Handle, providers: ProviderOptions): void {
  const api = ortApi();
  for (const provider of PROVIDERS) {
    const options = providers[provider.name];
    if (options === undefined) continue;
    const out = new Out();
    check(api, api[provider.create](out.cell));
    try {
      update(api, provider.update, out.value, options);
      check(api, api[provider.append](sessionOptions, out.value));
    } finally {
      api[provider.release](out.value);
    }
  }
}
