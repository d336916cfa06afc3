/**
 * Triton's extensions this server does not have (shared memory, tracing, log settings): every endpoint refuses
 * their calls with the same `unsupported` error (HTTP 501, gRPC UNIMPLEMENTED), saying what to use instead.
 */
import { ServeError } from './errors.js';

export type UnsupportedExtension = 'systemSharedMemory' | 'cudaSharedMemory' | 'trace' | 'logging';

const messages: Record<UnsupportedExtension, string> = {
  systemSharedMemory: "this server does not support system shared memory (Triton's shared-memory extension): send each input's data in the request and read the outputs from the answer",
  cudaSharedMemory: "this server does not support CUDA shared memory (Triton's CUDA shared-memory extension): send each input's data in the request and read the outputs from the answer; the server copies them to and from its GPUs itself",
  trace: "this server does not support tracing (Triton's trace extension): use the model statistics for per-model queue and compute times, or the Prometheus metrics on the metrics port",
  logging: "this server does not support changing its log settings (Triton's logging extension): it writes its messages to stderr; redirect them where you want them",
};

/** The error that answers every call of `extension`. */
export const unsupportedExtension = (extension: UnsupportedExtension): ServeError => new ServeError('unsupported', messages[extension]);
