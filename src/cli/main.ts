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
      process.stderr.write(`onnx-parallelize: ${message}\n(see onnx-parallelize --help)\n`);
      process.exit(EXIT_BAD_INPUT);
    })
    .help()
    .version()
    .parseAsync();
}

main(hideBin(process.argv)).catch(fail);
