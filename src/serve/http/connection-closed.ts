/** One AbortSignal per client connection, aborted when it closes: a client that goes away takes its requests out of the queue. */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';

const closeSignals = new WeakMap<Socket, AbortSignal>();

/**
 * The signal of `socket`'s closing, made once per connection rather than per request (an AbortSignal costs
 * microseconds to make on Node 20, a noticeable share of a small request). A socket already gone when first asked
 * (its client left while the request was being read) gives a signal aborted at once.
 */
export function connectionClosed(socket: Socket): AbortSignal {
  let signal = closeSignals.get(socket);
  if (signal === undefined) {
    const controller = new AbortController();
    signal = controller.signal;
    // Pipelined requests of one connection each listen to it.
    setMaxListeners(0, signal);
    closeSignals.set(socket, signal);
    const closed = (): void => controller.abort(new Error('the client closed the connection'));
    if (socket.destroyed) closed();
    else socket.once('close', closed);
  }
  return signal;
}
