/** What a model source is: a model with its versions and complete configuration, from a repository or a file. */
import { InputError } from '../errors.js';
import type { ModelTensor } from './auto-complete.js';
import type { ModelConfig } from './model-config.js';

export interface ModelVersionSource {
  /** The version number, as a decimal string (Triton's version strings). */
  version: string;
  /** The ONNX file of this version. */
  modelFile: string;
}

export interface ModelSource {
  name: string;
  /** The versions to load, ascending. */
  versions: ModelVersionSource[];
  /** The configuration, completed and normalized as Triton does (what `/config` serves). */
  config: ModelConfig;
  /** The model's own inputs and outputs (of the latest version), as its file declares them. */
  signature: { inputs: ModelTensor[]; outputs: ModelTensor[] };
  /** The config.pbtxt it was read from, when there is one. */
  configFile?: string;
  /** Removes what was written for this source (a load request's files); call it once the model is unloaded. */
  cleanup?: () => Promise<void>;
}

/** A model that cannot be loaded; the message starts `failed to load 'NAME'`, as Triton's does. */
export class ModelLoadError extends InputError {
  constructor(
    readonly modelName: string,
    readonly reason: string,
  ) {
    super(`failed to load '${modelName}': ${reason}`);
  }
}
