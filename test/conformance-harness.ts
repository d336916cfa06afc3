/**
 * Data-parallel rewrite of Debian's ONNX conformance models (libonnx-testdata): the tests whose inputs and
 * outputs share a first dim >= 2 get that dim made symbolic, are rewritten for N devices, verified on random
 * inputs, and run on the test's own input_*.pb against its output_*.pb.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import type * as ort from 'onnxruntime-node';
import { TensorProtoSchema, TensorShapeProto_DimensionSchema, type ModelProto, type ValueInfoProto } from '../src/onnx.js';
import { decodeModel } from '../src/io/codec.js';
import { InputError } from '../src/errors.js';
import { tensorFromProto } from '../src/io/tensor-proto.js';
import { parallelize } from '../src/transform/parallelize.js';
import { createSession } from '../src/runtime/session/session-source.js';
import { verifyParallel } from '../src/verify/verify.js';
import type { Comparison } from '../src/verify/compare.js';
import { compareTensors, floatValues } from '../src/verify/compare.js';
import { conformanceRoot, ensureConformanceData } from './helpers.js';

export interface ConformanceCase {
  name: string;
  model: ModelProto;
  inputs: ort.Tensor[];
  outputs: ort.Tensor[];
  batchedInputs: boolean[];
  batchedOutputs: boolean[];
}

/**
 * pass: the rewritten model reproduces the reference outputs and --verify does not fail.
 * caught: --verify fails (the model is not separable per sample, or the rewrite broke it).
 * silent: the rewritten model does not reproduce the reference, yet --verify did not fail. Must never happen.
 * refused: the rewrite refused the model with a clear error.
 * not-runnable: onnxruntime cannot run the original model on its test data, or disagrees with the reference.
 */
export type Outcome = 'pass' | 'refused' | 'caught' | 'silent' | 'not-runnable';

function readTensors(folder: string, prefix: string): ort.Tensor[] {
  const files = readdirSync(folder).filter((f) => f.startsWith(prefix) && f.endsWith('.pb')).sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  return files.map((f) => tensorFromProto(fromBinary(TensorProtoSchema, readFileSync(path.join(folder, f)))));
}

function makeBatchSymbolic(info: ValueInfoProto): void {
  const value = info.type?.value;
  if (value?.case === 'tensorType' && value.value.shape !== undefined && value.value.shape.dim.length > 0) {
    value.value.shape.dim[0] = create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: 'batch' } });
  }
}

/** The eligible conformance cases: inputs and outputs share a first dim >= 2. */
export function conformanceCases(): ConformanceCase[] {
  ensureConformanceData();
  const cases: ConformanceCase[] = [];
  for (const suite of ['node', 'pytorch-converted', 'pytorch-operator']) {
    for (const test of readdirSync(path.join(conformanceRoot, suite)).sort()) {
      const folder = path.join(conformanceRoot, suite, test);
      const dataFolder = path.join(folder, 'test_data_set_0');
      if (!existsSync(dataFolder)) continue;
      let inputs: ort.Tensor[];
      let outputs: ort.Tensor[];
      try {
        inputs = readTensors(dataFolder, 'input_');
        outputs = readTensors(dataFolder, 'output_');
      } catch {
        continue; // element types onnxruntime-node cannot hold
      }
      const model = decodeModel(readFileSync(path.join(folder, 'model.onnx')), test);
      const graph = model.graph!;
      const initializers = new Set(graph.initializer.map((t) => t.name));
      const realInputs = graph.input.filter((i) => !initializers.has(i.name));
      if (realInputs.length !== inputs.length || graph.output.length !== outputs.length) continue;
      const inDims = new Set(inputs.map((t) => t.dims[0]).filter((d): d is number => d !== undefined && d >= 2));
      const d = outputs.map((t) => t.dims[0]).find((x) => x !== undefined && inDims.has(x));
      if (d === undefined) continue;
      const batchedInputs = inputs.map((t) => t.dims[0] === d);
      const batchedOutputs = outputs.map((t) => t.dims[0] === d);
      realInputs.forEach((info, i) => batchedInputs[i] && makeBatchSymbolic(info));
      graph.output.forEach((info, i) => batchedOutputs[i] && makeBatchSymbolic(info));
      cases.push({ name: `${suite}/${test}`, model, inputs, outputs, batchedInputs, batchedOutputs });
    }
  }
  return cases;
}

/** Loose comparison against the reference outputs, as ONNX backend tests do (rtol 1e-3, atol 1e-7). */
function matchesReference(actual: ort.Tensor, expected: ort.Tensor): boolean {
  if (actual.dims.join() !== expected.dims.join()) return false;
  if (!['float32', 'float64', 'float16'].includes(expected.type)) return compareTensors(actual, expected).equal;
  const c: Comparison = compareTensors(actual, expected);
  if (c.equal) return true;
  const a = floatValues(actual);
  const e = floatValues(expected);
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(e[i])) continue;
    if (Math.abs(a[i]! - e[i]!) > 1e-7 + 1e-3 * Math.abs(e[i]!)) return false;
  }
  return true;
}

async function runAndMatch(model: ModelProto, c: ConformanceCase): Promise<boolean | 'error'> {
  let session;
  try {
    session = await createSession(model, { intraOpNumThreads: 1, logSeverityLevel: 4 });
    const feeds: Record<string, ort.Tensor> = {};
    session.inputNames.forEach((name, i) => (feeds[name] = c.inputs[i]!));
    const results = await session.run(feeds);
    return model.graph!.output.every((o, i) => matchesReference(results[o.name]!, c.outputs[i]!));
  } catch {
    return 'error';
  } finally {
    await session?.release();
  }
}

export async function runConformanceCase(c: ConformanceCase, n: number): Promise<{ outcome: Outcome; detail: string }> {
  const original = await runAndMatch(c.model, c);
  if (original !== true) return { outcome: 'not-runnable', detail: original === 'error' ? 'onnxruntime cannot run the original' : 'onnxruntime disagrees with the reference' };
  const graph = c.model.graph!;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const axes: Record<string, number | null> = {};
  graph.input.filter((i) => !initializers.has(i.name)).forEach((info, i) => (axes[info.name] = c.batchedInputs[i] ? 0 : null));
  const combine: Record<string, 'first'> = {};
  graph.output.forEach((info, i) => (c.batchedOutputs[i] ? (axes[info.name] = 0) : (combine[info.name] = 'first')));
  let result;
  try {
    result = parallelize(c.model, { devices: Array.from({ length: n }, () => 'cpu'), axes, combine });
  } catch (error) {
    if (error instanceof InputError) return { outcome: 'refused', detail: error.message };
    throw error;
  }
  // The test's own inputs are the real samples (--verify-input): inputs without a batch axis (shapes, axes,
  // sizes) are used at every batch size, and one run uses all of them at the test's batch size.
  const samples: Record<string, ort.Tensor> = {};
  graph.input.filter((i) => !initializers.has(i.name)).forEach((info, i) => (samples[info.name] = c.inputs[i]!));
  const verify = await verifyParallel(c.model, result, { samples });
  const rewritten = await runAndMatch(result.model, c);
  if (verify.status === 'failed') return { outcome: 'caught', detail: `${rewritten === true ? 'matches the reference, ' : ''}${verify.reason ?? ''}` };
  if (rewritten === true) return { outcome: 'pass', detail: verify.status };
  return { outcome: 'silent', detail: `verify ${verify.status}: ${verify.reason ?? ''}; rewritten ${rewritten === 'error' ? 'fails' : 'differs'}` };
}
