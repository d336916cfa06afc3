/**
 * `onnx-parallelize bench`: one plain InferenceSession on the first device against a ParallelSession on all
 * devices, on the same seeded inputs (for a model with bfloat16 graph inputs or outputs, which InferenceSession
 * cannot load, one session made through onnxruntime's C API instead: plain-session.ts). Two modes:
 *  - single batch (`benchmark`): one batch of B rows at a time, the contenders timed interleaved run by run;
 *  - load (`loadBenchmark`): requests of B rows in a closed loop at each concurrency level, as Triton's
 *    perf_analyzer drives a server; the plain session gets the same concurrent run() calls (they run one after
 *    another: onnxruntime-node runs a session on the JS thread), which is what a user has without batching.
 */
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../io/codec.js';
import { loadModel } from '../../io/files.js';
import { dimsForBatch, inputShape, randomFeeds } from '../../tensors/feeds.js';
import { readPlan } from '../../transform/plan.js';
import { ParallelSession, type DeviceStats, type ParallelSessionOptions, type SessionStats } from '../session/parallel-session.js';
import { replicaModel } from '../session/extract.js';
import { PlainSession } from '../session/plain-session.js';
import { deviceProviders, deviceSessionOptions } from '../gpu/providers.js';
import { elemTypeOf } from '../../graph/types.js';
import { TensorProto_DataType, type ModelProto } from '../../onnx.js';
import { closedLoop, percentile, summarize, type LoadRun, type LoadSummary } from './load-generator.js';
import { ArgumentError } from '../../errors.js';

type Feeds = Record<string, ort.Tensor>;

export interface LatencyStats {
  throughput: number;
  p50: number;
  p95: number;
}

/** Where one device's time went in a benchmark (medians over its last runs, from ParallelSession.stats()). */
export interface DeviceTiming {
  device: string;
  /** Median time inside onnxruntime's run(), ms. */
  runMs: number | undefined;
  /** Median time from the main thread preparing a run to its answer being back, ms. */
  roundTripMs: number | undefined;
  /** Mean time of the device's worker on a run's inputs before it and on its outputs after it, ms: part of the difference. */
  inputMs: number | undefined;
  outputMs: number | undefined;
}

export interface BenchReport {
  batch: number;
  runs: number;
  devices: string[];
  /** Whether ParallelSession was fed inputs on shared memory (ParallelSession.allocate). */
  sharedInputs: boolean;
  /** Whether ParallelSession wrote its outputs into tensors on shared memory (allocateOutput, run's `outputs`). */
  sharedOutputs: boolean;
  /** Why these devices, when a plain model was given none. */
  deviceNote?: string;
  single: LatencyStats & { device: string };
  parallel: LatencyStats;
  speedup: number;
  efficiency: number;
  /** Per device of ParallelSession. */
  timing: DeviceTiming[];
  /** What ParallelSession added to a run: its median time less the longest median time inside onnxruntime. */
  addedMs: number;
}

/** A single session: onnxruntime-node's InferenceSession, or a PlainSession where that cannot load the model. */
interface SingleSession {
  run(feeds: Feeds): Promise<unknown>;
  release(): Promise<void>;
}

/** The two contenders on the same inputs, and how to end them. */
interface Contenders {
  plain: SingleSession;
  /** The device of the plain session: ParallelSession's first. */
  device: string;
  parallel: ParallelSession;
  /** The plain session's feeds: the same tensors, under replica 0's input names for a rewritten model. */
  plainFeeds: Feeds;
  feeds: Feeds;
  release(): Promise<void>;
}

async function openContenders(file: string, options: ParallelSessionOptions, batch: number, sharedInputs = false): Promise<Contenders> {
  const model = await loadModel(file);
  const rewritten = readPlan(model) !== undefined;
  const parallel = await ParallelSession.create(file, options);
  let plain: SingleSession;
  try {
    const { plan } = parallel;
    const device = parallel.devices[0]!;
    // The single-device contender: the model itself, or replica 0 of a rewritten one.
    const sessionOptions = deviceSessionOptions(device, options.sessionOptions, options.deviceOptions);
    if (hasBfloat16Values(model)) {
      const { executionProviders: _providers, externalData: _externalData, ...fields } = sessionOptions;
      plain = await PlainSession.create(rewritten ? replicaModel(model, plan, 0) : model, fields, deviceProviders(device, options.sessionOptions, options.deviceOptions));
    } else {
      plain = rewritten ? await ort.InferenceSession.create(encodeModel(replicaModel(model, plan, 0)), sessionOptions) : await ort.InferenceSession.create(file, sessionOptions);
    }
    const axes = new Map(plan.inputs.map((i) => [i.name, i.axis] as const));
    const inputs = model.graph!.input.filter((i) => axes.has(i.name));
    const dims: Record<string, number[]> = {};
    for (const info of inputs) {
      inputShape(info); // an ArgumentError naming the input when its shape is unknown
      dims[info.name] = dimsForBatch(info, axes.get(info.name) ?? null, batch, null, 1)!;
    }
    let feeds: Record<string, ort.Tensor>;
    try {
      feeds = randomFeeds(inputs, { dims });
    } catch (error) {
      if (!(error instanceof ArgumentError) || batch === 1) throw error;
      throw new ArgumentError(`${error.message}; use a smaller --batch`);
    }
    const plainFeeds = Object.fromEntries(plan.inputs.map((i) => [rewritten && i.axis !== null ? i.parts[0]! : i.name, feeds[i.name]!]));
    if (sharedInputs) feeds = Object.fromEntries(Object.entries(feeds).map(([name, tensor]) => [name, sharedCopy(parallel, name, tensor)]));
    const session = plain;
    return { plain, device, parallel, feeds, plainFeeds, release: async () => void (await Promise.all([session.release(), parallel.release()])) };
  } catch (error) {
    await parallel.release();
    throw error;
  }
}

/** Whether a graph input or output of `model` is bfloat16, which onnxruntime-node's InferenceSession cannot load. */
function hasBfloat16Values(model: ModelProto): boolean {
  const graph = model.graph!;
  return [...graph.input, ...graph.output].some((info) => elemTypeOf(info) === TensorProto_DataType.BFLOAT16);
}

/** The same tensor on shared memory from `allocate`; strings stay as they are. */
function sharedCopy(session: ParallelSession, name: string, tensor: ort.Tensor): ort.Tensor {
  if (tensor.type === 'string') return tensor;
  const shared = session.allocate(name, tensor.dims);
  const from = tensor.data as ArrayBufferView;
  const to = shared.data as ArrayBufferView;
  new Uint8Array(to.buffer, to.byteOffset, to.byteLength).set(new Uint8Array(from.buffer, from.byteOffset, from.byteLength));
  return shared;
}

/** Tensors from `allocateOutput` of the dims of `result`'s outputs; strings have none. */
function sharedOutputsLike(session: ParallelSession, result: Feeds): Feeds {
  return Object.fromEntries(Object.entries(result).flatMap(([name, tensor]) => (tensor.type === 'string' ? [] : [[name, session.allocateOutput(name, tensor.dims)]])));
}

function stats(ms: number[], batch: number): LatencyStats {
  const sorted = [...ms].sort((a, b) => a - b);
  const p50 = percentile(sorted, 0.5);
  return { throughput: (batch * 1000) / p50, p50, p95: percentile(sorted, 0.95) };
}

export async function benchmark(
  file: string,
  options: ParallelSessionOptions & { batch: number; runs: number; sharedInputs?: boolean; sharedOutputs?: boolean },
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<BenchReport> {
  const sharedInputs = options.sharedInputs === true;
  const sharedOutputs = options.sharedOutputs === true;
  const { plain, device, parallel, feeds, plainFeeds, release } = await openContenders(file, options, options.batch, sharedInputs);
  try {
    const total = options.runs * 2 + 2;
    let done = 0;
    const time = async (f: () => Promise<unknown>): Promise<number> => {
      const start = performance.now();
      await f();
      onProgress(++done, total);
      return performance.now() - start;
    };
    await time(() => plain.run(plainFeeds));
    const first = await parallel.run(feeds);
    onProgress(++done, total);
    // Outputs written in place: tensors of the first run's dims, given to every later run.
    const outputs = sharedOutputs ? sharedOutputsLike(parallel, first) : undefined;
    const runOptions = outputs === undefined ? {} : { outputs };
    const singleMs: number[] = [];
    const parallelMs: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      singleMs.push(await time(() => plain.run(plainFeeds)));
      parallelMs.push(await time(() => parallel.run(feeds, runOptions)));
    }
    const s = stats(singleMs, options.batch);
    const p = stats(parallelMs, options.batch);
    const speedup = p.throughput / s.throughput;
    const perRun = (ms: number, runs: number): number | undefined => (runs > 0 ? ms / runs : undefined);
    const timing = parallel.stats().devices.map((d) => ({ device: d.device, runMs: d.medianRunMs, roundTripMs: d.medianRoundTripMs, inputMs: perRun(d.inputMs, d.batches), outputMs: perRun(d.outputMs, d.batches) }));
    const longestRun = Math.max(0, ...timing.map((t) => t.runMs ?? 0));
    return { batch: options.batch, runs: options.runs, devices: [...parallel.devices], ...noteOf(parallel), sharedInputs, sharedOutputs, single: { ...s, device }, parallel: p, speedup, efficiency: speedup / parallel.devices.length, timing, addedMs: p.p50 - longestRun };
  } finally {
    await release();
  }
}

export interface LoadLevel {
  concurrency: number;
  /** Latencies in ms; throughput in requests (infer) per second and rows per second. */
  plain: LoadSummary;
  parallel: LoadSummary;
  /** ParallelSession's throughput over the plain session's. */
  speedup: number;
  /** ParallelSession's p99 latency over the plain session's. */
  p99Ratio: number;
  /** What ParallelSession's devices did in this level's timed runs (counters since the level began). */
  stats: SessionStats;
}

export interface LoadReport {
  mode: 'load';
  /** Rows per request. */
  batch: number;
  /** Seconds of closed loop per contender per level. */
  duration: number;
  device: string;
  devices: string[];
  /** Why these devices, when a plain model was given none. */
  deviceNote?: string;
  levels: LoadLevel[];
}

const noteOf = (session: ParallelSession): { deviceNote?: string } => (session.deviceNote === undefined ? {} : { deviceNote: session.deviceNote });

export interface LoadOptions {
  batch: number;
  concurrency: number[];
  /** Seconds per contender per level. */
  duration: number;
}

type Counters = Omit<DeviceStats, 'device'>;
/** A figure by batch size (`batchSizes` or `batchBusyMs`) of `after` less that of `before`, for the sizes run in between. */
const bySizeSince = (before: Counters, after: Counters, figure: 'batchSizes' | 'batchBusyMs'): Record<number, number> =>
  Object.fromEntries(Object.entries(after[figure]).flatMap(([rows, value]) => {
    const size = Number(rows);
    const ran = (after.batchSizes[size] ?? 0) - (before.batchSizes[size] ?? 0);
    return ran > 0 ? [[rows, value - (before[figure][size] ?? 0)]] : [];
  }));
const countersSince = (before: Counters, after: Counters): Counters => ({
  requests: after.requests - before.requests,
  rows: after.rows - before.rows,
  batches: after.batches - before.batches,
  busyMs: after.busyMs - before.busyMs,
  inputMs: after.inputMs - before.inputMs,
  outputMs: after.outputMs - before.outputMs,
  batchSizes: bySizeSince(before, after, 'batchSizes'),
  batchBusyMs: bySizeSince(before, after, 'batchBusyMs'),
  queueDepth: after.queueDepth,
});

/** The counters of `after` less those of `before` (queue depths are as at the end). */
function statsSince(before: SessionStats, after: SessionStats): SessionStats {
  return {
    devices: after.devices.map((d, i) => ({ device: d.device, ...countersSince(before.devices[i]!, d), medianRunMs: d.medianRunMs, medianRoundTripMs: d.medianRoundTripMs })),
    total: countersSince(before.total, after.total),
    queued: after.queued,
    rejected: after.rejected - before.rejected,
  };
}

/**
 * Each level: both contenders warmed up with 2C requests, then timed in halves of the duration in the order
 * plain, ParallelSession, ParallelSession, plain, so that both see the same machine.
 */
export async function loadBenchmark(
  file: string,
  options: ParallelSessionOptions & LoadOptions,
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<LoadReport> {
  const { plain, device, parallel, feeds, plainFeeds, release } = await openContenders(file, options, options.batch);
  try {
    const sendPlain = (): Promise<unknown> => plain.run(plainFeeds);
    const sendParallel = (): Promise<unknown> => parallel.run(feeds);
    const total = options.concurrency.length * 6;
    let done = 0;
    const step = <T>(result: T): T => (onProgress(++done, total), result);
    const levels: LoadLevel[] = [];
    for (const concurrency of options.concurrency) {
      const timed = (send: () => Promise<unknown>): Promise<LoadRun> => closedLoop(send, { concurrency, durationMs: (options.duration * 1000) / 2 }).then(step);
      step(await closedLoop(sendPlain, { concurrency, requests: 2 * concurrency }));
      step(await closedLoop(sendParallel, { concurrency, requests: 2 * concurrency }));
      const plainRuns = [await timed(sendPlain)];
      const before = parallel.stats();
      const parallelRuns = [await timed(sendParallel), await timed(sendParallel)];
      const after = parallel.stats();
      plainRuns.push(await timed(sendPlain));
      const p = summarize(plainRuns, options.batch);
      const q = summarize(parallelRuns, options.batch);
      levels.push({ concurrency, plain: p, parallel: q, speedup: q.throughput / p.throughput, p99Ratio: q.p99 / p.p99, stats: statsSince(before, after) });
    }
    return { mode: 'load', batch: options.batch, duration: options.duration, device, devices: [...parallel.devices], ...noteOf(parallel), levels };
  } finally {
    await release();
  }
}
