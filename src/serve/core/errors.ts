/**
 * Errors of the serving core, independent of the protocol that carries them: each has a kind that every endpoint
 * maps to its own status (HTTP 400/404/503/504/500/501, gRPC INVALID_ARGUMENT/NOT_FOUND/UNAVAILABLE/
 * DEADLINE_EXCEEDED/INTERNAL/UNIMPLEMENTED), and a one-line message for the client.
 */
import { ArgumentError, ArgumentRangeError, messageOf } from '../../errors.js';
import { QueueFullError, TimeoutError } from '../../runtime/session/parallel-session.js';
import type { FailureReason } from './metrics.js';

export type ErrorKind = 'invalid' | 'not_found' | 'unavailable' | 'deadline' | 'internal' | 'unsupported';

export class ServeError extends Error {
  override readonly name = 'ServeError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** For `unavailable`: the seconds after which a retry may succeed (HTTP's Retry-After). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** A request that does not fit the protocol or the model, with a message naming the input. */
export const invalidRequest = (message: string): ServeError => new ServeError('invalid', message);

/** Any error thrown while answering a request, as a ServeError: the session's own errors keep their meaning. */
export function serveErrorOf(error: unknown): ServeError {
  if (error instanceof ServeError) return error;
  // ParallelSession refuses feeds that do not fit the model (a dim, a missing input) naming the input.
  if (error instanceof ArgumentError || error instanceof ArgumentRangeError) return new ServeError('invalid', error.message);
  if (error instanceof QueueFullError) return new ServeError('unavailable', error.message, 1);
  if (error instanceof TimeoutError) return new ServeError('deadline', error.message);
  return new ServeError('internal', messageOf(error));
}

/** The reason label of Triton's failure metric for an error of `kind`. */
export function failureReasonOf(kind: ErrorKind): FailureReason {
  switch (kind) {
    case 'unavailable':
    case 'deadline':
      return 'REJECTED';
    case 'internal':
      return 'BACKEND';
    default:
      return 'OTHER';
  }
}
