import type { Argv, CommandModule } from 'yargs';
import { jsonOption, modelArgument, noteDevices, sessionFromArgs, sessionOptions, type SessionArgs } from '../options.js';
import { parseFiles } from '../parse.js';

interface RunArgs extends SessionArgs {
  model: string;
  input?: string[];
  output: string;
  json: boolean;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <model>',
  describe: 'Run MODEL on several devices at once on .npy inputs; write the outputs as .npy files',
  builder: (yargs) =>
    sessionOptions(jsonOption(modelArgument(yargs as Argv<object>)))
      .option('input', { alias: 'i', type: 'string', array: true, describe: 'an input: NAME=file.npy (repeatable)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'folder for the outputs (NAME.npy)' })
      .example('$0 run model.parallel.onnx --input x=batch.npy -o out/', 'on the devices the rewritten model is tagged with')
      .example('$0 run model.onnx --devices cpu,cpu --input x=batch.npy -o out/', 'a plain model, parallelized on the fly') as unknown as Argv<RunArgs>,
  handler: async (args) => {
    const { runFiles } = await import('../../runtime/session/run-files.js'); // loads onnxruntime only for this command
    const result = await runFiles(args.model, parseFiles('input', args.input), args.output, await sessionFromArgs(args));
    noteDevices(result.deviceNote);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const lines = [`ran on ${result.devices.join(', ')} in ${result.milliseconds.toFixed(1)} ms`];
    for (const o of result.outputs) lines.push(`${o.name}: ${o.type} [${o.dims.join(', ')}] -> ${o.file}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
