/**
 * Buffers that merged requests' rows are gathered into, lent to one run at a time and taken back once onnxruntime
 * has returned from it, so that a device does not allocate a fresh buffer for every merged run. A fresh buffer
 * per run lives until its run is over, long enough to outlive the young generation, and each one then waits for a
 * full garbage collection of the main thread: at hundreds of runs a second those collections were most of what
 * the main thread did while serving small requests.
 */
export class GatherBuffers {
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;

  /** @param keepBuffers, keepBytes: the most buffers, and bytes, kept free for later runs. */
  constructor(
    private readonly keepBuffers = 8,
    private readonly keepBytes = 64 << 20,
  ) {}

  /**
   * A buffer of at least `bytes` bytes, the caller's until it gives it back: the smallest free one that is large
   * enough, else a new one with room to grow (a quarter more, so that runs of a few more rows still fit).
   */
  take(bytes: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.byteLength;
      if (size >= bytes && (best < 0 || size < this.#free[best]!.byteLength)) best = i;
    }
    if (best < 0) return new ArrayBuffer(bytes + (bytes >> 2));
    const [buffer] = this.#free.splice(best, 1);
    this.#freeBytes -= buffer!.byteLength;
    return buffer!;
  }

  /**
   * Takes back a buffer from `take` once nothing reads it any more (its run has returned). Past `keepBuffers`
   * buffers or `keepBytes` bytes, the smallest free ones are left to the garbage collector (and a buffer larger
   * than `keepBytes` on its own is not kept).
   */
  giveBack(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || buffer.byteLength > this.keepBytes) return;
    this.#free.push(buffer);
    this.#freeBytes += buffer.byteLength;
    while (this.#free.length > this.keepBuffers || this.#freeBytes > this.keepBytes) {
      let smallest = 0;
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.byteLength < this.#free[smallest]!.byteLength) smallest = i;
      this.#freeBytes -= this.#free.splice(smallest, 1)[0]!.byteLength;
    }
  }

  /** Bytes kept free now (for tests). */
  get freeBytes(): number {
    return this.#freeBytes;
  }
}
