/**
 * The calls of GRPCInferenceService this server does not have: Triton's shared-memory, trace and logging
 * extensions. Each answers UNIMPLEMENTED with the core's refusal, which says what to use instead.
 */
import type { handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { unsupportedExtension, type UnsupportedExtension } from '../core/index.js';
import { statusOfError } from './status.js';

const refuse = (extension: UnsupportedExtension): handleUnaryCall<unknown, unknown> => (_call, callback) => callback(statusOfError(unsupportedExtension(extension)));

export const unsupportedCalls: UntypedServiceImplementation = {
  SystemSharedMemoryStatus: refuse('systemSharedMemory'),
  SystemSharedMemoryRegister: refuse('systemSharedMemory'),
  SystemSharedMemoryUnregister: refuse('systemSharedMemory'),
  CudaSharedMemoryStatus: refuse('cudaSharedMemory'),
  CudaSharedMemoryRegister: refuse('cudaSharedMemory'),
  CudaSharedMemoryUnregister: refuse('cudaSharedMemory'),
  TraceSetting: refuse('trace'),
  LogSettings: refuse('logging'),
};
