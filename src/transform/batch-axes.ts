/**
 * Deciding the batch axis of every graph input and output: from the user's --axis, else inferred
 * (a rank-0 value has none; a symbolic dim name shared by inputs and outputs marks the batch, unless it is on
 * no first dim while the first dims are fixed and shared: a fixed batch with a free sequence length; recurrent
 * operators say where their inputs and outputs carry it; in a model with fixed shapes, the first dim that inputs
 * and outputs share is the batch, and values whose first dim differs are not batched; with dims that are not
 * fixed but unnamed, the first such dim is the batch, and an output named after an input (state -> stateN)
 * takes that input's axis), else axis 0.
 */
import type { GraphProto, ValueInfoProto } from '../onnx.js';
import { InputError } from '../errors.js';
import { isDefaultDomain, shapeOf, type Dim } from '../graph/types.js';
import type { CombineMode } from './options.js';

export interface InputAxis {
  info: ValueInfoProto;
  /** null: not batched, fed whole to every replica. */
  axis: number | null;
  /** The batch dim as declared: a fixed size, a name, or null (unknown). */
  batchDim: Dim;
  reason: string;
}

export interface OutputAxis {
  info: ValueInfoProto;
  axis: number | null;
  batchDim: Dim;
  combine: CombineMode | null;
  reason: string;
}

/** Dim names that say batch: `batch`, `batch_size`, `N`, `B`, `bs`, ... */
const batchLike = (name: string): boolean => /batch/i.test(name) || /^(n|b|bs|bsz)$/i.test(name);

/**
 * The symbolic dim name shared by inputs and outputs that most likely marks the batch: one that says batch,
 * else one found on axis 0.
 */
export function inferBatchDimName(inputs: ValueInfoProto[], outputs: ValueInfoProto[]): string | undefined {
  const names = (infos: ValueInfoProto[]): Set<string> => new Set(infos.flatMap((i) => (shapeOf(i) ?? []).filter((d): d is string => typeof d === 'string')));
  const inNames = names(inputs);
  const shared = [...names(outputs)].filter((n) => inNames.has(n));
  if (shared.length === 0) return undefined;
  const score = (name: string): number =>
    [...inputs, ...outputs].reduce((sum, info) => {
      const shape = shapeOf(info) ?? [];
      return sum + (shape[0] === name ? 100 : 0) + (shape.includes(name) ? 1 : 0);
    }, batchLike(name) ? 1e6 : 0);
  return shared.sort((a, b) => score(b) - score(a))[0];
}

/**
 * Batch axes that recurrent operators imply for the graph inputs and outputs they use directly: with the
 * default layout, X and the initial states carry the batch on axis 1, Y on axis 2, Y_h/Y_c on axis 1
 * (layout 1: all on axis 0), sequence_lens on axis 0.
 */
export function recurrentAxisHints(graph: GraphProto): Map<string, { axis: number; op: string }> {
  const hints = new Map<string, { axis: number; op: string }>();
  for (const node of graph.node) {
    if (!['LSTM', 'GRU', 'RNN'].includes(node.opType) || !isDefaultDomain(node.domain)) continue;
    const batchFirst = node.attribute.find((a) => a.name === 'layout')?.i === 1n;
    const hint = (name: string | undefined, axis: number): void => {
      if (name !== undefined && name !== '' && !hints.has(name)) hints.set(name, { axis, op: node.opType });
    };
    hint(node.input[0], batchFirst ? 0 : 1);
    hint(node.input[4], 0);
    hint(node.input[5], batchFirst ? 0 : 1);
    if (node.opType === 'LSTM') hint(node.input[6], batchFirst ? 0 : 1);
    hint(node.output[0], batchFirst ? 0 : 2);
    hint(node.output[1], batchFirst ? 0 : 1);
    if (node.opType === 'LSTM') hint(node.output[2], batchFirst ? 0 : 1);
  }
  return hints;
}

/**
 * Whether the shared dim `name` marks the batch. Not when it is on no first dim while the first dims are fixed
 * and shared by inputs and outputs: a model exported at a fixed batch (often 1) with another dim left free (a
 * sequence length, an image size). A name that says batch, or a recurrent operator that reads it where it
 * carries the batch, keeps it. `infos`: the inputs and outputs; `sharedFirstDim`: inferFixedBatch of them.
 */
function marksBatch(name: string, infos: ValueInfoProto[], hints: Map<string, { axis: number }>, sharedFirstDim: number | undefined): boolean {
  if (batchLike(name)) return true;
  if (infos.some((info) => shapeOf(info)?.[0] === name)) return true;
  if (infos.some((info) => hints.has(info.name) && shapeOf(info)?.[hints.get(info.name)!.axis] === name)) return true;
  return sharedFirstDim === undefined;
}

/** In a model with fixed shapes: the first-dim size shared by inputs and outputs, the most common one. */
export function inferFixedBatch(inputs: ValueInfoProto[], outputs: ValueInfoProto[]): number | undefined {
  const firstDims = (infos: ValueInfoProto[]): number[] => infos.map((i) => shapeOf(i)?.[0]).filter((d): d is number => typeof d === 'number');
  const inDims = firstDims(inputs);
  const outDims = firstDims(outputs);
  const shared = [...new Set(inDims)].filter((d) => outDims.includes(d));
  const count = (d: number): number => inDims.filter((x) => x === d).length + outDims.filter((x) => x === d).length;
  return shared.sort((a, b) => count(b) - count(a))[0];
}

/** The graph inputs fed at run time: initializers also listed as graph inputs (as IR < 4 requires) are left out. */
export function runtimeInputs(graph: GraphProto): ValueInfoProto[] {
  const initializerNames = new Set([...graph.initializer.map((t) => t.name), ...graph.sparseInitializer.map((s) => s.values?.name ?? '')]);
  return graph.input.filter((i) => !initializerNames.has(i.name));
}

function checkAxis(kind: string, info: ValueInfoProto, axis: number, shape: Dim[] | undefined): number {
  if (shape === undefined) {
    if (axis < 0) throw new InputError(`--axis ${info.name}=${axis}: the rank of ${kind} '${info.name}' is unknown, so a negative axis cannot be counted from its end; give it from 0`);
    return axis;
  }
  const rank = shape.length;
  const normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank) {
    throw new InputError(`--axis ${info.name}=${axis}: out of range for ${kind} '${info.name}' of rank ${rank}`);
  }
  return normalized;
}

export function decideAxes(
  graph: GraphProto,
  inputs: ValueInfoProto[],
  explicit: Record<string, number | null>,
  combine: Record<string, CombineMode>,
): { inputs: InputAxis[]; outputs: OutputAxis[]; batchDimName: string | undefined } {
  const known = new Set([...inputs.map((i) => i.name), ...graph.output.map((o) => o.name)]);
  for (const name of Object.keys(explicit)) {
    if (!known.has(name)) throw new InputError(`--axis ${name}: the model has no input or output named '${name}' (inputs: ${inputs.map((i) => i.name).join(', ')}; outputs: ${graph.output.map((o) => o.name).join(', ')})`);
  }
  const outputNames = new Set(graph.output.map((o) => o.name));
  for (const name of Object.keys(combine)) {
    if (!outputNames.has(name)) throw new InputError(`--combine ${name}: the model has no output named '${name}'`);
  }
  const hints = recurrentAxisHints(graph);
  const sharedName = inferBatchDimName(inputs, graph.output);
  const sharedFirstDim = inferFixedBatch(inputs, graph.output);
  const batchDimName = sharedName !== undefined && marksBatch(sharedName, [...inputs, ...graph.output], hints, sharedFirstDim) ? sharedName : undefined;
  const hintedBatch = inputs.map((i) => (hints.has(i.name) ? shapeOf(i)?.[hints.get(i.name)!.axis] : undefined)).find((d): d is number => typeof d === 'number');
  // A model whose batch is not fixed but has no name the outputs share (unnamed dims): some input's first dim is
  // free, or free dims and no first dim that inputs and outputs share.
  const freeDims = (info: ValueInfoProto): boolean => (shapeOf(info) ?? []).some((d) => typeof d !== 'number');
  const unnamedDynamic =
    sharedName === undefined && inputs.some(freeDims) && (inputs.some((i) => (shapeOf(i)?.length ?? 0) > 0 && typeof shapeOf(i)![0] !== 'number') || sharedFirstDim === undefined);
  const fixedBatch = batchDimName === undefined ? (hintedBatch ?? (unnamedDynamic ? undefined : sharedFirstDim)) : undefined;
  const decidedInputs: Array<{ name: string; axis: number | null; rank: number | undefined }> = [];
  /** The batched input an output is named after: state -> stateN, h -> hn, cache -> cache_out. */
  const namesake = (output: ValueInfoProto, rank: number): { name: string; axis: number } | undefined => {
    const plain = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');
    const out = plain(output.name);
    const candidates = decidedInputs.filter((i) => i.axis !== null && i.rank === rank && plain(i.name) !== '' && (out.startsWith(plain(i.name)) || plain(i.name).startsWith(out)));
    const best = candidates.sort((a, b) => b.name.length - a.name.length)[0];
    return best === undefined ? undefined : { name: best.name, axis: best.axis! };
  };

  const decide = (kind: 'input' | 'output', info: ValueInfoProto): { axis: number | null; reason: string } => {
    const shape = shapeOf(info);
    if (info.name in explicit) {
      const axis = explicit[info.name]!;
      return { axis: axis === null ? null : checkAxis(kind, info, axis, shape), reason: 'given with --axis' };
    }
    if (info.type?.value.case !== 'tensorType') return { axis: null, reason: `not a tensor (${info.type?.value.case ?? 'no type'})` };
    if (shape === undefined) return { axis: 0, reason: 'shape unknown: assumed axis 0' };
    if (shape.length === 0) return { axis: null, reason: 'rank 0' };
    if (batchDimName !== undefined && shape.includes(batchDimName)) return { axis: shape.indexOf(batchDimName), reason: `dim '${batchDimName}'` };
    const hint = hints.get(info.name);
    if (hint !== undefined && hint.axis < shape.length) return { axis: hint.axis, reason: `batch axis of ${hint.op}` };
    if (batchDimName !== undefined && typeof shape[0] === 'number') return { axis: null, reason: `no dim '${batchDimName}' and a fixed first dim` };
    if (fixedBatch !== undefined && typeof shape[0] === 'number') {
      const freeDim = sharedName !== undefined && batchDimName === undefined ? `; dim '${sharedName}' is on no first dim, so not the batch` : '';
      if (shape[0] === fixedBatch) return { axis: 0, reason: `fixed batch ${fixedBatch} shared by inputs and outputs${freeDim}` };
      return { axis: null, reason: `first dim ${shape[0]} differs from the batch ${fixedBatch} shared by inputs and outputs` };
    }
    if (unnamedDynamic) {
      const like = kind === 'output' ? namesake(info, shape.length) : undefined;
      if (like !== undefined) return { axis: like.axis, reason: `as input '${like.name}'` };
      const free = shape.findIndex((d) => typeof d !== 'number');
      if (free >= 0) return { axis: free, reason: free === 0 ? 'first dim not fixed' : `first dim that is not fixed (${shape.slice(0, free).join(', ')} before it)` };
      return { axis: null, reason: 'fixed shape while the batch is dynamic' };
    }
    return { axis: 0, reason: 'default axis 0' };
  };

  const inputAxes = inputs.map((info): InputAxis => {
    const { axis, reason } = decide('input', info);
    decidedInputs.push({ name: info.name, axis, rank: shapeOf(info)?.length });
    return { info, axis, batchDim: axis === null ? null : (shapeOf(info)?.[axis] ?? null), reason };
  });
  const outputAxes = graph.output.map((info): OutputAxis => {
    const mode = combine[info.name] ?? null;
    if (mode !== null) return { info, axis: null, batchDim: null, combine: mode, reason: `combined with ${mode}` };
    const { axis, reason } = decide('output', info);
    return { info, axis, batchDim: axis === null ? null : (shapeOf(info)?.[axis] ?? null), combine: null, reason };
  });
  return { inputs: inputAxes, outputs: outputAxes, batchDimName };
}
