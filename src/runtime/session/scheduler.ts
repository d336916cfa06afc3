/**
 * One scheduler for all devices of a ParallelSession. Requests wait in one queue; whenever a device is free it
 * takes work, so no device idles while requests wait:
 *  - a large request with nothing queued behind it is split over all devices by their shares (static weights, or
 *    each device's measured rows per second), so that its parts finish at about the same time;
 *  - otherwise a free device takes the request at the head of the queue whole, merged with the requests queued
 *    behind it that can share a run (dynamic batching with Triton's semantics: same non-batch dims and types,
 *    up to `maxBatch` rows, preferring `preferredBatch` sizes, waiting at most `maxQueueDelayMs` for more).
 * Each caller gets back exactly its own rows: views of the run's outputs where the batch axis is the first.
 */
import * as ort from 'onnxruntime-node';
import { fixedBatchOf, type ExecutionPlan } from '../../transform/plan.js';
import { splitOffsets, splitSizes } from '../../transform/split-sizes.js';
import type { DeviceResult, DeviceWorker } from './device.js';
import { gatherRows, pieceInput, wireData } from '../data/batch-data.js';
import type { OutputPlace, RowCut, WireData } from './messages.js';
import { AxisJoin, combineTensors, rowCutter } from '../data/tensor-ops.js';

export type Feeds = Record<string, ort.Tensor>;

export interface BatchingOptions {
  /** The most rows one merged run holds (requests are never cut to fit). Default: no limit. */
  maxBatch?: number;
  /** How long the oldest request may wait for more to merge with. Default 0: only requests already waiting. */
  maxQueueDelayMs?: number;
  /** Batch sizes to form when the queued requests allow one (the largest that fits is taken). */
  preferredBatch?: number[];
}

export interface SchedulerOptions {
  batching: Required<Pick<BatchingOptions, 'maxQueueDelayMs'>> & BatchingOptions | false;
  /** Static shares per device, or 'auto' for measured throughput. */
  weights: number[] | 'auto';
  /** A request is split only when every device gets at least this many rows. */
  minRowsPerDevice: number;
  /** The most rows one device runs at once (a fixed-batch model: exactly its batch). */
  maxRowsPerRun: number;
}

/** A caller's request: its feeds, and its outputs as they come back from one or more runs. */
interface Request {
  feeds: Feeds;
  batch: number;
  /** Requests with the same key may be merged into one run; undefined: never merged. */
  key: string | undefined;
  /** The caller lets its input buffers be transferred to a worker (which detaches them). */
  transfer: boolean;
  enqueued: number;
  settled: boolean;
  resolve: (outputs: Feeds) => void;
  reject: (error: unknown) => void;
  /** Removes the abort listener and the timer, where the request has them. */
  cleanup: (() => void) | undefined;
  /** Pieces of a split request still running. */
  remaining: number;
  /** How a split request's outputs are put together: joined as each piece comes back. */
  split: SplitOutputs | undefined;
  /** The caller's tensors to write outputs into, in the plan's output order (options.outputs). */
  targets: Array<ort.Tensor | undefined> | undefined;
}

/**
 * The outputs of a split request, put together piece by piece as the devices answer: each output with a batch
 * axis is written into its result as soon as a piece arrives (while the other devices still run), so only the
 * last piece's rows are copied after the last device answers. Outputs joined by --combine wait for all pieces.
 */
interface SplitOutputs {
  /** Rows of each piece, in row order (a piece's index). */
  sizes: number[];
  joins: Array<AxisJoin | undefined>;
  combined: Array<Array<ort.Tensor | undefined>>;
}

/** Rows [start, start + size) of a request; `index`: the piece's place among its request's pieces. */
interface Piece {
  request: Request;
  start: number;
  size: number;
  index: number;
}

/** What one device runs at once: the rows of one or more pieces, gathered in this order. */
interface WorkItem {
  pieces: Piece[];
  rows: number;
  /** When the main thread began to prepare the run (performance.now()). */
  started: number;
}

export interface DeviceStats {
  device: string;
  requests: number;
  rows: number;
  batches: number;
  busyMs: number;
  /** Runs by their number of rows: `{ 32: 120 }` is 120 runs of 32 rows. */
  batchSizes: Record<number, number>;
  /** Time inside onnxruntime, in ms, by the runs' number of rows: `{ 32: 2400 }` is 2.4 s in runs of 32 rows. */
  batchBusyMs: Record<number, number>;
  /** The device worker's time making the runs' input tensors before onnxruntime's run(), in ms. */
  inputMs: number;
  /** The device worker's time with the runs' outputs after run() (rows written into place, the answer made), in ms. */
  outputMs: number;
  queueDepth: number;
}

/** Where a device's time goes, over its last 512 runs: what ParallelSession adds is the difference. */
export interface DeviceTimes {
  /** Median time inside onnxruntime's run(), in ms (undefined before the first run). */
  medianRunMs: number | undefined;
  /** Median time from the main thread preparing a run to its answer being back, in ms. */
  medianRoundTripMs: number | undefined;
}

export interface SessionStats {
  devices: Array<DeviceStats & DeviceTimes>;
  total: Omit<DeviceStats, 'device'>;
  queued: number;
  rejected: number;
}

/** Past `maxQueue` requests waiting, `run` rejects at once with this (Triton's `max_queue_size`). */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/** A request that took longer than its `timeoutMs`. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** Adds each figure of `from` to the one of the same batch size in `to`. */
function addBySize(to: Record<number, number>, from: Record<number, number>): void {
  for (const [rows, value] of Object.entries(from)) to[Number(rows)] = (to[Number(rows)] ?? 0) + value;
}

export class Scheduler {
  private readonly queue: Request[] = [];
  /** Pieces of split requests waiting for their device. */
  private readonly assigned: WorkItem[][];
  private readonly busy: boolean[];
  private delayTimer: NodeJS.Timeout | undefined;
  private dispatching = false;
  /** Requests submitted and not yet settled, and who waits for that number to reach 0. */
  private unsettled = 0;
  private onSettled: Array<() => void> = [];
  /** Runs whose answers are being delivered; new requests are dispatched once they are done. */
  private delivering = 0;
  /** Set when no device is left; every later run fails with it. */
  private failure: Error | undefined;
  rejected = 0;
  /** Whether requests may be merged at all: batching is on, the batch is not fixed, every output has a batch axis. */
  private readonly mergeable: boolean;
  private readonly unit: number;

  constructor(
    private readonly workers: DeviceWorker[],
    private readonly plan: ExecutionPlan,
    private readonly options: SchedulerOptions,
  ) {
    this.assigned = workers.map(() => []);
    // A device that dies idle: the work waiting goes to the others, or is rejected when none is left.
    this.liveDevices = workers.map((_, i) => i);
    workers.forEach((worker, device) => {
      worker.onFailure = () => {
        this.liveDevices = this.workers.flatMap((w, i) => (w.alive ? [i] : []));
        if (!this.rehome(device, worker.failureReason)) queueMicrotask(() => this.dispatch());
      };
    });
    this.busy = workers.map(() => false);
    this.everyInputBatched = plan.inputs.every((input) => input.axis !== null);
    const fixed = fixedBatchOf(plan);
    this.unit = fixed ?? 1;
    // Never merged: outputs without a batch axis (joined by --combine), and fixed-batch models (a run holds
    // exactly one batch, which every request fills on its own).
    this.mergeable = options.batching !== false && fixed === null && plan.outputs.every((o) => o.axis !== null);
  }

  /** The dynamic batching in force (a copy), or false when it is off. */
  get batching(): BatchingOptions | false {
    const { batching } = this.options;
    return batching === false ? false : { ...batching, ...(batching.preferredBatch === undefined ? {} : { preferredBatch: [...batching.preferredBatch] }) };
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Why no run can be taken any more, if so: every device has failed (while running or idle). */
  get broken(): Error | undefined {
    if (this.failure === undefined && this.live().length === 0) this.failure = this.workers[0]?.failureReason;
    return this.failure;
  }

  /** Queues a request; the returned promise settles with its outputs. */
  submit(feeds: Feeds, batch: number, signal: AbortSignal | undefined, timeoutMs: number | undefined, transfer: boolean, outputs?: Feeds): Promise<Feeds> {
    const targets = outputs === undefined ? undefined : this.plan.outputs.map((o) => outputs[o.name]);
    const request: Request = {
      feeds,
      batch,
      // A request that writes into its own output tensors runs alone (pieces of it may still run on every device).
      key: this.mergeable && batch > 0 && targets === undefined ? this.mergeKey(feeds) : undefined,
      transfer,
      enqueued: performance.now(),
      settled: false,
      resolve: undefined!,
      reject: undefined!,
      cleanup: undefined,
      remaining: 0,
      split: undefined,
      targets,
    };
    // The executor holds nothing but the request: a server sends many of these.
    const answer = new Promise<Feeds>((resolve, reject) => {
      request.resolve = resolve;
      request.reject = reject;
    });
    if (signal !== undefined || timeoutMs !== undefined) this.watch(request, signal, timeoutMs);
    this.unsettled++;
    this.queue.push(request);
    // While answers are being delivered, the requests their callers send next wait to be merged (see complete).
    if (this.delivering === 0) this.dispatch();
    return answer;
  }

  /** Settles a request early when its signal aborts or its time runs out. */
  private watch(request: Request, signal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    const cancel = (reason: unknown): void => {
      const at = this.queue.indexOf(request);
      if (at >= 0) this.queue.splice(at, 1);
      // A request already inside onnxruntime finishes; its result is dropped.
      this.settle(request, reason);
      this.dispatch();
    };
    const onAbort = (): void => cancel(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => cancel(new TimeoutError(`ParallelSession.run: timed out after ${timeoutMs} ms (${this.queue.includes(request) ? 'still queued' : 'running'})`)), timeoutMs);
    request.cleanup = () => {
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
    };
  }

  /**
   * What requests must agree on to share a run: the type and non-batch dims of every batched input, and the very
   * same values of every input without a batch axis (small ones compared by content, others by identity).
   */
  private mergeKey(feeds: Feeds): string | undefined {
    // Requests of one service mostly have the same shapes: the key of the last shapes is reused without building it.
    const last = this.lastKey;
    if (last !== undefined && this.sameShapes(feeds, last)) return last.key;
    let key = '';
    for (const input of this.plan.inputs) {
      const tensor = feeds[input.name]!;
      if (input.axis !== null) {
        key += tensor.type;
        const { dims } = tensor;
        for (let i = 0; i < dims.length; i++) key += i === input.axis ? ',*' : `,${dims[i]}`;
        key += ';';
        continue;
      }
      const data = tensor.data as ArrayBufferView | string[];
      if (Array.isArray(data) ? data.length > 64 : data.byteLength > 256) return undefined;
      const content = Array.isArray(data) ? JSON.stringify(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
      key += `${tensor.type}[${tensor.dims.join(',')}]=${content}`;
    }
    if (this.everyInputBatched) {
      this.lastKey = { key, types: this.plan.inputs.map((input) => feeds[input.name]!.type), dims: this.plan.inputs.map((input) => feeds[input.name]!.dims.slice()) };
    }
    return key;
  }

  /** The last merge key of inputs that all have a batch axis, and the types and dims it was built from. */
  private lastKey: { key: string; types: string[]; dims: number[][] } | undefined;
  /** Whether every input has a batch axis: only then is a key decided by types and dims alone (and reused). */
  private readonly everyInputBatched: boolean;

  /** Whether `feeds` have the types and non-batch dims the key `last` was built from. */
  private sameShapes(feeds: Feeds, last: { types: string[]; dims: number[][] }): boolean {
    const inputs = this.plan.inputs;
    for (let k = 0; k < inputs.length; k++) {
      const input = inputs[k]!;
      const tensor = feeds[input.name]!;
      if (tensor.type !== last.types[k]) return false;
      const dims = tensor.dims;
      const lastDims = last.dims[k]!;
      if (dims.length !== lastDims.length) return false;
      for (let i = 0; i < dims.length; i++) if (i !== input.axis && dims[i] !== lastDims[i]) return false;
    }
    return true;
  }

  private settle(request: Request, error?: unknown, outputs?: Feeds): void {
    if (request.settled) return;
    request.settled = true;
    request.cleanup?.();
    if (--this.unsettled === 0) for (const resolve of this.onSettled.splice(0)) resolve();
    if (outputs !== undefined) request.resolve(outputs);
    else request.reject(error);
  }

  /** The devices that can still run, by index; kept up to date as devices fail (it is read on every dispatch). */
  private liveDevices: number[];

  private live(): number[] {
    return this.liveDevices;
  }

  /** Gives work to every free device, until no free device or no work is left. */
  dispatch(): void {
    if (this.dispatching) return;
    const broken = this.broken;
    if (broken !== undefined) return this.rejectWaiting(broken);
    this.dispatching = true;
    try {
      let progress = true;
      while (progress) {
        progress = false;
        for (const d of this.freeDevices()) {
          const item = this.assigned[d]!.shift() ?? this.takeFromQueue(d);
          if (item === undefined) continue;
          this.start(d, item);
          progress = true;
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /**
   * Free live devices: those whose worker is still polling for its next run first (it takes a run without being
   * woken), then the fastest measured.
   */
  private freeDevices(): number[] {
    const free = this.live().filter((d) => !this.busy[d]);
    const now = performance.now();
    const polling = (d: number): number => (this.workers[d]!.pollingAt(now) ? 1 : 0);
    return free.sort((a, b) => polling(b) - polling(a) || (this.workers[b]!.rowsPerSecond ?? 0) - (this.workers[a]!.rowsPerSecond ?? 0));
  }

  private takeFromQueue(device: number): WorkItem | undefined {
    while (this.queue[0]?.settled === true) this.queue.shift();
    const head = this.queue[0];
    if (head === undefined) return undefined;
    if (this.shouldSplit(head)) {
      this.queue.shift();
      this.distribute(head);
      return this.assigned[device]!.shift();
    }
    if (head.key === undefined) {
      this.queue.shift();
      return this.whole([head]);
    }
    return this.mergeFromQueue(head);
  }

  /** Split a request over the devices when it must be cut, or when it is large and nothing waits behind it. */
  private shouldSplit(request: Request): boolean {
    if (request.batch > this.options.maxRowsPerRun) return true;
    const live = this.live().length;
    if (live < 2 || this.queue.length > 1) return false;
    return request.batch >= live * Math.max(this.options.minRowsPerDevice, this.unit);
  }

  private whole(requests: Request[]): WorkItem {
    return { pieces: requests.map((request) => ({ request, start: 0, size: request.batch, index: 0 })), rows: requests.reduce((sum, r) => sum + r.batch, 0), started: 0 };
  }

  /** The shares of the live devices: static weights, or measured rows per second (equal until measured). */
  private shares(live: number[]): number[] {
    if (this.options.weights !== 'auto') {
      const weights = this.options.weights;
      return live.map((d) => weights[d]!);
    }
    const measured = live.map((d) => this.workers[d]!.rowsPerSecond).filter((r): r is number => r !== undefined);
    const fallback = measured.length === 0 ? 1 : measured.reduce((a, b) => a + b, 0) / measured.length;
    return live.map((d) => this.workers[d]!.rowsPerSecond ?? fallback);
  }

  /** Cuts a request into pieces by the devices' shares (in runs of at most maxRowsPerRun rows) and assigns them. */
  private distribute(request: Request): void {
    const live = this.live();
    const sizes = splitSizes(request.batch / this.unit, this.shares(live)).map((s) => s * this.unit);
    const offsets = splitOffsets(sizes);
    const step = this.options.maxRowsPerRun;
    const pieceSizes: number[] = [];
    live.forEach((d, k) => {
      for (let start = 0; start < sizes[k]!; start += step) {
        const size = Math.min(step, sizes[k]! - start);
        this.assigned[d]!.push({ pieces: [{ request, start: offsets[k]! + start, size, index: pieceSizes.length }], rows: size, started: 0 });
        pieceSizes.push(size);
      }
    });
    request.remaining = pieceSizes.length;
    const pieceOffsets = splitOffsets(pieceSizes);
    request.split = {
      sizes: pieceSizes,
      joins: this.plan.outputs.map((output, j) => (output.axis === null || request.targets?.[j] !== undefined ? undefined : new AxisJoin(output.axis, pieceOffsets, pieceSizes))),
      combined: this.plan.outputs.map(() => []),
    };
  }

  /**
   * The head request and the requests queued behind it that can share its run, or undefined to wait (for at most
   * maxQueueDelayMs from the head's arrival) for enough requests to form a preferred or full batch.
   */
  private mergeFromQueue(head: Request): WorkItem | undefined {
    const batching = this.options.batching as Exclude<SchedulerOptions['batching'], false>;
    const queue = this.queue;
    const key = head.key;
    let available = 0;
    for (const r of queue) if (!r.settled && r.key === key) available += r.batch;
    // Share what waits among the devices free now (this one included); a busy device takes what arrives next.
    let free = 0;
    for (const d of this.live()) if (!this.busy[d]) free++;
    const fair = Math.ceil(available / Math.max(1, free));
    const limit = Math.min(batching.maxBatch ?? Infinity, this.options.maxRowsPerRun, Math.max(head.batch, fair));
    const preferred = batching.preferredBatch;
    const taken: Request[] = [];
    let rows = 0;
    /** How many of the taken requests make the largest preferred batch, if any. */
    let preferredCount = 0;
    for (const r of queue) {
      if (r.settled || r.key !== key) continue;
      if (rows + r.batch > limit && taken.length > 0) break;
      taken.push(r);
      rows += r.batch;
      if (preferred !== undefined && rows <= limit && preferred.includes(rows)) preferredCount = taken.length;
    }
    const waited = performance.now() - head.enqueued;
    if (preferredCount === 0 && batching.maxQueueDelayMs > waited && rows < this.batchTarget(limit)) {
      this.waitFor(batching.maxQueueDelayMs - waited);
      return undefined;
    }
    if (preferredCount > 0) taken.length = preferredCount;
    // Take them out of the queue, which keeps its order (the taken requests are in queue order).
    let kept = 0;
    let next = 0;
    for (const r of queue) {
      if (r === taken[next]) next++;
      else queue[kept++] = r;
    }
    queue.length = kept;
    return this.whole(taken);
  }

  /** The batch worth waiting for: the largest preferred size within `limit`, else maxBatch (0: none). */
  private batchTarget(limit: number): number {
    const batching = this.options.batching as Exclude<SchedulerOptions['batching'], false>;
    const preferred = (batching.preferredBatch ?? []).filter((p) => p <= limit);
    return preferred.length > 0 ? Math.max(...preferred) : (batching.maxBatch ?? 0);
  }

  private waitFor(ms: number): void {
    if (this.delayTimer !== undefined) return;
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      this.dispatch();
    }, Math.max(0, ms));
  }

  /**
   * Posts one work item to a device. A request run alone sends each input once: shared where it is on a
   * SharedArrayBuffer (the worker cuts its rows), transferred where the caller allows it, else copied once into
   * a spare buffer of the device; merged requests' rows are gathered into one buffer.
   */
  private start(device: number, item: WorkItem): void {
    const worker = this.workers[device]!;
    this.busy[device] = true;
    item.started = performance.now();
    const spare = (bytes: number): ArrayBuffer | undefined => worker.takeBuffer(bytes);
    const dims: number[][] = [];
    const data: WireData[] = [];
    let cuts: Array<RowCut | undefined> | undefined;
    const { pieces } = item;
    const { request, start, size } = pieces[0]!;
    // Buffers are handed over only for a request run whole: the pieces of a split one all need its data.
    const transfer = request.transfer && pieces.length === 1 && start === 0 && size === request.batch;
    try {
      const inputs = this.plan.inputs;
      for (let i = 0; i < inputs.length; i++) {
        const { name, axis } = inputs[i]!;
        const tensor = request.feeds[name]!;
        if (axis === null) {
          dims.push(tensor.dims.slice());
          data.push(wireData(tensor, transfer, spare));
        } else if (pieces.length === 1) {
          const input = pieceInput(tensor, axis, start, size, transfer, spare);
          dims.push(input.dims);
          data.push(input.data);
          if (input.cut !== undefined) (cuts ??= [])[i] = input.cut;
        } else {
          const gathered = gatherRows(pieces, (piece) => piece.request.feeds[name]!, axis, spare);
          dims.push(gathered.dims);
          data.push(gathered.data);
        }
      }
    } catch (error) {
      // Data that cannot be gathered fails the requests of this run only; the device stays free.
      return this.failed(device, item, error);
    }
    // Nothing else to do meanwhile: the main thread may wait for this answer instead of sleeping (busyWaitMicros).
    const alone = worker.busyWaits && this.queue.length === 0 && this.busy.every((b, d) => d === device || !b) && this.assigned.every((a) => a.length === 0);
    const answer = worker.run(dims, data, cuts, request.targets === undefined ? undefined : this.places(request, start, size), alone);
    answer.then(
      (result) => this.complete(device, item, result),
      (error: unknown) => this.failed(device, item, error),
    );
  }

  /**
   * Where the workers write the outputs of rows [start, start + size) of a request that gave tensors for them:
   * those rows of each output with a batch axis; an output without one only when the request runs whole (the
   * pieces of a split one are combined on this thread, then copied in).
   */
  private places(request: Request, start: number, size: number): Array<OutputPlace | undefined> {
    return this.plan.outputs.map((output, j) => {
      const target = request.targets![j];
      if (target === undefined || (output.axis === null && request.split !== undefined)) return undefined;
      return { type: target.type, data: target.data as ArrayBufferView, dims: target.dims.slice(), axis: output.axis, start, size };
    });
  }

  private complete(device: number, item: WorkItem, result: DeviceResult): void {
    const worker = this.workers[device]!;
    worker.record(item.pieces.length, item.rows, result.ms, performance.now() - item.started, result.inputMs, result.outputMs);
    // An output written into its place comes back without data: the caller's tensor holds it (runs never merge such requests).
    const targets = item.pieces[0]!.request.targets;
    const outputs = this.plan.outputs.map((_, j) => {
      const data = result.data[j];
      return data === null ? targets![j]! : new ort.Tensor(result.types[j] as 'float32', data as Float32Array, result.dims[j]!);
    });
    if (item.pieces.length === 1) this.deliver(item.pieces[0]!, outputs);
    else if (this.plan.outputs.some((o, j) => outputs[j]!.dims[o.axis!] !== item.rows)) {
      // An output whose batch axis does not hold the run's rows cannot be cut per request: run them one by one.
      for (const piece of [...item.pieces].reverse()) {
        piece.request.key = undefined;
        if (!piece.request.settled) this.queue.unshift(piece.request);
      }
    } else {
      // A merged run holds whole requests only (pieces of a split request run alone): each request's outputs
      // are its own rows of the run's.
      const names = this.plan.outputs;
      const cutters = outputs.map((output, j) => rowCutter(output, names[j]!.axis!));
      let offset = 0;
      for (const { request, size } of item.pieces) {
        if (!request.settled) {
          const own: Feeds = {};
          for (let j = 0; j < cutters.length; j++) own[names[j]!.name] = cutters[j]!(offset, size);
          this.settle(request, undefined, own);
        }
        offset += size;
      }
    }
    // Devices take new work once the callers just answered have run: a caller that sends its next request as
    // soon as it has its answer (a closed loop, a server's next request) queues it first, and the requests
    // queued together are merged instead of the first going off alone to whichever device is free.
    // The device counts as free at once, so that devices answering in the same turn share what their callers
    // send next (the first to dispatch would otherwise take all of it and leave the others idle).
    this.busy[device] = false;
    this.delivering++;
    setImmediate(() => {
      if (--this.delivering === 0) this.dispatch();
    });
  }

  /** A run failed: its requests are rejected; when its device is gone, its waiting pieces go to the others. */
  private failed(device: number, item: WorkItem, error: unknown): void {
    this.busy[device] = false;
    for (const piece of item.pieces) this.settle(piece.request, error);
    if (!this.workers[device]!.alive && this.rehome(device, error)) return;
    this.dispatch();
  }

  /**
   * A device that can no longer run: the pieces waiting for it go to the live devices. With none left, they and
   * the queue are rejected with `error` (returns true).
   */
  private rehome(device: number, error: unknown): boolean {
    const orphans = this.assigned[device]!.splice(0);
    const live = this.live();
    if (live.length > 0) {
      orphans.forEach((o, k) => this.assigned[live[k % live.length]!]!.push(o));
      return false;
    }
    this.failure ??= error instanceof Error ? error : new Error(String(error));
    for (const o of orphans) for (const p of o.pieces) this.settle(p.request, this.failure);
    for (const r of this.queue.splice(0)) this.settle(r, this.failure);
    return true;
  }

  /** One piece of a request came back: joined into its request's outputs at once; with the last, they are delivered. */
  private deliver(piece: Piece, outputs: ort.Tensor[]): void {
    const { request } = piece;
    if (request.settled) return;
    const split = request.split;
    if (split === undefined) {
      // A request run whole.
      this.settle(request, undefined, this.named(outputs));
      return;
    }
    const targets = request.targets;
    for (let j = 0; j < outputs.length; j++) {
      const join = split.joins[j];
      if (join !== undefined) join.put(piece.index, outputs[j]!);
      else if (this.plan.outputs[j]!.axis === null) split.combined[j]![piece.index] = outputs[j]!;
      // else: the piece's rows were written into the caller's tensor
    }
    if (--request.remaining > 0) return;
    try {
      const joined = this.plan.outputs.map((output, j) => {
        const target = targets?.[j];
        if (target !== undefined && output.axis !== null) return target; // each piece's rows were written in place
        const value = split.joins[j]?.result() ?? combineTensors(output.combine ?? 'first', split.combined[j]!, split.sizes);
        return target === undefined ? value : fillTarget(output.name, target, value);
      });
      this.settle(request, undefined, this.named(joined));
    } catch (error) {
      this.settle(request, error);
    }
  }

  private named(outputs: ort.Tensor[]): Feeds {
    const result: Feeds = {};
    const names = this.plan.outputs;
    for (let j = 0; j < names.length; j++) result[names[j]!.name] = outputs[j]!;
    return result;
  }

  stats(): SessionStats {
    const devices = this.workers.map((w, d) => ({
      device: w.device,
      ...w.counters,
      batchSizes: { ...w.counters.batchSizes },
      batchBusyMs: { ...w.counters.batchBusyMs },
      queueDepth: w.queueDepth + this.assigned[d]!.length,
      medianRunMs: w.runTimes.median(),
      medianRoundTripMs: w.roundTrips.median(),
    }));
    const total = { requests: 0, rows: 0, batches: 0, busyMs: 0, inputMs: 0, outputMs: 0, queueDepth: 0, batchSizes: {} as Record<number, number>, batchBusyMs: {} as Record<number, number> };
    for (const d of devices) {
      total.requests += d.requests;
      total.rows += d.rows;
      total.batches += d.batches;
      total.busyMs += d.busyMs;
      total.inputMs += d.inputMs;
      total.outputMs += d.outputMs;
      total.queueDepth += d.queueDepth;
      addBySize(total.batchSizes, d.batchSizes);
      addBySize(total.batchBusyMs, d.batchBusyMs);
    }
    return { devices, total, queued: this.queue.length, rejected: this.rejected };
  }

  /** Resolves once every request submitted so far has settled. */
  settled(): Promise<void> {
    return this.unsettled === 0 ? Promise.resolve() : new Promise((resolve) => this.onSettled.push(resolve));
  }

  /** Rejects every request still waiting (queued or assigned to a device). */
  rejectWaiting(reason: Error): void {
    clearTimeout(this.delayTimer);
    this.failure ??= reason;
    for (const r of this.queue.splice(0)) this.settle(r, reason);
    for (const items of this.assigned) for (const item of items.splice(0)) for (const p of item.pieces) this.settle(p.request, reason);
  }
}

/** `target` (a tensor the caller gave for output `name`) filled with `value`, which must have its type and dims. */
function fillTarget(name: string, target: ort.Tensor, value: ort.Tensor): ort.Tensor {
  if (value.type !== target.type || value.dims.length !== target.dims.length || value.dims.some((d, i) => d !== target.dims[i])) {
    throw new Error(`options.outputs['${name}']: the output is ${value.type} [${value.dims.join(', ')}], the tensor given is ${target.type} [${target.dims.join(', ')}]`);
  }
  const bytes = (data: unknown): Uint8Array => new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength);
  bytes(target.data).set(bytes(value.data)); // as bytes: float16 bit patterns stay as they are
  return target;
}
