/**
 * The standard gRPC health service, `grpc.health.v1.Health` (Triton's health.proto): Check answers SERVING while
 * the server is ready (every model that should serve serves), NOT_SERVING otherwise, for the whole server ("")
 * and for `inference.GRPCInferenceService`; another service name is NOT_FOUND, as the health protocol says.
 * Triton's proto has no Watch: grpc-js answers it UNIMPLEMENTED.
 */
import { status as Status, type handleUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { grpcStatus } from './status.js';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';

export function healthCalls(ready: () => boolean): UntypedServiceImplementation {
  const Check: handleUnaryCall<{ service: string }, { status: string }> = (call, callback) => {
    const service = call.request.service;
    if (service !== '' && service !== INFERENCE_SERVICE) return callback(grpcStatus(Status.NOT_FOUND, `unknown service '${service}'; this server has '${INFERENCE_SERVICE}' (or ask for '' for the whole server)`));
    callback(null, { status: ready() ? 'SERVING' : 'NOT_SERVING' });
  };
  return { Check };
}
