/** Ending a serving process cleanly on SIGTERM or SIGINT. */
import type { InferenceServer } from './server.js';

/**
 * On the first SIGTERM or SIGINT, calls `closing` with the signal, closes `server` (readiness off at once,
 * requests in progress answered for up to its drain time, the session released) and then calls `done` (by
 * default: exit with code 0, or 1 when closing failed). A second signal while closing ends the process at once
 * with code 1.
 */
export function closeOnSignals(
  server: InferenceServer,
  done: (error?: unknown) => void = (error) => process.exit(error === undefined ? 0 : 1),
  closing: (signal: NodeJS.Signals) => void = () => {},
): void {
  let closed = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closed) process.exit(1);
    closed = true;
    closing(signal);
    server.close().then(() => done(), done);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
