#!/usr/bin/env node
/** The command line: parses arguments and calls the library. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { inspectCommand } from './commands/inspect.js';
import { parallelizeCommand } from './commands/parallelize.js';
import { runCommand } from './commands/run.js';
import { benchCommand } from './commands/bench.js';
import { tritonCommand } from './commands/triton.js';
import { serveCommand } from './commands/serve.js';
import { devicesCommand } from './commands/devices.js';
import { EXIT_BAD_INPUT, fail } from './exit.js';

const commandNames = [inspectCommand, runCommand, benchCommand, tritonCommand, serveCommand, devicesCommand].map((c) => String(c.command).split(' ')[0]!);

/** The command of `argv` followed by a space, or '' for the rewrite: where its --help is. */
const commandOf = (argv: string[]): string => (argv[0] !== undefined && commandNames.includes(argv[0]) ? `${argv[0]} ` : '');

/** yargs' "Unknown arguments: o, max-batchx, maxBatchx" with the options as typed, once each: "-o, --max-batchx". */
const asWritten = (message: string): string =>
  message.replace(/^(Unknown arguments?: )(.*)$/, (_, head: string, names: string) => {
    const typed = new Set(names.split(', ').map((n) => (n.length === 1 ? `-${n}` : `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)));
    return (typed.size === 1 ? 'Unknown argument: ' : head) + [...typed].join(', ');
  });

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('onnx-parallelize')
    .command(inspectCommand)
    .command(runCommand)
    .command(benchCommand)
    .command(tritonCommand)
    .command(serveCommand)
    .command(devicesCommand)
    .command(parallelizeCommand)
    .demandCommand(1, 'give a command or a model; see --help')
    .option('verbose', { type: 'boolean', default: false, describe: "on a device failure, also print onnxruntime's own message" })
    .strict()
    .fail((message, error) => {
      if (error !== undefined && error !== null) fail(error);
      process.stderr.write(`onnx-parallelize: ${asWritten(message)}\n(see onnx-parallelize ${commandOf(argv)}--help)\n`);
      process.exit(EXIT_BAD_INPUT);
    })
    .help()
    .version()
    .parseAsync();
}

main(hideBin(process.argv)).catch(fail);
