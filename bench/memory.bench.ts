/**
 * Memory benchmark: a plain single-thread InferenceSession against ParallelSession on 1, 2 and 3 CPU devices
 * (and, with BENCH_CUDA=1 or --cuda on a machine with the CUDA provider, on cuda:0 and cuda:0,cuda:0), on the
 * generated 315 MB model (75 MatMul layers of 1024x1024 float32).
 *
 * Each contender runs in its own child process (this file, re-run with BENCH_MEMORY_CHILD set), which creates
 * the session from the model's path, runs it once at batch 8, waits 1.5 s and reports:
 *  - steady RSS: VmRSS from /proc/self/status (all threads: the device workers' sessions included);
 *  - peak while creating: VmHWM read as soon as create resolves (the high-water mark cannot be reset, so it is
 *    read before the run);
 *  - the main thread's process.memoryUsage().arrayBuffers after create and after the run (after a full GC:
 *    what is kept, not garbage waiting to be collected);
 *  - creation time.
 * Each figure is the median of BENCH_REPEATS (5) processes per contender.
 * Targets: one device steady RSS <= 1.15x plain; two devices <= 1.25x (they share one copy of the weights);
 * arrayBuffers after create <= 10 MiB;
 * peak while creating <= 1.3x the steady RSS, with two devices.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { missingCudaProvider } from '../src/runtime/gpu/providers.js';
import { largeModel, median } from './harness.js';

const MiB = 1 << 20;
const width = 1024;
const batch = 8;
const settleMs = 1500;
const repeats = Number(process.env['BENCH_REPEATS'] ?? 5);

interface Contender {
  name: string;
  /** ParallelSession's devices; none for the plain session. */
  devices?: string[];
}

interface ChildReport {
  createMs: number;
  /** VmHWM right after create resolved. */
  createPeak: number;
  /** VmRSS and VmHWM 1.5 s after the run; process.memoryUsage().rss at the same time. */
  steadyRss: number;
  steadyPeak: number;
  nodeRss: number;
  arrayBuffersAfterCreate: number;
  arrayBuffersAfterRun: number;
}

/** VmRSS and VmHWM of this process, in bytes. */
function procStatus(): { rss: number; hwm: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

const collect = (): void => (globalThis as { gc?: () => void }).gc?.();

async function child(contender: Contender, file: string): Promise<ChildReport> {
  const x = new ort.Tensor('float32', new Float32Array(batch * width).fill(0.5), [batch, width]);
  const start = performance.now();
  const session = contender.devices === undefined
    ? await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 })
    : await ParallelSession.create(file, { devices: contender.devices });
  const createMs = performance.now() - start;
  const createPeak = procStatus().hwm;
  collect();
  const arrayBuffersAfterCreate = process.memoryUsage().arrayBuffers;
  await session.run({ x });
  collect();
  const arrayBuffersAfterRun = process.memoryUsage().arrayBuffers;
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const steady = procStatus();
  const nodeRss = process.memoryUsage().rss;
  await session.release();
  return { createMs, createPeak, steadyRss: steady.rss, steadyPeak: steady.hwm, nodeRss, arrayBuffersAfterCreate, arrayBuffersAfterRun };
}

const childContender = process.env['BENCH_MEMORY_CHILD'];
if (childContender !== undefined) {
  const report = await child(JSON.parse(childContender) as Contender, process.argv[2]!);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

function measure(contender: Contender, file: string): ChildReport | string {
  const result = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), file], {
    env: { ...process.env, BENCH_MEMORY_CHILD: JSON.stringify(contender) },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (result.status !== 0) return `failed: ${(result.stderr || result.error?.message || '').trim().split('\n').pop()}`;
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as ChildReport;
}

const withCuda = process.env['BENCH_CUDA'] === '1' || process.argv.includes('--cuda');
const contenders: Contender[] = [
  { name: 'plain InferenceSession (1 thread)' },
  { name: 'ParallelSession cpu', devices: ['cpu'] },
  { name: 'ParallelSession cpu,cpu', devices: ['cpu', 'cpu'] },
  { name: 'ParallelSession cpu,cpu,cpu', devices: ['cpu', 'cpu', 'cpu'] },
];
const notes: string[] = [];
if (withCuda) {
  const missing = missingCudaProvider();
  if (missing === undefined) contenders.push({ name: 'ParallelSession cuda:0', devices: ['cuda:0'] }, { name: 'ParallelSession cuda:0,cuda:0', devices: ['cuda:0', 'cuda:0'] });
  else notes.push(`cuda:0 and cuda:0,cuda:0 skipped: ${missing}`);
} else {
  notes.push('cuda:0 and cuda:0,cuda:0 not measured (set BENCH_CUDA=1 or pass --cuda on a machine with the CUDA provider)');
}

const file = await largeModel();
/**
 * Every measure is the median of `repeats` processes per contender, taken in rounds over all contenders: the RSS
 * of the same process varies by up to 20% from one start to the next (whether the allocator hands the memory
 * freed while loading back to the system), and creation times follow the machine's load.
 */
const runs = new Map<string, ChildReport[]>(contenders.map((c) => [c.name, []]));
const failures = new Map<string, string>();
for (let round = 0; round < repeats; round++) {
  for (const contender of contenders) {
    if (failures.has(contender.name)) continue;
    const r = measure(contender, file);
    if (typeof r === 'string') failures.set(contender.name, r);
    else runs.get(contender.name)!.push(r);
  }
}
const medianReport = (reports: ChildReport[]): ChildReport =>
  Object.fromEntries(Object.keys(reports[0]!).map((key) => [key, median(reports.map((r) => r[key as keyof ChildReport]))])) as unknown as ChildReport;
const results = new Map<string, ChildReport | string>(contenders.map((c) => [c.name, failures.get(c.name) ?? medianReport(runs.get(c.name)!)]));
const rssRange = (name: string): string => {
  const rss = (runs.get(name) ?? []).map((r) => r.steadyRss / MiB);
  return rss.length === 0 ? '' : `${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)}`;
};

const plain = results.get(contenders[0]!.name);
if (typeof plain !== 'object') throw new Error(`the plain session ${plain ?? 'did not run'}`);
const mib = (bytes: number): string => (bytes / MiB).toFixed(0);
const rows = [['contender', 'create ms', 'x plain', 'peak creating MiB', 'steady RSS MiB', '(range)', 'x plain', 'main arrayBuffers MiB after create / run']];
for (const contender of contenders) {
  const r = results.get(contender.name)!;
  if (typeof r === 'string') {
    rows.push([contender.name, r, '', '', '', '', '', '']);
    continue;
  }
  rows.push([
    contender.name,
    r.createMs.toFixed(0),
    `${(r.createMs / plain.createMs).toFixed(2)}x`,
    mib(r.createPeak),
    mib(r.steadyRss),
    rssRange(contender.name),
    `${(r.steadyRss / plain.steadyRss).toFixed(2)}x`,
    `${(r.arrayBuffersAfterCreate / MiB).toFixed(1)} / ${(r.arrayBuffersAfterRun / MiB).toFixed(1)}`,
  ]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, onnxruntime-node ${ort.env.versions.node}`);
console.log(`model: 75 MatMul layers of 1024x1024 float32 (${file}); each contender in its own process: create, run once at batch ${batch}, wait ${settleMs} ms; medians of ${repeats} processes each`);
for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
for (const note of notes) console.log(note);

const verdict = (name: string, value: number | undefined, limit: number, unit: string, what: string): void => {
  if (value === undefined) {
    console.log(`${what}: not measured (${name} failed)`);
    return;
  }
  const shown = unit === 'x' ? `${value.toFixed(2)}x` : `${value.toFixed(1)} ${unit}`;
  console.log(`${what}: ${shown} (target <= ${unit === 'x' ? `${limit.toFixed(2)}x` : `${limit} ${unit}`}) ${value <= limit ? 'OK' : 'OVER'}`);
};
const of = (name: string): ChildReport | undefined => {
  const r = results.get(name);
  return typeof r === 'string' ? undefined : r;
};
const one = of('ParallelSession cpu');
const two = of('ParallelSession cpu,cpu');
verdict('ParallelSession cpu', one && one.steadyRss / plain.steadyRss, 1.15, 'x', 'one cpu device, steady RSS / plain');
verdict('ParallelSession cpu,cpu', two && two.steadyRss / plain.steadyRss, 1.25, 'x', 'two cpu devices, steady RSS / plain');
const parallelRuns = contenders.filter((c) => c.devices !== undefined).map((c) => of(c.name));
const mostArrayBuffers = parallelRuns.every((r) => r !== undefined) ? Math.max(...parallelRuns.map((r) => r!.arrayBuffersAfterCreate)) / MiB : undefined;
verdict('a ParallelSession', mostArrayBuffers, 10, 'MiB', 'ParallelSession, main-thread arrayBuffers after create (the most of all device sets)');
verdict('ParallelSession cpu,cpu', two && two.createPeak / two.steadyRss, 1.3, 'x', 'two cpu devices, peak while creating / steady RSS');
