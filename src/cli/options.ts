/** Option builders shared by the commands, and their conversion to library options. */
import type { Argv } from 'yargs';
import { ArgumentError, InputError } from '../errors.js';
import { describeGpus, gpuInventory, missingGpuMessage } from '../runtime/gpu/gpus.js';
import type { ParallelSessionOptions } from '../runtime/session/parallel-session.js';
import { gpuDevices } from '../transform/options.js';
import { parseAxes, parseCombine, parseCudaOptions, parseDevices, parseGpus, parseTensorrtOptions, parseWeights, type ProviderOptionArgs } from './parse.js';
import type { DeviceOptions } from '../runtime/gpu/providers.js';

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

export interface ProviderArgs {
  'cuda-option'?: string[];
  tensorrt?: boolean;
  'tensorrt-option'?: string[];
}

/** --cuda-option, --tensorrt, --tensorrt-option: the GPU providers' options, for every CUDA device or one. */
export const providerOptions = <T>(yargs: Argv<T>) =>
  yargs
    .option('cuda-option', {
      type: 'string',
      array: true,
      describe: 'a CUDA provider option for every CUDA device (KEY=VALUE) or one (KEY=VALUE@cuda:K), e.g. gpu_mem_limit=8GiB@cuda:1 (repeatable)',
    })
    .option('tensorrt', { type: 'boolean', describe: 'run TensorRT first on every CUDA device, CUDA taking the nodes it does not (needs the TensorRT provider)' })
    .option('tensorrt-option', {
      type: 'string',
      array: true,
      describe: 'a TensorRT provider option for every CUDA device (KEY=VALUE: TensorRT on all) or one (KEY=VALUE@cuda:K: TensorRT there), e.g. trt_fp16_enable=1 (repeatable)',
    });

export interface ProviderOptionsFromArgs {
  cuda: ProviderOptionArgs;
  tensorrt: ProviderOptionArgs & {
    /** Whether every CUDA device runs TensorRT (--tensorrt, or a --tensorrt-option without @). */
    everyDevice: boolean;
  };
}

export function providerOptionsFromArgs(args: ProviderArgs): ProviderOptionsFromArgs {
  const tensorrt = parseTensorrtOptions(args['tensorrt-option']);
  return { cuda: parseCudaOptions(args['cuda-option']), tensorrt: { ...tensorrt, everyDevice: args.tensorrt === true || Object.keys(tensorrt.all).length > 0 } };
}

/** The session options and per-device options that the provider flags ask for. */
function providerSessionOptions({ cuda, tensorrt }: ProviderOptionsFromArgs): Pick<ParallelSessionOptions, 'sessionOptions' | 'deviceOptions'> {
  const executionProviders = [...(tensorrt.everyDevice ? [{ name: 'tensorrt', ...tensorrt.all }] : []), ...(Object.keys(cuda.all).length === 0 ? [] : [{ name: 'cuda', ...cuda.all }])];
  const devices = [...new Set([...Object.keys(cuda.perDevice), ...Object.keys(tensorrt.perDevice)])];
  const deviceOptions: DeviceOptions = Object.fromEntries(
    devices.map((device) => [device, { ...cuda.perDevice[device], ...(tensorrt.perDevice[device] === undefined ? {} : { tensorrt: tensorrt.perDevice[device] }) }]),
  );
  return {
    ...(executionProviders.length === 0 ? {} : { sessionOptions: { executionProviders } }),
    ...(devices.length === 0 ? {} : { deviceOptions }),
  };
}

/** The flag and entry that gave options for `device`, for messages: `--cuda-option gpu_mem_limit=1GB@cuda:3`. */
function entryFor(args: ProviderArgs, device: string): string {
  for (const flag of ['cuda-option', 'tensorrt-option'] as const) {
    const entry = args[flag]?.find((v) => v.trim().endsWith(`@${device}`));
    if (entry !== undefined) return `--${flag} ${entry}`;
  }
  return `...@${device}`;
}

/** Refuses provider flags that name devices outside `devices`, or that apply to no CUDA device at all. */
function checkProviderDevices(args: ProviderArgs, options: ProviderOptionsFromArgs, devices: readonly string[] | undefined): void {
  if (devices === undefined) return;
  const given = [...(args['cuda-option'] ?? []).map((e) => `--cuda-option ${e}`), ...(args.tensorrt === true ? ['--tensorrt'] : []), ...(args['tensorrt-option'] ?? []).map((e) => `--tensorrt-option ${e}`)];
  if (given.length > 0 && !devices.some((d) => d.startsWith('cuda:'))) {
    throw new InputError(`${given[0]}: GPU provider options apply to cuda:K devices, and the devices given are ${devices.join(', ')}`);
  }
  for (const device of new Set([...Object.keys(options.cuda.perDevice), ...Object.keys(options.tensorrt.perDevice)])) {
    if (!devices.includes(device)) throw new InputError(`${entryFor(args, device)}: ${device} is not one of the devices given (${devices.join(', ')})`);
  }
}

export interface SessionArgs extends PlacementArgs, ProviderArgs {
  'max-batch-per-device'?: number;
}

export const sessionOptions = <T>(yargs: Argv<T>) =>
  providerOptions(placementOptions(yargs)).option('max-batch-per-device', { type: 'number', describe: 'run each device share in micro-batches of at most this many rows' });

/**
 * ParallelSession options from the command line (devices may come from a rewritten model's tags). A GPU this
 * machine does not have is refused here, naming the option.
 */
export async function sessionFromArgs(args: SessionArgs): Promise<ParallelSessionOptions> {
  const devices = await devicesFromArgs(args, false);
  const missing = await missingDevices(args, devices);
  if (missing !== undefined) throw new ArgumentError(missing);
  const providers = providerOptionsFromArgs(args);
  checkProviderDevices(args, providers, devices);
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
    ...providerSessionOptions(providers),
  };
}

/** The devices a plain model was given when none were named, said on stderr (stdout stays the report). */
export function noteDevices(note: string | undefined): void {
  if (note !== undefined) process.stderr.write(`onnx-parallelize: ${note}\n`);
}
