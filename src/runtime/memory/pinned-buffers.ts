/**
 * Page-locked host buffers (cudaHostAlloc, portable: pinned for every GPU), for the tensors ParallelSession
 * allocates on a session with CUDA devices: onnxruntime's copies between them and the GPUs then run at the
 * bus's full speed, without staging through pageable memory. The memory goes back (cudaFreeHost) once the
 * ArrayBuffer over it has been collected; a run that reads or writes it holds the buffer until onnxruntime returns.
 */
import { koffi } from '../onnxruntime/koffi.js';
import { cudaRuntime, type CudaRuntime } from './cuda-runtime.js';

const freed = new FinalizationRegistry<{ runtime: CudaRuntime; address: number }>(({ runtime, address }) => {
  try {
    runtime.freeHost(address);
  } catch {
    // the process is going down with CUDA: nothing to give back
  }
});

/** Every buffer handed out, so that `isPinned` can tell them from ordinary ones. */
const pinned = new WeakSet<ArrayBufferLike>();

/** A page-locked buffer of `bytes` bytes, zero-filled, or an Error saying why there can be none. */
export function pinnedBuffer(bytes: number): ArrayBuffer | Error {
  const runtime = cudaRuntime();
  if (runtime instanceof Error) return runtime;
  let address: number;
  try {
    address = runtime.hostAlloc(Math.max(1, bytes));
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const buffer = koffi.view(address, bytes) as ArrayBuffer;
  new Uint8Array(buffer).fill(0);
  freed.register(buffer, { runtime, address });
  pinned.add(buffer);
  return buffer;
}

/** Whether `data` lies in a buffer from pinnedBuffer. */
export function isPinned(data: unknown): boolean {
  return ArrayBuffer.isView(data) && pinned.has(data.buffer);
}
