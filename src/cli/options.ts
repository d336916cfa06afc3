/** Option builders shared by the commands, and their conversion to library options. */
import type { Argv } from 'yargs';
import { InputError } from '../errors.js';
import type { ParallelSessionOptions } from '../runtime/parallel-session.js';
import { gpuDevices } from '../transform/options.js';
import { parseAxes, parseCombine, parseDevices, parseWeights } from './parse.js';

export const modelArgument = <T>(yargs: Argv<T>) =>
  yargs.positional('model', { type: 'string', demandOption: true, describe: 'path of the .onnx model' });

export const jsonOption = <T>(yargs: Argv<T>) =>
  yargs.option('json', { type: 'boolean', default: false, describe: 'print a machine-readable report on stdout' });

export interface PlacementArgs {
  gpus?: number;
  devices?: string[];
  weights?: string;
  axis?: string[];
  combine?: string[];
}

/** --gpus/--devices, --weights, --axis, --combine: where replicas run and how the batch is cut and joined. */
export const placementOptions = <T>(yargs: Argv<T>) =>
  yargs
    .option('gpus', { type: 'number', describe: 'number of GPUs: replicas on cuda:0 .. cuda:N-1' })
    .option('devices', { type: 'string', array: true, describe: 'devices instead of --gpus, e.g. cuda:0,cuda:2 or cpu (repeatable)' })
    .option('weights', { type: 'string', describe: 'share of the batch per device, e.g. 2,1 (balanced by default)' })
    .option('axis', { type: 'string', array: true, describe: 'batch axis of an input or output: NAME=K, or NAME=none (repeatable)' })
    .option('combine', { type: 'string', array: true, describe: 'how to join an output without batch axis: NAME=first|sum|mean|max|stack' });

/** The devices of --gpus or --devices; `required` when the command cannot do without them. */
export function devicesFromArgs(args: PlacementArgs, required: boolean): string[] | undefined {
  if (args.gpus !== undefined && args.devices !== undefined) throw new InputError('give exactly one of --gpus N or --devices LIST');
  if (args.gpus === undefined && args.devices === undefined) {
    if (required) throw new InputError('give exactly one of --gpus N or --devices LIST');
    return undefined;
  }
  return args.gpus !== undefined ? gpuDevices(args.gpus) : parseDevices(args.devices);
}

export interface SessionArgs extends PlacementArgs {
  'max-batch-per-device'?: number;
}

export const sessionOptions = <T>(yargs: Argv<T>) =>
  placementOptions(yargs).option('max-batch-per-device', { type: 'number', describe: 'run each device share in micro-batches of at most this many rows' });

/** ParallelSession options from the command line (devices may come from a rewritten model's tags). */
export function sessionFromArgs(args: SessionArgs): ParallelSessionOptions {
  const devices = devicesFromArgs(args, false);
  const weights = parseWeights(args.weights);
  const axes = args.axis === undefined ? undefined : parseAxes(args.axis);
  const combine = args.combine === undefined ? undefined : parseCombine(args.combine);
  const maxBatch = args['max-batch-per-device'];
  if (maxBatch !== undefined && (!Number.isInteger(maxBatch) || maxBatch < 1)) throw new InputError(`--max-batch-per-device must be a whole number >= 1 (got ${maxBatch})`);
  return {
    ...(devices === undefined ? {} : { devices }),
    ...(weights === undefined ? {} : { weights }),
    ...(axes === undefined ? {} : { axes }),
    ...(combine === undefined ? {} : { combine }),
    ...(maxBatch === undefined ? {} : { maxBatchPerDevice: maxBatch }),
  };
}
