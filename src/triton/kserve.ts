/** A KServe InferenceService (serving.kserve.io/v1beta1) that serves a Triton model repository. */
import { Document, isMap, isScalar, type YAMLMap } from 'yaml';
import { InputError } from '../errors.js';
import type { TritonInstanceGroup } from './config.js';

export interface KServeOptions {
  /** The Triton model's name: its folder in the repository. */
  modelName: string;
  /** Where KServe fetches the model repository from: the folder that holds `modelName/`. */
  storageUri: string;
  /** The instance groups of the model's config.pbtxt: the pod gets one GPU per GPU they name. */
  instanceGroups: TritonInstanceGroup[];
}

export interface KServeManifest {
  /** The InferenceService's name (a DNS-1035 label made from the model name). */
  serviceName: string;
  /** nvidia.com/gpu of each pod. */
  gpus: number;
  yaml: string;
}

/** A DNS-1035 label (what Kubernetes allows as an InferenceService name) made from a Triton model name. */
export function serviceNameFor(modelName: string): string {
  let label = modelName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  if (!/^[a-z]/.test(label)) label = `model-${label}`;
  return label.slice(0, 63).replace(/-+$/, '');
}

/** Comments go before a key of a map (yaml keeps them on the key node). */
function commentBefore(map: YAMLMap, key: string, comment: string): void {
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  if (pair === undefined || !isScalar(pair.key)) throw new Error(`no key '${key}' to comment`);
  pair.key.commentBefore = comment;
}

const lines = (...text: string[]): string => text.map((line) => ` ${line}`).join('\n');

export function kserveManifest(options: KServeOptions): KServeManifest {
  const { modelName, storageUri } = options;
  if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(storageUri)) {
    throw new InputError(`--storage-uri '${storageUri}': give the URI KServe fetches the model repository from, such as s3://bucket/model_repository or pvc://claim/model_repository`);
  }
  const gpuIds = [...new Set(options.instanceGroups.flatMap((g) => g.gpus))].sort((a, b) => a - b);
  const outside = gpuIds.filter((id) => id >= gpuIds.length);
  if (outside.length > 0) {
    throw new InputError(
      `--kserve: a pod that is given ${gpuIds.length} GPU${gpuIds.length === 1 ? '' : 's'} sees them as 0..${gpuIds.length - 1}, but the instance groups name GPU ${outside.join(', ')}; ` +
        `place the model with --gpus ${gpuIds.length} (or --devices cuda:0..cuda:${gpuIds.length - 1})`,
    );
  }
  const gpus = gpuIds.length;
  const serviceName = serviceNameFor(modelName);
  const model = {
    modelFormat: { name: 'triton' },
    storageUri,
    ...(gpus === 0 ? {} : { resources: { limits: { 'nvidia.com/gpu': gpus } } }),
  };
  const doc = new Document({
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: serviceName },
    spec: { predictor: { minReplicas: 1, maxReplicas: 1, model } },
  });
  doc.commentBefore = lines(
    `KServe InferenceService for the Triton model '${modelName}', written by onnx-parallelize triton.`,
    `storageUri is the model repository: the folder that holds ${modelName}/config.pbtxt and ${modelName}/1/model.onnx.`,
    `KServe's Triton runtime serves every model in it; clients call this one at /v2/models/${modelName}/infer.`,
  );
  const predictor = doc.getIn(['spec', 'predictor'], true);
  const modelNode = doc.getIn(['spec', 'predictor', 'model'], true);
  if (!isMap(predictor) || !isMap(modelNode)) throw new Error('the manifest lost its predictor');
  const placement = gpus === 0 ? 'on the CPU' : `on its own ${gpus} GPU${gpus === 1 ? '' : 's'}`;
  commentBefore(
    predictor,
    'minReplicas',
    lines(
      `Scale out: each replica is one pod running Triton ${placement}, with the instance groups of config.pbtxt`,
      'inside it. Raise maxReplicas to let KServe add pods under load; minReplicas: 0 scales to zero when idle',
      '(serverless mode only).',
    ),
  );
  if (gpus > 0) commentBefore(modelNode, 'resources', lines('One GPU per GPU named in config.pbtxt; inside the pod they are numbered from 0.'));
  return { serviceName, gpus, yaml: doc.toString() };
}
