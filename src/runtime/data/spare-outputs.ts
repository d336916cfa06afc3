/**
 * The next run's large output buffers, made while the current run is inside onnxruntime. A fresh buffer of many
 * megabytes is often fresh memory too: onnxruntime then takes a page fault for every 4 KiB it writes (about 20 ms
 * for 16 MB on a small 2-core cloud machine, about a tenth of a large run), on the run's own thread. Made ahead,
 * with its pages mapped by the main thread, which waits idle for the run meanwhile, the next buffer is ready
 * before its run starts. Each device keeps at most one spare per output, never lent to anyone before its run
 * takes it.
 */
import { outputArray } from '../onnxruntime/values.js';

/** Outputs smaller than this are made when their run needs them: the allocator mostly hands back memory already used. */
export const SPARE_MIN_BYTES = 1 << 20;

/** The smallest page size of the systems onnxruntime runs on: touching every 4 KiB maps every page of larger sizes too. */
const PAGE_BYTES = 4096;

interface Spare {
  type: string;
  count: number;
  data: ArrayBufferView | undefined;
}

export class SpareOutputs {
  readonly #spares: Array<Spare | undefined> = [];

  /**
   * An array for `count` elements of output `index` of type `type`, for a run that is about to start: the spare
   * made ahead where it has that type and length, else a fresh one (see outputArray).
   */
  take(index: number, type: string, count: number): ArrayBufferView {
    const spare = this.#spares[index];
    if (spare?.data !== undefined && spare.type === type && spare.count === count) {
      this.#spares[index] = undefined;
      return spare.data;
    }
    return outputArray(type, count);
  }

  /**
   * Makes a spare for output `index` of that type and length, once the main thread is free (the run that just
   * started is then inside onnxruntime), where the output is large and no such spare is waiting or being made.
   */
  prepare(index: number, type: string, count: number, bytes: number): void {
    if (bytes < SPARE_MIN_BYTES) return;
    const current = this.#spares[index];
    if (current !== undefined && current.type === type && current.count === count) return;
    const wanted: Spare = { type, count, data: undefined };
    this.#spares[index] = wanted;
    const data = outputArray(type, count);
    const bytesOf = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // One byte of every page is written (the system maps and clears the whole page), a megabyte a turn of the
    // event loop, so that other work waits a millisecond at most; the spare is ready once every page is mapped.
    const writeFrom = (at: number): void => {
      if (this.#spares[index] !== wanted) return; // another run asked for another spare since, or cleared
      const end = Math.min(bytesOf.byteLength, at + SPARE_MIN_BYTES);
      for (let i = at; i < end; i += PAGE_BYTES) bytesOf[i] = 0;
      if (end < bytesOf.byteLength) setImmediate(writeFrom, end);
      else wanted.data = data;
    };
    setImmediate(writeFrom, 0);
  }

  /** Whether a spare for output `index` is made and waiting for its run. */
  ready(index: number): boolean {
    return this.#spares[index]?.data !== undefined;
  }

  /** Drops every spare (a session being released). */
  clear(): void {
    this.#spares.length = 0;
  }
}
