/**
 * Operators that can mix the samples of a batch, named when --verify fails so the user sees why: a softmax or a
 * reduction over axis 0, a quantization scale taken over the whole tensor, ... Only what the node itself says
 * is used (attributes, not shapes), so the list is a hint: axis 0 of an inner value need not be the batch.
 */
import type { AttributeProto, ModelProto, NodeProto } from '../onnx.js';
import { forEachGraph } from '../graph/walk.js';
import { isDefaultDomain } from '../graph/types.js';
import { defaultOpset } from '../transform/opset.js';

const REDUCTIONS = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
/** Whole-tensor operators whose result depends on every sample. */
const WHOLE_TENSOR: Record<string, string> = {
  DynamicQuantizeLinear: 'one quantization scale for the whole batch',
  NonZero: 'indices over the whole batch',
  Unique: 'unique values over the whole batch',
  EyeLike: 'an identity matrix as large as the batch',
};

const attributeOf = (node: NodeProto, name: string): AttributeProto | undefined => node.attribute.find((a) => a.name === name);
const intOf = (node: NodeProto, name: string): number | undefined => {
  const a = attributeOf(node, name);
  return a === undefined ? undefined : Number(a.i);
};
const intsOf = (node: NodeProto, name: string): number[] | undefined => attributeOf(node, name)?.ints.map(Number);

/** Why `node` can mix samples along axis 0, or undefined. */
function coupling(node: NodeProto, opset: number): string | undefined {
  if (!isDefaultDomain(node.domain)) return undefined;
  const op = node.opType;
  if (WHOLE_TENSOR[op] !== undefined) return WHOLE_TENSOR[op];
  if (op === 'Softmax' || op === 'LogSoftmax' || op === 'Hardmax') return (intOf(node, 'axis') ?? (opset >= 13 ? -1 : 1)) === 0 ? 'axis 0' : undefined;
  if (op === 'ArgMax' || op === 'ArgMin' || op === 'LayerNormalization') return (intOf(node, 'axis') ?? (op === 'LayerNormalization' ? -1 : 0)) === 0 ? 'axis 0' : undefined;
  if (op === 'MeanVarianceNormalization') return (intsOf(node, 'axes') ?? [0, 2, 3]).includes(0) ? 'over axis 0' : undefined;
  if (op === 'BatchNormalization') return intOf(node, 'training_mode') === 1 ? 'batch statistics (training mode)' : undefined;
  if (REDUCTIONS.has(op)) {
    const axes = intsOf(node, 'axes');
    if (axes !== undefined) return axes.includes(0) ? 'over axis 0' : undefined;
    // Axes given as an input are not known here; none at all reduces every axis, unless that is a no-op.
    if (node.input.length > 1 && node.input[1] !== '') return undefined;
    return intOf(node, 'noop_with_empty_axes') === 1 ? undefined : 'over all axes';
  }
  return undefined;
}

/** Up to `limit` operators of the model (bodies included) that can mix samples, e.g. "Softmax 'probs' (axis 0)". */
export function batchCouplingSuspects(model: ModelProto, limit = 5): string[] {
  const opset = defaultOpset(model) ?? 13;
  const found = new Set<string>();
  forEachGraph(model.graph!, (graph) => {
    for (const node of graph.node) {
      const why = coupling(node, opset);
      if (why !== undefined && found.size < limit) found.add(`${node.opType}${node.name === '' ? '' : ` '${node.name}'`} (${why})`);
    }
  });
  return [...found];
}
