/**
 * The split: each batched input is cut along its batch axis into one part per replica.
 * Fixed batches are cut with constant Slice bounds; a symbolic batch gets its part sizes computed in the
 * graph (the formula of split-sizes.ts) and is cut with Slice from opset 10, with Compress over a row mask at opset 9.
 */
import { TensorProto_DataType } from '../onnx.js';
import { makeTensor } from '../graph/build.js';
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
 * kernels, LSTM among them); the join drops that row again. `feedStarts`/`feedEnds` are the rows fed.
 */
export interface DynamicSizes {
  batch: string;
  sizes: string[];
  feedStarts: string[];
  feedEnds: string[];
}

export interface SplitResult {
  parts: Map<string, string[]>;
  dynamic: DynamicSizes | undefined;
}

/** Part sizes of the batch of `source` along `axis`, in the graph. */
function emitDynamicSizes(emitter: NodeEmitter, source: string, axis: number, weights: number[]): DynamicSizes {
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
  const remainder = emitter.emit('Sub', [batch, assigned], {}, 'split/remainder');
  const sizes = bases.map((base, i) => {
    const extra = emitter.emit('Cast', [emitter.emit('Less', [emitter.int64s([i], 'split/index'), remainder], {}, 'split/gets_extra')], { to: TensorProto_DataType.INT64 }, 'split/extra');
    return emitter.emit('Add', [base, extra], {}, `split/size${i}`);
  });
  const zero = emitter.int64s([0], 'split/zero');
  const feedStarts: string[] = [];
  const feedEnds: string[] = [];
  let end = zero;
  sizes.forEach((size, i) => {
    const start = end;
    end = i === 0 ? size : emitter.emit('Add', [end, size], {}, `split/end${i}`);
    if (i === 0) {
      // Replica 0 is never empty while the batch is not: the remainder goes to the first parts.
      feedStarts.push(start);
      feedEnds.push(end);
      return;
    }
    const isEmpty = emitter.emit('Cast', [emitter.emit('Equal', [size, zero], {}, 'split/is_empty')], { to: TensorProto_DataType.INT64 }, 'split/is_empty');
    const feedStart = emitter.emit('Mul', [start, emitter.emit('Sub', [emitter.int64s([1], 'split/one'), isEmpty], {}, 'split/not_empty')], {}, `split/feed_start${i}`);
    feedStarts.push(feedStart);
    feedEnds.push(emitter.emit('Add', [feedStart, emitter.emit('Add', [size, isEmpty], {}, 'split/feed_size')], {}, `split/feed_end${i}`));
  });
  return { batch, sizes, feedStarts, feedEnds };
}

function emitStaticSlice(emitter: NodeEmitter, input: string, axis: number, start: number, end: number, hint: string): string {
  if (emitter.opset >= 10) {
    return emitter.emit('Slice', [input, emitter.int64s([start], 'split/start'), emitter.int64s([end], 'split/end'), emitter.int64s([axis], 'split/axis')], {}, hint);
  }
  return emitter.emit('Slice', [input], { starts: [start], ends: [end], axes: [axis] }, hint);
}

/** Row indices 0..B-1 along the batch axis, for the opset-9 Compress form. */
export function emitRowIndices(emitter: NodeEmitter, batch: string): string {
  const ones = emitter.emit('ConstantOfShape', [batch], { value: makeTensor('one', TensorProto_DataType.INT64, [1], BigInt64Array.of(1n)) }, 'split/ones');
  return emitter.emit('Squeeze', [emitter.emit('NonZero', [ones], {}, 'split/nonzero')], { axes: [0] }, 'split/rows');
}

export function emitSplits(emitter: NodeEmitter, inputs: SplitInput[], weights: number[]): SplitResult {
  const parts = new Map<string, string[]>();
  const firstDynamic = inputs.find((i) => i.fixedBatch === undefined);
  const dynamic = firstDynamic === undefined ? undefined : emitDynamicSizes(emitter, firstDynamic.name, firstDynamic.axis, weights);
  let rows: string | undefined;
  const masks: string[] = [];
  for (const input of inputs) {
    const hint = `split/${input.name}`;
    if (input.fixedBatch !== undefined) {
      const b = input.fixedBatch;
      parts.set(input.name, weights.map((_, i) => emitStaticSlice(emitter, input.name, input.axis, i * b, (i + 1) * b, hint)));
    } else if (emitter.opset >= 10) {
      const axes = emitter.int64s([input.axis], 'split/axis');
      parts.set(input.name, weights.map((_, i) => emitter.emit('Slice', [input.name, dynamic!.feedStarts[i]!, dynamic!.feedEnds[i]!, axes], {}, hint)));
    } else {
      rows ??= emitRowIndices(emitter, dynamic!.batch);
      if (masks.length === 0) {
        for (let i = 0; i < weights.length; i++) {
          const afterStart = emitter.emit('Not', [emitter.emit('Less', [rows, dynamic!.feedStarts[i]!], {}, 'split/before')], {}, 'split/after_start');
          masks.push(emitter.emit('And', [afterStart, emitter.emit('Less', [rows, dynamic!.feedEnds[i]!], {}, 'split/before_end')], {}, `split/mask${i}`));
        }
      }
      parts.set(input.name, masks.map((mask) => emitter.emit('Compress', [input.name, mask], { axis: input.axis }, hint)));
    }
  }
  return { parts, dynamic };
}
