/** An answer other than 200: its HTTP status, a one-line message for `{"error": ...}`, and extra headers. */
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

/** A request that does not fit the protocol or the model: 400, with a message naming the input. */
export const badRequest = (message: string): HttpError => new HttpError(400, message);
