/** Freeing ArrayBuffers at once, without waiting for a garbage collection. */
import { MessageChannel } from 'node:worker_threads';

/**
 * Detaches `buffers` and frees their memory: they are transferred to a port whose other end is closed, so the
 * message and the memory it owns are dropped. A worker that holds hundreds of megabytes of weights only until its
 * session exists would otherwise keep them until its heap is next collected, which an idle worker may never do.
 */
export function freeBuffers(buffers: ArrayBuffer[]): void {
  if (buffers.length === 0) return;
  const { port1, port2 } = new MessageChannel();
  port2.close();
  port1.postMessage(null, buffers);
  port1.close();
}
