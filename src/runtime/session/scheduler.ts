/**
 * One scheduler for all devices of a ParallelSession. Requests wait in one queue; whenever a device is free it
 * takes work, so no device idles while requests wait:
 *  - a large request with nothing queued behind it is split over all devices by their shares (static weights, or
 *    each device's measured rows per second), so that its parts finish at about the same time;
 *  - otherwise a free device takes the request at the head of the queue whole, merged with the requests queued
 *    behind it that can share a run (dynamic batching with Triton's semantics: same non-batch dims and types,
 *    up to `maxBatch` rows, preferring `preferredBatch` sizes, waiting at most `maxQueueDelayMs` for more).
 * Each caller gets back exactly its own rows: views of the run's outputs where the batch axis is the first.
 * Inputs are read by onnxruntime where they lie; outputs whose shape the model gives are written by onnxruntime
 * straight into the result (a split request's rows by each device, or the caller's own tensors). A request that
 * is cancelled while inside onnxruntime terminates its run when no other request shares it, and the device takes
 * its next work at once.
 */
import * as ort from 'onnxruntime-node';
import { fixedBatchOf, type ExecutionPlan } from '../../transform/plan.js';
import { splitOffsets, splitSizes } from '../../transform/split-sizes.js';
import type { Device, DeviceCounters, DeviceInput, DeviceOutput, DeviceResult, DeviceRun, OutputDestination } from './device.js';
import { DeviceValue, deviceTensor } from '../memory/device-values.js';
import { gatheredInput, pieceInput, rowsView, wholeInput } from '../data/run-data.js';
import { GatherBuffers } from '../data/gather-buffers.js';
import { SpareOutputs } from '../data/spare-outputs.js';
import { AxisJoin, combineTensors, rowCutter } from '../data/tensor-ops.js';
import { placeRows, type View } from '../data/row-copy.js';
import { outputArray } from '../onnxruntime/values.js';
import type { OutputShape } from '../data/output-shapes.js';

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
  /** Each output's type and dims for a number of rows, where the model gives them before the run. */
  outputShapes: OutputShape[];
  /** Per output (plan order): whether it stays in the device's memory (`preferredOutputLocation: 'gpu-buffer'`). */
  keptOutputs: boolean[];
}

/** A request that runs whole on one device (values kept in device memory go in or come out): where it may run. */
export interface WholePlacement {
  /** The devices (by index) that hold its inputs; undefined: any device. */
  devices: number[] | undefined;
  /** The values in device memory it reads: held from the request's arrival until it is settled. */
  holds: DeviceValue[];
}

/** A caller's request: its feeds, and its outputs as they come back from one or more runs. */
interface Request {
  feeds: Feeds;
  batch: number;
  /** Requests with the same key may be merged into one run; undefined: never merged. */
  key: string | undefined;
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
  /** A split request's results made before its pieces run, for the outputs whose shape is known: each device writes its rows. */
  results: Array<ort.Tensor | undefined> | undefined;
  /** Bumped when the request is run again from the start: pieces of an earlier attempt are then ignored. */
  attempt: number;
  /** Set for a request that is never split nor merged: it runs whole on one device. */
  whole: WholePlacement | undefined;
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
  attempt: number;
}

/** What one device runs at once: the rows of one or more pieces, gathered in this order. */
interface WorkItem {
  pieces: Piece[];
  rows: number;
  /** When the main thread began to prepare the run (performance.now()). */
  started: number;
  /** The run, once started. */
  run?: DeviceRun;
  /** Set when every request of the run was cancelled and the run terminated: its answer is dropped. */
  abandoned?: boolean;
  /** Set for a terminated run that still holds its device busy until it returns. */
  holdsDevice?: boolean;
  /** Whether outputs were to be written into buffers this scheduler made (which a model may not fill). */
  ownPlaces?: boolean;
  /** Buffers of the device's GatherBuffers that the run's merged inputs lie in, given back once it has returned. */
  lent?: ArrayBuffer[];
  /** The outputs made for this run alone (by index), whose like the device's SpareOutputs makes ahead for the next. */
  madeOutputs?: Array<{ index: number; type: string; count: number; bytes: number }>;
}

/** A device's counters (DeviceCounters: requests, rows, runs, time inside onnxruntime and on inputs and outputs, by batch size), its name and its queue. */
export interface DeviceStats extends DeviceCounters {
  device: string;
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
  /** The run each device is running for the scheduler (not one terminated and left to return). */
  private readonly active: Array<WorkItem | undefined>;
  /** Whether outputs of known shape are written straight into buffers made for them; off once a model does not fill them. */
  private preallocate = true;
  /** Each device's buffers for merged inputs, reused run after run. */
  private readonly gatherBuffers: GatherBuffers[];
  /** Each device's large outputs for its next run, made while the current one runs. */
  private readonly spareOutputs: SpareOutputs[];

  constructor(
    private readonly devices: Device[],
    private readonly plan: ExecutionPlan,
    private readonly options: SchedulerOptions,
  ) {
    this.assigned = devices.map(() => []);
    this.gatherBuffers = devices.map(() => new GatherBuffers());
    this.spareOutputs = devices.map(() => new SpareOutputs());
    // A device that dies idle: the work waiting goes to the others, or is rejected when none is left.
    this.liveDevices = devices.map((_, i) => i);
    devices.forEach((handle, device) => {
      handle.onFailure = () => {
        this.liveDevices = this.devices.flatMap((w, i) => (w.alive ? [i] : []));
        if (!this.rehome(device, handle.failureReason)) queueMicrotask(() => this.dispatch());
      };
    });
    this.busy = devices.map(() => false);
    this.active = devices.map(() => undefined);
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
    if (this.failure === undefined && this.live().length === 0) this.failure = this.devices[0]?.failureReason;
    return this.failure;
  }

  /** Queues a request; the returned promise settles with its outputs. */
  submit(feeds: Feeds, batch: number, signal: AbortSignal | undefined, timeoutMs: number | undefined, outputs?: Feeds, whole?: WholePlacement): Promise<Feeds> {
    const targets = outputs === undefined ? undefined : this.plan.outputs.map((o) => outputs[o.name]);
    const request: Request = {
      feeds,
      batch,
      // A request that writes into its own output tensors runs alone (pieces of it may still run on every device).
      key: this.mergeable && batch > 0 && targets === undefined && whole === undefined ? this.mergeKey(feeds) : undefined,
      enqueued: performance.now(),
      settled: false,
      resolve: undefined!,
      reject: undefined!,
      cleanup: undefined,
      remaining: 0,
      split: undefined,
      targets,
      results: undefined,
      attempt: 0,
      whole,
    };
    // The executor holds nothing but the request: a server sends many of these.
    const answer = new Promise<Feeds>((resolve, reject) => {
      request.resolve = resolve;
      request.reject = reject;
    });
    if (signal !== undefined || timeoutMs !== undefined) this.watch(request, signal, timeoutMs);
    for (const value of whole?.holds ?? []) value.use();
    this.unsettled++;
    const home = this.homeOf(request);
    if (home !== undefined) this.assigned[home]!.push(this.whole([request]));
    else this.queue.push(request);
    // While answers are being delivered, the requests their callers send next wait to be merged (see complete).
    if (this.delivering === 0) this.dispatch();
    return answer;
  }

  /**
   * The device a request must run on, when its inputs lie in the memory of some devices only: of those, the one
   * with the least work waiting. Undefined: the queue decides.
   */
  private homeOf(request: Request): number | undefined {
    const candidates = request.whole?.devices?.filter((d) => this.devices[d]!.alive);
    if (candidates === undefined || candidates.length === 0) return undefined;
    const load = (d: number): number => this.assigned[d]!.length + (this.busy[d] ? 1 : 0);
    return candidates.reduce((best, d) => (load(d) < load(best) ? d : best));
  }

  /** Settles a request early when its signal aborts or its time runs out. */
  private watch(request: Request, signal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    const cancel = (reason: unknown): void => {
      const at = this.queue.indexOf(request);
      if (at >= 0) this.queue.splice(at, 1);
      this.settle(request, reason);
      this.terminateAbandoned();
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
    for (const value of request.whole?.holds ?? []) value.done();
    if (--this.unsettled === 0) for (const resolve of this.onSettled.splice(0)) resolve();
    if (outputs !== undefined) request.resolve(outputs);
    else request.reject(error);
  }

  /** The devices that can still run, by index; kept up to date as devices fail (it is read on every dispatch). */
  private liveDevices: number[];

  private live(): number[] {
    return this.liveDevices;
  }

  /**
   * Terminates each run inside onnxruntime whose requests have all been settled (cancelled or timed out): its
   * device is free at once (unless an earlier terminated run of it is still returning, which would hold a second
   * thread of libuv's pool), and the run's answer is dropped when it comes.
   */
  private terminateAbandoned(): void {
    this.active.forEach((item, d) => {
      if (item?.run === undefined || !item.pieces.every((p) => p.request.settled)) return;
      item.abandoned = true;
      item.run.terminate();
      this.active[d] = undefined;
      // Another terminated run of this device still inside onnxruntime: this one frees the device when it returns.
      if (this.devices[d]!.queueDepth > 1) item.holdsDevice = true;
      else this.busy[d] = false;
    });
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
          const item = this.nextAssigned(d) ?? this.takeFromQueue(d);
          if (item === undefined) continue;
          this.start(d, item);
          progress = true;
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** The next piece assigned to device `d` whose request still waits (pieces of cancelled requests are dropped). */
  private nextAssigned(d: number): WorkItem | undefined {
    const assigned = this.assigned[d]!;
    let item = assigned.shift();
    while (item !== undefined && item.pieces.every((p) => p.request.settled)) item = assigned.shift();
    return item;
  }

  /** Free live devices, the fastest measured first. */
  private freeDevices(): number[] {
    const free = this.live().filter((d) => !this.busy[d]);
    return free.sort((a, b) => (this.devices[b]!.rowsPerSecond ?? 0) - (this.devices[a]!.rowsPerSecond ?? 0));
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
    if (request.whole !== undefined) return false;
    if (request.batch > this.options.maxRowsPerRun) return true;
    const live = this.live().length;
    if (live < 2 || this.queue.length > 1) return false;
    return request.batch >= live * Math.max(this.options.minRowsPerDevice, this.unit);
  }

  private whole(requests: Request[]): WorkItem {
    return { pieces: requests.map((request) => ({ request, start: 0, size: request.batch, index: 0, attempt: request.attempt })), rows: requests.reduce((sum, r) => sum + r.batch, 0), started: 0 };
  }

  /** The shares of the live devices: static weights, or measured rows per second (equal until measured). */
  private shares(live: number[]): number[] {
    if (this.options.weights !== 'auto') {
      const weights = this.options.weights;
      return live.map((d) => weights[d]!);
    }
    const measured = live.map((d) => this.devices[d]!.rowsPerSecond).filter((r): r is number => r !== undefined);
    const fallback = measured.length === 0 ? 1 : measured.reduce((a, b) => a + b, 0) / measured.length;
    return live.map((d) => this.devices[d]!.rowsPerSecond ?? fallback);
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
        this.assigned[d]!.push({ pieces: [{ request, start: offsets[k]! + start, size, index: pieceSizes.length, attempt: request.attempt }], rows: size, started: 0 });
        pieceSizes.push(size);
      }
    });
    request.remaining = pieceSizes.length;
    const pieceOffsets = splitOffsets(pieceSizes);
    // The result of each output whose shape is known, made once: every device writes its rows into it.
    const shapes = this.options.outputShapes;
    request.results = this.plan.outputs.map((_, j) => {
      const shape = this.preallocate && request.targets?.[j] === undefined ? shapes[j]?.(request.batch) : undefined;
      return shape === undefined ? undefined : new ort.Tensor(shape.type as 'float32', outputArray(shape.type, shape.dims.reduce((a, b) => a * b, 1)) as Float32Array, shape.dims);
    });
    request.split = {
      sizes: pieceSizes,
      joins: this.plan.outputs.map((output, j) => (output.axis === null || this.destination(request, j) !== undefined ? undefined : new AxisJoin(output.axis, pieceOffsets, pieceSizes))),
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

  /** Where output j of `request` is to end up before any run: the caller's tensor, or the split result made for it. */
  private destination(request: Request, j: number): ort.Tensor | undefined {
    return request.targets?.[j] ?? request.results?.[j];
  }

  /**
   * Starts one work item on a device. A request run alone is read where it lies (its rows a view wherever they
   * are one block); merged requests' rows are gathered into one buffer.
   */
  private start(device: number, item: WorkItem): void {
    const handle = this.devices[device]!;
    this.busy[device] = true;
    this.active[device] = item;
    item.started = performance.now();
    const inputs: DeviceInput[] = [];
    const { pieces } = item;
    const { request, start, size } = pieces[0]!;
    let places: OutputDestination[];
    try {
      for (const { name, axis } of this.plan.inputs) {
        const tensor = request.feeds[name]!;
        if (axis === null) inputs.push(wholeInput(tensor));
        else if (pieces.length === 1) inputs.push(pieceInput(tensor, axis, start, size));
        else inputs.push(gatheredInput(pieces, (piece) => piece.request.feeds[name]!, axis, (bytes) => this.lendGatherBuffer(device, item, bytes)));
      }
      places = this.places(device, item);
    } catch (error) {
      // Data that cannot be gathered fails the requests of this run only; the device stays free.
      this.takeBackGatherBuffers(device, item);
      return this.failed(device, item, error);
    }
    item.run = handle.run(inputs, places);
    for (const { index, type, count, bytes } of item.madeOutputs ?? []) this.spareOutputs[device]!.prepare(index, type, count, bytes);
    item.run.result.then(
      (result) => {
        this.takeBackGatherBuffers(device, item);
        this.complete(device, item, result);
      },
      (error: unknown) => {
        this.takeBackGatherBuffers(device, item);
        this.failed(device, item, error);
      },
    );
  }

  /** A buffer of device `device`'s GatherBuffers for the merged inputs of `item`, until its run has returned. */
  private lendGatherBuffer(device: number, item: WorkItem, bytes: number): ArrayBuffer {
    const buffer = this.gatherBuffers[device]!.take(bytes);
    (item.lent ??= []).push(buffer);
    return buffer;
  }

  /**
   * Takes back the buffers lent to `item`. Only once its run has settled: a device's run settles after
   * onnxruntime has returned from it, terminated or not, so nothing reads them any more.
   */
  private takeBackGatherBuffers(device: number, item: WorkItem): void {
    for (const buffer of item.lent?.splice(0) ?? []) this.gatherBuffers[device]!.giveBack(buffer);
  }

  /**
   * Where onnxruntime writes each output of a run: for a request's own rows, into the caller's tensor or the
   * split result, where those rows are one block of it (an output without a batch axis only when the request runs
   * whole); for a run of whole requests, into a buffer made for the run where the output's shape is known.
   * Elsewhere onnxruntime allocates the output, and its rows are copied into place afterwards.
   */
  private places(device: number, item: WorkItem): OutputDestination[] {
    const { request, start, size } = item.pieces[0]!;
    const shapes = this.options.outputShapes;
    return this.plan.outputs.map((output, j): OutputDestination => {
      if (this.options.keptOutputs[j]) return 'device';
      const target = item.pieces.length === 1 ? this.destination(request, j) : undefined;
      if (target !== undefined) {
        if (request.targets?.[j] === undefined) item.ownPlaces = true;
        if (output.axis === null) return request.split === undefined ? { type: target.type, dims: target.dims.slice(), data: target.data as ArrayBufferView } : undefined;
        const view = rowsView(target.data as ArrayBufferView, target.dims, output.axis, start, size);
        if (view === undefined) return undefined;
        const dims = target.dims.slice();
        dims[output.axis] = size;
        return { type: target.type, dims, data: view };
      }
      if (request.targets !== undefined || request.split !== undefined || !this.preallocate) return undefined;
      const shape = shapes[j]?.(item.rows);
      if (shape === undefined) return undefined;
      item.ownPlaces = true;
      const count = shape.dims.reduce((a, b) => a * b, 1);
      if (item.pieces.length > 1) return { ...shape, data: outputArray(shape.type, count) };
      // A request run whole gets the output its device made ahead, where it has one (see SpareOutputs).
      const data = this.spareOutputs[device]!.take(j, shape.type, count);
      (item.madeOutputs ??= []).push({ index: j, type: shape.type, count, bytes: data.byteLength });
      return { ...shape, data };
    });
  }

  private complete(device: number, item: WorkItem, result: DeviceResult): void {
    const handle = this.devices[device]!;
    handle.record(item.pieces.length, item.rows, result.ms, performance.now() - item.started, result.inputMs, result.outputMs);
    if (item.abandoned) {
      for (const output of result.outputs) if (output.data instanceof DeviceValue) output.data.drop();
      return this.returned(device, item);
    }
    this.active[device] = undefined;
    // A value kept in device memory becomes a tensor that owns it (and gives it back when disposed or collected).
    const outputs = result.outputs.map((o: DeviceOutput) => (o.data instanceof DeviceValue ? deviceTensor(o.data) : new ort.Tensor(o.type as 'float32', o.data as Float32Array, o.dims)));
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

  /**
   * A run failed: its requests are rejected; when its device is gone, its waiting pieces go to the others. A run
   * whose outputs the model did not fill as its declared shapes said is run again, without such buffers.
   */
  private failed(device: number, item: WorkItem, error: unknown): void {
    if (item.abandoned) return this.returned(device, item);
    this.active[device] = undefined;
    this.busy[device] = false;
    const shapeMismatch = /pre-allocated output|computed output shape/i.test(error instanceof Error ? error.message : '');
    if (shapeMismatch && item.ownPlaces === true) {
      this.preallocate = false;
      for (const { request } of item.pieces) this.retry(request);
      return this.dispatch();
    }
    if (shapeMismatch && item.pieces[0]!.request.targets !== undefined) {
      error = new Error(`${(error as Error).message} (outputs were to be written into the tensors of options.outputs: do their dims match what the model gives?)`);
    }
    for (const piece of item.pieces) this.settle(piece.request, error);
    if (!this.devices[device]!.alive && this.rehome(device, error)) return;
    this.dispatch();
  }

  /** A terminated run came back: its answer is dropped; a run that held its device frees it. */
  private returned(device: number, item: WorkItem): void {
    if (item.holdsDevice !== true) return;
    this.busy[device] = false;
    this.dispatch();
  }

  /** Runs an unsettled request again from the start, at the head of the queue: its pieces still out are ignored. */
  private retry(request: Request): void {
    if (request.settled || this.queue.includes(request)) return;
    request.attempt++;
    for (const items of this.assigned) {
      const kept = items.filter((i) => !i.pieces.some((p) => p.request === request));
      items.splice(0, items.length, ...kept);
    }
    request.split = undefined;
    request.results = undefined;
    request.remaining = 0;
    request.key = undefined;
    this.queue.unshift(request);
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
    if (request.settled || piece.attempt !== request.attempt) return;
    const split = request.split;
    const targets = request.targets;
    if (split === undefined) {
      // A request run whole: outputs that onnxruntime could not write into the caller's tensors are copied there.
      try {
        const own = outputs.map((output, j) => {
          const target = targets?.[j];
          if (target === undefined) return output;
          if (sameMemory(output.data, target.data)) return target; // written there in place
          const axis = this.plan.outputs[j]!.axis;
          if (axis === null) return fillTarget(this.plan.outputs[j]!.name, target, output);
          placeInto(this.plan.outputs[j]!.name, target, output, axis, 0, request.batch);
          return target;
        });
        this.settle(request, undefined, this.named(own));
      } catch (error) {
        this.settle(request, error);
      }
      return;
    }
    try {
      for (let j = 0; j < outputs.length; j++) {
        const join = split.joins[j];
        const axis = this.plan.outputs[j]!.axis;
        const destination = this.destination(request, j);
        if (join !== undefined) join.put(piece.index, outputs[j]!);
        else if (axis === null) split.combined[j]![piece.index] = outputs[j]!;
        else if (!sameMemory(outputs[j]!.data, destination!.data)) placeInto(this.plan.outputs[j]!.name, destination!, outputs[j]!, axis, piece.start, piece.size);
        // else: the piece's rows were written in place
      }
    } catch (error) {
      return this.settle(request, error);
    }
    if (--request.remaining > 0) return;
    try {
      const joined = this.plan.outputs.map((output, j) => {
        const target = targets?.[j];
        const destination = this.destination(request, j);
        if (destination !== undefined && output.axis !== null) return destination; // each piece's rows are in it
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
    const devices = this.devices.map((w, d) => ({
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

  /** Rejects every request still waiting (queued, assigned to a device, or inside onnxruntime, whose runs are terminated). */
  rejectWaiting(reason: Error): void {
    clearTimeout(this.delayTimer);
    this.failure ??= reason;
    for (const spares of this.spareOutputs) spares.clear();
    for (const r of this.queue.splice(0)) this.settle(r, reason);
    for (const items of this.assigned) for (const item of items.splice(0)) for (const p of item.pieces) this.settle(p.request, reason);
    for (const item of this.active) for (const p of item?.pieces ?? []) this.settle(p.request, reason);
    this.terminateAbandoned();
  }
}

/** Whether output data (a piece's or a whole run's) lies in `whole`'s memory: onnxruntime wrote it there in place. */
function sameMemory(part: unknown, whole: unknown): boolean {
  const a = part as ArrayBufferView;
  const b = whole as ArrayBufferView;
  return a.buffer === b.buffer && a.byteOffset >= b.byteOffset && a.byteOffset + a.byteLength <= b.byteOffset + b.byteLength;
}

/**
 * Rows [start, start + size) along `axis` of `target` (the caller's tensor or a split result) filled from `rows`,
 * a piece's output, which must have the target's type and those rows.
 */
function placeInto(name: string, target: ort.Tensor, rows: ort.Tensor, axis: number, start: number, size: number): void {
  const expected = target.dims.map((d, k) => (k === axis ? size : d));
  if (rows.type !== target.type || rows.dims.length !== expected.length || rows.dims.some((d, k) => d !== expected[k])) {
    throw new Error(`options.outputs['${name}']: the output is ${rows.type} [${rows.dims.join(', ')}], the tensor given takes ${target.type} [${expected.join(', ')}]`);
  }
  placeRows(rows.data as unknown as View, target.data as unknown as View, target.dims, axis, start, size);
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
