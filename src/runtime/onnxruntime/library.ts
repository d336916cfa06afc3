/**
 * onnxruntime's C API, loaded from the library that onnxruntime-node installs: `OrtGetApiBase()` gives
 * `GetApi(version)`, which gives the `OrtApi` table of function pointers. Each function used here is declared by
 * its position in `struct OrtApi` (onnxruntime_c_api.h), which only ever grows at its end, so the table of the
 * oldest version that has them all serves every later library.
 *
 * Handles (OrtEnv*, OrtSession*, OrtValue*, ...) cross as 64-bit integers (`Handle`), which the x86-64 and arm64
 * calling conventions pass exactly as pointers; out-parameters are one-element typed arrays that the callee
 * writes in place. Typed arrays passed for `void*` are used where they lie, never copied.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import type { KoffiFunction } from './koffi.js';
import { koffi } from './koffi.js';
import { bindingFolder } from '../gpu/providers.js';

/** A native pointer (an OrtEnv*, OrtSession*, OrtValue*...) as a number; 0 is NULL. */
export type Handle = number;

/** The API version asked for: the oldest with every function below (AddExternalInitializersFromFilesInMemory: 1.18). */
export const API_VERSION = 18;

/**
 * Position in `struct OrtApi`, result and parameters of each function used. `H` is a handle, `H*` a one-element
 * BigUint64Array written by the callee (or an array of handles), `str` a C string, `str[]` an array of them.
 */
const H = 'uint64_t';
const OUT = 'uint64_t *';
const STR = 'const char *';
const STRS = 'const char **';
const SIZE = 'size_t';
const signatures = {
  GetErrorCode: [1, 'int', [H]],
  GetErrorMessage: [2, STR, [H]],
  CreateEnv: [3, H, ['int', STR, OUT]],
  CreateSession: [7, H, [H, STR, H, OUT]],
  /** CreateSessionFromArray, the model's bytes given by their address. */
  CreateSessionFromAddress: [8, H, [H, H, SIZE, H, OUT]],
  Run: [9, H, [H, H, STRS, OUT, SIZE, STRS, SIZE, OUT]],
  CreateSessionOptions: [10, H, [OUT]],
  SetOptimizedModelFilePath: [11, H, [H, STR]],
  SetSessionExecutionMode: [13, H, [H, 'int']],
  EnableProfiling: [14, H, [H, STR]],
  EnableMemPattern: [16, H, [H]],
  DisableMemPattern: [17, H, [H]],
  EnableCpuMemArena: [18, H, [H]],
  DisableCpuMemArena: [19, H, [H]],
  SetSessionLogId: [20, H, [H, STR]],
  SetSessionLogVerbosityLevel: [21, H, [H, 'int']],
  SetSessionLogSeverityLevel: [22, H, [H, 'int']],
  SetSessionGraphOptimizationLevel: [23, H, [H, 'int']],
  SetIntraOpNumThreads: [24, H, [H, 'int']],
  SetInterOpNumThreads: [25, H, [H, 'int']],
  SessionGetInputCount: [30, H, [H, OUT]],
  SessionGetOutputCount: [31, H, [H, OUT]],
  SessionGetInputTypeInfo: [33, H, [H, SIZE, OUT]],
  SessionGetOutputTypeInfo: [34, H, [H, SIZE, OUT]],
  SessionGetInputName: [36, H, [H, SIZE, H, OUT]],
  SessionGetOutputName: [37, H, [H, SIZE, H, OUT]],
  CreateRunOptions: [39, H, [OUT]],
  RunOptionsSetTerminate: [46, H, [H]],
  CreateTensorAsOrtValue: [48, H, [H, 'int64_t *', SIZE, 'int', OUT]],
  CreateTensorWithDataAsOrtValue: [49, H, [H, 'void *', SIZE, 'int64_t *', SIZE, 'int', OUT]],
  GetTensorMutableData: [51, H, [H, OUT]],
  GetStringTensorDataLength: [53, H, [H, OUT]],
  GetStringTensorContent: [54, H, [H, 'void *', SIZE, OUT, SIZE]],
  CastTypeInfoToTensorInfo: [55, H, [H, OUT]],
  GetTensorElementType: [60, H, [H, 'int *']],
  GetDimensionsCount: [61, H, [H, OUT]],
  GetDimensions: [62, H, [H, 'int64_t *', SIZE]],
  GetTensorTypeAndShape: [65, H, [H, OUT]],
  CreateMemoryInfo: [68, H, [STR, 'int', 'int', 'int', OUT]],
  CreateCpuMemoryInfo: [69, H, ['int', 'int', OUT]],
  MemoryInfoGetName: [71, H, [H, OUT]],
  MemoryInfoGetId: [72, H, [H, 'int *']],
  AllocatorFree: [76, H, [H, H]],
  GetAllocatorWithDefaultOptions: [78, H, [OUT]],
  ReleaseStatus: [93, 'void', [H]],
  ReleaseMemoryInfo: [94, 'void', [H]],
  ReleaseSession: [95, 'void', [H]],
  ReleaseValue: [96, 'void', [H]],
  ReleaseRunOptions: [97, 'void', [H]],
  ReleaseTypeInfo: [98, 'void', [H]],
  ReleaseTensorTypeAndShapeInfo: [99, 'void', [H]],
  ReleaseSessionOptions: [100, 'void', [H]],
  AddFreeDimensionOverrideByName: [124, H, [H, STR, 'int64_t']],
  AddSessionConfigEntry: [130, H, [H, STR, STR]],
  CreateAllocator: [131, H, [H, H, OUT]],
  ReleaseAllocator: [132, 'void', [H]],
  RunWithBinding: [133, H, [H, H, H]],
  CreateIoBinding: [134, H, [H, OUT]],
  ReleaseIoBinding: [135, 'void', [H]],
  BindInput: [136, H, [H, STR, H]],
  BindOutput: [137, H, [H, STR, H]],
  BindOutputToDevice: [138, H, [H, STR, H]],
  GetBoundOutputValues: [140, H, [H, H, OUT, OUT]],
  AddInitializer: [150, H, [H, STR, H]],
  AddRunConfigEntry: [165, H, [H, STR, STR]],
  CreatePrepackedWeightsContainer: [166, H, [OUT]],
  ReleasePrepackedWeightsContainer: [167, 'void', [H]],
  CreateSessionWithPrepackedWeightsContainer: [168, H, [H, STR, H, H, OUT]],
  /** CreateSessionFromArrayWithPrepackedWeightsContainer, the model's bytes given by their address. */
  CreateSessionFromAddressWithPrepackedWeightsContainer: [169, H, [H, H, SIZE, H, H, OUT]],
  SessionOptionsAppendExecutionProvider_TensorRT_V2: [170, H, [H, H]],
  CreateTensorRTProviderOptions: [171, H, [OUT]],
  UpdateTensorRTProviderOptions: [172, H, [H, STRS, STRS, SIZE]],
  ReleaseTensorRTProviderOptions: [174, 'void', [H]],
  GetTensorMemoryInfo: [194, H, [H, OUT]],
  SessionOptionsAppendExecutionProvider_CUDA_V2: [204, H, [H, H]],
  CreateCUDAProviderOptions: [205, H, [OUT]],
  UpdateCUDAProviderOptions: [206, H, [H, STRS, STRS, SIZE]],
  ReleaseCUDAProviderOptions: [208, 'void', [H]],
  GetResizedStringTensorElementBuffer: [252, H, [H, SIZE, SIZE, OUT]],
  AddExternalInitializersFromFilesInMemory: [279, H, [H, STRS, OUT, OUT, SIZE]],
} as const satisfies Record<string, readonly [number, string, readonly string[]]>;

export type ApiName = keyof typeof signatures;

/** The functions of the table, by name: call them directly, or `.async(..., callback)` on libuv's thread pool. */
export type OrtApi = Record<ApiName, KoffiFunction>;

/** The path of the onnxruntime library that onnxruntime-node loads. */
export function libraryPath(folder = bindingFolder()): string {
  if (process.platform === 'win32') return path.join(folder, 'onnxruntime.dll');
  if (process.platform === 'darwin') return path.join(folder, 'libonnxruntime.1.dylib');
  return path.join(folder, 'libonnxruntime.so.1');
}

let loaded: { api: OrtApi; version: string } | undefined;

/**
 * The API table, loaded once. onnxruntime-node's binding is loaded first, so that the library and its one
 * process-wide environment are the very ones onnxruntime-node uses.
 */
export function ortApi(): OrtApi {
  return load().api;
}

/** The version of the loaded onnxruntime library (GetVersionString). */
export function onnxruntimeVersion(): string {
  return load().version;
}

/**
 * koffi runs a foreign function on a stack of its own, 128 KiB for an async call by default: too little for
 * onnxruntime, whose runs and session creation go deep (subgraphs, kernels with large frames). Calls get the 8 MiB
 * of a thread's usual stack instead. koffi takes settings only before its first library is loaded; where another
 * module of the process has loaded one first, its settings stay.
 */
function giveCallsFullStacks(): void {
  const stack = 8 << 20;
  const config = koffi.config();
  if (config.async_stack_size! >= stack && config.sync_stack_size! >= stack) return;
  try {
    koffi.config({ ...config, async_stack_size: stack, sync_stack_size: stack });
  } catch {
    // a library was loaded through koffi before: its settings are kept
  }
}

function load(): { api: OrtApi; version: string } {
  if (loaded !== undefined) return loaded;
  createRequire(import.meta.url)('onnxruntime-node');
  const file = libraryPath();
  giveCallsFullStacks();
  let library: ReturnType<typeof koffi.load>;
  try {
    library = koffi.load(file);
  } catch (error) {
    throw new Error(`onnxruntime's library cannot be loaded from ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const getApiBase = library.func('uint64_t OrtGetApiBase()');
  const base = koffi.decode(getApiBase() as number, koffi.array('uint64_t', 2)) as BigUint64Array;
  const version = koffi.call(base[1], koffi.proto('const char *GetVersionString()')) as string;
  const table = koffi.call(base[0], koffi.proto('uint64_t GetApi(uint32_t version)'), API_VERSION) as number;
  if (!table) throw new Error(`onnxruntime ${version} at ${file} does not provide API version ${API_VERSION} (onnxruntime 1.${API_VERSION} or later is needed)`);
  const slots = Math.max(...Object.values(signatures).map(([slot]) => slot)) + 1;
  const pointers = koffi.decode(table, koffi.array('uint64_t', slots)) as BigUint64Array;
  const api = {} as OrtApi;
  for (const [name, [slot, result, parameters]] of Object.entries(signatures)) {
    api[name as ApiName] = koffi.decode(pointers[slot]!, koffi.proto(`Ort${name}`, result, [...parameters])) as KoffiFunction;
  }
  loaded = { api, version };
  return loaded;
}
