/**
 * Triton model repositories: config.pbtxt read as Triton reads it (the text format of `inference.ModelConfig`,
 * parsed from Triton's model_config.proto), repository scanning with versions and skips, auto-complete from the
 * ONNX file, load-request overrides, lone .onnx files as models, and configurations as ParallelSession options.
 */
export {
  parseModelConfig,
  modelConfigFromJson,
  tritonConfigJson,
  type ModelConfig,
  type ModelTensorConfig,
  type ModelInstanceGroupConfig,
  type ModelDynamicBatchingConfig,
  type ModelQueuePolicyConfig,
  type ModelVersionPolicyConfig,
  type ModelDataType,
} from './model-config.js';
export { ModelLoadError, type ModelSource, type ModelVersionSource } from './model-source.js';
export { scanRepository, readRepositoryModel, modelFromFile, modelFingerprint, CONFIG_FILE, type RepositoryScan, type LoadOverride } from './repository.js';
export { AUTO_COMPLETE_MAX_BATCH, type ModelTensor } from './auto-complete.js';
export { sessionOptionsOf, servingPolicyOf, devicesOf, type ServingPolicy, type ServedTensor } from './session-options.js';
export { metadataOf, sourceMetadata, datatypeOfConfigType, type ModelMetadata, type TensorMetadata } from './metadata.js';
export { MODEL_CONFIG_PROTO } from './schema.js';
