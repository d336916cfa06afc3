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

/** Appends the providers of `providers` to `sessionOptions`. UpdateCUDAProviderOptions loads the CUDA provider, and fails where it is missing. */
export function appendProviders(sessionOptions: Handle, providers: ProviderOptions): void {
  const api = ortApi();
  if (providers.tensorrt !== undefined) {
    const out = new Out();
    check(api, api.CreateTensorRTProviderOptions(out.cell));
    try {
      update(api, 'UpdateTensorRTProviderOptions', out.value, providers.tensorrt);
      check(api, api.SessionOptionsAppendExecutionProvider_TensorRT_V2(sessionOptions, out.value));
    } finally {
      api.ReleaseTensorRTProviderOptions(out.value);
    }
  }
  if (providers.cuda !== undefined) {
    const out = new Out();
    check(api, api.CreateCUDAProviderOptions(out.cell));
    try {
      update(api, 'UpdateCUDAProviderOptions', out.value, providers.cuda);
      check(api, api.SessionOptionsAppendExecutionProvider_CUDA_V2(sessionOptions, out.value));
    } finally {
      api.ReleaseCUDAProviderOptions(out.value);
    }
  }
}
