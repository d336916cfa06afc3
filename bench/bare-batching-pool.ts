/**
 * The serving benchmark's reference point: a bare dynamic-batching worker pool with none of ParallelSession's
 * generality (one float32 input `x` and output `y`, as wide as each other, no checks, no splitting of big
 * requests). Each worker runs one single-thread session (bare-pool-worker.ts). An idle worker takes every
 * request queued (idle workers share them), concatenates them into one batch and runs it; the rows of the
 * result are handed back to their requests.
 */
import { Worker } from 'node:worker_threads';

interface Pending {
  data: Float32Array;
  resolve: (rows: Float32Array) => void;
}

export class BareBatchingPool {
  #queue: Pending[] = [];
  #idle: Worker[];
  #scheduled = false;

  private constructor(private readonly workers: Worker[]) {
    this.#idle = [...workers];
  }

  static async start(file: string, width: number, size: number): Promise<BareBatchingPool> {
    const workers = Array.from({ length: size }, () => new Worker(new URL('./bare-pool-worker.js', import.meta.url), { workerData: { file, width } }));
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    return new BareBatchingPool(workers);
  }

  /** Runs rows of `width` floats; resolves to the output rows. */
  run(data: Float32Array): Promise<Float32Array> {
    return new Promise((resolve) => {
      this.#queue.push({ data, resolve });
      this.#schedule();
    });
  }

  /** Dispatches once the requests issued in this turn of the event loop are all queued, so they are batched. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      // Idle workers share what is queued: all of it for one, halves for two (a burst would leave one idle).
      const batch = this.#queue.splice(0, Math.ceil(this.#queue.length / this.#idle.length));
      const worker = this.#idle.pop()!;
      const joined = new Float32Array(batch.reduce((n, p) => n + p.data.length, 0));
      batch.reduce((offset, p) => (joined.set(p.data, offset), offset + p.data.length), 0);
      worker.once('message', (buffer: ArrayBuffer) => {
        const out = new Float32Array(buffer);
        // The model's output is as wide as its input: each request gets back as many floats as it sent.
        batch.reduce((offset, p) => (p.resolve(out.subarray(offset, offset + p.data.length)), offset + p.data.length), 0);
        this.#idle.push(worker);
        this.#schedule();
      });
      worker.postMessage(joined.buffer, [joined.buffer]);
    }
  }

  close(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.terminate()));
  }
}
