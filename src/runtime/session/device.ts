/**
 * One device: its onnxruntime session, made and run through onnxruntime's C API (runtime/onnxruntime), and its
 * statistics. A run leaves the main thread as a koffi async call on libuv's thread pool; its inputs are read and
 * its outputs written by onnxruntime where they lie in JavaScript memory. Every value and buffer onnxruntime
 * points into is held by the run's record in `inFlight` until onnxruntime has returned, so the garbage collector
 * cannot free memory under a running session, even when the caller has given up on the run.
 */
import type * as ort from 'onnxruntime-node';
import { RecentTimes } from './recent-times.js';
import type { DeviceSource } from './device-source.js';
import { deviceProviders, deviceStartProblem, parseDevice, type DeviceOptions } from '../gpu/providers.js';
import { runOutOfMemory, sessionFailure } from '../gpu/cuda-errors.js';
import { OrtSession, type ValueInfo } from '../onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../onnxruntime/session-options.js';
import { appendProviders } from '../onnxruntime/providers.js';
import { readTensor, releaseValue, tensorShape, tensorValue, type TensorData, type TensorValue } from '../onnxruntime/values.js';
import { RunOptions } from '../onnxruntime/run-options.js';
import { messageOf } from '../../errors.js';
import type { SharedWeights } from '../shared-weights/shared-weights.js';
import { DeviceValue } from '../memory/device-values.js';
import { memoryInfo, type MemoryPlace } from '../onnxruntime/memory-info.js';
import type { BoundOutput } from '../onnxruntime/session.js';
import { CapturedGraphs, type GraphInput } from './captured-graphs.js';
import { cudaCopier } from '../memory/cuda-runtime.js';

/**
 * One input of a run: data that onnxruntime reads where it lies (a view of the caller's rows, or a gathered copy),
 * or a value kept in a device's memory by an earlier run.
 */
export interface DeviceInput {
  type: string;
  dims: number[];
  data: TensorData | DeviceValue;
}

/** Where onnxruntime is to write one output: exactly `dims` elements of the output's type, at `data`. */
export interface OutputPlace {
  type: string;
  dims: number[];
  data: ArrayBufferView;
}

/** Where a run puts one output: at a given place, kept in the device's own memory ('device'), or read into a fresh array (undefined). */
export type OutputDestination = OutputPlace | 'device' | undefined;

export interface DeviceOutput {
  type: string;
  dims: number[];
  /** The data read into JavaScript memory, or the value kept in the device's memory. */
  data: TensorData | DeviceValue;
}

export interface DeviceResult {
  outputs: DeviceOutput[];
  /** Time inside onnxruntime. */
  ms: number;
  /** Time making the run's input values before it. */
  inputMs: number;
  /** Time with the outputs after it (read into JavaScript memory where onnxruntime allocated them). */
  outputMs: number;
}

/** A run in progress: its answer, and how to stop it inside onnxruntime. */
export interface DeviceRun {
  result: Promise<DeviceResult>;
  /** Terminates the run inside onnxruntime (at its next node); its answer then rejects. */
  terminate(): void;
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
  /** Time on the runs' inputs before them and on their outputs after them, in ms (Triton's compute_input and compute_output). */
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
  /** The weights CPU devices share (one copy for all of them), which the model refers to; undefined: each loads its own. */
  sharedWeights?: SharedWeights;
}

/** What a run holds until onnxruntime has returned: every value and every buffer they point into. */
interface InFlight {
  values: TensorValue[];
  inputHandles: BigUint64Array;
  outputHandles: BigUint64Array;
  places: ReadonlyArray<OutputDestination>;
  /** Values kept in device memory that the run reads. */
  kept: DeviceValue[];
  options: RunOptions;
}

/** The session options of one device: a CPU device runs on one thread unless told otherwise; providers are added apart. */
function deviceSessionFields(device: string, base: ort.InferenceSession.SessionOptions): ort.InferenceSession.SessionOptions {
  const { executionProviders: _providers, externalData: _externalData, ...rest } = base;
  return parseDevice(device).kind === 'cpu' ? { intraOpNumThreads: 1, interOpNumThreads: 1, ...rest } : rest;
}

export class Device {
  #session: OrtSession | undefined;
  /** Set once the device can no longer run; every later run fails with it at once. */
  #failure: Error | undefined;
  readonly #inFlight = new Set<InFlight>();
  /** A CUDA device's GPU memory: its gpu_mem_limit, where one is set (named in an out-of-memory error). */
  #gpuMemory: { limit: string | undefined } | undefined;
  /** The device's own memory: where outputs kept on the device stay. */
  readonly #memory: MemoryPlace;
  /** Set where the device's provider captures CUDA graphs: every run goes through buffers kept per shape. */
  #graphs: CapturedGraphs | undefined;
  /** The element type of each output (fetch order) as the session declares it ('bfloat16' where onnxruntime-node holds 'uint16'). */
  #fetchTypes: Array<string | undefined> = [];
  #delayMs = 0;
  readonly counters: DeviceCounters = { requests: 0, rows: 0, batches: 0, busyMs: 0, batchSizes: {}, batchBusyMs: {}, inputMs: 0, outputMs: 0 };
  /** Recent runs' time inside onnxruntime, and from the scheduler preparing each run to its answer being back. */
  readonly runTimes = new RecentTimes();
  readonly roundTrips = new RecentTimes();
  /** Measured rows per second (a moving average), for `weights: 'auto'`; undefined until the first run. */
  rowsPerSecond: number | undefined;
  /** Called once when the device can no longer run (its scheduler reroutes or rejects the work waiting for it). */
  onFailure: (() => void) | undefined;

  private constructor(
    readonly device: string,
    readonly index: number,
    private readonly options: DeviceStartOptions,
  ) {
    this.#memory = parseDevice(device);
  }

  get label(): string {
    return `device ${this.device} (replica ${this.index})`;
  }

  get alive(): boolean {
    return this.#failure === undefined;
  }

  get failureReason(): Error | undefined {
    return this.#failure;
  }

  /** Runs inside onnxruntime now (one that was terminated counts until onnxruntime has returned). */
  get queueDepth(): number {
    return this.#inFlight.size;
  }

  /** The session's outputs in fetch order (name, type, dims with -1 where not fixed). */
  get outputInfos(): ValueInfo[] {
    const outputs = this.#session?.outputs ?? [];
    return this.options.fetchNames.map((name) => outputs.find((o) => o.name === name) ?? { name, type: 'unknown', dims: [] });
  }

  /** A device whose session is created from `source`; a CUDA device whose providers are missing fails at once with the fix. */
  static async start(device: string, index: number, source: DeviceSource, options: DeviceStartOptions): Promise<Device> {
    const handle = new Device(device, index, options);
    const problem = deviceStartProblem(device, options.sessionOptions, options.deviceOptions);
    if (problem !== undefined) throw new Error(`${handle.label}: ${problem}`);
    let sessionOptions: number | undefined;
    try {
      sessionOptions = createSessionOptions(deviceSessionFields(device, options.sessionOptions));
      const providers = deviceProviders(device, options.sessionOptions, options.deviceOptions);
      appendProviders(sessionOptions, providers);
      if (providers.cuda !== undefined) handle.#gpuMemory = { limit: providers.cuda['gpu_mem_limit'] };
      const parsed = handle.#memory;
      const cpu = parsed.kind === 'cpu';
      options.sharedWeights?.addTo(sessionOptions, cpu);
      handle.#session = await OrtSession.create(source.kind === 'path' ? { path: source.path } : { bytes: source.model, externalData: source.externalData }, sessionOptions, cpu ? options.sharedWeights?.container : 0);
      handle.#fetchTypes = handle.outputInfos.map((info) => (info.type === 'unknown' ? undefined : info.type));
      if (parsed.kind === 'cuda' && capturesGraphs(providers)) {
        const copier = cudaCopier();
        if (copier instanceof Error) throw copier;
        handle.#graphs = new CapturedGraphs(handle.#session, parsed, copier, options.feedNames, options.fetchNames);
      }
    } catch (error) {
      await handle.#session?.release();
      throw sessionFailure(device, handle.label, messageOf(error));
    } finally {
      if (sessionOptions !== undefined) releaseSessionOptions(sessionOptions);
    }
    return handle;
  }

  /**
   * Runs the session on `inputs` (in feed order). Output j is written into `places[j]` where given, kept in the
   * device's memory where that is 'device', else read from onnxruntime's buffer into a fresh array. A run with
   * places whose dims turn out not to be the output's fails with onnxruntime's message.
   */
  run(inputs: readonly DeviceInput[], places: ReadonlyArray<OutputDestination> = []): DeviceRun {
    if (this.#failure !== undefined) return { result: Promise.reject(this.#failure), terminate: () => undefined };
    const options = new RunOptions();
    return { result: this.#run(inputs, places, options), terminate: () => options.terminate() };
  }

  async #run(inputs: readonly DeviceInput[], places: ReadonlyArray<OutputDestination>, options: RunOptions): Promise<DeviceResult> {
    const { feedNames, feedTypes, fetchNames } = this.options;
    const flight: InFlight = { values: [], inputHandles: new BigUint64Array(inputs.length), outputHandles: new BigUint64Array(fetchNames.length), places, kept: [], options };
    this.#inFlight.add(flight);
    try {
      const delayed = this.#delayMs;
      if (delayed > 0) await new Promise((resolve) => setTimeout(resolve, delayed));
      if (this.#failure !== undefined) throw this.#failure;
      const began = performance.now();
      for (const { data } of inputs) {
        if (!(data instanceof DeviceValue)) continue;
        data.use();
        flight.kept.push(data);
      }
      if (this.#graphs !== undefined) return await this.#graphRun(this.#graphs, inputs, flight, began).catch((error: unknown) => Promise.reject(this.#runError(error, options)));
      inputs.forEach((input, i) => {
        if (input.data instanceof DeviceValue) {
          flight.inputHandles[i] = BigInt(input.data.handle);
          return;
        }
        const value = tensorValue(feedTypes[i] ?? input.type, input.dims, input.data);
        flight.values.push(value);
        flight.inputHandles[i] = BigInt(value.handle);
      });
      places.forEach((place, j) => {
        if (place === undefined || place === 'device') return;
        // As the session declares the output: a bfloat16 one is written into the bits of a 'uint16' tensor.
        const value = tensorValue(this.#fetchTypes[j] ?? place.type, place.dims, place.data);
        flight.values.push(value);
        flight.outputHandles[j] = BigInt(value.handle);
      });
      // Values in device memory go in, or outputs are to stay there: the run binds them (IoBinding).
      const bound = flight.kept.length > 0 || places.includes('device');
      const start = performance.now();
      let made: number[] | undefined;
      try {
        if (bound) made = await this.#session!.runBound(feedNames, flight.inputHandles, this.#bindings(flight), options);
        else await this.#session!.run(feedNames, flight.inputHandles, fetchNames, flight.outputHandles, options);
      } catch (error) {
        throw this.#runError(error, options);
      }
      const ended = performance.now();
      const outputs = made === undefined ? this.#readOutputs(flight) : this.#boundOutputs(flight, made);
      return { outputs, ms: ended - start + delayed, inputMs: start - began, outputMs: performance.now() - ended };
    } finally {
      // onnxruntime has returned (or never started): nothing points into the run's memory any more.
      for (const value of flight.values) releaseValue(value.handle);
      flight.outputHandles.forEach((handle, j) => {
        if (places[j] === undefined) releaseValue(Number(handle));
      });
      for (const value of flight.kept) value.done();
      options.release();
      this.#inFlight.delete(flight);
    }
  }

  /** The error of a failed run: terminated, out of GPU memory (named with the device's limit), or onnxruntime's, named with the device. */
  #runError(error: unknown, options: RunOptions): Error {
    if (options.terminated) return new Error(`${this.label}: the run was terminated`, { cause: error });
    const message = messageOf(error);
    const outOfMemory = this.#gpuMemory === undefined ? undefined : runOutOfMemory(this.device, this.label, message, this.#gpuMemory.limit);
    return outOfMemory ?? new Error(`${this.label}: ${message}`, { cause: error });
  }

  /**
   * A run through the buffers of captured graphs (`began`: when the run was taken up): inputs copied in, outputs
   * copied out to their places, fresh arrays or new values in the device's memory.
   */
  async #graphRun(graphs: CapturedGraphs, inputs: readonly DeviceInput[], flight: InFlight, began: number): Promise<DeviceResult> {
    const { feedTypes } = this.options;
    const graphInputs = inputs.map((input, i): GraphInput => {
      const { data } = input;
      if (Array.isArray(data)) throw new Error(`input '${this.options.feedNames[i]}' is a string tensor, which a captured CUDA graph cannot take`);
      return { type: feedTypes[i] ?? input.type, dims: input.dims, data: data instanceof DeviceValue ? { address: data.address() } : (data as ArrayBufferView) };
    });
    const places = flight.places.map((place) => (place === undefined || place === 'device' ? place : place.data));
    const waited = performance.now();
    const { outputs, ms, inputMs, outputMs } = await graphs.run(graphInputs, places, flight.options);
    const results = outputs.map(({ data, ...shape }): DeviceOutput => ({ ...shape, data: ArrayBuffer.isView(data) ? data : new DeviceValue(data.value, this.device, shape) }));
    return { outputs: results, ms, inputMs: waited - began + inputMs, outputMs };
  }

  /** The outputs of a plain run: written at their places, or read out of the values onnxruntime made. */
  #readOutputs(flight: InFlight): DeviceOutput[] {
    return this.options.fetchNames.map((_, j): DeviceOutput => {
      const handle = Number(flight.outputHandles[j]);
      const place = flight.places[j] as OutputPlace | undefined;
      if (place !== undefined) return { type: place.type, dims: place.dims, data: place.data };
      const shape = tensorShape(handle);
      return { ...shape, data: readTensor(handle, shape) };
    });
  }

  /** Where a bound run puts each output: its place, the device's own memory, or onnxruntime's CPU memory to read from. */
  #bindings(flight: InFlight): BoundOutput[] {
    return this.options.fetchNames.map((name, j): BoundOutput => {
      const place = flight.places[j];
      if (place === 'device') return { name, memoryInfo: memoryInfo(this.#memory) };
      if (place !== undefined) return { name, value: Number(flight.outputHandles[j]) };
      return { name, memoryInfo: memoryInfo({ kind: 'cpu' }) };
    });
  }

  /** The outputs of a bound run (`made`: every output's value): kept in device memory, or read and released. */
  #boundOutputs(flight: InFlight, made: number[]): DeviceOutput[] {
    const kept = new Map<number, DeviceValue>();
    let answered = false;
    try {
      const outputs = made.map((handle, j): DeviceOutput => {
        const place = flight.places[j];
        const shape = tensorShape(handle);
        if (place === 'device') {
          const value = new DeviceValue(handle, this.device, shape);
          kept.set(j, value);
          return { ...shape, data: value };
        }
        if (place !== undefined) return { type: place.type, dims: place.dims, data: place.data };
        return { ...shape, data: readTensor(handle, shape) };
      });
      answered = true;
      return outputs;
    } finally {
      // Every value not kept goes back now; a kept one too when the outputs could not be answered.
      made.forEach((handle, j) => {
        const value = kept.get(j);
        if (value === undefined) releaseValue(handle);
        else if (!answered) value.drop();
      });
    }
  }

  /**
   * Counts a finished batch (`ms` inside onnxruntime, `inputMs` and `outputMs` on its inputs and outputs,
   * `roundTripMs` in all) and updates the measured throughput.
   */
  record(requests: number, rows: number, ms: number, roundTripMs: number, inputMs: number, outputMs: number): void {
    const c = this.counters;
    this.runTimes.add(ms);
    this.roundTrips.add(roundTripMs);
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

  private fail(error: Error): void {
    const first = this.#failure === undefined;
    this.#failure ??= error;
    if (first) this.onFailure?.();
  }

  /**
   * Fails every later run with `reason`, terminates the runs inside onnxruntime, and releases the session once
   * they have returned.
   */
  async release(reason: Error): Promise<void> {
    this.fail(reason);
    for (const flight of this.#inFlight) flight.options.terminate();
    await this.#graphs?.release();
    await this.#session?.release();
  }

  /** Makes the device unusable, as a device lost in the middle of serving would be (for tests of the scheduler). */
  kill(): void {
    this.fail(new Error(`${this.label} stopped (killed)`));
  }

  /**
   * Makes every later run of this device wait `ms` before it starts, counted as time inside onnxruntime: a slower
   * device, as the scheduler measures it, for tests of the scheduler.
   */
  delayRuns(ms: number): void {
    this.#delayMs = ms;
  }
}

/** Whether the device's providers capture CUDA graphs, which replay without reading a run's inputs and outputs. */
function capturesGraphs(providers: { cuda?: Record<string, string>; tensorrt?: Record<string, string> }): boolean {
  return providers.cuda?.['enable_cuda_graph'] === '1' || providers.tensorrt?.['trt_cuda_graph_enable'] === '1';
}
