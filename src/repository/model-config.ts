/**
 * Triton's model configuration, `inference.ModelConfig`, in the JSON form Triton's `GET /v2/models/NAME/config`
 * gives: proto field names, enums by name, and 64-bit integers as protobuf's JSON writes them (strings), except
 * the fields Triton turns back into numbers (its ModelConfigToJson): dims and reshape shapes, specific versions,
 * the batchers' delays and timeouts, priority levels, ensemble step versions, warm-up dims (a value past 2^53,
 * which a JavaScript number cannot hold exactly, stays a decimal string there too).
 *
 * It is read from config.pbtxt (the text format, parsed from the schema) or from JSON (a load request's config
 * override), checked against the schema the same way.
 */
import protobuf from 'protobufjs';
import { InputError } from '../errors.js';
import { modelConfigType } from './schema.js';
import { readJsonMessage, JsonSchemaError } from './text-format/json-reader.js';
import { parseTextFormat, type JsonObject } from './text-format/parser.js';
import { defaultOf } from './text-format/scalars.js';
import { TextFormatError } from './text-format/tokenizer.js';

export type ModelDataType =
  | 'TYPE_INVALID' | 'TYPE_BOOL' | 'TYPE_UINT8' | 'TYPE_UINT16' | 'TYPE_UINT32' | 'TYPE_UINT64' | 'TYPE_INT8' | 'TYPE_INT16'
  | 'TYPE_INT32' | 'TYPE_INT64' | 'TYPE_FP16' | 'TYPE_FP32' | 'TYPE_FP64' | 'TYPE_STRING' | 'TYPE_BF16';

export interface ModelTensorConfig {
  name?: string;
  data_type?: ModelDataType;
  dims?: number[];
  reshape?: { shape?: number[] };
  [field: string]: unknown;
}

export interface ModelInstanceGroupConfig {
  name?: string;
  kind?: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
  count?: number;
  gpus?: number[];
  [field: string]: unknown;
}

export interface ModelQueuePolicyConfig {
  timeout_action?: 'REJECT' | 'DELAY';
  default_timeout_microseconds?: number;
  allow_timeout_override?: boolean;
  max_queue_size?: number;
}

export interface ModelDynamicBatchingConfig {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  preserve_ordering?: boolean;
  priority_levels?: number;
  default_priority_level?: number;
  default_queue_policy?: ModelQueuePolicyConfig;
  priority_queue_policy?: Record<string, ModelQueuePolicyConfig>;
  [field: string]: unknown;
}

export interface ModelVersionPolicyConfig {
  latest?: { num_versions?: number };
  all?: Record<string, never>;
  specific?: { versions?: number[] };
}

/** `inference.ModelConfig` in Triton's JSON form; the fields this project reads are typed, the rest pass through. */
export interface ModelConfig {
  name?: string;
  platform?: string;
  backend?: string;
  runtime?: string;
  version_policy?: ModelVersionPolicyConfig;
  max_batch_size?: number;
  input?: ModelTensorConfig[];
  output?: ModelTensorConfig[];
  instance_group?: ModelInstanceGroupConfig[];
  default_model_filename?: string;
  dynamic_batching?: ModelDynamicBatchingConfig;
  sequence_batching?: JsonObject;
  ensemble_scheduling?: JsonObject;
  parameters?: Record<string, { string_value?: string }>;
  [field: string]: unknown;
}

/** Where Triton's ModelConfigToJson writes 64-bit integers as numbers: paths of field names, `[]` for each element, `{}` for each map value. */
const TRITON_NUMBER_FIELDS: readonly string[][] = [
  ['input', '[]', 'dims'],
  ['input', '[]', 'reshape', 'shape'],
  ['output', '[]', 'dims'],
  ['output', '[]', 'reshape', 'shape'],
  ['version_policy', 'specific', 'versions'],
  ['dynamic_batching', 'max_queue_delay_microseconds'],
  ['dynamic_batching', 'priority_levels'],
  ['dynamic_batching', 'default_priority_level'],
  ['dynamic_batching', 'default_queue_policy', 'default_timeout_microseconds'],
  ['dynamic_batching', 'priority_queue_policy', '{}', 'default_timeout_microseconds'],
  ['sequence_batching', 'max_sequence_idle_microseconds'],
  ['sequence_batching', 'oldest', 'max_queue_delay_microseconds'],
  ['sequence_batching', 'direct', 'max_queue_delay_microseconds'],
  ['sequence_batching', 'state', '[]', 'dims'],
  ['ensemble_scheduling', 'step', '[]', 'model_version'],
  ['model_warmup', '[]', 'inputs', '{}', 'dims'],
];

/** Decimal strings as numbers; a value past 2^53, which a JavaScript number cannot hold exactly, stays a string. */
function toNumbers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toNumbers);
  return typeof value === 'string' && /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

function fixAt(node: unknown, path: readonly string[]): void {
  if (typeof node !== 'object' || node === null) return;
  const [step, ...rest] = path;
  if (step === '[]') {
    if (Array.isArray(node)) for (const item of node) fixAt(item, rest);
    return;
  }
  if (step === '{}') {
    for (const item of Object.values(node)) fixAt(item, rest);
    return;
  }
  const record = node as JsonObject;
  if (!(step! in record)) return;
  if (rest.length === 0) record[step!] = toNumbers(record[step!]);
  else fixAt(record[step!], rest);
}

/** The canonical JSON of a ModelConfig (64-bit integers as strings) in Triton's form. */
function tritonForm(canonical: JsonObject): ModelConfig {
  for (const path of TRITON_NUMBER_FIELDS) fixAt(canonical, path);
  return canonical as ModelConfig;
}

/** Reads config.pbtxt text; errors name `file:line:column` and what was expected. */
export function parseModelConfig(text: string, file: string): ModelConfig {
  try {
    return tritonForm(parseTextFormat(text, modelConfigType()));
  } catch (error) {
    if (error instanceof TextFormatError) throw new InputError(`${file}:${error.line}:${error.column}: ${error.detail}`);
    throw error;
  }
}

/** Reads a ModelConfig given as JSON (Triton's JSON mapping); an unknown field or a bad value is an error naming it, after `where`. */
export function modelConfigFromJson(json: unknown, where: string): ModelConfig {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new InputError(`${where}: not JSON (${(error as Error).message})`);
    }
  }
  try {
    return tritonForm(readJsonMessage(value, modelConfigType()));
  } catch (error) {
    if (error instanceof JsonSchemaError) throw new InputError(`${where}: ${error.message}`);
    throw error;
  }
}

/** A deep copy, so callers may change the copy. */
export function copyConfig(config: ModelConfig): ModelConfig {
  return structuredClone(config);
}

function withDefaults(message: JsonObject, type: protobuf.Type): JsonObject {
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (value === undefined) {
      // Like protobuf's JSON printer with always_print_primitive_fields: unset messages, oneof members and
      // proto3 `optional` fields stay out; every other field is written with its zero value.
      if (field instanceof protobuf.MapField) out[field.name] = {};
      else if (field.repeated) out[field.name] = [];
      else if (!(field.resolvedType instanceof protobuf.Type) && field.partOf == null && !field.hasPresence) out[field.name] = defaultOf(field);
      continue;
    }
    const messageType = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (messageType === undefined) out[field.name] = value;
    else if (field instanceof protobuf.MapField) out[field.name] = Object.fromEntries(Object.entries(value as JsonObject).map(([k, v]) => [k, withDefaults(v as JsonObject, messageType)]));
    else if (field.repeated) out[field.name] = (value as JsonObject[]).map((v) => withDefaults(v, messageType));
    else out[field.name] = withDefaults(value as JsonObject, messageType);
  }
  return out;
}

/**
 * The configuration as Triton's `GET /v2/models/NAME/config` writes it: every scalar, list and map of each message
 * that is there, with its zero value when not set (protobuf's always_print_primitive_fields), in Triton's form.
 */
export function tritonConfigJson(config: ModelConfig): ModelConfig {
  return tritonForm(withDefaults(structuredClone(config) as JsonObject, modelConfigType()));
}
