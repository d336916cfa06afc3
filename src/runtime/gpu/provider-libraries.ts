/**
 * The GPU provider libraries beside onnxruntime-node's library, read without a GPU: the CUDA provider and the
 * TensorRT provider, each installed or not, loadable or not (the dynamic loader's words for what is missing),
 * and built for which onnxruntime and CUDA.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { messageOf } from '../../errors.js';
import { exportedSymbols, sharedLibraryInfo } from './shared-library.js';

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
const TENSORRT_PROVIDER = 'libonnxruntime_providers_tensorrt.so';
/** Loaded by onnxruntime before any provider: it defines what providers bind to (Provider_GetHost). */
const SHARED_PROVIDER = 'libonnxruntime_providers_shared.so';
/** onnxruntime-node's installer brings the CUDA and the TensorRT provider together, with the shared library. */
const INSTALL_GPU_PROVIDERS = 'node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12';

function missingLibraries(folder: string, libraries: string[]): string[] {
  return libraries.filter((lib) => !existsSync(path.join(folder, lib)));
}

/** Why the CUDA provider cannot load, or undefined when its libraries are in place. */
export function missingCudaProvider(folder = bindingFolder()): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const missing = missingLibraries(folder, [SHARED_PROVIDER, CUDA_PROVIDER]);
  if (missing.length === 0) return undefined;
  return `the CUDA execution provider is not installed: ${missing.join(' and ')} missing in ${folder}. Install it on a machine with CUDA 12 and cuDNN 9: ${INSTALL_GPU_PROVIDERS}`;
}

/**
 * Why the TensorRT provider cannot load, or undefined when its library is in place. It runs beside the CUDA provider
 * (missingCudaProvider), which stays the fallback for the nodes TensorRT does not take.
 */
export function missingTensorrtProvider(folder = bindingFolder()): string | undefined {
  if (process.platform !== 'linux') return undefined;
  if (existsSync(path.join(folder, TENSORRT_PROVIDER))) return undefined;
  return (
    `the TensorRT execution provider is not installed: ${TENSORRT_PROVIDER} missing in ${folder}. Install it on a machine with CUDA 12, cuDNN 9 and TensorRT 10: ` +
    `${INSTALL_GPU_PROVIDERS}; or run on CUDA alone: leave out the { name: 'tensorrt' } entry of sessionOptions.executionProviders and the tensorrt options of deviceOptions (on the command line, --tensorrt and --tensorrt-option)`
  );
}

/** What the dynamic loader says when loading `library` (a path, or a name it searches for), or undefined when it loads. */
export function loaderError(library: string): string | undefined {
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
 * Why the provider library `library` in `folder` cannot be loaded, in the dynamic loader's words (onnxruntime only
 * says "Failed to load shared library"): usually a library it needs that is not on LD_LIBRARY_PATH. `needs` names
 * what to put there (the CUDA and cuDNN libraries; TensorRT's).
 */
function providerLoadProblem(folder: string, library: string, needs: (cuda: string) => string): string | undefined {
  const file = path.join(folder, library);
  if (!existsSync(file)) return undefined;
  const message = loaderError(file);
  if (message === undefined) return undefined;
  const missing = /([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(message);
  if (missing !== null) {
    let needed: string[] = [];
    try {
      needed = sharedLibraryInfo(file).needed;
    } catch {
      // not readable as ELF: the loader's words are all there is
    }
    const absent = needed.filter((lib) => !existsSync(path.join(folder, lib)) && loaderError(lib)?.includes('cannot open shared object file'));
    const names = absent.length > 0 ? absent : [missing[1]!];
    const list = names.length === 1 ? `${names[0]} is` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are`;
    const cuda = /^libcudart\.so\.(\d+)/.exec(needed.find((lib) => lib.startsWith('libcudart.so')) ?? '')?.[1];
    const driver = names.includes('libcuda.so.1') ? '; libcuda.so.1 comes with the NVIDIA driver, which must be installed' : '';
    return `${list} not found; put ${needs(cuda === undefined ? 'CUDA' : `CUDA ${cuda}`)} on LD_LIBRARY_PATH${driver} (the dynamic loader: ${message})`;
  }
  const symbol = /undefined symbol: (\S+)/.exec(message)?.[1];
  if (symbol !== undefined) {
    // The loader binds symbols only after finding every library the provider needs. One that onnxruntime's shared
    // provider library defines is bound when onnxruntime loads the provider, which it does after that library.
    if (definedBySharedProvider(folder, symbol)) return undefined;
    return `${message} (the provider does not match this onnxruntime-node)`;
  }
  return `the dynamic loader cannot load ${file}: ${message}`;
}

/** Why the installed CUDA provider library cannot be loaded, in the dynamic loader's words; undefined when it loads or is absent. */
export function cudaLoadProblem(folder = bindingFolder()): string | undefined {
  return providerLoadProblem(folder, CUDA_PROVIDER, (cuda) => `the ${cuda} and cuDNN libraries that the provider was built against`);
}

/** Why the installed TensorRT provider library cannot be loaded (TensorRT's own libraries, libnvinfer, missing); undefined when it loads or is absent. */
export function tensorrtLoadProblem(folder = bindingFolder()): string | undefined {
  return providerLoadProblem(folder, TENSORRT_PROVIDER, (cuda) => `the TensorRT (libnvinfer), ${cuda} and cuDNN libraries that the provider was built against`);
}

/** How provider options reach onnxruntime: every option, through its C API. */
export const CUDA_OPTIONS_REACH = "all, through onnxruntime's C API (UpdateCUDAProviderOptions)";
export const TENSORRT_OPTIONS_REACH = "all, through onnxruntime's C API (UpdateTensorRTProviderOptions)";

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
  /** onnxruntime-node's version, and the onnxruntime its library runs. */
  onnxruntimeNode: string;
  onnxruntime?: string;
  /** A provider built for another onnxruntime than the one onnxruntime-node runs, with the fix. */
  versionProblem?: string;
  /** Which of the provider's options reach onnxruntime, and how. */
  options: string;
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
  const status: CudaProviderStatus = { folder, installed: false, cudaLibraries: [], onnxruntimeNode, ...(onnxruntime === undefined ? {} : { onnxruntime }), options: CUDA_OPTIONS_REACH };
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

export interface TensorrtProviderStatus {
  folder: string;
  installed: boolean;
  /** Why it is not installed, with the command that installs it. */
  installProblem?: string;
  /** Whether it loads (TensorRT's libraries found); undefined when it is not installed. */
  loads?: boolean;
  loadProblem?: string;
  /** Which of the provider's options reach onnxruntime, and how. */
  options: string;
}

/** Everything that can be known about the TensorRT provider without a GPU. Never throws. */
export function tensorrtProviderStatus(folder = bindingFolder()): TensorrtProviderStatus {
  const status: TensorrtProviderStatus = { folder, installed: false, options: TENSORRT_OPTIONS_REACH };
  const installProblem = missingTensorrtProvider(folder);
  if (installProblem !== undefined) return { ...status, installProblem };
  const loadProblem = tensorrtLoadProblem(folder);
  return { ...status, installed: true, loads: loadProblem === undefined, ...(loadProblem === undefined ? {} : { loadProblem }) };
}
