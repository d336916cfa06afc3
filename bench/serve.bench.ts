/**
 * Serving benchmark: many small requests, as a model server sees them. Batch-1 requests in a closed loop (C
 * requests outstanding; each one that finishes issues the next), CPU devices with one intra-op thread each.
 * Contenders are timed pair by pair in mirrored order (A B B A, then B A A B), BENCH_SECONDS (1) per run,
 * BENCH_ROUNDS (5) rounds; the median of the per-pair ratios is printed with its quartiles.
 *  - concurrency 64, 4x1024 MLP: ParallelSession on cpu,cpu against a plain single-thread InferenceSession (its
 *    run() blocks the JS thread, so concurrent calls run one after another: what a user has without batching),
 *    throughput (target >= 3.0x) and p99 latency (target: not above the plain session's); a bare batching pool
 *    of 2 workers (bare-batching-pool.ts) is the reference of what this machine allows;
 *  - concurrency 256: ParallelSession on cpu,cpu against the same on one cpu device, throughput (target >= 1.7x);
 *    the bare pool with 2 workers against 1 as reference; and the main thread's CPU time per request of each
 *    (Linux), which holds while other programs load the machine;
 *  - concurrency 1, 1x64 MLP: ParallelSession's p50 latency against the plain session's (target <= +100 µs).
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { closedLoop, summarize, type LoadRun, type LoadSummary } from '../src/runtime/load/load-generator.js';
import { SeededRandom } from '../src/tensors/random.js';
import { BareBatchingPool } from './bare-batching-pool.js';
import { median, mlpModel, quantile } from './harness.js';
import { mainThreadCpuMs } from './thread-usage.js';
import { threadPoolSize } from '../src/runtime/onnxruntime/thread-pool.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 5);
const runMs = Number(process.env['BENCH_SECONDS'] ?? 1) * 1000;
const devices = ['cpu', 'cpu'];

interface Contender {
  name: string;
  send: () => Promise<unknown>;
}

const settle = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 100));

/** The main thread's CPU time per request of each timed run, in µs, by contender (Linux only). */
const mainThreadPerRequest = new Map<Contender, number[]>();

/** Per-pair summaries of a against b at one concurrency, timed A B B A (B A A B on odd rounds). */
async function pairs(a: Contender, b: Contender, concurrency: number): Promise<Array<{ a: LoadSummary; b: LoadSummary }>> {
  for (const c of [a, b]) await closedLoop(c.send, { concurrency, durationMs: Math.min(runMs, 300) }); // warm-up
  const result = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [a, b, b, a] : [b, a, a, b];
    const runs = new Map<Contender, LoadRun[]>([[a, []], [b, []]]);
    for (const c of order) {
      await settle();
      const cpuBefore = mainThreadCpuMs();
      const run = await closedLoop(c.send, { concurrency, durationMs: runMs });
      const cpuAfter = mainThreadCpuMs();
      if (cpuBefore !== undefined && cpuAfter !== undefined && run.latenciesMs.length > 0) {
        mainThreadPerRequest.set(c, [...(mainThreadPerRequest.get(c) ?? []), ((cpuAfter - cpuBefore) * 1000) / run.latenciesMs.length]);
      }
      runs.get(c)!.push(run);
    }
    result.push({ a: summarize(runs.get(a)!, 1), b: summarize(runs.get(b)!, 1) });
  }
  return result;
}

/** Rows per batch each device of `session` ran while `during` ran: how much the dynamic batching merged. */
async function batchedRows<T>(session: ParallelSession, during: () => Promise<T>): Promise<{ result: T; perDevice: string }> {
  const before = session.stats().devices;
  const result = await during();
  const after = session.stats().devices;
  const perDevice = after.map((d, i) => `${d.device} ${((d.rows - before[i]!.rows) / Math.max(1, d.batches - before[i]!.batches)).toFixed(1)}`).join(', ');
  return { result, perDevice };
}

const spread = (values: number[], digits = 2): string => `quartiles ${quantile(values, 0.25).toFixed(digits)} to ${quantile(values, 0.75).toFixed(digits)}`;
const ratio = (measured: Array<{ a: LoadSummary; b: LoadSummary }>, of: (s: LoadSummary) => number): number[] => measured.map((p) => of(p.b) / of(p.a));
const medianOf = (measured: Array<{ a: LoadSummary; b: LoadSummary }>, side: 'a' | 'b', of: (s: LoadSummary) => number): number => median(measured.map((p) => of(p[side])));

async function oneRowSender(file: string, width: number) {
  const data = new SeededRandom(1).floats(width);
  const x = new ort.Tensor('float32', data, [1, width]);
  const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return { data, x, plain };
}

console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}, libuv thread pool ${threadPoolSize()} (UV_THREADPOOL_SIZE ${process.env['UV_THREADPOOL_SIZE'] ?? 'unset'})`);
console.log(`closed loop of batch-1 requests, devices ${devices.join(',')} (one intra-op thread each), ${rounds} rounds of pairs (A B B A, then B A A B), ${runMs / 1000} s per run`);

// Concurrency 64 and 256 on the 4x1024 MLP.
{
  const width = 1024;
  const file = await mlpModel(4, width);
  const { data, x, plain: plainSession } = await oneRowSender(file, width);
  const two = await ParallelSession.create(file, { devices });
  const one = await ParallelSession.create(file, { devices: [devices[0]!] });
  const pool2 = await BareBatchingPool.start(file, width, 2);
  const pool1 = await BareBatchingPool.start(file, width, 1);
  const plain: Contender = { name: 'plain session', send: () => plainSession.run({ x }) };
  const parallel: Contender = { name: `ParallelSession ${devices.join(',')}`, send: () => two.run({ x }) };
  const parallelOne: Contender = { name: 'ParallelSession cpu', send: () => one.run({ x }) };
  const bare2: Contender = { name: 'bare pool, 2 workers', send: () => pool2.run(data) };
  const bare1: Contender = { name: 'bare pool, 1 worker', send: () => pool1.run(data) };
  const throughput = (s: LoadSummary): number => s.throughput;
  const p99 = (s: LoadSummary): number => s.p99;

  const { result: vsPlain, perDevice: batched64 } = await batchedRows(two, () => pairs(plain, parallel, 64));
  const poolVsPlain = await pairs(plain, bare2, 64);
  const speedup = median(ratio(vsPlain, throughput));
  const tail = median(ratio(vsPlain, p99));
  console.log(`concurrency 64, 4x${width} MLP, median infer/s: plain ${medianOf(vsPlain, 'a', throughput).toFixed(0)}, ${parallel.name} ${medianOf(vsPlain, 'b', throughput).toFixed(0)}, bare pool ${medianOf(poolVsPlain, 'b', throughput).toFixed(0)}; median p99 ms: plain ${medianOf(vsPlain, 'a', p99).toFixed(1)}, ${parallel.name} ${medianOf(vsPlain, 'b', p99).toFixed(1)}`);
  console.log(`${parallel.name}, concurrency 64, rows per batch: ${batched64}`);
  console.log(`${parallel.name} vs plain session, concurrency 64, throughput: ${speedup.toFixed(2)}x, ${spread(ratio(vsPlain, throughput))} (target >= 3.00x) ${speedup >= 3 ? 'OK' : 'UNDER'}`);
  console.log(`bare batching pool (2 workers) vs plain session, concurrency 64, throughput: ${median(ratio(poolVsPlain, throughput)).toFixed(2)}x (reference for this machine now)`);
  console.log(`${parallel.name} vs plain session, concurrency 64, p99 latency: ${tail.toFixed(2)}x, ${spread(ratio(vsPlain, p99))} (target <= 1.00x) ${tail <= 1 ? 'OK' : 'OVER'}`);

  mainThreadPerRequest.clear(); // concurrency 256 only from here
  const { result: scaling, perDevice: batched256 } = await batchedRows(two, () => pairs(parallelOne, parallel, 256));
  const poolScaling = await pairs(bare1, bare2, 256);
  const scale = median(ratio(scaling, throughput));
  console.log(`concurrency 256, median infer/s: ParallelSession cpu ${medianOf(scaling, 'a', throughput).toFixed(0)}, ${parallel.name} ${medianOf(scaling, 'b', throughput).toFixed(0)}; bare pool 1 worker ${medianOf(poolScaling, 'a', throughput).toFixed(0)}, 2 workers ${medianOf(poolScaling, 'b', throughput).toFixed(0)}`);
  console.log(`${parallel.name}, concurrency 256, rows per batch: ${batched256}`);
  console.log(`${parallel.name} vs ParallelSession cpu, concurrency 256, throughput: ${scale.toFixed(2)}x, ${spread(ratio(scaling, throughput))} (target >= 1.70x) ${scale >= 1.7 ? 'OK' : 'UNDER'}`);
  console.log(`bare batching pool, 2 workers vs 1, concurrency 256, throughput: ${median(ratio(poolScaling, throughput)).toFixed(2)}x (reference for this machine now)`);
  const perRequest = (c: Contender): string => (mainThreadPerRequest.has(c) ? `${median(mainThreadPerRequest.get(c)!).toFixed(1)} µs` : 'n/a');
  console.log(`main thread CPU per request (median of runs, the load generator's share included), concurrency 256: ${parallelOne.name} ${perRequest(parallelOne)}, ${parallel.name} ${perRequest(parallel)}; bare pool 1 worker ${perRequest(bare1)}, 2 workers ${perRequest(bare2)}`);
  await Promise.all([plainSession.release(), two.release(), one.release(), pool2.close(), pool1.close()]);
}

// Concurrency 1 on the 1x64 MLP: what ParallelSession adds to the latency of one small request.
{
  const width = 64;
  const file = await mlpModel(1, width);
  const { x, plain: plainSession } = await oneRowSender(file, width);
  const two = await ParallelSession.create(file, { devices });
  const measured = await pairs({ name: 'plain session', send: () => plainSession.run({ x }) }, { name: `ParallelSession ${devices.join(',')}`, send: () => two.run({ x }) }, 1);
  const added = measured.map((p) => (p.b.p50 - p.a.p50) * 1000);
  const extra = median(added);
  console.log(`concurrency 1, 1x${width} MLP, median p50 µs: plain ${(medianOf(measured, 'a', (s) => s.p50) * 1000).toFixed(0)}, ParallelSession ${devices.join(',')} ${(medianOf(measured, 'b', (s) => s.p50) * 1000).toFixed(0)}`);
  console.log(`ParallelSession ${devices.join(',')} p50 latency minus plain session p50, concurrency 1: ${extra >= 0 ? '+' : ''}${extra.toFixed(0)} µs, ${spread(added, 0)} (target <= +100 µs) ${extra <= 100 ? 'OK' : 'OVER'}`);
  await Promise.all([plainSession.release(), two.release()]);
}

console.log('batch 1024 in single requests: see `npm run bench:session` (ParallelSession cpu,cpu vs one single-thread session and vs one 2-thread session)');
