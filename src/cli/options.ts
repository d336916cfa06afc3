/** Option builders shared by the commands, and their conversion to library options. */
import type { Argv } from 'yargs';
import { ArgumentError, InputError } from '../errors.js';
import { describeGpus, gpuInventory, missingGpuMessage } from '../runtime/gpu/gpus.js';
import type { ParallelSessionOptions } from '../runtime/session/parallel-session.js';
import { gpuDevices } from '../transform/options.js';
import { parseAxes, parseCombine, parseCudaOptions, parseDevices, parseGpus, parseWeights, type CudaOptionArgs } from './parse.js';

export const modelArgument = <T>(yargs: Argv<T>) =>
  yargs.positional('model', { type: 'string', demandOption: true, describe: 'path of the .onnx model' });

export const jsonOption = <T>(yargs: Argv<T>) =>
  yargs.option('json', { type: 'boolean', default: false, describe: 'print a machine-readable report on stdout' });

export interface PlacementArgs {
  gpus?: string;
  devices?: string[];
  weights?: string;
  axis?: string[];
  combine?: string[];
}

/** --gpus/--devices, --weights, --axis, --combine: where replicas run and how the batch is cut and joined. */
export const placementOptions = <T>(yargs: Argv<T>) =>
  yargs
    .option('gpus', { type: 'string', describe: "number of GPUs: replicas on cuda:0 .. cuda:N-1; 'all': every GPU found" })
    .option('devices', { type: 'string', array: true, describe: 'devices instead of --gpus, e.g. cuda:0,cuda:2 or cpu (repeatable)' })
    .option('weights', { type: 'string', describe: 'share of the batch per device, e.g. 2,1 (balanced by default)' })
    .option('axis', { type: 'string', array: true, describe: 'batch axis of an input or output: NAME=K, or NAME=none (repeatable)' })
    .option('combine', { type: 'string', array: true, describe: 'how to join an output without batch axis: NAME=first|sum|mean|max|stack' });

/**
 * The devices of --gpus or --devices; `required` when the command cannot do without them. `--gpus all` is every GPU
 * CUDA sees here (refused where `all` is 'not allowed', with the reason).
 */
export async function devicesFromArgs(args: PlacementArgs, required: boolean, all: { allowed: true } | { allowed: false; reason: string } = { allowed: true }): Promise<string[] | undefined> {
  if (args.gpus !== undefined && args.devices !== undefined) throw new InputError('give exactly one of --gpus N or --devices LIST');
  if (args.gpus === undefined && args.devices === undefined) {
    if (required) throw new InputError('give exactly one of --gpus N or --devices LIST');
    return undefined;
  }
  if (args.gpus === undefined) return parseDevices(args.devices);
  const gpus = parseGpus(args.gpus);
  if (gpus !== 'all') return gpuDevices(gpus);
  if (!all.allowed) throw new InputError(`--gpus all: ${all.reason}`);
  const inventory = await gpuInventory();
  if (!inventory.counted) throw new InputError(`--gpus all: this machine's GPUs cannot be counted (${inventory.notes[0] ?? 'nothing could be read'}); give --gpus N or --devices LIST`);
  if (inventory.gpus.length === 0) throw new InputError(`--gpus all: this machine has ${describeGpus(inventory)}; give --devices cpu, or --gpus N for another machine`);
  return inventory.gpus.map((g) => `cuda:${g.index}`);
}

/** The option that chose `devices`, for messages: `--gpus 4`, `--devices cuda:0,cuda:7`. */
export function devicesLabel(args: PlacementArgs): string {
  return args.gpus !== undefined ? `--gpus ${args.gpus}` : `--devices ${(parseDevices(args.devices) ?? []).join(',')}`;
}

/** A one-line reason when some of `devices` (from `args`) are GPUs this machine does not have; undefined when all exist or they cannot be counted. */
export async function missingDevices(args: PlacementArgs, devices: readonly string[] | undefined): Promise<string | undefined> {
  if (devices === undefined || !devices.some((d) => d.startsWith('cuda:'))) return undefined;
  return missingGpuMessage(devicesLabel(args), devices, await gpuInventory());
}

export interface CudaArgs {
  'cuda-option'?: string[];
}

/** --cuda-option KEY=VALUE[@cuda:K]: CUDA provider options for every CUDA device, or one. */
export const cudaOptions = <T>(yargs: Argv<T>) =>
  yargs.option('cuda-option', {
    type: 'string',
    array: true,
    describe: 'a CUDA provider option for every CUDA device (KEY=VALUE) or one (KEY=VALUE@cuda:K), e.g. gpu_mem_limit=8GiB@cuda:1 (repeatable)',
  });

export function cudaOptionsFromArgs(args: CudaArgs): CudaOptionArgs {
  return parseCudaOptions(args['cuda-option']);
}

export interface SessionArgs extends PlacementArgs, CudaArgs {
  'max-batch-per-device'?: number;
}

export const sessionOptions = <T>(yargs: Argv<T>) =>
  cudaOptions(placementOptions(yargs)).option('max-batch-per-device', { type: 'number', describe: 'run each device share in micro-batches of at most this many rows' });

/**
 * ParallelSession options from the command line (devices may come from a rewritten model's tags). A GPU this
 * machine does not have is refused here, naming the option.
 */
export async function sessionFromArgs(args: SessionArgs): Promise<ParallelSessionOptions> {
  const devices = await devicesFromArgs(args, false);
  const missing = await missingDevices(args, devices);
  if (missing !== undefined) throw new ArgumentError(missing);
  const cuda = cudaOptionsFromArgs(args);
  if (devices !== undefined && args['cuda-option'] !== undefined && !devices.some((d) => d.startsWith('cuda:'))) {
    throw new InputError(`--cuda-option ${args['cuda-option'][0]}: CUDA options apply to cuda:K devices, and the devices given are ${devices.join(', ')}`);
  }
  for (const device of Object.keys(cuda.perDevice)) {
    const entry = args['cuda-option']?.find((v) => v.trim().endsWith(`@${device}`)) ?? `...@${device}`;
    if (devices !== undefined && !devices.includes(device)) throw new InputError(`--cuda-option ${entry}: ${device} is not one of the devices given (${devices.join(', ')})`);
  }
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
    ...(Object.keys(cuda.all).length === 0 ? {} : { sessionOptions: { executionProviders: [{ name: 'cuda', ...cuda.all }] } }),
    ...(Object.keys(cuda.perDevice).length === 0 ? {} : { deviceOptions: cuda.perDevice }),
  };
}

/** The devices a plain model was given when none were named, said on stderr (stdout stays the report). */
export function noteDevices(note: string | undefined): void {
  if (note !== undefined) process.stderr.write(`onnx-parallelize: ${note}\n`);
}
