/**
 * The split: each batched input is cut along its batch axis into one part per replica.
 * Fixed batches are cut with constant Slice bounds. A symbolic batch gets its part sizes computed in the
 * graph (the formula of split-sizes.ts, in integer ops only) and is cut with Slice from opset 10; below, with
 * Gather over row indices, built with NonZero at opset 9 and with a Loop at opsets 7 and 8.
 */
import { TensorProto_DataType } from '../onnx.js';
import { makeGraph, makeNode, makeTensor, makeValueInfo } from '../graph/build.js';
import type { NodeEmitter } from './emitter.js';

export interface SplitInput {
  name: string;
  axis: number;
  /** The batch size every replica gets when the batch is fixed. */
  fixedBatch: number | undefined;
}

/**
 * Names of the runtime part sizes (1-D int64 of one element each) and of the batch, when some batch is symbolic.
 * A replica whose share is empty (batch < N) is fed row 0 instead (onnxruntime aborts on empty inputs to some
 * kernels, LSTM among them); the join drops that row again. `feedStarts`/`feedSizes` are the rows fed.
 */
export interface DynamicSizes {
  batch: string;
  sizes: string[];
  feedStarts: string[];
  feedSizes: string[];
  /** How many replicas have a non-empty share: min(batch, N). */
  liveReplicas: string;
}

export interface SplitResult {
  parts: Map<string, string[]>;
  dynamic: DynamicSizes | undefined;
}

/** The lowest default-domain opset at which the split can be expressed in onnxruntime-supported ops. */
export const MIN_DYNAMIC_SPLIT_OPSET = 7;

/** Part sizes of the batch of `source` along `axis`, in the graph, with integer Add/Sub/Mul/Div only. */
function emitDynamicSizes(emitter: NodeEmitter, source: string, axis: number, weights: number[]): DynamicSizes {
  const n = weights.length;
  const shape = emitter.emit('Shape', [source], {}, 'split/shape');
  const batch = emitter.emit('Gather', [shape, emitter.int64s([axis], 'split/axis')], { axis: 0 }, 'split/batch');
  const total = weights.reduce((a, b) => a + b, 0);
  const balanced = weights.every((w) => w === weights[0]);
  const baseOf = (w: number): string =>
    emitter.emit('Div', [emitter.emit('Mul', [batch, emitter.int64s([w], 'split/weight')], {}, 'split/scaled'), emitter.int64s([total], 'split/weight_total')], {}, 'split/base');
  const shared = balanced ? baseOf(weights[0]!) : undefined;
  const bases = weights.map((w) => shared ?? baseOf(w));
  let assigned = bases[0]!;
  for (const base of bases.slice(1)) assigned = emitter.emit('Add', [assigned, base], {}, 'split/assigned');
  // 0 <= remainder < N; part i gets one more row when i < remainder: (remainder + N-1-i) div N.
  const remainder = emitter.emit('Sub', [batch, assigned], {}, 'split/remainder');
  const sizes = bases.map((base, i) => {
    const extra = emitter.emit('Div', [emitter.emit('Add', [remainder, emitter.int64s([n - 1 - i], 'split/offset')], {}, 'split/extra'), emitter.int64s([n], 'split/n')], {}, 'split/extra');
    return emitter.emit('Add', [base, extra], {}, `split/size${i}`);
  });
  const zero = emitter.int64s([0], 'split/zero');
  const one = emitter.int64s([1], 'split/one');
  const batchPlusOne = emitter.emit('Add', [batch, one], {}, 'split/batch_plus_one');
  const feedStarts: string[] = [];
  const feedSizes: string[] = [];
  let liveReplicas = one;
  let end = zero;
  sizes.forEach((size, i) => {
    const start = end;
    end = i === 0 ? size : emitter.emit('Add', [end, size], {}, `split/end${i}`);
    if (i === 0) {
      // Replica 0 is never empty while the batch is not: the remainder goes to the first parts.
      feedStarts.push(start);
      feedSizes.push(size);
      return;
    }
    // For 0 <= size <= B: (size + B) div (B + 1) is 1 when size > 0, else 0.
    const nonEmpty = emitter.emit('Div', [emitter.emit('Add', [size, batch], {}, 'split/size_plus_batch'), batchPlusOne], {}, 'split/non_empty');
    const isEmpty = emitter.emit('Sub', [one, nonEmpty], {}, 'split/is_empty');
    liveReplicas = emitter.emit('Add', [liveReplicas, nonEmpty], {}, 'split/live_replicas');
    feedStarts.push(emitter.emit('Mul', [start, nonEmpty], {}, `split/feed_start${i}`));
    feedSizes.push(emitter.emit('Add', [size, isEmpty], {}, `split/feed_size${i}`));
  });
  return { batch, sizes, feedStarts, feedSizes, liveReplicas };
}

function emitStaticSlice(emitter: NodeEmitter, input: string, axis: number, start: number, end: number, hint: string): string {
  if (emitter.opset >= 10) {
    return emitter.emit('Slice', [input, emitter.int64s([start], 'split/start'), emitter.int64s([end], 'split/end'), emitter.int64s([axis], 'split/axis')], {}, hint);
  }
  return emitter.emit('Slice', [input], { starts: [start], ends: [end], axes: [axis] }, hint);
}

/** Row indices 0..count-1 (count: 1-D int64 of one element), for opsets below 10. */
export function emitArange(emitter: NodeEmitter, count: string): string {
  if (emitter.opset >= 9) {
    const ones = emitter.emit('ConstantOfShape', [count], { value: makeTensor('one', TensorProto_DataType.INT64, [1], BigInt64Array.of(1n)) }, 'split/ones');
    return emitter.emit('Squeeze', [emitter.emit('NonZero', [ones], {}, 'split/nonzero')], { axes: [0] }, 'split/rows');
  }
  // Loop before opset 11 needs at least one loop-carried value: a dummy scalar carried through unchanged.
  const [iteration, condition, carried, conditionOut, carriedOut, index] = ['iteration', 'condition', 'carried', 'condition_out', 'carried_out', 'index'].map((n) =>
    emitter.freshName(`split/arange/${n}`),
  );
  const body = makeGraph({
    name: emitter.freshName('split/arange_body'),
    inputs: [makeValueInfo(iteration!, TensorProto_DataType.INT64, []), makeValueInfo(condition!, TensorProto_DataType.BOOL, []), makeValueInfo(carried!, TensorProto_DataType.INT64, [])],
    outputs: [makeValueInfo(conditionOut!, TensorProto_DataType.BOOL, []), makeValueInfo(carriedOut!, TensorProto_DataType.INT64, []), makeValueInfo(index!, TensorProto_DataType.INT64, [])],
    nodes: [makeNode('Identity', [condition!], [conditionOut!]), makeNode('Identity', [carried!], [carriedOut!]), makeNode('Identity', [iteration!], [index!])],
  });
  const rows = emitter.emitMany('Loop', [count, '', emitter.int64Scalar(0, 'split/arange/carried_initial')], 2, { body }, 'split/rows');
  return rows[1]!;
}

/** Rows [start, start + count) of `input` along `axis`, below opset 10. */
export function emitGatherRows(emitter: NodeEmitter, input: string, axis: number, start: string | undefined, count: string, hint: string): string {
  const rows = emitArange(emitter, count);
  const indices = start === undefined ? rows : emitter.emit('Add', [rows, start], {}, 'split/indices');
  return emitter.emit('Gather', [input, indices], { axis }, hint);
}

export function emitSplits(emitter: NodeEmitter, inputs: SplitInput[], weights: number[]): SplitResult {
  const parts = new Map<string, string[]>();
  const firstDynamic = inputs.find((i) => i.fixedBatch === undefined);
  const dynamic = firstDynamic === undefined ? undefined : emitDynamicSizes(emitter, firstDynamic.name, firstDynamic.axis, weights);
  let feedEnds: string[] | undefined; // the same for every input with a symbolic batch: emitted once
  for (const input of inputs) {
    const hint = `split/${input.name}`;
    if (input.fixedBatch !== undefined) {
      const b = input.fixedBatch;
      parts.set(input.name, weights.map((_, i) => emitStaticSlice(emitter, input.name, input.axis, i * b, (i + 1) * b, hint)));
    } else if (emitter.opset >= 10) {
      const axes = emitter.int64s([input.axis], 'split/axis');
      const ends = (feedEnds ??= dynamic!.feedStarts.map((start, i) => emitter.emit('Add', [start, dynamic!.feedSizes[i]!], {}, 'split/feed_end')));
      parts.set(input.name, weights.map((_, i) => emitter.emit('Slice', [input.name, dynamic!.feedStarts[i]!, ends[i]!, axes], {}, hint)));
    } else {
      parts.set(input.name, weights.map((_, i) => emitGatherRows(emitter, input.name, input.axis, dynamic!.feedStarts[i]!, dynamic!.feedSizes[i]!, hint)));
    }
  }
  return { parts, dynamic };
}
