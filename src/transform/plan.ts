/**
 * The execution plan of a rewritten model, stored in its metadata_props (key `onnx_parallelize.plan`, JSON):
 * which value each replica reads for each batched input and writes for each output, and how the host splits
 * and joins. ParallelSession reads it to run each replica as its own session and split and join in JS.
 */
import type { ModelProto } from '../onnx.js';
import { makeEntry } from '../graph/build.js';
import type { CombineMode } from './options.js';

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

export function readPlan(model: ModelProto): ExecutionPlan | undefined {
  const entry = model.metadataProps.find((p) => p.key === PLAN_KEY);
  if (entry === undefined) return undefined;
  const plan = JSON.parse(entry.value) as ExecutionPlan;
  if (plan.version !== 1) throw new TypeError(`model: execution plan version ${String(plan.version)} is not supported by this onnx-parallelize`);
  return plan;
}
