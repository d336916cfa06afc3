/** How the CLI ends: exit codes and one-line error messages, never a stack trace. */
import { ArgumentError, ArgumentRangeError, DeviceError, InputError, messageOf } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_VERIFY_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERNAL = 3;

/**
 * onnxruntime's own messages behind a device failure that was rewritten into a readable line (each failure's
 * `cause`): printed with --verbose, else a hint that they are there.
 */
function onnxruntimeMessages(error: Error): string {
  const failures = Array.isArray(error.cause) ? (error.cause as unknown[]) : [];
  const texts = failures.flatMap((f) => {
    if (!(f instanceof Error) || !(f.cause instanceof Error)) return [];
    const device = /^device \S+ \(replica \d+\)/.exec(f.message)?.[0] ?? 'a device';
    return [`onnxruntime's message for ${device}: ${f.cause.message.trim()}\n`];
  });
  if (texts.length === 0) return '';
  return process.argv.includes('--verbose') ? texts.join('') : "(onnxruntime's own message: run again with --verbose)\n";
}

export function fail(error: unknown): never {
  // What the user gave does not fit; any other error, a TypeError from a bug included, is this program's fault.
  if (error instanceof InputError || error instanceof DeviceError || error instanceof ArgumentError || error instanceof ArgumentRangeError) {
    process.stderr.write(`onnx-parallelize: ${messageOf(error)}\n${onnxruntimeMessages(error)}`);
    process.exit(EXIT_BAD_INPUT);
  }
  process.stderr.write(`onnx-parallelize: internal error: ${messageOf(error)}\n`);
  if (process.env['ONNX_PARALLELIZE_DEBUG'] !== undefined && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(EXIT_INTERNAL);
}
