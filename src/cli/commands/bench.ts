import type { Argv, CommandModule } from 'yargs';
import { InputError } from '../../errors.js';
import type { BenchReport, DeviceTiming, LoadReport } from '../../runtime/load/benchmark.js';
import type { LoadSummary } from '../../runtime/load/load-generator.js';
import { jsonOption, modelArgument, noteDevices, sessionFromArgs, sessionOptions, type SessionArgs } from '../options.js';
import { progressBar } from '../progress.js';

interface BenchArgs extends SessionArgs {
  model: string;
  batch?: number;
  runs?: number;
  concurrency?: string | string[];
  duration?: number;
  'shared-inputs': boolean;
  'shared-outputs': boolean;
  json: boolean;
}

const DEFAULT_RUNS = 20;
const DEFAULT_DURATION_S = 5;

/** A right-aligned table; the first column left-aligned. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

function batchTable(report: BenchReport): string {
  const lines = table([
    ['', 'devices', 'samples/s', 'p50 ms', 'p95 ms'],
    ['single session', report.single.device, report.single.throughput.toFixed(1), report.single.p50.toFixed(2), report.single.p95.toFixed(2)],
    ['ParallelSession', report.devices.join(','), report.parallel.throughput.toFixed(1), report.parallel.p50.toFixed(2), report.parallel.p95.toFixed(2)],
  ]);
  lines.push(`speed-up ${report.speedup.toFixed(2)}x on ${report.devices.length} devices, scaling efficiency ${(report.efficiency * 100).toFixed(0)}% (batch ${report.batch}, ${report.runs} runs each, interleaved${report.sharedInputs ? ', ParallelSession fed inputs on shared memory' : ''}${report.sharedOutputs ? ', outputs written in place' : ''})`);
  lines.push('', 'where ParallelSession\'s time went (medians; inputs and outputs: means per run):');
  lines.push(...deviceTimes(report.timing).map((line) => `  ${line}`));
  lines.push(`  added by ParallelSession: ${report.addedMs.toFixed(2)} ms a run (its p50 less the longest median time inside onnxruntime)`);
  return lines.join('\n');
}

/**
 * Per device: the median time inside onnxruntime's run() and the median round trip, their difference, and the
 * worker's mean time on a run's inputs and outputs, its part of it (the rest is the main thread's, and the messages).
 */
function deviceTimes(timing: DeviceTiming[]): string[] {
  const ms = (value: number | undefined): string => value?.toFixed(2) ?? '-';
  return table([
    ['device', 'run() ms', 'round trip ms', 'difference ms', 'of which inputs ms', 'outputs ms'],
    ...timing.map((t, i) => {
      const known = t.runMs !== undefined && t.roundTripMs !== undefined;
      return [`${i} (${t.device})`, ms(t.runMs), ms(t.roundTripMs), known ? (t.roundTripMs! - t.runMs!).toFixed(2) : '-', ms(t.inputMs), ms(t.outputMs)];
    }),
  ]);
}

const usec = (ms: number): string => (ms * 1000).toFixed(0);
const rate = (value: number): string => value.toFixed(value >= 100 ? 0 : 1);
const measured = (s: LoadSummary): string =>
  `throughput: ${rate(s.throughput)} infer/sec, ${rate(s.rowsPerSecond)} rows/sec, latency p50 ${usec(s.p50)} usec, p95 ${usec(s.p95)} usec, p99 ${usec(s.p99)} usec (${s.requests} requests)`;

/** The load report, laid out like perf_analyzer's. */
function loadText(report: LoadReport): string {
  const lines = [
    '*** Measurement Settings ***',
    `  Batch size: ${report.batch}`,
    `  Closed loop: C requests outstanding, each finished one issuing the next; ${report.duration} s per contender per concurrency level, in halves timed plain, ParallelSession, ParallelSession, plain`,
    `  plain session: one InferenceSession on ${report.device} (concurrent run() calls run one after another)`,
    `  ParallelSession: ${report.devices.join(', ')}`,
  ];
  for (const level of report.levels) {
    lines.push('', `Concurrency: ${level.concurrency}`);
    lines.push(`  plain session:    ${measured(level.plain)}`);
    lines.push(`  ParallelSession:  ${measured(level.parallel)}`);
    lines.push(`  ParallelSession / plain session: throughput ${level.speedup.toFixed(2)}x, p99 latency ${level.p99Ratio.toFixed(2)}x`);
    level.stats.devices.forEach((d, i) => {
      const perBatch = d.batches > 0 ? (d.rows / d.batches).toFixed(1) : '0';
      const busy = level.parallel.elapsedMs > 0 ? ((d.busyMs / level.parallel.elapsedMs) * 100).toFixed(0) : '0';
      lines.push(`  device ${i} (${d.device}): ${d.requests} requests, ${d.rows} rows in ${d.batches} batches (${perBatch} rows/batch), busy ${d.busyMs.toFixed(0)} ms (${busy}%)`);
      lines.push(`    most run batch sizes: ${commonBatchSizes(d.batchSizes)}`);
      if (d.medianRunMs !== undefined) lines.push(`    median run() ${usec(d.medianRunMs)} usec, round trip ${usec(d.medianRoundTripMs!)} usec`);
    });
    lines.push(`  scheduler: ${level.stats.queued} queued at the end, ${level.stats.rejected} rejected`);
  }
  lines.push('', 'Inferences/Second vs. Client p99 Latency');
  lines.push(
    ...table([
      ['Concurrency', 'plain infer/sec', 'plain p99 usec', 'ParallelSession infer/sec', 'ParallelSession p99 usec', 'speed-up'],
      ...report.levels.map((l) => [String(l.concurrency), rate(l.plain.throughput), usec(l.plain.p99), rate(l.parallel.throughput), usec(l.parallel.p99), `${l.speedup.toFixed(2)}x`]),
    ]),
  );
  return lines.join('\n');
}

/** The batch sizes run most often, as `rows x runs`: `32 x 120, 31 x 4`. */
function commonBatchSizes(sizes: Record<number, number>): string {
  const common = Object.entries(sizes).sort((a, b) => b[1] - a[1]).slice(0, 4);
  return common.length === 0 ? 'none' : common.map(([rows, runs]) => `${rows} x ${runs}`).join(', ');
}

/** The most requests outstanding at once that bench drives (each is a client of the closed loop). */
const MAX_CONCURRENCY = 100_000;

/** --concurrency 16, or a list: 1,4,16,64 (the option may also be repeated). */
function parseConcurrency(value: string | string[]): number[] {
  const text = [value].flat().join(',');
  const levels = text.split(',').map((part) => part.trim());
  if (levels.some((part) => !/^\d+$/.test(part) || Number(part) < 1 || Number(part) > MAX_CONCURRENCY)) {
    throw new InputError(`--concurrency ${text}: expected whole numbers from 1 to ${MAX_CONCURRENCY}, one level or a list such as 1,4,16,64`);
  }
  return levels.map(Number);
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench <model>',
  describe: 'Throughput and latency of one plain session on one device against ParallelSession on all devices',
  builder: (yargs) =>
    sessionOptions(jsonOption(modelArgument(yargs as Argv<object>)))
      .option('batch', { alias: 'b', type: 'number', describe: 'rows of every run (required for one batch at a time; 1 by default under --concurrency/--duration)' })
      .option('runs', { alias: 'r', type: 'number', describe: `timed runs of each contender, one batch at a time (default ${DEFAULT_RUNS})` })
      .option('concurrency', { alias: 'c', type: 'string', describe: 'requests outstanding at once, in a closed loop: one level or a list such as 1,4,16,64' })
      .option('duration', { alias: 'd', type: 'number', describe: `seconds per contender per concurrency level (default ${DEFAULT_DURATION_S})` })
      .option('shared-inputs', { type: 'boolean', default: false, describe: 'feed ParallelSession inputs on shared memory (made by its allocate()), one batch at a time' })
      .option('shared-outputs', { type: 'boolean', default: false, describe: 'have ParallelSession write its outputs into tensors on shared memory (made by its allocateOutput()), one batch at a time' })
      .example('$0 bench model.onnx --devices cuda:0,cuda:1 --batch 64', 'one GPU against two, one batch of 64 at a time')
      .example('$0 bench model.onnx --devices cpu,cpu --concurrency 1,4,16,64 --duration 10', 'a load test of single-row requests, like perf_analyzer') as unknown as Argv<BenchArgs>,
  handler: async (args) => {
    const load = args.concurrency !== undefined || args.duration !== undefined;
    if (args.batch !== undefined && (!Number.isInteger(args.batch) || args.batch < 1)) throw new InputError(`--batch must be a whole number >= 1 (got ${args.batch})`);
    if (args.runs !== undefined && (!Number.isInteger(args.runs) || args.runs < 1)) throw new InputError(`--runs must be a whole number >= 1 (got ${args.runs})`);
    if (args.duration !== undefined && !(Number.isFinite(args.duration) && args.duration > 0)) throw new InputError(`--duration must be a number of seconds > 0 (got ${args.duration})`);
    for (const flag of ['shared-inputs', 'shared-outputs'] as const) {
      if (load && args[flag]) throw new InputError(`--${flag} applies to one batch at a time (--batch), not to --concurrency or --duration`);
    }
    if (load && args.runs !== undefined) throw new InputError('--runs counts the runs of one batch at a time; under --concurrency or --duration give the time with --duration');
    if (!load && args.batch === undefined) throw new InputError('--batch is required (the rows of every run), or give --concurrency and --duration for a load test of single-row requests');
    const concurrency = args.concurrency === undefined ? [1] : parseConcurrency(args.concurrency);
    const session = await sessionFromArgs(args);
    const { benchmark, loadBenchmark } = await import('../../runtime/load/benchmark.js'); // loads onnxruntime only for this command
    const bar = progressBar('bench');
    const progress = (done: number, total: number): void => bar.update(done, total);
    if (load) {
      const report = await loadBenchmark(args.model, { ...session, batch: args.batch ?? 1, concurrency, duration: args.duration ?? DEFAULT_DURATION_S }, progress).finally(() => bar.end());
      noteDevices(report.deviceNote);
      process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${loadText(report)}\n`);
      return;
    }
    const report = await benchmark(args.model, { ...session, batch: args.batch!, runs: args.runs ?? DEFAULT_RUNS, sharedInputs: args['shared-inputs'], sharedOutputs: args['shared-outputs'] }, progress).finally(() => bar.end());
    noteDevices(report.deviceNote);
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${batchTable(report)}\n`);
  },
};
