/**
 * `onnx-parallelize bench`: one plain InferenceSession on the first device against a ParallelSession on all
 * devices, timed interleaved run by run on the same inputs.
 */
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../io/codec.js';
import { loadModel } from '../io/files.js';
import { dimsForBatch, inputShape, randomFeeds } from '../tensors/feeds.js';
import { readPlan } from '../transform/plan.js';
import { ParallelSession, type ParallelSessionOptions } from './parallel-session.js';
import { replicaModel } from './extract.js';
import { deviceSessionOptions } from './providers.js';

export interface LatencyStats {
  throughput: number;
  p50: number;
  p95: number;
}

export interface BenchReport {
  batch: number;
  runs: number;
  devices: string[];
  single: LatencyStats & { device: string };
  parallel: LatencyStats;
  speedup: number;
  efficiency: number;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

function stats(ms: number[], batch: number): LatencyStats {
  const sorted = [...ms].sort((a, b) => a - b);
  const p50 = percentile(sorted, 0.5);
  return { throughput: (batch * 1000) / p50, p50, p95: percentile(sorted, 0.95) };
}

export async function benchmark(
  file: string,
  options: ParallelSessionOptions & { batch: number; runs: number },
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<BenchReport> {
  const model = await loadModel(file);
  const rewritten = readPlan(model) !== undefined;
  const parallel = await ParallelSession.create(file, options);
  const { plan } = parallel;
  // The single-device contender: the model itself, or replica 0 of a rewritten one.
  const single = rewritten ? replicaModel(model, plan, 0) : model;
  const device = parallel.devices[0]!;
  const plain = await ort.InferenceSession.create(encodeModel(single), deviceSessionOptions(device, options.sessionOptions));
  try {
    const axes = new Map(plan.inputs.map((i) => [i.name, i.axis] as const));
    const inputs = model.graph!.input.filter((i) => axes.has(i.name));
    const dims: Record<string, number[]> = {};
    for (const info of inputs) {
      inputShape(info); // a TypeError naming the input when its shape is unknown
      dims[info.name] = dimsForBatch(info, axes.get(info.name) ?? null, options.batch, null, 1)!;
    }
    const feeds = randomFeeds(inputs, { dims });
    const singleFeeds = Object.fromEntries(plan.inputs.map((i) => [rewritten && i.axis !== null ? i.parts[0]! : i.name, feeds[i.name]!]));
    const total = options.runs * 2 + 2;
    let done = 0;
    const time = async (f: () => Promise<unknown>): Promise<number> => {
      const start = performance.now();
      await f();
      onProgress(++done, total);
      return performance.now() - start;
    };
    await time(() => plain.run(singleFeeds));
    await time(() => parallel.run(feeds));
    const singleMs: number[] = [];
    const parallelMs: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      singleMs.push(await time(() => plain.run(singleFeeds)));
      parallelMs.push(await time(() => parallel.run(feeds)));
    }
    const s = stats(singleMs, options.batch);
    const p = stats(parallelMs, options.batch);
    const speedup = p.throughput / s.throughput;
    return { batch: options.batch, runs: options.runs, devices: [...parallel.devices], single: { ...s, device }, parallel: p, speedup, efficiency: speedup / parallel.devices.length };
  } finally {
    await plain.release();
    await parallel.release();
  }
}
