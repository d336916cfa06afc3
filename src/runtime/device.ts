/** The main thread's handle on one device worker: start-up, a queue of runs, and failure when the worker dies. */
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import type { FromWorker, ToWorker, WireTensor } from './messages.js';
import { transferables } from './messages.js';
import { cudaLoadProblem, deviceSessionOptions, missingCudaProvider, parseDevice } from './providers.js';

interface Pending {
  resolve: (outputs: WireTensor[]) => void;
  reject: (error: Error) => void;
}

export class DeviceWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set once the worker can no longer run anything; every later run fails with it at once. */
  private failure: Error | undefined;
  private releasing = false;
  private exited = false;
  private readonly releasedFlag = new Int32Array(new SharedArrayBuffer(4));
  readonly ready: Promise<void>;
  /** Input buffers the worker handed back, reused for later copies. */
  private readonly spareBuffers: ArrayBuffer[] = [];

  private constructor(
    readonly device: string,
    readonly index: number,
    model: Uint8Array | string,
    sessionOptions: ort.InferenceSession.SessionOptions,
  ) {
    const buffer = typeof model === 'string' ? undefined : (model.buffer.slice(model.byteOffset, model.byteOffset + model.byteLength) as ArrayBuffer);
    this.worker = new Worker(new URL('./device-worker.js', import.meta.url), {
      workerData: { device, model: buffer === undefined ? model : new Uint8Array(buffer), sessionOptions: deviceSessionOptions(device, sessionOptions), released: this.releasedFlag },
      transferList: buffer === undefined ? [] : [buffer],
      // No Node flags: a worker runs only this project's code, and many flags of the main process
      // (--max-old-space-size, --stack-trace-limit, the test runner's, --input-type) make a worker throw
      // ERR_WORKER_INVALID_EXEC_ARGV. A heap size for workers is given as resourceLimits instead.
      execArgv: [],
    });
    this.ready = new Promise((resolve, reject) => {
      const onStart = (message: FromWorker): void => {
        if (message.type === 'ready') {
          // An idle worker does not keep the process alive (like a plain InferenceSession); a busy one does.
          this.worker.unref();
          resolve();
        }
        else if (message.type === 'failed') reject(new Error(`${this.label}: cannot create its session: ${message.message}${this.loadHint(message.message)}`));
        else return;
        this.worker.off('message', onStart);
        this.worker.on('message', (m: FromWorker) => this.onMessage(m));
      };
      this.worker.on('message', onStart);
      this.worker.once('error', (error) => reject(new Error(`${this.label}: worker failed at start: ${error.message}`)));
      this.worker.once('exit', (code) => reject(new Error(`${this.label}: worker exited at start (code ${code})`)));
    });
    this.worker.on('error', (error) => this.fail(new Error(`${this.label} failed: ${error.message}`)));
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (!this.releasing) this.fail(new Error(`${this.label} stopped (worker exited with code ${code}); this ParallelSession can no longer run`));
    });
  }

  /** onnxruntime only says "Failed to load shared library" when the CUDA provider's own dependencies are missing. */
  private loadHint(message: string): string {
    if (parseDevice(this.device).kind !== 'cuda' || !/shared library/i.test(message)) return '';
    return `: ${cudaLoadProblem() ?? 'the CUDA provider library is installed but could not be loaded; check that the CUDA and cuDNN libraries are on LD_LIBRARY_PATH'}`;
  }

  get label(): string {
    return `device ${this.device} (replica ${this.index})`;
  }

  /** Starts a worker for `device`; a CUDA device whose provider is missing fails at once with how to install it. */
  static start(device: string, index: number, model: Uint8Array | string, sessionOptions: ort.InferenceSession.SessionOptions): DeviceWorker | Error {
    if (parseDevice(device).kind === 'cuda') {
      const missing = missingCudaProvider();
      if (missing !== undefined) return new Error(`device ${device} (replica ${index}): ${missing}`);
    }
    return new DeviceWorker(device, index, model, sessionOptions);
  }

  private onMessage(message: FromWorker): void {
    if (message.type !== 'result' && message.type !== 'error') return;
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.worker.unref();
    if (message.type === 'result') {
      this.spareBuffers.push(...message.returned);
      this.spareBuffers.splice(0, Math.max(0, this.spareBuffers.length - 8));
      pending.resolve(message.outputs);
    }
    else pending.reject(new Error(`${this.label}: ${message.message}`));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const pending of this.pending.values()) pending.reject(this.failure);
    this.pending.clear();
    this.worker.unref();
  }

  /** A buffer of exactly `byteLength` bytes used before, if one is spare. */
  takeBuffer(byteLength: number): ArrayBuffer | undefined {
    const at = this.spareBuffers.findIndex((b) => b.byteLength === byteLength);
    return at < 0 ? undefined : this.spareBuffers.splice(at, 1)[0];
  }

  /** Runs the device's session on `feeds`; the feeds' buffers are transferred to the worker. */
  run(feeds: WireTensor[]): Promise<WireTensor[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      const message: ToWorker = { type: 'run', id, feeds };
      this.worker.postMessage(message, transferables(feeds));
    });
  }

  /**
   * Rejects what is pending with `reason`, releases the session and ends the worker. Runs still queued in the
   * worker are skipped; one already inside onnxruntime finishes first (it cannot be interrupted, and tearing a
   * worker down under it aborts the process), so the worker is terminated only if it has not ended 30 s later.
   */
  async release(reason: Error): Promise<void> {
    this.releasing = true;
    Atomics.store(this.releasedFlag, 0, 1);
    this.fail(reason);
    if (this.exited) return;
    const ended = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const message: ToWorker = { type: 'release' };
    try {
      this.worker.postMessage(message);
    } catch {
      // the worker is gone already
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, 30_000)))]);
    clearTimeout(timer);
    if (!this.exited) await this.worker.terminate();
  }

  /** Ends the worker at its next message, as a crash between two runs would (for tests and operators). */
  kill(code = 1): void {
    const message: ToWorker = { type: 'exit', code };
    this.worker.postMessage(message);
  }
}
