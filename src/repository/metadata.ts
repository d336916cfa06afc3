/**
 * A model's metadata as Triton's `GET /v2/models/NAME[/versions/V]` gives it, from its configuration: the protocol's
 * datatype (the config's name without `TYPE_`, strings as BYTES) and the shape clients send, with -1 for the batch
 * in front when max_batch_size > 0 (the config's dims, not the reshape the model sees).
 */
import type { ModelConfig, ModelTensorConfig } from './model-config.js';
import type { ModelSource } from './model-source.js';

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** The protocol's datatype of a config data_type: `TYPE_FP32` -> `FP32`, `TYPE_STRING` -> `BYTES`. */
export function datatypeOfConfigType(dataType: string | undefined): string {
  if (dataType === undefined || dataType === 'TYPE_INVALID') return 'INVALID';
  return dataType === 'TYPE_STRING' ? 'BYTES' : dataType.replace(/^TYPE_/, '');
}

function tensors(list: readonly ModelTensorConfig[] | undefined, batched: boolean): TensorMetadata[] {
  return (list ?? []).map((t) => ({ name: t.name ?? '', datatype: datatypeOfConfigType(t.data_type), shape: [...(batched ? [-1] : []), ...(t.dims ?? [])] }));
}

export function metadataOf(name: string, versions: readonly string[], config: ModelConfig): ModelMetadata {
  const batched = (config.max_batch_size ?? 0) > 0;
  return { name, versions: [...versions], platform: config.platform ?? '', inputs: tensors(config.input, batched), outputs: tensors(config.output, batched) };
}

/** The metadata of a model source (every version it loads). */
export function sourceMetadata(source: ModelSource): ModelMetadata {
  return metadataOf(source.name, source.versions.map((v) => v.version), source.config);
}
