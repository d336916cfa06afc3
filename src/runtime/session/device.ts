/** The main thread's handle on one device worker: start-up, runs, statistics, and failure when the worker dies. */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import type { DeviceSource, FromWorker, OutputPlace, RowCut, ToWorker, WireData } from './messages.js';
import { RecentTimes } from './recent-times.js';
import { transferables, weightBuffers } from './messages.js';
import type { ExternalFile } from './external-files.js';
import { deviceSessionOptions, deviceStartProblem, type DeviceOptions } from '../gpu/providers.js';
import { sessionFailure } from '../gpu/cuda-errors.js';

export interface DeviceResult {
  types: string[];
  dims: number[][];
  /** Null for an output written into its place. */
  data: Array<WireData | null>;
  /** Time inside onnxruntime. */
  ms: number;
  /** The worker's time making the run's input tensors (cutting and copying rows) before it. */
  inputMs: number;
  /** The worker's time with the outputs after it (rows written into place, the answer made). */
  outputMs: number;
}

interface Pending {
  resolve: (result: DeviceResult) => void;
  reject: (error: Error) => void;
}

export interface DeviceCounters {
  requests: number;
  rows: number;
  batches: number;
  busyMs: number;
  /** Runs by their number of rows (Triton's batch_stats): how much the dynamic batching merged. */
  batchSizes: Record<number, number>;
  /** Time inside onnxruntime by the runs' number of rows, in ms (Triton's batch_stats compute_infer). */
  batchBusyMs: Record<number, number>;
  /** The worker's time on the runs' inputs before them and on their outputs after them, in ms (Triton's compute_input and compute_output). */
  inputMs: number;
  outputMs: number;
}

export interface DeviceStartOptions {
  feedNames: string[];
  feedTypes: string[];
  fetchNames: string[];
  sessionOptions: ort.InferenceSession.SessionOptions;
  /** CUDA provider options by device, over those in sessionOptions. */
  deviceOptions?: DeviceOptions;
  resourceLimits?: ResourceLimits;
  /** See ParallelSessionOptions.busyWaitMicros; by device kind when undefined. */
  busyWaitMicros?: number;
}

/** Busy-waiting by default: on GPUs, where a run is short and a wake-up is a large part of it; never on CPUs, whose cores run the model. */
export const DEFAULT_BUSY_WAIT_MICROS = { cuda: 500, cpu: 0 } as const;

export class DeviceWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set once the worker can no longer run anything; every later run fails with it at once. */
  private failure: Error | undefined;
  private releasing = false;
  private exited = false;
  private readonly releasedFlag = new Int32Array(new SharedArrayBuffer(4));
  /** Where the worker answers runs. */
  private readonly answers: MessagePort;
  /** How long the main thread may poll for the answer of a lone run, in ms (0: never). */
  private readonly busyWaitMs: number;
  /** When the last answer came (performance.now()). */
  private answeredAt = -Infinity;
  /** The median round trip, refreshed every few runs (sorting the recent times on every run would cost more than it saves). */
  private typicalRoundTripMs = Infinity;
  /** Input buffers the worker handed back, reused for later copies. */
  private readonly spareBuffers: ArrayBuffer[] = [];
  readonly counters: DeviceCounters = { requests: 0, rows: 0, batches: 0, busyMs: 0, batchSizes: {}, batchBusyMs: {}, inputMs: 0, outputMs: 0 };
  /** Recent runs' time inside onnxruntime, and from the main thread preparing each run to its answer being back. */
  readonly runTimes = new RecentTimes();
  readonly roundTrips = new RecentTimes();
  /** Measured rows per second (a moving average), for `weights: 'auto'`; undefined until the first run. */
  rowsPerSecond: number | undefined;

  private constructor(
    readonly device: string,
    readonly index: number,
    options: DeviceStartOptions,
  ) {
    const busyWaitMicros = options.busyWaitMicros ?? DEFAULT_BUSY_WAIT_MICROS[device.startsWith('cuda') ? 'cuda' : 'cpu'];
    this.busyWaitMs = busyWaitMicros / 1000;
    const { port1, port2 } = new MessageChannel();
    this.answers = port1;
    this.worker = new Worker(new URL('./device-worker.js', import.meta.url), {
      transferList: [port2],
      workerData: {
        answers: port2,
        busyWaitMicros,
        device,
        sessionOptions: deviceSessionOptions(device, options.sessionOptions, options.deviceOptions),
        feedNames: options.feedNames,
        feedTypes: options.feedTypes,
        fetchNames: options.fetchNames,
        released: this.releasedFlag,
      },
      // No Node flags: a worker runs only this project's code, and many flags of the main process
      // (--max-old-space-size, --stack-trace-limit, the test runner's, --input-type) make a worker throw
      // ERR_WORKER_INVALID_EXEC_ARGV. A heap size for workers is given as resourceLimits instead.
      execArgv: [],
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.answers.on('message', (m: FromWorker) => this.onMessage(m));
    // The worker keeps the process alive while a run is pending (ref'd in run); the port never does.
    this.answers.unref();
    this.worker.on('error', (error) => this.fail(new Error(`${this.label} failed: ${error.message}`)));
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (!this.releasing) this.fail(new Error(`${this.label} stopped (worker exited with code ${code})`));
    });
  }

  get label(): string {
    return `device ${this.device} (replica ${this.index})`;
  }

  /** Whether the device can still run. */
  get alive(): boolean {
    return this.failure === undefined;
  }

  /** Why the device can no longer run, once it cannot. */
  get failureReason(): Error | undefined {
    return this.failure;
  }

  /** Runs posted and not yet answered. */
  get queueDepth(): number {
    return this.pending.size;
  }

  /** Starts a worker for `device`; a CUDA device that cannot start (provider missing, options it would drop) fails at once with the fix. */
  static start(device: string, index: number, options: DeviceStartOptions): DeviceWorker | Error {
    const problem = deviceStartProblem(device, options.sessionOptions, options.deviceOptions);
    if (problem !== undefined) return new Error(`device ${device} (replica ${index}): ${problem}`);
    return new DeviceWorker(device, index, options);
  }

  private startup: { resolve: (weights: ExternalFile[]) => void; reject: (error: Error & { weights?: ExternalFile[] }) => void } | undefined;

  /**
   * Creates the device's session from `source`. With `handBack`, weights sent as bytes come back when the session
   * exists (or failed to), for the next device; without it the worker frees them. Rejects with the weights attached.
   */
  create(source: DeviceSource, handBack: boolean): Promise<ExternalFile[]> {
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      this.startup = { resolve, reject };
      const message: ToWorker = { type: 'create', source, handBack };
      this.worker.postMessage(message, source.kind === 'bytes' ? weightBuffers(source.externalData) : []);
    });
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'ready') {
      // An idle worker does not keep the process alive (like a plain InferenceSession); a busy one does.
      this.worker.unref();
      this.startup?.resolve(message.weights);
      this.startup = undefined;
      return;
    }
    if (message.type === 'failed') {
      const error = Object.assign(sessionFailure(this.device, this.label, message.message), { weights: message.weights });
      this.startup?.reject(error);
      this.startup = undefined;
      return;
    }
    if (message.type !== 'result' && message.type !== 'error') return;
    this.answeredAt = performance.now();
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.worker.unref();
    if (message.type === 'error') return pending.reject(new Error(`${this.label}: ${message.message}`));
    if (message.returned.length > 0) {
      this.spareBuffers.push(...message.returned);
      if (this.spareBuffers.length > 8) this.spareBuffers.splice(0, this.spareBuffers.length - 8);
    }
    pending.resolve(message);
  }

  /** Called once when the device can no longer run (its scheduler reroutes or rejects the work waiting for it). */
  onFailure: (() => void) | undefined;

  private fail(error: Error): void {
    const first = this.failure === undefined;
    this.failure ??= error;
    this.startup?.reject(this.failure);
    this.startup = undefined;
    for (const pending of this.pending.values()) pending.reject(this.failure);
    this.pending.clear();
    this.worker.unref();
    if (first) this.onFailure?.();
  }

  /**
   * A buffer used before that holds `byteLength` bytes (at most twice that, so a small run does not hold a large
   * buffer), if one is spare: runs of varying batch sizes reuse buffers instead of allocating fresh ones.
   */
  takeBuffer(byteLength: number): ArrayBuffer | undefined {
    let best = -1;
    this.spareBuffers.forEach((b, i) => {
      if (b.byteLength >= byteLength && b.byteLength <= 2 * byteLength + 4096 && (best < 0 || b.byteLength < this.spareBuffers[best]!.byteLength)) best = i;
    });
    return best < 0 ? undefined : this.spareBuffers.splice(best, 1)[0];
  }

  /**
   * Runs the device's session on one batch (dims and data in feed order, and the rows the worker cuts itself);
   * the data's ArrayBuffers are transferred, data on a SharedArrayBuffer is shared. Outputs with a place are
   * written there by the worker.
   */
  run(dims: number[][], data: WireData[], cuts?: Array<RowCut | undefined>, places?: Array<OutputPlace | undefined>, alone = false): Promise<DeviceResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    const answer = new Promise<DeviceResult>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      const message: Extract<ToWorker, { type: 'run' }> = { type: 'run', id, dims, data };
      if (cuts !== undefined) message.cuts = cuts;
      if (places !== undefined) message.places = places;
      this.worker.postMessage(message, transferables(data));
    });
    if (alone) this.awaitAnswer();
    return answer;
  }

  /** Whether this device busy-waits at all (busyWaitMicros > 0). */
  get busyWaits(): boolean {
    return this.busyWaitMs > 0;
  }

  /** Whether the worker is still polling for its next run at `now` (it answered less than busyWaitMicros ago). */
  pollingAt(now: number): boolean {
    return now - this.answeredAt < this.busyWaitMs;
  }

  /**
   * For the one run in flight, when nothing else waits and its answer is expected within busyWaitMicros: polls
   * for the answer on this thread instead of sleeping until the event loop is woken for it. This thread is then
   * blocked for at most that long, as a plain session blocks it for a whole run.
   */
  private awaitAnswer(): void {
    if (this.busyWaitMs === 0 || this.pending.size !== 1 || !(this.typicalRoundTripMs <= this.busyWaitMs)) return;
    const until = performance.now() + this.busyWaitMs;
    do {
      const received = receiveMessageOnPort(this.answers);
      if (received !== undefined) return this.onMessage(received.message as FromWorker);
    } while (performance.now() < until);
  }

  /**
   * Counts a finished batch (`ms` inside onnxruntime, `inputMs` and `outputMs` on its inputs and outputs in the
   * worker, `roundTripMs` in all) and updates the measured throughput.
   */
  record(requests: number, rows: number, ms: number, roundTripMs: number, inputMs: number, outputMs: number): void {
    const c = this.counters;
    this.runTimes.add(ms);
    this.roundTrips.add(roundTripMs);
    if (this.busyWaitMs > 0 && c.batches % 16 === 0) this.typicalRoundTripMs = this.roundTrips.median()!;
    c.requests += requests;
    c.rows += rows;
    c.batches += 1;
    c.busyMs += ms;
    c.inputMs += inputMs;
    c.outputMs += outputMs;
    c.batchSizes[rows] = (c.batchSizes[rows] ?? 0) + 1;
    c.batchBusyMs[rows] = (c.batchBusyMs[rows] ?? 0) + ms;
    if (rows > 0 && ms > 0) {
      const rate = (rows * 1000) / ms;
      this.rowsPerSecond = this.rowsPerSecond === undefined ? rate : 0.8 * this.rowsPerSecond + 0.2 * rate;
    }
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
    this.answers.close();
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

  /** Makes every later run of this device wait `ms` first: a slower device, for tests of the scheduler. */
  delayRuns(ms: number): void {
    const message: ToWorker = { type: 'delay', ms };
    this.worker.postMessage(message);
  }
}
