/**
 * An error caused by what the user gave us (a bad file, a bad option).
 * The CLI prints its message on one line and exits with code 2; it never prints a stack. Control characters
 * (a name in a damaged model can hold a line break) are written as escapes, so the message stays one line.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(oneLine(message), options);
  }
}

const namedEscapes: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with control characters written as escapes (`\n`, `\u0000`). */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => namedEscapes[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The message of any thrown value, without its stack. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A device that cannot start (a missing or unloadable execution provider, a bad device): a setup problem, not a bug. */
export class DeviceError extends Error {
  override readonly name = 'DeviceError';
}

/**
 * An argument of the library that does not fit (an option, a feed), named with the fix. A TypeError, as
 * onnxruntime's own API throws, of its own class so that a TypeError raised by a bug is not taken for one.
 */
export class ArgumentError extends TypeError {}

/** A number argument out of its range, as ArgumentError is for other arguments. */
export class ArgumentRangeError extends RangeError {}
