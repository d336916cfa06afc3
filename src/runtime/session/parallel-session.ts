/**
 * ParallelSession: runs a data-parallel model with one onnxruntime session per device, each in its own worker
 * thread, all devices at once, behind one scheduler with dynamic batching (scheduler.ts). After `create` the main
 * thread holds no model bytes: the model is planned in a worker of its own, and each device's worker creates its
 * session from the model file or from weights it frees once the session exists.
 */
import type { ResourceLimits } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { outputTargets, sharedTensor, type TensorSide } from '../data/shared-tensors.js';
import type { ValueInfoProto } from '../../onnx.js';
import { fixedBatchOf, type ExecutionPlan } from '../../transform/plan.js';
import { integerWeights } from '../../transform/split-sizes.js';
import type { CombineMode } from '../../transform/options.js';
import { ArgumentError, DeviceError } from '../../errors.js';
import { feedChecker } from '../data/check-feeds.js';
import { DeviceWorker } from './device.js';
import { freeBuffers } from '../data/free-buffers.js';
import { weightBuffers, type DeviceSource } from './messages.js';
import { planInWorker } from './planner.js';
import { checkDeviceOptions, missingCudaProvider, parseDevice, type DeviceOptions } from '../gpu/providers.js';
import { checkSessionDevices, defaultDevices, gpuInventory } from '../gpu/gpus.js';
import type { ExternalFile } from './external-files.js';
import { QueueFullError, Scheduler, type BatchingOptions, type Feeds, type SessionStats } from './scheduler.js';

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
  /** Heap limits of the device workers (workers take none of the process's Node flags). */
  workerResourceLimits?: ResourceLimits;
  /**
   * How long, in microseconds, a device's worker polls for its next run after answering one before it sleeps,
   * and the caller's thread polls for the answer of a lone run expected within that time (nothing else queued)
   * before it returns to its event loop. Waking a sleeping thread costs tens of microseconds, which a short GPU
   * run feels; polling spends a core for that long. Default 500 for CUDA devices, 0 (off) for CPU devices, whose
   * cores run the model.
   */
  busyWaitMicros?: number;
}

export interface RunOptions {
  /** Aborting removes a queued request; one already inside onnxruntime finishes and its result is dropped. */
  signal?: AbortSignal;
  /** Rejects the request with a TimeoutError after this many milliseconds. */
  timeoutMs?: number;
  /**
   * Hands the feeds' buffers to the device's worker by transfer instead of copying them: they are detached (empty)
   * once the run starts, so the caller must not use them again. Only buffers that a feed's data fills entirely are
   * transferred, and only for a request that runs whole on one device; a request split over devices or merged
   * with others is copied as usual (for large batches, `allocate` gives inputs that no thread copies).
   */
  transfer?: boolean;
  /**
   * Tensors to write outputs into, by output name, on a SharedArrayBuffer (from `allocateOutput`): each device's
   * worker writes its rows straight into them (in place where onnxruntime-node takes shared memory, Node 22 and
   * later; on Node 20 with one copy by the worker), so no output crosses between threads, is joined, or is left
   * for the garbage collector. The result holds these very tensors. Such a request is never merged with others.
   * Do not read them before the run resolves, nor give them to another run that is pending.
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
  if (options.busyWaitMicros !== undefined && !(wholeNumber(options.busyWaitMicros, 0) && options.busyWaitMicros <= 100_000)) throw new ArgumentError(`options.busyWaitMicros must be a whole number from 0 to 100000 (got ${String(options.busyWaitMicros)})`);
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
  readonly #checkFeeds: (feeds: unknown) => number;
  readonly #inputSide: TensorSide;
  readonly #outputSide: TensorSide;
  /** Rows a run's batch must be a multiple of: the fixed batch of a fixed-batch model, else 1. */
  readonly #unit: number;

  private constructor(
    private readonly workers: DeviceWorker[],
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
    this.#inputSide = { kind: 'input', method: 'allocate', infos: inputs, axisOf: axisIn(plan.inputs) };
    this.#outputSide = { kind: 'output', method: 'allocateOutput', infos: outputs, axisOf: axisIn(plan.outputs) };
    this.#checkFeeds = feedChecker(inputs, plan);
    this.#unit = fixedBatchOf(plan) ?? 1;
    this.outputNames = plan.outputs.map((o) => o.name);
    this.devices = workers.map((w) => w.device);
  }

  /**
   * Starts one worker and session per device. `model` is a path or the bytes of a model: one rewritten by
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
    if (Array.isArray(weights) && weights.length !== devices.length) throw new ArgumentError(`options.weights: ${weights.length} weights for ${devices.length} devices`);
    await checkSessionDevices(devices, options.devices !== undefined, options.sessionOptions, options.deviceOptions);

    const startOptions = {
      feedNames: planned.feedNames,
      feedTypes: planned.feedTypes,
      fetchNames: planned.fetchNames,
      sessionOptions: options.sessionOptions ?? {},
      ...(options.deviceOptions === undefined ? {} : { deviceOptions: options.deviceOptions }),
      ...(options.workerResourceLimits === undefined ? {} : { resourceLimits: options.workerResourceLimits }),
      ...(options.busyWaitMicros === undefined ? {} : { busyWaitMicros: options.busyWaitMicros }),
    };
    const started = devices.map((device, i) => DeviceWorker.start(device, i, startOptions));
    const workers = started.filter((w): w is DeviceWorker => w instanceof DeviceWorker);
    const failures = started.filter((w): w is Error => w instanceof Error);
    failures.push(...(await createSessions(workers, planned.source)));
    if (failures.length > 0) {
      await Promise.all(workers.map((w) => w.release(new Error('start-up failed'))));
      throw new DeviceError(`ParallelSession: ${failures.length} of ${devices.length} devices failed to start:\n${failures.map((f) => `  ${f.message}`).join('\n')}`, { cause: failures });
    }
    const scheduler = new Scheduler(workers, plan, {
      batching: options.batching === false ? false : { maxQueueDelayMs: 0, ...options.batching },
      weights: weights === 'auto' ? 'auto' : integerWeights(weights ?? plan.weights),
      minRowsPerDevice: options.minRowsPerDevice ?? DEFAULT_MIN_ROWS_PER_DEVICE,
      maxRowsPerRun: fixedBatchOf(plan) ?? options.maxBatchPerDevice ?? Infinity,
    });
    return new ParallelSession(workers, plan, planned.inputs, planned.outputs, scheduler, options.maxQueue, planned.defaulted ? defaults?.note : undefined);
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
      return this.scheduler.submit(feeds, batch, signal, timeoutMs, options?.transfer === true, targets);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A tensor for input `inputName` on a SharedArrayBuffer, to fill in place and feed to `run` again and again:
   * no thread copies it on the way, each device's worker reads its own rows of it (in place where onnxruntime-node
   * takes shared memory, Node 22 and later; on Node 20 the worker copies them once), all devices at once.
   * `rows` gives the batch (the input's other dims must be fixed in the model); give the whole `dims` otherwise.
   * Do not write into it while a run that was given it is pending. On Node 20 onnxruntime-node itself refuses
   * shared memory, so such a tensor can be fed to ParallelSession but not to a plain InferenceSession there.
   */
  allocate(inputName: string, rows: number | readonly number[]): ort.Tensor {
    return sharedTensor(this.#inputSide, inputName, rows);
  }

  /**
   * A tensor for output `outputName` on a SharedArrayBuffer, to give to `run` in `options.outputs` again and again:
   * the devices' workers write their rows of that output straight into it. `rows` gives the batch (the output's
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

  /** Rejects the runs still waiting, releases every session and ends every worker. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const reason = new Error('ParallelSession: released while this run was pending');
    this.scheduler.rejectWaiting(reason);
    await Promise.all(this.workers.map((w) => w.release(reason)));
    await this.scheduler.settled();
  }

  /** The worker of one replica: for tests and diagnostics. */
  workerOf(replica: number): DeviceWorker {
    return this.workers[replica]!;
  }
}

/**
 * Creates every device's session; returns the failures. Devices that open the model file start all at once.
 * Weights sent as bytes go from one device to the next (each creates its session, then hands them on), so one
 * copy exists at a time and creating N sessions never holds N copies; the last device frees them.
 */
async function createSessions(workers: DeviceWorker[], source: DeviceSource): Promise<Error[]> {
  if (source.kind === 'path') {
    const results = await Promise.allSettled(workers.map((w) => w.create(source, false)));
    return results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  }
  const failures: Error[] = [];
  let weights: ExternalFile[] | undefined = source.externalData;
  for (const [k, worker] of workers.entries()) {
    if (weights === undefined) {
      failures.push(new Error(`${worker.label}: not started: the weights were lost when an earlier device failed`));
      continue;
    }
    const handBack = k < workers.length - 1;
    try {
      weights = await worker.create({ ...source, externalData: weights }, handBack);
    } catch (error) {
      failures.push(error as Error);
      weights = (error as { weights?: ExternalFile[] }).weights;
    }
  }
  if (weights !== undefined) freeBuffers(weightBuffers(weights));
  return failures;
}
