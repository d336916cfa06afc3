/**
 * ParallelSession benchmark (runtime issue), on CPU devices: a 4-layer 1024-wide float32 MLP at batch 1024.
 * Contenders run interleaved, one of each per round (100 ms apart, so that threads still spinning after one run
 * do not slow the next); the ratios are taken per round and their medians printed:
 *  - ParallelSession on cpu,cpu against one single-thread InferenceSession: throughput ratio (target >= 1.5);
 *  - ParallelSession on cpu,cpu against one InferenceSession with 2 intra-op threads: time ratio (target <= 1.10);
 *  - ParallelSession on one cpu device against a plain single-thread InferenceSession: overhead (target <= 3%).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/parallel-session.js';
import { SeededRandom } from '../src/verify/random.js';
import { MLP_WIDTH, median, mlpModel } from './harness.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 25);
const width = MLP_WIDTH;
const batch = Number(process.env['BENCH_BATCH'] ?? 1024);
const devices = (process.env['BENCH_DEVICES'] ?? 'cpu,cpu').split(',');

const file = await mlpModel();
const x = new ort.Tensor('float32', new SeededRandom(1).floats(batch * width), [batch, width]);
const single = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const twoThreads = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1 });
const parallel = await ParallelSession.create(file, { devices });
const oneDevice = await ParallelSession.create(file, { devices: [devices[0]!] });
// A bare pool of the same size (the reference point of the issue: 1.7-1.9x measured here at the time).
const pool = devices.map(() => new Worker(new URL('./bare-pool-worker.js', import.meta.url), { workerData: { file, width } }));
await Promise.all(pool.map((w) => new Promise((resolve) => w.once('message', resolve))));
const loneWorker = new Worker(new URL('./bare-pool-worker.js', import.meta.url), { workerData: { file, width } });
await new Promise((resolve) => loneWorker.once('message', resolve));
const bareOne = (): Promise<unknown> => {
  const copy = (x.data as Float32Array).slice();
  return new Promise((resolve) => {
    loneWorker.once('message', resolve);
    loneWorker.postMessage(copy.buffer, [copy.buffer]);
  });
};
const rows = Math.ceil(batch / pool.length);
const barePool = (): Promise<unknown> =>
  Promise.all(
    pool.map((worker, i) => {
      const part = (x.data as Float32Array).slice(i * rows * width, Math.min(batch, (i + 1) * rows) * width);
      return new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage(part.buffer, [part.buffer]);
      });
    }),
  );

const time = async (run: () => Promise<unknown>): Promise<number> => {
  const start = performance.now();
  await run();
  return performance.now() - start;
};
const contenders = {
  single: () => single.run({ x }),
  twoThreads: () => twoThreads.run({ x }),
  parallel: () => parallel.run({ x }),
  oneDevice: () => oneDevice.run({ x }),
  barePool,
  bareOne,
};
for (const run of Object.values(contenders)) await run(); // warm-up
const ratios = { speedup: [] as number[], vsTwoThreads: [] as number[], overhead: [] as number[], poolSpeedup: [] as number[], overBareOne: [] as number[], threadCost: [] as number[] };
const times: Record<string, number[]> = { single: [], twoThreads: [], parallel: [], oneDevice: [], barePool: [], bareOne: [] };
for (let round = 0; round < rounds; round++) {
  const t: Record<string, number> = {};
  const order = Object.keys(contenders);
  if (round % 2 === 1) order.reverse();
  for (const name of order) {
    // onnxruntime's intra-op threads spin for a while after a run: let them settle so no contender slows the next.
    await new Promise((resolve) => setTimeout(resolve, 100));
    t[name] = await time(contenders[name as keyof typeof contenders]);
  }
  for (const [name, ms] of Object.entries(t)) times[name]!.push(ms);
  ratios.speedup.push(t['single']! / t['parallel']!);
  ratios.vsTwoThreads.push(t['parallel']! / t['twoThreads']!);
  ratios.overhead.push(t['oneDevice']! / t['single']! - 1);
  ratios.poolSpeedup.push(t['single']! / t['barePool']!);
  ratios.overBareOne.push(t['oneDevice']! / t['bareOne']! - 1);
  ratios.threadCost.push(t['bareOne']! / t['single']! - 1);
}
await Promise.all([single.release(), twoThreads.release(), parallel.release(), oneDevice.release(), ...pool.map((w) => w.terminate()), loneWorker.terminate()]);

const speedup = median(ratios.speedup);
const vsTwo = median(ratios.vsTwoThreads);
const overhead = median(ratios.overhead);
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}`);
console.log(`4-layer ${width}-wide float32 MLP, batch ${batch}, devices ${devices.join(',')}, ${rounds} interleaved rounds (median ms: ${Object.entries(times).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ')})`);
console.log(`ParallelSession ${devices.join(',')} vs one single-thread session, throughput: ${speedup.toFixed(2)}x (target >= 1.50x) ${speedup >= 1.5 ? 'OK' : 'UNDER'}`);
console.log(`ParallelSession ${devices.join(',')} vs one 2-thread session, time: ${vsTwo.toFixed(2)}x (target <= 1.10x) ${vsTwo <= 1.1 ? 'OK' : 'OVER'}`);
console.log(`bare worker pool (${devices.length} workers) vs one single-thread session, throughput: ${median(ratios.poolSpeedup).toFixed(2)}x (reference for this machine now)`);
console.log(`of which: ParallelSession on one device vs a bare single worker ${(median(ratios.overBareOne) * 100).toFixed(1)}%, a bare single worker vs the plain session ${(median(ratios.threadCost) * 100).toFixed(1)}%`);
console.log(`ParallelSession on one device vs plain session, overhead: ${(overhead * 100).toFixed(1)}% (target <= 3%) ${overhead <= 0.03 ? 'OK' : 'OVER'}`);
