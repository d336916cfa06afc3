/**
 * The join: each graph output is the Concat of the replicas' outputs along its batch axis, or, for an output
 * without one, the combination the user asked for. Replicas whose share of the batch is empty (batch < N)
 * are left out of sums, means and maxima.
 */
import { TensorProto_DataType } from '../onnx.js';
import { InputError } from '../errors.js';
import { elementSize } from '../graph/build.js';
import { dataTypeName } from '../graph/types.js';
import type { NodeEmitter } from './emitter.js';
import type { CombineMode } from './options.js';
import { emitGatherRows, type DynamicSizes } from './split.js';

export interface JoinOutput {
  name: string;
  axis: number | null;
  combine: CombineMode | null;
  elemType: TensorProto_DataType | undefined;
}

const floatTypes = new Set([TensorProto_DataType.FLOAT, TensorProto_DataType.DOUBLE, TensorProto_DataType.FLOAT16, TensorProto_DataType.BFLOAT16]);

/** Drops the stand-in row that an empty replica was fed (see DynamicSizes). */
function trimmed(emitter: NodeEmitter, part: string, size: string, axis: number): string {
  if (emitter.opset >= 10) return emitter.emit('Slice', [part, emitter.int64s([0], 'split/zero'), size, emitter.int64s([axis], 'split/axis')], {}, 'join/trim');
  return emitGatherRows(emitter, part, axis, undefined, size, 'join/trim');
}

export function emitJoin(emitter: NodeEmitter, output: JoinOutput, parts: string[], dynamic: DynamicSizes | undefined): void {
  if (output.axis !== null) {
    const axis = output.axis;
    const kept = dynamic === undefined ? parts : parts.map((part, i) => (i === 0 ? part : trimmed(emitter, part, dynamic.sizes[i]!, axis)));
    emitter.emitTo(output.name, 'Concat', kept, { axis });
    return;
  }
  const mode = output.combine!;
  if (mode === 'first') {
    emitter.emitTo(output.name, 'Identity', [parts[0]!]);
    return;
  }
  if (mode === 'stack') {
    // Like nn.DataParallel: one entry per replica that ran, so min(batch, N) entries.
    const stacked = parts.map((p) => emitter.unsqueeze(p, 0));
    if (dynamic === undefined) {
      emitter.emitTo(output.name, 'Concat', stacked, { axis: 0 });
      return;
    }
    const all = emitter.emit('Concat', stacked, { axis: 0 }, 'join/stacked');
    emitter.emitTo(output.name, 'Identity', [trimmed(emitter, all, dynamic.liveReplicas, 0)]);
    return;
  }
  const elemType = output.elemType ?? TensorProto_DataType.FLOAT;
  if ((mode === 'sum' || mode === 'max') && (elementSize(elemType) === undefined || elemType === TensorProto_DataType.BOOL)) {
    throw new InputError(`--combine ${output.name}=${mode} needs a numeric output, and '${output.name}' is ${dataTypeName(elemType)}; use first or stack`);
  }
  const scalarShape = (): string => emitter.int64s([], 'join/scalar_shape');
  // A replica with an empty share contributes nothing: replaced by a neutral value.
  // Where and Greater on int64 exist from opset 9; below it, empty replicas are not guarded.
  const nonEmpty = emitter.opset < 9 ? undefined : dynamic?.sizes.map((size) => emitter.emit('Reshape', [emitter.emit('Greater', [size, emitter.int64s([0], 'split/zero')], {}, 'join/non_empty'), scalarShape()], {}, 'join/non_empty'));
  const guard = (part: string, i: number, neutral: string): string => (nonEmpty === undefined || i === 0 ? part : emitter.emit('Where', [nonEmpty[i]!, part, neutral], {}, 'join/guarded'));
  const chain = (op: string, terms: string[]): void => {
    let acc = terms[0]!;
    for (const term of terms.slice(1, -1)) acc = emitter.emit(op, [acc, term], {}, `join/${op}`);
    if (terms.length === 1) emitter.emitTo(output.name, 'Identity', [acc]);
    else emitter.emitTo(output.name, op, [acc, terms[terms.length - 1]!]);
  };
  if (mode === 'sum') {
    const zero = emitter.zero(elemType);
    chain('Add', parts.map((p, i) => guard(p, i, zero)));
    return;
  }
  if (mode === 'max') {
    chain('Max', parts.map((p, i) => guard(p, i, parts[0]!)));
    return;
  }
  // mean: the batch-weighted mean of the replicas' values, sum_i out_i * n_i / B.
  if (!floatTypes.has(elemType)) throw new InputError(`--combine ${output.name}=mean needs a floating-point output; use sum, max, first or stack`);
  const castTo = (value: string): string => (elemType === TensorProto_DataType.FLOAT ? value : emitter.emit('Cast', [value], { to: elemType }, 'join/cast'));
  const equalShare = dynamic === undefined ? castTo(emitter.scalar(1 / parts.length, TensorProto_DataType.FLOAT, 'join/share')) : undefined;
  const shares = dynamic === undefined
    ? parts.map(() => equalShare!)
    : dynamic.sizes.map((size) => {
        const asFloat = (v: string): string => emitter.emit('Cast', [v], { to: TensorProto_DataType.FLOAT }, 'join/float');
        const share = emitter.emit('Div', [asFloat(size), asFloat(dynamic.batch)], {}, 'join/share');
        return castTo(emitter.emit('Reshape', [share, scalarShape()], {}, 'join/share'));
      });
  const zero = emitter.zero(elemType);
  chain('Add', parts.map((p, i) => guard(emitter.emit('Mul', [p, shares[i]!], {}, 'join/weighted'), i, zero)));
}
