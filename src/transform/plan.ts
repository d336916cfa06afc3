/**
 * The execution plan of a rewritten model, stored in its metadata_props (key `onnx_parallelize.plan`, JSON):
 * which value each replica reads for each batched input and writes for each output, and how the host splits
 * and joins. ParallelSession reads it to run each replica as its own session and split and join in JS.
 */
import type { GraphProto, ModelProto } from '../onnx.js';
import { InputError } from '../errors.js';
import { makeEntry } from '../graph/build.js';
import { MAX_DIM, shapeOf } from '../graph/types.js';
import { combineModes, isDevice, MAX_DEVICES, type CombineMode } from './options.js';
import { MAX_INTEGER_WEIGHT } from './split-sizes.js';

export const PLAN_KEY = 'onnx_parallelize.plan';

export interface ExecutionPlan {
  version: 1;
  devices: string[];
  /** Integer split weights, one per replica. */
  weights: number[];
  inputs: Array<{ name: string; axis: number | null; fixedBatch: number | null; parts: string[] }>;
  outputs: Array<{ name: string; axis: number | null; combine: CombineMode | null; parts: string[] }>;
}

export function withPlan(model: ModelProto, plan: ExecutionPlan): ModelProto['metadataProps'] {
  return [...model.metadataProps.filter((p) => p.key !== PLAN_KEY), makeEntry(PLAN_KEY, JSON.stringify(plan))];
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isName = (value: unknown): value is string => typeof value === 'string' && value !== '';
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1;

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Reads the plan's JSON against the model it came with; every field is checked before anything uses it. */
class PlanReader {
  constructor(private readonly graph: GraphProto | undefined) {}

  damaged(path: string, expected: string, value: unknown): InputError {
    return new InputError(`model: the execution plan (metadata_props '${PLAN_KEY}') is damaged: ${path} must be ${expected}, not ${shown(value)}; rewrite the original model again`);
  }

  field<T>(record: Json, key: string, path: string, expected: string, is: (value: unknown) => value is T): T {
    const value = record[key];
    if (!is(value)) throw this.damaged(`${path}${key}`, expected, value);
    return value;
  }

  /** A list of `length` entries (any number when undefined), each `entry` (said as "a device", "a value name"). */
  list<T>(record: Json, key: string, path: string, entry: string, length: number | undefined, is: (value: unknown) => value is T): T[] {
    const value = record[key];
    if (!Array.isArray(value) || (length !== undefined && value.length !== length)) {
      throw this.damaged(`${path}${key}`, `a list of ${length ?? 'any number of'} entries, each ${entry}`, value);
    }
    value.forEach((item, k) => {
      if (!is(item)) throw this.damaged(`${path}${key}[${k}]`, entry, item);
    });
    return value as T[];
  }

  /** An axis: null, or a whole number below the rank of the graph value it belongs to (when known). */
  axis(record: Json, path: string, rank: number | undefined): number | null {
    const value = record['axis'];
    if (value === null) return null;
    const fits = Number.isSafeInteger(value) && (value as number) >= 0 && (rank === undefined || (value as number) < rank);
    if (!fits) throw this.damaged(`${path}axis`, `null or a whole number from 0${rank === undefined ? '' : ` to ${rank - 1}`}`, value);
    return value as number;
  }

  /** The rank of the graph input or output `name`; refuses a name the graph does not have. */
  rankOf(kind: 'input' | 'output', name: string, path: string): number | undefined {
    if (this.graph === undefined) return undefined;
    const info = (kind === 'input' ? this.graph.input : this.graph.output).find((i) => i.name === name);
    if (info === undefined) throw this.damaged(`${path}name`, `the name of a graph ${kind}`, name);
    return shapeOf(info)?.length;
  }

  read(value: unknown): ExecutionPlan {
    if (!isRecord(value)) throw this.damaged('the plan', 'a JSON object', value);
    if (value['version'] !== 1) {
      if (isCount(value['version'])) throw new InputError(`model: execution plan version ${String(value['version'])} is not supported by this onnx-parallelize`);
      throw this.damaged('version', '1', value['version']);
    }
    const devices = this.list(value, 'devices', '', 'a device (cuda:K or cpu)', undefined, isDevice);
    if (devices.length < 1 || devices.length > MAX_DEVICES) throw this.damaged('devices', `a list of 1 to ${MAX_DEVICES} devices`, devices);
    const n = devices.length;
    const isWeight = (w: unknown): w is number => isCount(w) && w <= MAX_INTEGER_WEIGHT;
    const weights = this.list(value, 'weights', '', `a whole number from 1 to ${MAX_INTEGER_WEIGHT}`, n, isWeight);
    const inputs = this.list(value, 'inputs', '', 'an object', undefined, isRecord).map((input, k) => {
      const path = `inputs[${k}].`;
      const name = this.field(input, 'name', path, 'a value name', isName);
      const axis = this.axis(input, path, this.rankOf('input', name, path));
      const fixedBatch = input['fixedBatch'] === null ? null : this.field(input, 'fixedBatch', path, `null or a whole number from 1 to ${MAX_DIM}`, isCount);
      const parts = this.list(input, 'parts', path, 'a value name', axis === null ? undefined : n, isName);
      return { name, axis, fixedBatch, parts };
    });
    const outputs = this.list(value, 'outputs', '', 'an object', undefined, isRecord).map((output, k) => {
      const path = `outputs[${k}].`;
      const name = this.field(output, 'name', path, 'a value name', isName);
      const axis = this.axis(output, path, this.rankOf('output', name, path));
      const isCombine = (c: unknown): c is CombineMode | null => (c === null && axis !== null) || (axis === null && combineModes.includes(c as CombineMode));
      const combine = this.field(output, 'combine', path, axis === null ? `one of ${combineModes.join(', ')} (the axis is null)` : 'null (the output has an axis)', isCombine);
      const parts = this.list(output, 'parts', path, 'a value name', n, isName);
      return { name, axis, combine, parts };
    });
    return { version: 1, devices, weights, inputs, outputs };
  }
}

/** The plan of a model rewritten by onnx-parallelize, or undefined for any other model; a damaged plan is refused. */
export function readPlan(model: ModelProto): ExecutionPlan | undefined {
  const entry = model.metadataProps.find((p) => p.key === PLAN_KEY);
  if (entry === undefined) return undefined;
  const reader = new PlanReader(model.graph);
  let value: unknown;
  try {
    value = JSON.parse(entry.value);
  } catch {
    throw reader.damaged('the plan', 'JSON', entry.value);
  }
  return reader.read(value);
}

/** The rows each replica runs per call of a model exported at a fixed batch, or null for a symbolic batch. */
export function fixedBatchOf(plan: ExecutionPlan): number | null {
  return plan.inputs.find((i) => i.axis !== null && i.fixedBatch !== null)?.fixedBatch ?? null;
}
