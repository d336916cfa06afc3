/** onnx-parallelize: the public API. */
export { decodeModel, encodeModel, encodeModelChunks } from './io/codec.js';
export { loadModel, saveModel, type SaveOptions } from './io/files.js';
export { inspectModel, formatInspectReport, type InspectReport } from './inspect.js';
export { parallelize, type ParallelizeReport, type ParallelizeResult } from './transform/parallelize.js';
export { type ParallelizeOptions, type CombineMode } from './transform/options.js';
export { readPlan, type ExecutionPlan } from './transform/plan.js';
export { splitSizes } from './transform/split-sizes.js';
export { parallelizeFile, defaultOutputPath, type ParallelizeFileOptions, type ParallelizeFileResult } from './parallelize-file.js';
export { verifyParallel, type VerifyOptions, type VerifyResult } from './verify/verify.js';
export { ParallelSession, QueueFullError, TimeoutError, type ParallelSessionOptions, type RunOptions, type BatchingOptions, type SessionStats, type DeviceStats, type DeviceTimes } from './runtime/session/parallel-session.js';
export {
  describeTritonModel,
  DEFAULT_MAX_BATCH,
  type TritonOptions,
  type TritonModelConfig,
  type TritonReport,
  type TritonDescription,
} from './triton/config.js';
export { formatModelConfig } from './triton/pbtxt.js';
export { kserveManifest, type KServeOptions, type KServeManifest } from './triton/kserve.js';
export { writeTritonEntry, type TritonEntryOptions, type TritonEntryResult } from './triton/repository.js';
export {
  scanRepository,
  readRepositoryModel,
  modelFromFile,
  parseModelConfig,
  modelConfigFromJson,
  tritonConfigJson,
  sessionOptionsOf,
  servingPolicyOf,
  ModelLoadError,
  type ModelConfig,
  type ModelSource,
  type RepositoryScan,
  type LoadOverride,
  type ServingPolicy,
} from './repository/index.js';
export { startServer, closeOnSignals, type ServeOptions, type InferenceServer, type InferenceBackend, type ServedModelInfo } from './serve/index.js';
export { discoverGpus, type GpuInfo, type GpuInventory, type DiscoverOptions } from './runtime/gpu/gpus.js';
export { deviceProviders, type DeviceOptions, type DeviceProviderOptions, type DeviceProviders } from './runtime/gpu/providers.js';
export { type CudaProviderOptions } from './runtime/gpu/cuda-options.js';
export { type TensorrtProviderOptions } from './runtime/gpu/tensorrt-options.js';
export { bfloat16FromFloat32, bfloat16ToFloat32 } from './tensors/bfloat16.js';
export { ArgumentError, ArgumentRangeError, DeviceError, InputError } from './errors.js';
export type { ModelProto } from './onnx.js';
