import type { Argv, CommandModule } from 'yargs';
import { InputError } from '../../errors.js';
import type { BenchReport } from '../../runtime/benchmark.js';
import { jsonOption, modelArgument, sessionFromArgs, sessionOptions, type SessionArgs } from '../options.js';
import { progressBar } from '../progress.js';

interface BenchArgs extends SessionArgs {
  model: string;
  batch: number;
  runs: number;
  json: boolean;
}

function table(report: BenchReport): string {
  const rows = [
    ['', 'devices', 'samples/s', 'p50 ms', 'p95 ms'],
    ['single session', report.single.device, report.single.throughput.toFixed(1), report.single.p50.toFixed(2), report.single.p95.toFixed(2)],
    ['ParallelSession', report.devices.join(','), report.parallel.throughput.toFixed(1), report.parallel.p50.toFixed(2), report.parallel.p95.toFixed(2)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  lines.push(`speed-up ${report.speedup.toFixed(2)}x on ${report.devices.length} devices, scaling efficiency ${(report.efficiency * 100).toFixed(0)}% (batch ${report.batch}, ${report.runs} runs each, interleaved)`);
  return lines.join('\n');
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench <model>',
  describe: 'Throughput and latency of one plain session on one device against ParallelSession on all devices',
  builder: (yargs) =>
    sessionOptions(jsonOption(modelArgument(yargs as Argv<object>)))
      .option('batch', { alias: 'b', type: 'number', demandOption: true, describe: 'batch size of every run' })
      .option('runs', { alias: 'r', type: 'number', default: 20, describe: 'timed runs of each contender' })
      .example('$0 bench model.onnx --devices cuda:0,cuda:1 --batch 64', 'one GPU against two') as unknown as Argv<BenchArgs>,
  handler: async (args) => {
    if (!Number.isInteger(args.batch) || args.batch < 1) throw new InputError(`--batch must be a whole number >= 1 (got ${args.batch})`);
    if (!Number.isInteger(args.runs) || args.runs < 1) throw new InputError(`--runs must be a whole number >= 1 (got ${args.runs})`);
    const { benchmark } = await import('../../runtime/benchmark.js'); // loads onnxruntime only for this command
    const bar = progressBar('bench');
    const report = await benchmark(args.model, { ...sessionFromArgs(args), batch: args.batch, runs: args.runs }, (done, total) => bar.update(done, total)).finally(() => bar.end());
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${table(report)}\n`);
  },
};
