/**
 * Page-locked shared buffers, for the tensors ParallelSession allocates on a session with CUDA devices: a
 * SharedArrayBuffer as ever (V8 owns its memory, and workers can share it), page-locked with cudaHostRegister
 * (portable: for every GPU), so that onnxruntime's copies between it and the GPUs run at the bus's full speed
 * instead of staging through pageable memory. It is unlocked once the buffer has been collected. Should that come
 * late or early, the memory only stays locked a while longer or is copied at pageable speed: V8 alone frees it,
 * so no page-locking can pull memory from under a run.
 */
import { koffi } from '../onnxruntime/koffi.js';
import { cudaRuntime, type CudaRuntime } from './cuda-runtime.js';

const unlocked = new FinalizationRegistry<{ runtime: CudaRuntime; address: number }>(({ runtime, address }) => {
  try {
    runtime.hostUnregister(address);
  } catch {
    // already unlocked, or CUDA is going down with the process: nothing to give back
  }
});

/**
 * A zero-filled SharedArrayBuffer of `bytes` bytes, page-locked where the CUDA runtime can lock it (`locked`);
 * where it cannot, the buffer serves unlocked.
 */
export function pinnedSharedBuffer(bytes: number): { buffer: SharedArrayBuffer; locked: boolean } {
  const buffer = new SharedArrayBuffer(bytes);
  const runtime = bytes === 0 ? undefined : cudaRuntime();
  if (runtime === undefined || runtime instanceof Error) return { buffer, locked: false };
  const address = Number(koffi.address(new Uint8Array(buffer)));
  try {
    runtime.hostRegister(address, bytes);
  } catch {
    return { buffer, locked: false };
  }
  unlocked.register(buffer, { runtime, address });
  return { buffer, locked: true };
}
