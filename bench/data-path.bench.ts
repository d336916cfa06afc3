/**
 * What ParallelSession adds to a large run, beyond the time its device spends inside onnxruntime's run(): a
 * 1-layer 4096-wide float32 MLP at batch 1024 (16 MB in, 16 MB out) on one CPU device, the caller's time less
 * the device's time inside run() (from stats()), per run, with ordinary inputs, inputs on shared memory
 * (ParallelSession.allocate), and a shared input
 * with the output written in place (allocateOutput, run's `outputs`), so that nothing crosses threads. Each run is
 * preceded by a run of a plain session, as a service's other work would be, and the modes take turns run by
 * run. Prints the medians over BENCH_ROUNDS rounds (default 25), and the plain session's own time for scale.
 * Then the same modes back to back, with no plain run between: what ParallelSession adds by itself, without the
 * collection of the plain session's 16 MB outputs (whose helper threads take both cores of a 2-core machine)
 * landing inside its runs.
 * Targets: at most 1.0 ms with an ordinary input; at most 0.5 ms with a shared input (every Node: onnxruntime reads
 * both where they lie).
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { SeededRandom } from '../src/tensors/random.js';
import { median, mlpModel } from './harness.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 25);
const width = 4096;
const batch = 1024;
const file = await mlpModel(1, width);
const values = new SeededRandom(3).floats(batch * width);
const plain = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const session = await ParallelSession.create(file, { devices: ['cpu'] });
const ordinary = new ort.Tensor('float32', values, [batch, width]);
const shared = session.allocate('x', batch);
(shared.data as Float32Array).set(values);
const output = session.allocateOutput('y', batch);

type Mode = 'ordinary' | 'shared' | 'inPlace';
const modes: Mode[] = ['ordinary', 'shared', 'inPlace'];
const added: Record<Mode, number[]> = { ordinary: [], shared: [], inPlace: [] };
const plainMs: number[] = [];

/** One run of `mode`: the caller's time less the device's time inside onnxruntime's run(). */
async function addedBy(mode: Mode): Promise<number> {
  const feeds = { x: mode === 'shared' || mode === 'inPlace' ? shared : ordinary };
  const busy = session.stats().total.busyMs;
  const start = performance.now();
  await session.run(feeds, mode === 'inPlace' ? { outputs: { y: output } } : {});
  const ms = performance.now() - start;
  return ms - (session.stats().total.busyMs - busy);
}

const alone: Record<Mode, number[]> = { ordinary: [], shared: [], inPlace: [] };
for (const mode of modes) await addedBy(mode); // warm-up
for (let round = 0; round < rounds; round++) {
  for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
    const start = performance.now();
    await plain.run({ x: ordinary });
    plainMs.push(performance.now() - start);
    added[mode].push(await addedBy(mode));
  }
}
for (let round = 0; round < rounds; round++) {
  for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) alone[mode].push(await addedBy(mode));
}
await Promise.all([plain.release(), session.release()]);

const ms = (values: number[]): string => `${median(values).toFixed(2)} ms`;
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}`);
console.log(`1x${width} MLP, batch ${batch} (16 MB in, 16 MB out), one cpu device, ${rounds} rounds; a plain session's run: ${ms(plainMs)}`);
console.log(`added by ParallelSession per run (caller's time less time inside onnxruntime), medians:`);
console.log(`  ordinary input:    ${ms(added.ordinary)} (target <= 1.0 ms) ${median(added.ordinary) <= 1 ? 'OK' : 'OVER'}`);
const sharedTarget = ` (target <= 0.5 ms) ${median(added.shared) <= 0.5 ? 'OK' : 'OVER'}`;
console.log(`  shared input:      ${ms(added.shared)}${sharedTarget}`);
const inPlaceTarget = ` (target <= 0.5 ms) ${median(added.inPlace) <= 0.5 ? 'OK' : 'OVER'}`;
console.log(`  shared input, output in place: ${ms(added.inPlace)}${inPlaceTarget}`);
console.log(`back to back, no plain run between (medians): ordinary ${ms(alone.ordinary)}, shared ${ms(alone.shared)}, shared with output in place ${ms(alone.inPlace)}`);
