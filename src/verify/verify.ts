/**
 * --verify: runs the original and the rewritten model in onnxruntime on the CPU (through its C API, which takes
 * bfloat16 graph inputs and outputs too: runtime/session/plain-session.ts), on seeded inputs at
 * several batch sizes (one not divisible by N, one smaller than N), and compares every output. Models that
 * are not separable per sample (softmax over the batch, Shape, NonZero, ...) fail here.
 */
import type * as ort from 'onnxruntime-node';
import { TensorProto_DataType, type ModelProto, type ValueInfoProto } from '../onnx.js';
import { messageOf } from '../errors.js';
import { elemTypeOf, shapeOf } from '../graph/types.js';
import type { ParallelizeResult } from '../transform/parallelize.js';
import { splitOffsets, splitSizes } from '../transform/split-sizes.js';
import { combineTensors, concatAlongAxis, sliceAlongAxis } from '../runtime/data/tensor-ops.js';
import { noOrtTypeReason } from '../tensors/ort-types.js';
import { batchCouplingSuspects } from './batch-coupling.js';
import { compareTensors } from './compare.js';
import { PlainSession } from '../runtime/session/plain-session.js';
import { dimsForBatch, randomTensor, type IntegerFill } from '../tensors/feeds.js';
import { SeededRandom } from '../tensors/random.js';

export interface VerifyRun {
  batch: number;
  /** Rows per replica at this batch. */
  sizes: number[];
  status: 'passed' | 'failed' | 'not-verifiable';
  maxAbsError: number;
  maxRelError: number;
  detail?: string;
}

export interface VerifyResult {
  /**
   * passed: every compared batch matched, and at least one of them put rows on two or more replicas (on the
   * one replica when N is 1). not-verifiable: nothing failed, but no such batch could be compared.
   */
  status: 'passed' | 'failed' | 'not-verifiable';
  /** status === 'passed': the rewrite was checked, with its outputs joined from several replicas. */
  verified: boolean;
  maxAbsError: number;
  maxRelError: number;
  runs: VerifyRun[];
  reason?: string;
  /** When failed: operators of the model that can mix the samples of a batch (a hint, see batch-coupling.ts). */
  suspects?: string[];
}

export interface VerifyOptions {
  batches?: number[];
  seed?: number;
  /**
   * Real inputs (for example from .npy files). Samples of inputs without a batch axis are used at every batch
   * size; samples of batched inputs add one run at their own batch size (other batched inputs random).
   */
  samples?: Record<string, ort.Tensor>;
}

type Feeds = Record<string, ort.Tensor>;

const integerTypes = new Set([TensorProto_DataType.INT8, TensorProto_DataType.UINT8, TensorProto_DataType.INT16, TensorProto_DataType.UINT16, TensorProto_DataType.INT32, TensorProto_DataType.UINT32, TensorProto_DataType.INT64, TensorProto_DataType.UINT64]);
const isInteger = (info: ValueInfoProto): boolean => integerTypes.has(elemTypeOf(info) ?? TensorProto_DataType.UNDEFINED);

/** Sessions for verification: one thread each, and onnxruntime's own error log silenced (errors are reported here). */
const verifySessionOptions = { intraOpNumThreads: 1, logSeverityLevel: 4 } as const;

const firstLine = (error: unknown): string => messageOf(error).split('\n')[0]!.slice(0, 300);

/** The batch sizes to try: 1, N, N+1 and 4N+3 (one smaller than N when N > 1, several not divisible by N). */
export function defaultBatches(n: number): number[] {
  return [...new Set([1, n, n + 1, 4 * n + 3])];
}

/** Sizes tried for symbolic dims other than the batch (sequence lengths, image sizes), smallest first. */
const OTHER_DIM_SIZES = [3, 16, 128, 1024];

export async function verifyParallel(original: ModelProto, result: ParallelizeResult, given: VerifyOptions = {}): Promise<VerifyResult> {
  const { report } = result;
  const options: VerifyOptions = given.samples === undefined ? given : { ...given, samples: { ...given.samples } };
  const n = report.devices.length;
  const inputs = report.inputs.map((i) => ({ ...i, info: original.graph!.input.find((v) => v.name === i.name)! }));
  const fixed = inputs.find((i) => i.axis !== null && typeof i.batch === 'number');
  const batchName = inputs.find((i) => i.axis !== null && typeof i.batch === 'string')?.batch as string | undefined;
  const needsParts = fixed !== undefined || report.outputs.some((o) => o.combine === 'stack');
  const batches = fixed !== undefined ? [n * (fixed.batch as number)] : (options.batches ?? defaultBatches(n));

  let originalSession: PlainSession | undefined;
  let parallelSession: PlainSession | undefined;
  const runs: VerifyRun[] = [];
  const unsupported = unsupportedType(inputs.map((i) => i.info), original.graph!.output);
  const bfloat16Outputs = new Set(original.graph!.output.filter((o) => elemTypeOf(o) === TensorProto_DataType.BFLOAT16).map((o) => o.name));
  if (unsupported !== undefined) return notVerified(runs, unsupported);
  try {
    try {
      originalSession = await PlainSession.create(original, verifySessionOptions);
    } catch (error) {
      return notVerified(runs, `onnxruntime cannot load the original model: ${firstLine(error)}`);
    }
    try {
      parallelSession = await PlainSession.create(result.model, verifySessionOptions);
    } catch (error) {
      return { status: 'failed', verified: false, maxAbsError: Infinity, maxRelError: Infinity, runs, reason: `onnxruntime cannot load the rewritten model: ${firstLine(error)}` };
    }
    for (const batch of batches) {
      runs.push(await verifyBatch(batch, false));
    }
    const batchedSample = inputs.find((i) => i.axis !== null && options.samples?.[i.name] !== undefined);
    if (batchedSample !== undefined) {
      let sampleBatch = options.samples![batchedSample.name]!.dims[batchedSample.axis!]!;
      if (fixed !== undefined && sampleBatch === fixed.batch) {
        // Samples for the original fixed batch B: the rewritten model takes N of them.
        for (const input of inputs) {
          const sample = options.samples![input.name];
          if (input.axis !== null && sample !== undefined) options.samples![input.name] = concatAlongAxis(Array<ort.Tensor>(n).fill(sample), input.axis);
        }
        sampleBatch *= n;
      }
      runs.push(await verifyBatch(sampleBatch, true));
    }
  } finally {
    await originalSession?.release();
    await parallelSession?.release();
  }

  async function referenceOutputs(feeds: Feeds, batch: number): Promise<Feeds> {
    const sizes = splitSizes(fixed === undefined ? batch : n * (fixed.batch as number), report.weights);
    const offsets = splitOffsets(sizes);
    const full = fixed === undefined ? await originalSession!.run(feeds) : undefined;
    if (!needsParts) return full!;
    const perPart: Feeds[] = [];
    for (let p = 0; p < n; p++) {
      if (sizes[p] === 0) {
        perPart.push({});
        continue;
      }
      const partFeeds: Feeds = {};
      for (const input of inputs) {
        const tensor = feeds[input.name]!;
        partFeeds[input.name] = input.axis === null ? tensor : sliceAlongAxis(tensor, input.axis, offsets[p]!, offsets[p]! + sizes[p]!);
      }
      perPart.push(await originalSession!.run(partFeeds));
    }
    const expected: Feeds = {};
    for (const output of report.outputs) {
      const parts = perPart.map((outs) => outs[output.name]!);
      if (full !== undefined && output.combine !== 'stack') expected[output.name] = full[output.name]!;
      else if (output.axis !== null) expected[output.name] = concatAlongAxis(parts.filter((_, i) => sizes[i]! > 0), output.axis);
      else expected[output.name] = combineTensors(output.combine!, parts, sizes);
    }
    return expected;
  }

  /**
   * One batch size, with integer inputs filled three ways (small positive values, ones, zeros): every fill
   * the original accepts must match. Fills the original rejects are skipped; if it rejects all of them, the
   * batch is not verifiable.
   */
  async function verifyBatch(batch: number, withBatchedSamples: boolean): Promise<VerifyRun> {
    const run = await verifyBatchRun(batch, withBatchedSamples);
    return { ...run, sizes: fixed === undefined ? splitSizes(batch, report.weights) : Array<number>(n).fill(fixed.batch as number) };
  }

  async function verifyBatchRun(batch: number, withBatchedSamples: boolean): Promise<Omit<VerifyRun, 'sizes'>> {
    const fills: IntegerFill[] = ['small-positive', 'ones', 'zeros'];
    const hasOtherDims = inputs.some((input) => (shapeOf(input.info) ?? []).some((dim, i) => i !== input.axis && dim !== batchName && !(typeof dim === 'number' && dim >= 0)));
    let rejection: string | undefined;
    let maxAbs = 0;
    let maxRel = 0;
    let accepted = 0;
    // The smallest size of the other symbolic dims that the original accepts, with every integer fill.
    for (const otherSize of hasOtherDims ? OTHER_DIM_SIZES : OTHER_DIM_SIZES.slice(0, 1)) {
      for (const fill of fills) {
        const random = new SeededRandom((options.seed ?? 20240601) + batch);
        const feeds: Feeds = {};
        for (const input of inputs) {
          const sample = input.axis === null || withBatchedSamples ? options.samples?.[input.name] : undefined;
          if (sample !== undefined) {
            feeds[input.name] = sample;
            continue;
          }
          const dims = dimsForBatch(input.info, input.axis, batch, batchName ?? null, otherSize);
          if (dims === undefined) return { batch, status: 'not-verifiable', maxAbsError: 0, maxRelError: 0, detail: `input '${input.name}' has no declared shape; give it with --verify-input` };
          try {
            feeds[input.name] = randomTensor(input.info, dims, random, fill);
          } catch (error) {
            return { batch, status: 'not-verifiable', maxAbsError: 0, maxRelError: 0, detail: `${messageOf(error)}; give it with --verify-input` };
          }
        }
        let expected: Feeds;
        try {
          expected = await referenceOutputs(feeds, batch);
        } catch (error) {
          rejection ??= firstLine(error);
          continue;
        }
        accepted += 1;
        let actual: Feeds;
        try {
          actual = await parallelSession!.run(feeds);
        } catch (error) {
          return { batch, status: 'failed', maxAbsError: Infinity, maxRelError: Infinity, detail: `the rewritten model fails: ${firstLine(error)}` };
        }
        for (const output of report.outputs) {
          const comparison = compareTensors(actual[output.name]!, expected[output.name]!, bfloat16Outputs.has(output.name));
          maxAbs = Math.max(maxAbs, comparison.maxAbsError);
          maxRel = Math.max(maxRel, comparison.maxRelError);
          if (!comparison.equal) return { batch, status: 'failed', maxAbsError: maxAbs, maxRelError: maxRel, detail: `output '${output.name}': ${comparison.detail}` };
        }
        if (!inputs.some((i) => isInteger(i.info) && options.samples?.[i.name] === undefined)) break; // the fill changes nothing
      }
      if (accepted > 0) break;
    }
    if (accepted === 0) return { batch, status: 'not-verifiable', maxAbsError: 0, maxRelError: 0, detail: `the original model rejects the generated inputs: ${rejection}` };
    return { batch, status: 'passed', maxAbsError: maxAbs, maxRelError: maxRel };
  }

  const failed = runs.find((r) => r.status === 'failed');
  const maxAbsError = Math.max(0, ...runs.map((r) => r.maxAbsError));
  const maxRelError = Math.max(0, ...runs.map((r) => r.maxRelError));
  if (failed !== undefined) {
    const suspects = batchCouplingSuspects(original);
    return { status: 'failed', verified: false, maxAbsError, maxRelError, runs, reason: `batch ${failed.batch}: ${failed.detail}`, ...(suspects.length > 0 ? { suspects } : {}) };
  }
  // A batch on one replica compares the original with itself: only one split over replicas checks the rewrite.
  const spread = (run: VerifyRun): boolean => run.sizes.filter((size) => size > 0).length >= Math.min(2, n);
  if (!runs.some((r) => r.status === 'passed' && spread(r))) {
    const unchecked = runs.find((r) => r.status !== 'passed' && spread(r)) ?? runs.find((r) => r.status !== 'passed');
    const why = unchecked === undefined ? 'no batch size that puts rows on two or more replicas was tried' : `no batch that puts rows on two or more replicas could be compared (batch ${unchecked.batch}: ${unchecked.detail})`;
    return notVerified(runs, why.includes('--verify-input') ? why : `${why}; give real samples with --verify-input`);
  }
  return { status: 'passed', verified: true, maxAbsError, maxRelError, runs };
}

/** Why no onnxruntime-node tensor can hold a declared graph input or output (a float8 one, ...), or undefined. */
function unsupportedType(inputs: ValueInfoProto[], outputs: ValueInfoProto[]): string | undefined {
  const values = [...inputs.map((info) => ({ info, what: `input '${info.name}'` })), ...outputs.map((info) => ({ info, what: `output '${info.name}'` }))];
  // Values that are not declared tensors are left to the runs.
  return values.map(({ info, what }) => (elemTypeOf(info) === undefined ? undefined : noOrtTypeReason(elemTypeOf(info), what))).find((reason) => reason !== undefined);
}

function notVerified(runs: VerifyRun[], reason: string): VerifyResult {
  return { status: 'not-verifiable', verified: false, maxAbsError: Math.max(0, ...runs.map((r) => r.maxAbsError)), maxRelError: Math.max(0, ...runs.map((r) => r.maxRelError)), runs, reason };
}
