/**
 * Execution providers per device, CUDA provider options per device, and early, readable checks of the CUDA
 * provider: installed, loadable (the dynamic loader's words for what is missing), built for which onnxruntime and
 * CUDA, and whether the installed onnxruntime-node hands CUDA options to onnxruntime at all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ArgumentError, messageOf } from '../../errors.js';
import { normalizeCudaOptions, type CudaProviderOptions } from './cuda-options.js';
import { exportedSymbols, sharedLibraryInfo } from './shared-library.js';

/** Per-device CUDA provider options, by device (`cuda:K`): ParallelSessionOptions.deviceOptions. */
export type DeviceOptions = Record<string, CudaProviderOptions>;

/** Where onnxruntime-node loads its native binding and provider libraries from. */
export function bindingFolder(): string {
  const packageJson = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return path.join(path.dirname(packageJson), 'bin', 'napi-v6', process.platform, process.arch);
}

/** The installed onnxruntime-node's version (its package.json). */
export function onnxruntimeNodeVersion(): string {
  const packageJson = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

const CUDA_PROVIDER = 'libonnxruntime_providers_cuda.so';
/** Loaded by onnxruntime before any provider: it defines what providers bind to (Provider_GetHost). */
const SHARED_PROVIDER = 'libonnxruntime_providers_shared.so';
const cudaLibraries = [SHARED_PROVIDER, CUDA_PROVIDER];
const INSTALL_CUDA12 = 'node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12';

/** Why the CUDA provider cannot load, or undefined when its libraries are in place. */
export function missingCudaProvider(folder = bindingFolder()): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const missing = cudaLibraries.filter((lib) => !existsSync(path.join(folder, lib)));
  if (missing.length === 0) return undefined;
  return `the CUDA execution provider is not installed: ${missing.join(' and ')} missing in ${folder}. Install it on a machine with CUDA 12 and cuDNN 9: ${INSTALL_CUDA12}`;
}

export function parseDevice(device: string): { kind: 'cpu' } | { kind: 'cuda'; id: number } {
  if (device === 'cpu') return { kind: 'cpu' };
  const match = /^cuda:(\d+)$/.exec(device);
  if (match === null) throw new ArgumentError(`options.devices: '${device}' is not a device; use cuda:K or cpu`);
  return { kind: 'cuda', id: Number(match[1]) };
}

/** The CUDA options given in `executionProviders` (every `{ name: 'cuda', ... }` entry, later ones winning), without name and deviceId. */
function sharedCudaOptions(executionProviders: readonly ort.InferenceSession.ExecutionProviderConfig[] | undefined): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const entry of executionProviders ?? []) {
    if (typeof entry !== 'object' || entry === null || entry.name !== 'cuda') continue;
    for (const [key, value] of Object.entries(entry)) if (key !== 'name' && key !== 'deviceId') options[key] = value;
  }
  return options;
}

/**
 * The CUDA options of one device: those in `base.executionProviders` (for every CUDA device), overridden by
 * `deviceOptions[device]`; normalized to the strings onnxruntime parses. Throws an ArgumentError naming the option.
 */
export function cudaOptionsFor(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): Record<string, string> {
  return {
    ...normalizeCudaOptions("options.sessionOptions.executionProviders ('cuda')", sharedCudaOptions(base.executionProviders)),
    ...(deviceOptions[device] === undefined ? {} : normalizeCudaOptions(`options.deviceOptions['${device}']`, deviceOptions[device])),
  };
}

/**
 * Session options for one device: CUDA with its device id and its CUDA options (cudaOptionsFor), or the CPU with one
 * intra-op thread unless told otherwise.
 */
export function deviceSessionOptions(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): ort.InferenceSession.SessionOptions {
  const parsed = parseDevice(device);
  if (parsed.kind === 'cuda') {
    const cuda = { name: 'cuda', deviceId: parsed.id, ...cudaOptionsFor(device, base, deviceOptions) };
    return { ...base, executionProviders: [cuda] };
  }
  return { intraOpNumThreads: 1, interOpNumThreads: 1, ...base, executionProviders: ['cpu'] };
}

/**
 * Checks the CUDA options (names and values) in `base.executionProviders` and in `deviceOptions`, and that
 * `deviceOptions` names devices of the session (`devices`, when known); throws an ArgumentError naming the option.
 */
export function checkDeviceOptions(devices: readonly string[] | undefined, base: ort.InferenceSession.SessionOptions | undefined, deviceOptions: DeviceOptions | undefined): void {
  if (base?.executionProviders !== undefined && !Array.isArray(base.executionProviders)) return; // onnxruntime-node refuses it with its own message
  normalizeCudaOptions("options.sessionOptions.executionProviders ('cuda')", sharedCudaOptions(base?.executionProviders));
  if (deviceOptions === undefined) return;
  if (typeof deviceOptions !== 'object' || deviceOptions === null || Array.isArray(deviceOptions)) throw new ArgumentError("options.deviceOptions: expected CUDA options by device, such as { 'cuda:1': { gpu_mem_limit: 5e9 } }");
  for (const [device, options] of Object.entries(deviceOptions)) {
    if (!/^cuda:\d+$/.test(device)) throw new ArgumentError(`options.deviceOptions: '${device}' is not a CUDA device; CUDA provider options are given per cuda:K device`);
    if (devices !== undefined && !devices.includes(device)) throw new ArgumentError(`options.deviceOptions: '${device}' is not one of the session's devices (${devices.join(', ')})`);
    normalizeCudaOptions(`options.deviceOptions['${device}']`, options);
  }
}

/** The text of each binding read, by folder. */
const bindingStrings = new Map<string, string>();

/**
 * The CUDA options in `options` that the installed onnxruntime-node would not hand to onnxruntime. The binding
 * (onnxruntime_binding.node) reads an option by its name, so an option whose name it does not hold is dropped.
 * onnxruntime-node 1.30 reads only `deviceId` for the CUDA provider.
 */
export function cudaOptionsIgnored(options: Record<string, string>, folder = bindingFolder()): string[] {
  const names = Object.keys(options);
  if (names.length === 0) return [];
  let text = bindingStrings.get(folder);
  if (text === undefined) {
    try {
      text = readFileSync(path.join(folder, 'onnxruntime_binding.node')).toString('latin1');
    } catch {
      return []; // no binding to read: onnxruntime-node itself will fail to load, with its own message
    }
    bindingStrings.set(folder, text);
  }
  return names.filter((name) => !text.includes(`${name}\0`));
}

/** Why `names` would be dropped, with the fix. */
export function ignoredOptionsMessage(names: readonly string[]): string {
  const list = names.join(', ');
  const them = names.length === 1 ? 'it' : 'them';
  return (
    `the CUDA provider option${names.length === 1 ? '' : 's'} ${list} cannot reach onnxruntime: onnxruntime-node ${onnxruntimeNodeVersion()} hands its CUDA provider ` +
    `only the device id (its binding reads no other CUDA option), so ${them} would be silently ignored; leave ${them} out, or use an onnxruntime-node whose binding passes CUDA options`
  );
}

/**
 * Why a device cannot start before its worker is made, or undefined: for a CUDA device, options the binding would
 * drop, and a provider that is not installed.
 */
export function deviceStartProblem(device: string, base: ort.InferenceSession.SessionOptions = {}, deviceOptions: DeviceOptions = {}): string | undefined {
  if (parseDevice(device).kind !== 'cuda') return undefined;
  const ignored = cudaOptionsIgnored(cudaOptionsFor(device, base, deviceOptions));
  const problems = [ignored.length === 0 ? undefined : ignoredOptionsMessage(ignored), missingCudaProvider()].filter((p): p is string => p !== undefined);
  return problems.length === 0 ? undefined : problems.join('; and ');
}

/** What the dynamic loader says when loading `library` (a path, or a name it searches for), or undefined when it loads. */
function loaderError(library: string): string | undefined {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, library);
  } catch (error) {
    const message = messageOf(error).split('\n')[0]!;
    // Loaded, but not a Node addon: the library and everything it needs were found.
    if (/did not self-register|Module not found|Cannot find module/i.test(message) && !/cannot open shared object/.test(message)) return undefined;
    return message;
  }
  return undefined;
}

function definedBySharedProvider(folder: string, symbol: string): boolean {
  try {
    return exportedSymbols(path.join(folder, SHARED_PROVIDER)).has(symbol);
  } catch {
    return false; // missing or not readable: the symbol stays unexplained
  }
}

/**
 * Why the installed CUDA provider library cannot be loaded, in the dynamic loader's words (onnxruntime only says
 * "Failed to load shared library"): usually a CUDA or cuDNN library it needs that is not on LD_LIBRARY_PATH.
 */
export function cudaLoadProblem(folder = bindingFolder()): string | undefined {
  const library = path.join(folder, CUDA_PROVIDER);
  if (!existsSync(library)) return undefined;
  const message = loaderError(library);
  if (message === undefined) return undefined;
  const missing = /([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(message);
  if (missing !== null) {
    let needed: string[] = [];
    try {
      needed = sharedLibraryInfo(library).needed;
    } catch {
      // not readable as ELF: the loader's words are all there is
    }
    const absent = needed.filter((lib) => !existsSync(path.join(folder, lib)) && loaderError(lib)?.includes('cannot open shared object file'));
    const names = absent.length > 0 ? absent : [missing[1]!];
    const list = names.length === 1 ? `${names[0]} is` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are`;
    const cuda = /^libcudart\.so\.(\d+)/.exec(needed.find((lib) => lib.startsWith('libcudart.so')) ?? '')?.[1];
    const driver = names.includes('libcuda.so.1') ? '; libcuda.so.1 comes with the NVIDIA driver, which must be installed' : '';
    return `${list} not found; put the ${cuda === undefined ? 'CUDA' : `CUDA ${cuda}`} and cuDNN libraries that the provider was built against on LD_LIBRARY_PATH${driver} (the dynamic loader: ${message})`;
  }
  const symbol = /undefined symbol: (\S+)/.exec(message)?.[1];
  if (symbol !== undefined) {
    // The loader binds symbols only after finding every library the provider needs. One that onnxruntime's shared
    // provider library defines is bound when onnxruntime loads the provider, which it does after that library.
    if (definedBySharedProvider(folder, symbol)) return undefined;
    return `${message} (the provider does not match this onnxruntime-node)`;
  }
  return `the dynamic loader cannot load ${library}: ${message}`;
}

export interface CudaProviderStatus {
  /** Where onnxruntime-node looks for the provider. */
  folder: string;
  installed: boolean;
  /** Why it is not installed, with the command that installs it. */
  installProblem?: string;
  /** Whether it loads; undefined when it is not installed. */
  loads?: boolean;
  /** Why it does not load, in the dynamic loader's words. */
  loadProblem?: string;
  /** The onnxruntime version recorded in the provider library, when it holds one. */
  builtForOnnxruntime?: string;
  /** The CUDA libraries the provider links (libcudart.so.13: built for CUDA 13). */
  cudaLibraries: string[];
  /** The cuDNN library the provider loads, and why it is not found. */
  cudnn?: { library: string; found: boolean; problem?: string };
  /** onnxruntime-node's version, and the onnxruntime its binding runs. */
  onnxruntimeNode: string;
  onnxruntime?: string;
  /** A provider built for another onnxruntime than the one onnxruntime-node runs, with the fix. */
  versionProblem?: string;
  /** Whether onnxruntime-node hands CUDA provider options (gpu_mem_limit, ...) to onnxruntime. */
  cudaOptionsReachOnnxruntime: boolean;
}

/** Everything that can be known about the CUDA provider without a GPU. Never throws. */
export function cudaProviderStatus(folder = bindingFolder()): CudaProviderStatus {
  const onnxruntimeNode = onnxruntimeNodeVersion();
  let onnxruntime: string | undefined;
  try {
    onnxruntime = sharedLibraryInfo(path.join(folder, 'libonnxruntime.so.1')).onnxruntimeVersion;
  } catch {
    // another platform, or a damaged install: the package version stands for it
  }
  const optionsReach = cudaOptionsIgnored({ gpu_mem_limit: '0' }, folder).length === 0;
  const status: CudaProviderStatus = { folder, installed: false, cudaLibraries: [], onnxruntimeNode, ...(onnxruntime === undefined ? {} : { onnxruntime }), cudaOptionsReachOnnxruntime: optionsReach };
  const installProblem = missingCudaProvider(folder);
  if (installProblem !== undefined) return { ...status, installProblem };
  status.installed = true;
  const library = path.join(folder, CUDA_PROVIDER);
  let needed: string[] = [];
  try {
    const info = sharedLibraryInfo(library);
    needed = info.needed;
    if (info.onnxruntimeVersion !== undefined) status.builtForOnnxruntime = info.onnxruntimeVersion;
  } catch (error) {
    status.loadProblem = `${library} is not a readable shared library (${messageOf(error)})`;
  }
  status.cudaLibraries = needed.filter((lib) => /^lib(cudart|cublas|cublasLt|cufft|curand|cudnn)\.so/.test(lib));
  const loadProblem = status.loadProblem ?? cudaLoadProblem(folder);
  status.loads = loadProblem === undefined;
  if (loadProblem !== undefined) status.loadProblem = loadProblem;
  const cudnn = needed.find((lib) => lib.startsWith('libcudnn.so')) ?? 'libcudnn.so.9';
  const cudnnError = loaderError(cudnn);
  status.cudnn = { library: cudnn, found: cudnnError === undefined, ...(cudnnError === undefined ? {} : { problem: `${cudnn} is not found (the dynamic loader: ${cudnnError}); the CUDA provider loads cuDNN when a session starts: put cuDNN's lib folder on LD_LIBRARY_PATH` }) };
  const runs = onnxruntime ?? onnxruntimeNode;
  if (status.builtForOnnxruntime !== undefined && status.builtForOnnxruntime !== runs) {
    status.versionProblem = `the CUDA provider was built for onnxruntime ${status.builtForOnnxruntime}, but onnxruntime-node ${onnxruntimeNode} runs onnxruntime ${runs}; install onnxruntime-node@${status.builtForOnnxruntime}, or a provider built for ${runs}`;
  }
  return status;
}
