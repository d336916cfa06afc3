/**
 * The calls of GRPCInferenceService this server does not have: Triton's shared-memory, trace and logging
 * extensions. Each answers UNIMPLEMENTED, saying what to use instead.
 */
import { status as Status, type handleUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { grpcStatus } from './status.js';

const refuse = (message: string): handleUnaryCall<unknown, unknown> => (_call, callback) => callback(grpcStatus(Status.UNIMPLEMENTED, message));

const systemMemory = 'this server does not support system shared memory: send each input in the request (raw_input_contents or contents) and read the outputs from raw_output_contents';
const cudaMemory = 'this server does not support CUDA shared memory: send each input in the request (raw_input_contents or contents) and read the outputs from raw_output_contents; the server copies them to and from its GPUs itself';

export const unsupportedCalls: UntypedServiceImplementation = {
  SystemSharedMemoryStatus: refuse(systemMemory),
  SystemSharedMemoryRegister: refuse(systemMemory),
  SystemSharedMemoryUnregister: refuse(systemMemory),
  CudaSharedMemoryStatus: refuse(cudaMemory),
  CudaSharedMemoryRegister: refuse(cudaMemory),
  CudaSharedMemoryUnregister: refuse(cudaMemory),
  TraceSetting: refuse('this server does not support tracing (TraceSetting): use ModelStatistics for per-model queue and compute times, or the Prometheus metrics on the metrics port'),
  LogSettings: refuse('this server does not support changing its log settings (LogSettings): it writes its messages to stderr; redirect them where you want them'),
};
