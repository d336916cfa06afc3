/**
 * The execution providers of each device and their options: a `cuda:K` device runs CUDA (and TensorRT first, where
 * asked) with the options given for every CUDA device (`sessionOptions.executionProviders`) and for it alone
 * (`deviceOptions['cuda:K']`), normalized to the strings onnxruntime parses; a `cpu` device runs the CPU. Every
 * option reaches onnxruntime through its C API (UpdateCUDAProviderOptions, UpdateTensorRTProviderOptions). Bad names
 * and values are ArgumentErrors naming the option and the device, raised before any device starts.
 */
import type * as ort from 'onnxruntime-node';
import { ArgumentError } from '../../errors.js';
import { normalizeCudaOptions, type CudaOptionValue } from './cuda-options.js';
import { missingCudaProvider, missingTensorrtProvider, tensorrtLoadProblem } from './provider-libraries.js';
import { normalizeTensorrtOptions, type TensorrtProviderOptions } from './tensorrt-options.js';

export {
  bindingFolder,
  cudaLoadProblem,
  cudaProviderStatus,
  missingCudaProvider,
  missingTensorrtProvider,
  onnxruntimeNodeVersion,
  tensorrtProviderStatus,
  type CudaProviderStatus,
  type TensorrtProviderStatus,
} from './provider-libraries.js';

/**
 * The provider options of one CUDA device: CUDA options by their onnxruntime names (`gpu_mem_limit: '6GiB'`), and
 * `tensorrt`: TensorRT first on this device, with these TensorRT options (or `true` for those of
 * executionProviders' `{ name: 'tensorrt' }` entry alone), or `false` for CUDA alone although that entry is given.
 */
export interface DeviceProviderOptions {
  [cudaOption: string]: CudaOptionValue | TensorrtProviderOptions | undefined;
  tensorrt?: boolean | TensorrtProviderOptions;
}

/** Per-device provider options, by device (`cuda:K`): ParallelSessionOptions.deviceOptions. */
export type DeviceOptions = Record<string, DeviceProviderOptions>;

/**
 * What one device hands onnxruntime: the options of each GPU provider it runs, as the strings UpdateCUDAProviderOptions
 * and UpdateTensorRTProviderOptions take, `device_id` included. No `cuda`: the CPU. A `tensorrt` entry is appended
 * first, and `cuda` after it as the fallback for the nodes TensorRT does not take.
 */
export interface DeviceProviders {
  cuda?: Record<string, string>;
  tensorrt?: Record<string, string>;
}

export function parseDevice(device: string): { kind: 'cpu' } | { kind: 'cuda'; id: number } {
  if (device === 'cpu') return { kind: 'cpu' };
  const match = /^cuda:(\d+)$/.exec(device);
  if (match === null) throw new ArgumentError(`options.devices: '${device}' is not a device; use cuda:K or cpu`);
  return { kind: 'cuda', id: Number(match[1]) };
}

const SHARED = 'options.sessionOptions.executionProviders';

/** The provider options given in `executionProviders` for every CUDA device, before normalization. */
interface SharedProviders {
  /** Every `{ name: 'cuda', ... }` entry's options, later ones winning. */
  cuda: Record<string, unknown>;
  /** Every `{ name: 'tensorrt', ... }` entry's options (or `'tensorrt'`), later ones winning; undefined when there is none. */
  tensorrt: Record<string, unknown> | undefined;
}

/** The options of an entry, without its name and onnxruntime-node's `deviceId` (each device sets its own). */
function entryOptions(entry: ort.InferenceSession.ExecutionProviderConfig): Record<string, unknown> {
  if (typeof entry !== 'object') return {};
  return Object.fromEntries(Object.entries(entry).filter(([key]) => key !== 'name' && key !== 'deviceId'));
}

function sharedProviders(executionProviders: unknown): SharedProviders {
  const shared: SharedProviders = { cuda: {}, tensorrt: undefined };
  if (executionProviders === undefined) return shared;
  if (!Array.isArray(executionProviders)) throw new ArgumentError(`${SHARED}: expected an array of providers, such as [{ name: 'cuda', gpu_mem_limit: '8GiB' }]`);
  for (const entry of executionProviders as ort.InferenceSession.ExecutionProviderConfig[]) {
    const name: unknown = typeof entry === 'string' ? entry : typeof entry === 'object' && entry !== null ? entry.name : undefined;
    if (name === 'cpu') continue; // the CPU is every session's last fallback
    if (name === 'cuda') Object.assign(shared.cuda, entryOptions(entry));
    else if (name === 'tensorrt') shared.tensorrt = { ...shared.tensorrt, ...entryOptions(entry) };
    else {
      throw new ArgumentError(
        `${SHARED}: ${typeof name === 'string' ? `'${name}'` : JSON.stringify(entry)} is not a provider onnx-parallelize runs; a device runs on the CPU (cpu) or on CUDA (cuda:K), with TensorRT first where a { name: 'tensorrt' } entry is given`,
      );
    }
  }
  return shared;
}

/** `deviceOptions[device]`, checked to be an object of options. */
function ownOptions(device: string, deviceOptions: DeviceOptions): DeviceProviderOptions {
  const own: unknown = deviceOptions[device];
  if (own === undefined) return {};
  if (typeof own !== 'object' || own === null || Array.isArray(own)) {
    throw new ArgumentError(`options.deviceOptions['${device}']: expected an object of provider options, such as { gpu_mem_limit: '6GiB' } or { tensorrt: { trt_fp16_enable: true } }`);
  }
  return own as DeviceProviderOptions;
}

/**
 * The providers of `device` and their options: cpu: `{}`; `cuda:K`: the CUDA options of `base.executionProviders`,
 * overridden by `deviceOptions['cuda:K']`, with `device_id: 'K'`; and TensorRT's likewise, with its `device_id`, when
 * a `{ name: 'tensorrt' }` entry or `deviceOptions['cuda:K'].tensorrt` asks for it. Values are the strings
 * onnxruntime parses. Throws an ArgumentError naming the option and the device.
 */
export function deviceProviders(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): DeviceProviders {
  const parsed = parseDevice(device);
  if (parsed.kind === 'cpu') return {};
  const shared = sharedProviders(base.executionProviders);
  const where = `options.deviceOptions['${device}']`;
  const { tensorrt: ownTensorrt, ...ownCuda } = ownOptions(device, deviceOptions);
  if (ownTensorrt !== undefined && typeof ownTensorrt !== 'boolean' && (typeof ownTensorrt !== 'object' || ownTensorrt === null || Array.isArray(ownTensorrt))) {
    throw new ArgumentError(`${where}.tensorrt: expected true, false, or an object of TensorRT provider options, such as { trt_fp16_enable: true }`);
  }
  const deviceId = String(parsed.id);
  const cuda = { ...normalizeCudaOptions(`${SHARED} ('cuda')`, shared.cuda), ...normalizeCudaOptions(where, ownCuda), device_id: deviceId };
  const runsTensorrt = ownTensorrt === undefined ? shared.tensorrt !== undefined : ownTensorrt !== false;
  if (!runsTensorrt) return { cuda };
  const tensorrt = {
    ...(shared.tensorrt === undefined ? {} : normalizeTensorrtOptions(`${SHARED} ('tensorrt')`, shared.tensorrt)),
    ...(typeof ownTensorrt === 'object' ? normalizeTensorrtOptions(`${where}.tensorrt`, ownTensorrt) : {}),
    device_id: deviceId,
  };
  return { tensorrt, cuda };
}

/**
 * Session options for one device as onnxruntime-node takes them: its providers (deviceProviders) as entries with
 * their deviceId, TensorRT first, or the CPU with one intra-op thread unless told otherwise.
 */
export function deviceSessionOptions(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): ort.InferenceSession.SessionOptions {
  const providers = deviceProviders(device, base, deviceOptions);
  if (providers.cuda === undefined) return { intraOpNumThreads: 1, interOpNumThreads: 1, ...base, executionProviders: ['cpu'] };
  const entry = (name: string, { device_id: deviceId, ...options }: Record<string, string>) => ({ name, deviceId: Number(deviceId), ...options }) as ort.InferenceSession.ExecutionProviderConfig;
  return { ...base, executionProviders: [...(providers.tensorrt === undefined ? [] : [entry('tensorrt', providers.tensorrt)]), entry('cuda', providers.cuda)] };
}

/**
 * Checks the provider options (names and values) in `base.executionProviders` and in `deviceOptions`, and that
 * `deviceOptions` names devices of the session (`devices`, when known); throws an ArgumentError naming the option
 * and the device.
 */
export function checkDeviceOptions(devices: readonly string[] | undefined, base: ort.InferenceSession.SessionOptions | undefined, deviceOptions: DeviceOptions | undefined): void {
  const shared = sharedProviders(base?.executionProviders);
  normalizeCudaOptions(`${SHARED} ('cuda')`, shared.cuda);
  if (shared.tensorrt !== undefined) normalizeTensorrtOptions(`${SHARED} ('tensorrt')`, shared.tensorrt);
  if (deviceOptions === undefined) return;
  if (typeof deviceOptions !== 'object' || deviceOptions === null || Array.isArray(deviceOptions)) {
    throw new ArgumentError("options.deviceOptions: expected provider options by device, such as { 'cuda:1': { gpu_mem_limit: 5e9 } }");
  }
  for (const device of Object.keys(deviceOptions)) {
    if (!/^cuda:\d+$/.test(device)) throw new ArgumentError(`options.deviceOptions: '${device}' is not a CUDA device; provider options are given per cuda:K device`);
    if (devices !== undefined && !devices.includes(device)) throw new ArgumentError(`options.deviceOptions: '${device}' is not one of the session's devices (${devices.join(', ')})`);
    deviceProviders(device, base, deviceOptions);
  }
}

/** Whether the TensorRT provider loads, read once: loading it brings in TensorRT's own large libraries. */
let tensorrtLoads: { problem: string | undefined } | undefined;

/** Why the TensorRT provider cannot run here (not installed, or its libraries not found), or undefined. */
function tensorrtProblem(): string | undefined {
  const missing = missingTensorrtProvider();
  if (missing !== undefined) return missing;
  tensorrtLoads ??= { problem: tensorrtLoadProblem() };
  return tensorrtLoads.problem === undefined ? undefined : `the TensorRT provider cannot load: ${tensorrtLoads.problem}`;
}

/**
 * Why a device cannot start, before anything is made for it, or undefined: for a CUDA device, a CUDA provider that
 * is not installed, and, where the device runs TensorRT, a TensorRT provider that is not installed or cannot load.
 */
export function deviceStartProblem(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): string | undefined {
  const providers = deviceProviders(device, base, deviceOptions);
  if (providers.cuda === undefined) return undefined;
  const problems = [missingCudaProvider(), providers.tensorrt === undefined ? undefined : tensorrtProblem()];
  const found = problems.filter((p): p is string => p !== undefined);
  return found.length === 0 ? undefined : found.join('; and ');
}
