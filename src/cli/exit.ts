/** How the CLI ends: exit codes and one-line error messages, never a stack trace. */
import { ArgumentError, ArgumentRangeError, DeviceError, InputError, messageOf } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_VERIFY_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERNAL = 3;

export function fail(error: unknown): never {
  // What the user gave does not fit; any other error, a TypeError from a bug included, is this program's fault.
  if (error instanceof InputError || error instanceof DeviceError || error instanceof ArgumentError || error instanceof ArgumentRangeError) {
    process.stderr.write(`onnx-parallelize: ${messageOf(error)}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  process.stderr.write(`onnx-parallelize: internal error: ${messageOf(error)}\n`);
  if (process.env['ONNX_PARALLELIZE_DEBUG'] !== undefined && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(EXIT_INTERNAL);
}
