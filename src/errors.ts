/**
 * An error caused by what the user gave us (a bad file, a bad option).
 * The CLI prints its message on one line and exits with code 2; it never prints a stack.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The message of any thrown value, without its stack. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A device that cannot start (a missing or unloadable execution provider, a bad device): a setup problem, not a bug. */
export class DeviceError extends Error {
  override readonly name = 'DeviceError';
}
