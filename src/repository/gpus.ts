/** The GPUs a model's instance groups can use: those CUDA sees here when the CUDA provider is installed (Triton's supported GPUs). */
import { defaultDevices, gpuInventory } from '../runtime/gpu/gpus.js';
import { missingCudaProvider } from '../runtime/gpu/providers.js';

export async function supportedGpus(): Promise<number[]> {
  const { devices } = defaultDevices(await gpuInventory(), missingCudaProvider());
  return devices.filter((d) => d.startsWith('cuda:')).map((d) => Number(d.slice('cuda:'.length)));
}
