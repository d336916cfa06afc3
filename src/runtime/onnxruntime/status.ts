/** OrtStatus: NULL for success, else an error code and message that become an OrtError (the status is released). */
import type { Handle, OrtApi } from './library.js';

/** onnxruntime's error codes (OrtErrorCode), by number. */
const ERROR_CODES = ['OK', 'FAIL', 'INVALID_ARGUMENT', 'NO_SUCHFILE', 'NO_MODEL', 'ENGINE_ERROR', 'RUNTIME_EXCEPTION', 'INVALID_PROTOBUF', 'MODEL_LOADED', 'NOT_IMPLEMENTED', 'INVALID_GRAPH', 'EP_FAIL', 'MODEL_LOAD_CANCELED', 'MODEL_REQUIRES_COMPILATION', 'NOT_FOUND'];

/** An error that onnxruntime returned: `code` is its OrtErrorCode name (`INVALID_ARGUMENT`, `FAIL`, ...). */
export class OrtError extends Error {
  override readonly name = 'OrtError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The error a status holds (releasing it), or undefined for success. */
export function statusError(api: OrtApi, status: Handle): OrtError | undefined {
  if (!status) return undefined;
  const code = api.GetErrorCode(status) as number;
  const message = api.GetErrorMessage(status) as string;
  api.ReleaseStatus(status);
  return new OrtError(message, ERROR_CODES[code] ?? `code ${code}`);
}

/** Throws the error a status holds (releasing it); returns for success. */
export function check(api: OrtApi, status: unknown): void {
  const error = statusError(api, status as Handle);
  if (error !== undefined) throw error;
}

/** A one-element out-parameter for a handle or size_t; `read` gives what the callee wrote. */
export class Out {
  readonly cell = new BigUint64Array(1);
  get value(): number {
    return Number(this.cell[0]);
  }
}
