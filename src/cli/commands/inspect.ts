import type { Argv, CommandModule } from 'yargs';
import { loadModel } from '../../io/files.js';
import { formatInspectReport, inspectModel } from '../../inspect.js';
import { jsonOption, modelArgument } from '../options.js';

interface InspectArgs {
  model: string;
  json: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <model>',
  describe: 'Summarize a model: IR version, opsets, inputs and outputs, nodes, weights, subgraphs, device tags',
  builder: (yargs) =>
    jsonOption(modelArgument(yargs as Argv<object>)).example('$0 inspect model.onnx --json', 'machine-readable summary') as unknown as Argv<InspectArgs>,
  handler: async (args) => {
    const report = inspectModel(await loadModel(args.model));
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspectReport(args.model, report)}\n`);
  },
};
