/** Option builders shared by the commands. */
import type { Argv } from 'yargs';

export const modelArgument = <T>(yargs: Argv<T>) =>
  yargs.positional('model', { type: 'string', demandOption: true, describe: 'path of the .onnx model' });

export const jsonOption = <T>(yargs: Argv<T>) =>
  yargs.option('json', { type: 'boolean', default: false, describe: 'print a machine-readable report on stdout' });
