/**
 * What Triton's core fills in of a model configuration before the backend sees it (model_config_utils.cc:
 * AutoCompleteBackendFields, NormalizeModelConfig, NormalizeInstanceGroup), for ONNX models: the name from the
 * folder, `backend`/`platform` and `default_model_filename`, the default version policy (latest 1), the dynamic
 * batcher's preferred size (max_batch_size when none is given), pinned-memory optimization flags, and instance
 * groups (one group when none is given: one instance on every GPU, else 2 on the CPU, the onnxruntime backend's
 * default; KIND_AUTO becomes KIND_GPU where the listed GPUs exist, else KIND_CPU; a KIND_GPU group without `gpus`
 * runs on every GPU).
 */
import type { ModelConfig, ModelInstanceGroupConfig } from './model-config.js';

export const ONNX_BACKEND = 'onnxruntime';
export const ONNX_PLATFORM = 'onnxruntime_onnx';
export const ONNX_MODEL_FILE = 'model.onnx';
/** Instances of a KIND_CPU group without a count, for the onnxruntime backend (Triton's default_cpu_instance_count). */
export const DEFAULT_CPU_INSTANCES = 2;

/** Files by which Triton recognizes another backend in a version folder, when the configuration names none. */
const OTHER_BACKEND_FILES: ReadonlyMap<string, string> = new Map(Object.entries({
  'model.plan': 'tensorrt',
  'model.savedmodel': 'tensorflow',
  'model.graphdef': 'tensorflow',
  'model.pt': 'pytorch',
  'model.py': 'python',
  'model.xml': 'openvino',
}));

/**
 * Why the model is not an ONNX Runtime model (another backend or platform, or an ensemble), or undefined when it
 * is one. `versionFiles`: the names in the first version folder, to recognize the backend as Triton does when the
 * configuration names none.
 */
export function otherBackend(config: ModelConfig, versionFiles: readonly string[]): string | undefined {
  const { backend = '', platform = '' } = config;
  if (platform === 'ensemble' || config.ensemble_scheduling !== undefined) return `it is an ensemble (platform 'ensemble'); only ONNX models (backend '${ONNX_BACKEND}') are served`;
  if (backend !== '' && backend !== ONNX_BACKEND) return `its backend is '${backend}'; only ONNX models (backend '${ONNX_BACKEND}') are served`;
  if (platform !== '' && platform !== ONNX_PLATFORM) return `its platform is '${platform}'; only ONNX models (platform '${ONNX_PLATFORM}') are served`;
  const file = config.default_model_filename ?? '';
  if (backend === '' && platform === '') {
    if (file !== '' && OTHER_BACKEND_FILES.has(file)) return `its model file is ${file} (backend '${OTHER_BACKEND_FILES.get(file)}'); only ONNX models are served`;
    if (file === '' && !versionFiles.includes(ONNX_MODEL_FILE)) {
      const other = versionFiles.find((f) => OTHER_BACKEND_FILES.has(f));
      if (other !== undefined) return `its version folder holds ${other} (backend '${OTHER_BACKEND_FILES.get(other)}'), not ${ONNX_MODEL_FILE}; only ONNX models are served`;
    }
  }
  return undefined;
}

/** Fills name, backend, platform and default_model_filename as Triton's core does for an ONNX model. */
export function completeBackendFields(config: ModelConfig, name: string): ModelConfig {
  return {
    ...config,
    name: config.name === undefined || config.name === '' ? name : config.name,
    backend: config.backend === undefined || config.backend === '' ? ONNX_BACKEND : config.backend,
    platform: config.platform === undefined || config.platform === '' ? ONNX_PLATFORM : config.platform,
    default_model_filename: config.default_model_filename === undefined || config.default_model_filename === '' ? ONNX_MODEL_FILE : config.default_model_filename,
  };
}

/**
 * Triton's normalization of a complete configuration; `gpus`: the GPUs this process can run sessions on (CUDA
 * indices), as Triton's supported GPUs.
 */
export function normalizeConfig(config: ModelConfig, gpus: readonly number[]): ModelConfig {
  const out: ModelConfig = { ...config };
  if (out.version_policy === undefined) out.version_policy = { latest: { num_versions: 1 } };
  const maxBatch = (out.max_batch_size ??= 0);
  if (out.dynamic_batching !== undefined && (out.dynamic_batching.preferred_batch_size ?? []).length === 0 && maxBatch > 0) {
    out.dynamic_batching = { ...out.dynamic_batching, preferred_batch_size: [maxBatch] };
  }
  const optimization = { ...((out['optimization'] as Record<string, unknown> | undefined) ?? {}) };
  optimization['input_pinned_memory'] ??= { enable: true };
  optimization['output_pinned_memory'] ??= { enable: true };
  out['optimization'] = optimization;
  out.instance_group = normalizeInstanceGroups(out.name ?? '', out.instance_group ?? [], gpus);
  return out;
}

export function normalizeInstanceGroups(name: string, groups: readonly ModelInstanceGroupConfig[], gpus: readonly number[]): ModelInstanceGroupConfig[] {
  const given = groups.length > 0 ? groups : [{ name }];
  return given.map((group, i) => {
    const out: ModelInstanceGroupConfig = { ...group };
    if (out.name === undefined || out.name === '') out.name = `${name}_${i}`;
    let kind = out.kind ?? 'KIND_AUTO';
    if (kind === 'KIND_AUTO') kind = gpus.length > 0 && (out.gpus ?? []).every((g) => gpus.includes(g)) ? 'KIND_GPU' : 'KIND_CPU';
    out.kind = kind;
    if ((out.count ?? 0) < 1) out.count = kind === 'KIND_CPU' ? DEFAULT_CPU_INSTANCES : 1;
    if (kind === 'KIND_GPU' && (out.gpus ?? []).length === 0) out.gpus = [...gpus];
    return out;
  });
}
