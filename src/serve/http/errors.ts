/** HTTP's side of errors: answers other than 200 that only HTTP has, and the status of each kind of core error. */
import { ServeError, type ErrorKind } from '../core/errors.js';

/** An answer only HTTP gives (413, 415): its status, a one-line message for `{"error": ...}`, and extra headers. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const statuses: Record<ErrorKind, number> = { invalid: 400, not_found: 404, unavailable: 503, deadline: 504, unsupported: 501, internal: 500 };

/** The HTTP status and headers of a core error. */
export function httpStatusOf(error: ServeError): { status: number; headers: Record<string, string> } {
  return { status: statuses[error.kind], headers: error.retryAfterS === undefined ? {} : { 'retry-after': String(error.retryAfterS) } };
}
