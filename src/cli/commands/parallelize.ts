import type { Argv, CommandModule } from 'yargs';
import { parallelizeFile, type ParallelizeFileResult } from '../../parallelize-file.js';
import { EXIT_VERIFY_FAILED } from '../exit.js';
import { devicesFromArgs, jsonOption, modelArgument, placementOptions, type PlacementArgs } from '../options.js';
import { parseAxes, parseCombine, parseFiles, parseWeights } from '../parse.js';

interface ParallelizeArgs extends PlacementArgs {
  model: string;
  'ir-version'?: number;
  output?: string;
  verify: boolean;
  'verify-input'?: string[];
  'copy-external-data': boolean;
  json: boolean;
  quiet: boolean;
}

function describe(result: ParallelizeFileResult, input: string): string {
  const { report, verify } = result;
  const lines = [`${input} -> ${result.written ? result.output : '(nothing written)'}: ${report.devices.length} replicas on ${report.devices.join(', ')}, IR ${report.irVersion}`];
  for (const note of report.notes) lines.push(`note: ${note}`);
  for (const i of report.inputs) lines.push(i.axis === null ? `input  ${i.name}: fed whole to every replica (${i.reason})` : `input  ${i.name}: split on axis ${i.axis}, ${i.split} (${i.reason})`);
  for (const o of report.outputs) lines.push(o.combine !== null ? `output ${o.name}: combined with ${o.combine}` : `output ${o.name}: concatenated on axis ${o.axis} (${o.reason})`);
  if (verify !== undefined) {
    const oneReplica = (sizes: number[]): boolean => sizes.length > 1 && sizes.filter((size) => size > 0).length === 1;
    const batches = verify.runs.map((r) => `${r.batch}${r.status !== 'passed' ? ` (${r.status})` : oneReplica(r.sizes) ? ' (one replica)' : ''}`).join(', ');
    const errors = `max abs error ${verify.maxAbsError.toExponential(2)}, max rel error ${verify.maxRelError.toExponential(2)}`;
    if (verify.status === 'not-verifiable') lines.push(`verify: not verified: ${verify.reason}${batches === '' ? '' : `\n  batches tried: ${batches}`}`);
    else lines.push(`verify: ${verify.status} at batch ${batches}; ${errors}${verify.reason === undefined ? '' : `\n  ${verify.reason}`}`);
    if (verify.suspects !== undefined) lines.push(`  operators that can mix the samples of a batch: ${verify.suspects.join(', ')}`);
  }
  return lines.join('\n');
}

export const parallelizeCommand: CommandModule<object, ParallelizeArgs> = {
  command: '$0 <model>',
  describe: 'Rewrite MODEL into device-tagged data-parallel replicas (writes <stem>.parallel.onnx)',
  builder: (yargs) =>
    placementOptions(jsonOption(modelArgument(yargs as Argv<object>)))
      .option('ir-version', { type: 'number', describe: '11: IR 11 device annotations (default); 10: metadata_props only; lower: names only' })
      .option('output', { alias: 'o', type: 'string', describe: 'output path' })
      .option('verify', { type: 'boolean', default: false, describe: 'run original and rewritten models on the CPU and compare every output (exit 1 on a mismatch or when nothing split over replicas could be compared)' })
      .option('verify-input', { type: 'string', array: true, describe: 'real input for --verify: NAME=file.npy (repeatable)' })
      .option('copy-external-data', { type: 'boolean', default: false, describe: 'copy external-data files next to the output' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print nothing on success' })
      .example('$0 model.onnx --gpus 2', 'two replicas on cuda:0 and cuda:1, written to model.parallel.onnx')
      .example('$0 model.onnx --devices cuda:0,cuda:1 --weights 2,1 --verify', 'a 2:1 split for unequal GPUs, verified on the CPU')
      .example('$0 rnn.onnx --gpus 2 --axis state=1 --axis new_state=1', 'recurrent state with the batch on axis 1')
      .example('$0 model.onnx --gpus 4 --combine loss=mean -o out/model4.onnx', 'an output without batch axis, averaged') as unknown as Argv<ParallelizeArgs>,
  handler: async (args) => {
    const devices = (await devicesFromArgs(args, true, { allowed: false, reason: 'the rewrite writes a fixed number of replicas, for this machine or another; give --gpus N (onnx-parallelize devices counts the GPUs here)' }))!;
    const weights = parseWeights(args.weights);
    const verifyInputs = args['verify-input'] === undefined ? undefined : parseFiles('verify-input', args['verify-input']);
    const result = await parallelizeFile(args.model, {
      devices,
      ...(weights === undefined ? {} : { weights }),
      axes: parseAxes(args.axis),
      combine: parseCombine(args.combine),
      ...(args['ir-version'] === undefined ? {} : { irVersion: args['ir-version'] }),
      ...(args.output === undefined ? {} : { output: args.output }),
      verify: args.verify,
      ...(verifyInputs === undefined ? {} : { verifyInputs }),
      copyExternalData: args['copy-external-data'],
    });
    const unverified = result.verify !== undefined && !result.verify.verified;
    if (args.json) process.stdout.write(`${JSON.stringify({ output: result.output, written: result.written, verified: result.verify?.verified ?? false, ...result.report, verify: result.verify ?? null }, null, 2)}\n`);
    else if (!args.quiet || unverified) process.stdout.write(`${describe(result, args.model)}\n`);
    if (unverified) process.exitCode = EXIT_VERIFY_FAILED;
  },
};
