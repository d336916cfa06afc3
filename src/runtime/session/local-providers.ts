/**
 * The execution providers of one device, as option records by onnxruntime's names: none for `cpu`; for `cuda:K`
 * the CUDA provider's options with its `device_id`. The one place that turns ParallelSession's options into them.
 */
import type * as ort from 'onnxruntime-node';
import { cudaOptionsFor, parseDevice, type DeviceOptions } from '../gpu/providers.js';
import type { ProviderOptions } from '../onnxruntime/providers.js';

export function deviceProviders(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): ProviderOptions {
  const parsed = parseDevice(device);
  if (parsed.kind === 'cpu') return {};
  return { cuda: { ...cudaOptionsFor(device, base, deviceOptions), device_id: String(parsed.id) } };
}
