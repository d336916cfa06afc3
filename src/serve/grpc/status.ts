/** gRPC statuses of the serving core's errors, and of the calls this server does not have. */
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { serveErrorOf, type ErrorKind } from '../core/index.js';

const codeOf: Record<ErrorKind, Status> = {
  invalid: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  unavailable: Status.UNAVAILABLE,
  deadline: Status.DEADLINE_EXCEEDED,
  unsupported: Status.UNIMPLEMENTED,
  internal: Status.INTERNAL,
};

/** A status with `details` for the client (what grpc-js sends for an error given to a handler's callback). */
export const grpcStatus = (code: Status, details: string): Partial<ServiceError> => ({ code, details });

/** The status of any error thrown while answering a call: the core's kind decides the code. */
export function statusOfError(error: unknown): Partial<ServiceError> {
  const serveError = serveErrorOf(error);
  return grpcStatus(codeOf[serveError.kind], serveError.message);
}
