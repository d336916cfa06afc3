/**
 * Devices on onnxruntime's C API, on CPU devices (1x4096 float32 MLP: 16 MB in and 16 MB out at batch 1024;
 * 1x64 MLP for batch 1). Every figure is a ratio of contenders timed side by side, pair by pair in mirrored order
 * (A B B A, then B A A B), medians over BENCH_ROUNDS rounds (default 8):
 *  1. How a run leaves the main thread, each against a plain onnxruntime-node session (1 thread): a koffi async
 *     call (libuv's thread pool), and a worker thread making a blocking C call (input and output transferred).
 *     onnxruntime's own RunAsync is not a contender: it calls back on onnxruntime's thread, which needs a koffi
 *     callback registered per run and the event loop held open until it comes, for the same one hop.
 *  2. Targets: one cpu device at most 1.00x a plain 1-thread session's time, and two cpu devices at most 1.05x a
 *     plain 2-thread session's time, each run on a freshly filled ordinary input; a batch-1024 run aborted 30 ms
 *     in, the next batch-1 request answered within 50 ms of the abort. With the first target, the pages faulted per
 *     run by the threads that run onnxruntime (Linux): a fresh output that is fresh memory costs a fault a page.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { OrtSession } from '../src/runtime/onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../src/runtime/onnxruntime/session-options.js';
import { RunOptions } from '../src/runtime/onnxruntime/run-options.js';
import { readTensor, releaseValue, tensorShape, tensorValue } from '../src/runtime/onnxruntime/values.js';
import { SeededRandom } from '../src/tensors/random.js';
import { median, mlpModel, quantile } from './harness.js';
import { otherThreadsPageFaults } from './thread-usage.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 8);
const random = new SeededRandom(11);
const settle = (ms = 50): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const spread = (values: number[]): string => `quartiles ${quantile(values, 0.25).toFixed(2)}-${quantile(values, 0.75).toFixed(2)}`;

/** Median time ratio b/a over `rounds` mirrored pairs; `prepare` runs untimed before each run (a fresh input). */
async function pairs(a: () => Promise<unknown>, b: () => Promise<unknown>, prepare: () => void, times = rounds, pause = 50): Promise<{ ratio: number[]; aMs: number[]; bMs: number[] }> {
  const out = { ratio: [] as number[], aMs: [] as number[], bMs: [] as number[] };
  for (let round = 0; round < times; round++) {
    if (pause > 0) await settle(pause);
    const order = round % 2 === 0 ? [a, b, b, a] : [b, a, a, b];
    const t = new Map<() => Promise<unknown>, number>([[a, 0], [b, 0]]);
    for (const run of order) {
      prepare();
      const start = performance.now();
      await run();
      t.set(run, t.get(run)! + performance.now() - start);
    }
    out.aMs.push(t.get(a)! / 2);
    out.bMs.push(t.get(b)! / 2);
    out.ratio.push(t.get(b)! / t.get(a)!);
  }
  return out;
}

/** Part 1: the ways off the main thread, for one model and batch. */
async function waysOffTheMainThread(layers: number, width: number, batch: number, times: number): Promise<void> {
  const file = await mlpModel(layers, width);
  const x = new ort.Tensor('float32', random.floats(batch * width), [batch, width]);
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const options = createSessionOptions({ intraOpNumThreads: 1, interOpNumThreads: 1 });
  const session = await OrtSession.create({ path: file }, options);
  releaseSessionOptions(options);
  const koffiAsync = async (): Promise<unknown> => {
    const value = tensorValue('float32', [batch, width], x.data as Float32Array);
    const outputs = new BigUint64Array(1);
    const runOptions = new RunOptions();
    try {
      await session.run(['x'], BigUint64Array.of(BigInt(value.handle)), ['y'], outputs, runOptions);
      const y = Number(outputs[0]);
      const data = readTensor(y, tensorShape(y));
      releaseValue(y);
      return data;
    } finally {
      releaseValue(value.handle);
      runOptions.release();
    }
  };
  const worker = new Worker(new URL('./capi-sync-worker.js', import.meta.url), { workerData: { file, width } });
  await new Promise((resolve) => worker.once('message', resolve));
  const workerSync = (): Promise<unknown> => {
    const copy = (x.data as Float32Array).slice();
    return new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage(copy.buffer, [copy.buffer]);
    });
  };
  const plainRun = (): Promise<unknown> => plain.run({ x });
  for (const run of [plainRun, koffiAsync, workerSync]) await run();
  const none = (): void => undefined;
  const viaKoffi = await pairs(plainRun, koffiAsync, none, times, batch > 1 ? 50 : 0);
  const viaWorker = await pairs(plainRun, workerSync, none, times, batch > 1 ? 50 : 0);
  const unit = batch > 1 ? 'ms' : 'µs';
  const scale = batch > 1 ? 1 : 1000;
  const show = (values: number[]): string => `${(median(values) * scale).toFixed(batch > 1 ? 1 : 0)} ${unit}`;
  console.log(`${layers}x${width} MLP, batch ${batch}, ${times} rounds: plain session ${show(viaKoffi.aMs)}`);
  console.log(`  koffi async call:           ${show(viaKoffi.bMs)}, ${median(viaKoffi.ratio).toFixed(3)}x the plain session (${spread(viaKoffi.ratio)}); ${((median(viaKoffi.bMs) - median(viaKoffi.aMs)) * 1000).toFixed(0)} µs added`);
  console.log(`  worker, blocking C call:    ${show(viaWorker.bMs)}, ${median(viaWorker.ratio).toFixed(3)}x the plain session (${spread(viaWorker.ratio)}); ${((median(viaWorker.bMs) - median(viaWorker.aMs)) * 1000).toFixed(0)} µs added`);
  await Promise.all([plain.release(), session.release(), worker.terminate()]);
}

console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}, UV_THREADPOOL_SIZE ${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}`);
console.log('1. How a run leaves the main thread (each against a plain onnxruntime-node session, 1 thread)');
await waysOffTheMainThread(1, 64, 1, rounds * 100);
await waysOffTheMainThread(1, 4096, 1024, rounds);

console.log('2. Targets (1x4096 MLP, batch 1024, a freshly filled ordinary input before every run)');
const width = 4096;
const batch = 1024;
const file = await mlpModel(1, width);
const x = new ort.Tensor('float32', new Float32Array(batch * width), [batch, width]);
const fill = (): void => {
  const data = x.data as Float32Array;
  const seed = Math.random();
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761 + seed * 1e9) % 1000) / 1000 - 0.5;
};
fill();
const oneThread = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const twoThreads = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1 });
const one = await ParallelSession.create(file, { devices: ['cpu'] });
const two = await ParallelSession.create(file, { devices: ['cpu', 'cpu'] });
for (const run of [() => oneThread.run({ x }), () => twoThreads.run({ x }), () => one.run({ x }), () => two.run({ x })]) await run();
/** Pages faulted by the threads that run onnxruntime (all but the main one) during each run of a contender. */
const faults = { plain: [] as number[], device: [] as number[] };
const countingFaults = (run: () => Promise<unknown>, into: number[]) => async (): Promise<unknown> => {
  const before = otherThreadsPageFaults();
  const result = await run();
  const after = otherThreadsPageFaults();
  if (before !== undefined && after !== undefined) into.push(after - before);
  return result;
};
const oneDevice = await pairs(countingFaults(() => oneThread.run({ x }), faults.plain), countingFaults(() => one.run({ x }), faults.device), fill);
const oneRatio = median(oneDevice.ratio);
console.log(`  one cpu device vs a plain 1-thread session, time: ${oneRatio.toFixed(3)}x (${spread(oneDevice.ratio)}; ${median(oneDevice.aMs).toFixed(0)} vs ${median(oneDevice.bMs).toFixed(0)} ms) (target <= 1.00x) ${oneRatio <= 1 ? 'OK' : 'OVER'}`);
if (faults.device.length > 0) {
  const runsOver = (values: number[]): number => values.filter((v) => v >= 1024).length;
  console.log(`  pages faulted by onnxruntime's threads per run: plain session median ${median(faults.plain)}, ${runsOver(faults.plain)} of ${faults.plain.length} runs over 1024; one cpu device median ${median(faults.device)}, ${runsOver(faults.device)} of ${faults.device.length} runs over 1024`);
}
const twoDevices = await pairs(() => twoThreads.run({ x }), () => two.run({ x }), fill);
const twoRatio = median(twoDevices.ratio);
console.log(`  two cpu devices vs a plain 2-thread session, time: ${twoRatio.toFixed(3)}x (${spread(twoDevices.ratio)}; ${median(twoDevices.aMs).toFixed(0)} vs ${median(twoDevices.bMs).toFixed(0)} ms) (target <= 1.05x) ${twoRatio <= 1.05 ? 'OK' : 'OVER'}`);

// Cancellation: a batch-1024 run aborted 30 ms in, then a batch-1 request.
const small = new ort.Tensor('float32', random.floats(width), [1, width]);
const afterAbort: number[] = [];
const wholeRun: number[] = [];
for (let round = 0; round < rounds; round++) {
  await settle(100);
  const controller = new AbortController();
  const started = performance.now();
  const aborted = one.run({ x }, { signal: controller.signal }).catch(() => undefined);
  await settle(30);
  const abortedAt = performance.now();
  controller.abort();
  await one.run({ x: small });
  afterAbort.push(performance.now() - abortedAt);
  await aborted;
  await settle(100);
  const start = performance.now();
  await one.run({ x });
  wholeRun.push(performance.now() - start);
  void started;
}
const cancelMs = median(afterAbort);
console.log(`  batch-1024 run aborted 30 ms in: the next batch-1 request answered ${cancelMs.toFixed(1)} ms after the abort (${spread(afterAbort)}), a whole run ${median(wholeRun).toFixed(0)} ms (target <= 50 ms) ${cancelMs <= 50 ? 'OK' : 'OVER'}`);
await Promise.all([oneThread.release(), twoThreads.release(), one.release(), two.release()]);
