/**
 * ParallelSession: runs a data-parallel model with one onnxruntime session per device, all devices at once, behind
 * one scheduler with dynamic batching (scheduler.ts). Each device's session is made and run through onnxruntime's
 * C API (device.ts): runs leave the main thread on libuv's thread pool, and read and write tensors where they lie.
 * The model is planned in a worker of its own; each device creates its session from the model file, or from the
 * model's bytes and weights, which are dropped once every session exists.
 */
import type * as ort from 'onnxruntime-node';
import { outputTargets, sharedTensor, type TensorSide } from '../data/shared-tensors.js';
import type { ValueInfoProto } from '../../onnx.js';
import { fixedBatchOf, type ExecutionPlan } from '../../transform/plan.js';
import { integerWeights } from '../../transform/split-sizes.js';
import type { CombineMode } from '../../transform/options.js';
import { ArgumentError, DeviceError } from '../../errors.js';
import { feedChecker } from '../data/check-feeds.js';
import { Device, type DeviceStartOptions } from './device.js';
import type { DeviceSource } from './device-source.js';
import { planInWorker } from './planner.js';
import { outputShapes } from '../data/output-shapes.js';
import { freeBuffers } from '../data/free-buffers.js';
import { threadPoolShortage } from '../onnxruntime/thread-pool.js';
import { SharedWeights } from '../shared-weights/shared-weights.js';
import { checkDeviceOptions, missingCudaProvider, parseDevice, type DeviceOptions } from '../gpu/providers.js';
import { checkSessionDevices, defaultDevices, gpuInventory } from '../gpu/gpus.js';
import { QueueFullError, Scheduler, type BatchingOptions, type Feeds, type SessionStats, type WholePlacement } from './scheduler.js';
import { keptOutputs } from './output-locations.js';
import { deviceValueOf } from '../memory/device-values.js';

export { QueueFullError, TimeoutError, type BatchingOptions, type SessionStats, type DeviceStats, type DeviceTimes } from './scheduler.js';

export interface ParallelSessionOptions {
  /**
   * Devices, one per replica: `cuda:K` or `cpu`. Overrides a rewritten model's tags; a plain model given none uses
   * every GPU found, else the CPU (`deviceNote` says which and why).
   */
  devices?: string[];
  /** Share of a split batch per device (balanced, or as the rewritten model says, by default); 'auto': measured throughput. */
  weights?: number[] | 'auto';
  /** Batch axes by input or output name, for a plain model (as --axis). */
  axes?: Record<string, number | null>;
  /** How to join outputs without a batch axis, for a plain model (as --combine). */
  combine?: Record<string, CombineMode>;
  /**
   * Passed to every device's InferenceSession (the execution provider is set per device). CUDA provider options in a
   * `{ name: 'cuda', ... }` entry of `executionProviders` go to every CUDA device, each with its own device_id; a
   * `{ name: 'tensorrt', ... }` entry runs TensorRT first on every CUDA device, with its options.
   */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** Provider options of one device over those in sessionOptions: `{ 'cuda:1': { gpu_mem_limit: 5e9, tensorrt: { trt_fp16_enable: true } } }`. */
  deviceOptions?: DeviceOptions;
  /** The most rows one device runs at once; larger shares run in micro-batches of this size. */
  maxBatchPerDevice?: number;
  /** Dynamic batching of concurrent requests; on by default with `maxQueueDelayMs: 0`. `false` turns it off. */
  batching?: BatchingOptions | false;
  /** Past this many requests waiting, `run` rejects at once with a QueueFullError. Default: no limit. */
  maxQueue?: number;
  /** A request is split over the devices only when each gets at least this many rows (default 8). */
  minRowsPerDevice?: number;
}

export interface RunOptions {
  /**
   * Aborting removes a queued request; a request already inside onnxruntime has its run terminated there (at
   * onnxruntime's next node) unless it shares the run with requests still waiting, and its device takes its next
   * work at once.
   */
  signal?: AbortSignal;
  /** Rejects the request with a TimeoutError after this many milliseconds (a run inside onnxruntime is terminated as for `signal`). */
  timeoutMs?: number;
  /**
   * Tensors to write outputs into, by output name, on a SharedArrayBuffer (from `allocateOutput`): each device
   * has onnxruntime write its rows straight into them (rows along a later axis than the first are copied in once),
   * so no output is joined or left for the garbage collector. The result holds these very tensors. Such a request
   * is never merged with others. Do not read them before the run resolves, nor give them to another run that is
   * pending.
   */
  outputs?: Record<string, ort.Tensor>;
}

const DEFAULT_MIN_ROWS_PER_DEVICE = 8;

const wholeNumber = (value: unknown, min: number): boolean => typeof value === 'number' && Number.isInteger(value) && value >= min;

function checkOptions(options: ParallelSessionOptions): void {
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  const { maxBatchPerDevice, maxQueue, minRowsPerDevice, batching, weights } = options;
  if (maxBatchPerDevice !== undefined && !wholeNumber(maxBatchPerDevice, 1)) throw new ArgumentError(`options.maxBatchPerDevice must be a whole number >= 1 (got ${String(maxBatchPerDevice)})`);
  if (maxQueue !== undefined && !wholeNumber(maxQueue, 0)) throw new ArgumentError(`options.maxQueue must be a whole number >= 0 (got ${String(maxQueue)})`);
  if (minRowsPerDevice !== undefined && !wholeNumber(minRowsPerDevice, 1)) throw new ArgumentError(`options.minRowsPerDevice must be a whole number >= 1 (got ${String(minRowsPerDevice)})`);
  if (weights !== undefined && weights !== 'auto' && (!Array.isArray(weights) || weights.some((w) => typeof w !== 'number' || !(w > 0) || !Number.isFinite(w)))) {
    throw new ArgumentError(`options.weights: give positive numbers, one per device, or 'auto' (got ${JSON.stringify(weights)})`);
  }
  if (batching !== undefined && batching !== false) {
    if (typeof batching !== 'object' || batching === null) throw new ArgumentError('options.batching: expected { maxBatch, maxQueueDelayMs, preferredBatch } or false');
    if (batching.maxBatch !== undefined && !wholeNumber(batching.maxBatch, 1)) throw new ArgumentError(`options.batching.maxBatch must be a whole number >= 1 (got ${String(batching.maxBatch)})`);
    const delay = batching.maxQueueDelayMs;
    if (delay !== undefined && (typeof delay !== 'number' || !(delay >= 0) || !Number.isFinite(delay))) throw new ArgumentError(`options.batching.maxQueueDelayMs must be a number >= 0 (got ${String(delay)})`);
    if (batching.preferredBatch !== undefined && (!Array.isArray(batching.preferredBatch) || !batching.preferredBatch.every((b) => wholeNumber(b, 1)))) {
      throw new ArgumentError(`options.batching.preferredBatch: give whole numbers >= 1 (got ${JSON.stringify(batching.preferredBatch)})`);
    }
  }
  options.devices?.forEach(parseDevice);
  checkDeviceOptions(options.devices, options.sessionOptions, options.deviceOptions);
}

export class ParallelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly devices: readonly string[];
  /** Why these devices, when a plain model was given none: every GPU found, or the CPU and why. */
  readonly deviceNote: string | undefined;
  #released = false;
  /** The weights the CPU devices share, released after their sessions. */
  #sharedWeights: SharedWeights | undefined;
  readonly #checkFeeds: (feeds: unknown) => number;
  readonly #inputSide: TensorSide;
  readonly #outputSide: TensorSide;
  /** Rows a run's batch must be a multiple of: the fixed batch of a fixed-batch model, else 1. */
  readonly #unit: number;
  /** Per output (plan order): whether it stays in the device's memory. */
  #kept: boolean[] = [];
  #maxRowsPerRun = Infinity;

  private constructor(
    private readonly handles: Device[],
    /** How the batch is split and joined: from the rewritten model, or made for a plain one. */
    readonly plan: ExecutionPlan,
    inputs: ValueInfoProto[],
    outputs: ValueInfoProto[],
    private readonly scheduler: Scheduler,
    private readonly maxQueue: number | undefined,
    deviceNote?: string,
  ) {
    this.deviceNote = deviceNote;
    this.inputNames = inputs.map((i) => i.name);
    const axisIn = (entries: ReadonlyArray<{ name: string; axis: number | null }>) => (name: string): number | null => entries.find((e) => e.name === name)?.axis ?? null;
    // Host buffers for a session on GPUs are page-locked, so that onnxruntime's copies to and from them run at full speed.
    const pinned = handles.some((w) => w.device.startsWith('cuda'));
    this.#inputSide = { kind: 'input', method: 'allocate', infos: inputs, axisOf: axisIn(plan.inputs), pinned };
    this.#outputSide = { kind: 'output', method: 'allocateOutput', infos: outputs, axisOf: axisIn(plan.outputs), pinned };
    this.#checkFeeds = feedChecker(inputs, plan);
    this.#unit = fixedBatchOf(plan) ?? 1;
    this.outputNames = plan.outputs.map((o) => o.name);
    this.devices = handles.map((w) => w.device);
  }

  /**
   * Starts one session per device. `model` is a path or the bytes of a model: one rewritten by
   * onnx-parallelize (its tags give the devices), or a plain model planned here for `options.devices`.
   * Failures of several devices are reported together.
   */
  static async create(model: string | Uint8Array, options: ParallelSessionOptions = {}): Promise<ParallelSession> {
    if (typeof model !== 'string' && !(model instanceof Uint8Array)) throw new ArgumentError('model: expected a file path or the bytes of an ONNX model');
    checkOptions(options);
    const { weights } = options;
    const defaults = options.devices === undefined ? defaultDevices(await gpuInventory(), missingCudaProvider()) : undefined;
    const planned = await planInWorker(model, {
      ...(defaults === undefined ? { devices: options.devices! } : { defaultDevices: defaults.devices }),
      ...(Array.isArray(weights) ? { weights } : {}),
      ...(options.axes === undefined ? {} : { axes: options.axes }),
      ...(options.combine === undefined ? {} : { combine: options.combine }),
    });
    const { plan, devices } = planned;
    const kept = keptOutputs(options.sessionOptions?.preferredOutputLocation, plan.outputs.map((o) => o.name), planned.outputs);
    const maxRowsPerRun = fixedBatchOf(plan) ?? options.maxBatchPerDevice ?? Infinity;
    // The CPU devices' shared weights: the file is deleted once every session is made, and the mapping is released
    // only after every session made with it (release() below, or a failed start).
    const sharedWeights = planned.weightsFile === undefined ? undefined : SharedWeights.open(planned.weightsFile);
    let handles: Device[];
    try {
      if (Array.isArray(weights) && weights.length !== devices.length) throw new ArgumentError(`options.weights: ${weights.length} weights for ${devices.length} devices`);
      await checkSessionDevices(devices, options.devices !== undefined, options.sessionOptions, options.deviceOptions);

      const startOptions = {
        feedNames: planned.feedNames,
        feedTypes: planned.feedTypes,
        fetchNames: planned.fetchNames,
        sessionOptions: options.sessionOptions ?? {},
        ...(options.deviceOptions === undefined ? {} : { deviceOptions: options.deviceOptions }),
        ...(sharedWeights === undefined ? {} : { sharedWeights }),
      };
      const shortage = threadPoolShortage(devices.length);
      if (shortage !== undefined) process.emitWarning(`ParallelSession: ${shortage}`, { code: 'ONNX_PARALLELIZE_THREAD_POOL' });
      const started = await startDevices(devices, planned.source, startOptions);
      handles = started.handles;
      sharedWeights?.settle();
      // onnxruntime has copied the weights into every session: their memory goes back now, not at the next collection.
      if (planned.source.kind === 'bytes') freeBuffers([...new Set(planned.source.externalData.map((f) => f.data.buffer as ArrayBuffer))]);
      if (started.failures.length > 0) {
        const { failures } = started;
        await Promise.all(handles.map((w) => w.release(new Error('start-up failed'))));
        throw new DeviceError(`ParallelSession: ${failures.length} of ${devices.length} devices failed to start:\n${failures.map((f) => `  ${f.message}`).join('\n')}`, { cause: failures });
      }
    } catch (error) {
      sharedWeights?.release();
      throw error;
    }
    const scheduler = new Scheduler(handles, plan, {
      batching: options.batching === false ? false : { maxQueueDelayMs: 0, ...options.batching },
      weights: weights === 'auto' ? 'auto' : integerWeights(weights ?? plan.weights),
      minRowsPerDevice: options.minRowsPerDevice ?? DEFAULT_MIN_ROWS_PER_DEVICE,
      maxRowsPerRun,
      outputShapes: outputShapes(planned.outputs, plan.outputs),
      keptOutputs: kept,
    });
    const session = new ParallelSession(handles, plan, planned.inputs, planned.outputs, scheduler, options.maxQueue, planned.defaulted ? defaults?.note : undefined);
    session.#sharedWeights = sharedWeights;
    session.#kept = kept;
    session.#maxRowsPerRun = maxRowsPerRun;
    return session;
  }

  /** Runs the model on `feeds`; resolves to the outputs, equal to the original model's. */
  run(feeds: Feeds, options?: RunOptions): Promise<Feeds> {
    try {
      if (this.#released) throw new Error('ParallelSession: released; create a new one');
      const broken = this.scheduler.broken;
      if (broken !== undefined) throw new Error(`ParallelSession: no device can run any more (${broken.message}); create a new one`);
      const signal = options?.signal;
      const timeoutMs = options?.timeoutMs;
      if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) throw new ArgumentError(`options.timeoutMs must be a number > 0 (got ${String(timeoutMs)})`);
      const batch = this.#checkFeeds(feeds);
      if (batch % this.#unit !== 0) throw new ArgumentError(`feeds: the model was exported with a fixed batch of ${this.#unit} per replica; give a multiple of ${this.#unit} rows (got ${batch})`);
      signal?.throwIfAborted();
      if (this.maxQueue !== undefined && this.scheduler.queued >= this.maxQueue) {
        this.scheduler.rejected++;
        throw new QueueFullError(`ParallelSession.run: the queue is full (maxQueue ${this.maxQueue} requests waiting); retry later or raise maxQueue`);
      }
      const targets = outputTargets(this.#outputSide, options?.outputs, batch);
      const whole = this.#wholePlacement(feeds, batch, targets);
      return this.scheduler.submit(feeds, batch, signal, timeoutMs, targets, whole);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * How a request runs when values kept in device memory go in or come out: whole on one device (never split
   * nor merged), on a device that holds its inputs where the session has one. Undefined for every other request.
   */
  #wholePlacement(feeds: Feeds, batch: number, targets: Feeds | undefined): WholePlacement | undefined {
    const keeps = this.#kept.some(Boolean);
    const holds = this.inputNames.flatMap((name) => deviceValueOf(feeds[name]) ?? []);
    const homes = new Set(holds.map((value) => value.device));
    if (!keeps && homes.size === 0) return undefined;
    const keptNames = this.outputNames.filter((_, j) => this.#kept[j]);
    const given = keptNames.find((name) => targets?.[name] !== undefined);
    if (given !== undefined) throw new ArgumentError(`options.outputs['${given}']: the output stays in device memory (preferredOutputLocation 'gpu-buffer'); leave it out of options.outputs, or keep it on the CPU`);
    if (batch > this.#maxRowsPerRun) {
      throw new ArgumentError(`feeds: a batch of ${batch} rows, but a run that ${keeps ? 'keeps outputs in device memory' : 'reads tensors kept in device memory'} runs whole on one device, which takes at most ${this.#maxRowsPerRun}; send at most ${this.#maxRowsPerRun} rows per run`);
    }
    // A value in a GPU's memory runs where it lies; a CPU device takes one from onnxruntime's CPU memory.
    const holders = this.devices.flatMap((device, d) => (homes.has(device) ? [d] : []));
    const cudaDevices = this.devices.flatMap((device, d) => (device.startsWith('cuda') ? [d] : []));
    const onGpu = [...homes].some((home) => home.startsWith('cuda'));
    if (holders.length === 0 && onGpu && cudaDevices.length === 0) {
      throw new ArgumentError(`feeds: a tensor kept in the memory of ${[...homes].join(', ')} cannot be fed to a session on ${this.devices.join(', ')}; copy it out first: new Tensor(t.type, await t.getData(), t.dims)`);
    }
    return { devices: holders.length > 0 ? holders : onGpu ? cudaDevices : undefined, holds };
  }

  /**
   * A tensor for input `inputName` on a SharedArrayBuffer, to fill in place and feed to `run` again and again:
   * nothing copies it on the way: onnxruntime reads each device's rows of it where they lie (rows along a later
   * axis than the first are copied once), all devices at once, on every Node version.
   * `rows` gives the batch (the input's other dims must be fixed in the model); give the whole `dims` otherwise.
   * Do not write into it while a run that was given it is pending. On Node 20 onnxruntime-node itself refuses
   * shared memory, so such a tensor can be fed to ParallelSession but not to a plain InferenceSession there.
   */
  allocate(inputName: string, rows: number | readonly number[]): ort.Tensor {
    return sharedTensor(this.#inputSide, inputName, rows);
  }

  /**
   * A tensor for output `outputName` on a SharedArrayBuffer, to give to `run` in `options.outputs` again and again:
   * the devices write their rows of that output straight into it. `rows` gives the batch (the output's
   * other dims must be fixed in the model); give the whole `dims` otherwise. On Node 20 onnxruntime-node refuses
   * shared memory: copy a result on it before feeding it to a plain InferenceSession there.
   */
  allocateOutput(outputName: string, rows: number | readonly number[]): ort.Tensor {
    return sharedTensor(this.#outputSide, outputName, rows);
  }

  /** The dynamic batching in force (`maxQueueDelayMs` filled in), or false when it is off. */
  get batching(): BatchingOptions | false {
    return this.scheduler.batching;
  }

  /** Per device: requests, rows, runs, time inside onnxruntime and work waiting; plus totals and the queue. */
  stats(): SessionStats {
    return this.scheduler.stats();
  }

  /** Rejects the runs still waiting, terminates those inside onnxruntime and releases every session. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const reason = new Error('ParallelSession: released while this run was pending');
    this.scheduler.rejectWaiting(reason);
    await Promise.all(this.handles.map((w) => w.release(reason)));
    // Every session made with the shared weights is released: their memory can go.
    this.#sharedWeights?.release();
    await this.scheduler.settled();
  }

  /** The device of one replica: for tests and diagnostics. */
  deviceOf(replica: number): Device {
    return this.handles[replica]!;
  }
}

/**
 * Starts every device, all at once (session creation runs on libuv's thread pool); returns those that started and
 * the failures. Weights given in memory are copied by onnxruntime into each session as it is made.
 */
async function startDevices(devices: readonly string[], source: DeviceSource, options: DeviceStartOptions): Promise<{ handles: Device[]; failures: Error[] }> {
  const results = await Promise.allSettled(devices.map((device, i) => Device.start(device, i, source, options)));
  return {
    handles: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    failures: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : [])),
  };
}
