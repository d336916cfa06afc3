/** Input tensors on a SharedArrayBuffer, made to a model input's type and shape (ParallelSession.allocate). */
import * as ort from 'onnxruntime-node';
import type { ValueInfoProto } from '../onnx.js';
import { elemTypeOf, shapeOf } from '../graph/types.js';
import { elementSize } from '../graph/build.js';
import { product } from './row-copy.js';
import { allocate, ortTypeOf } from '../tensors/ort-types.js';
import type { ExecutionPlan } from '../transform/plan.js';
import { ArgumentError, ArgumentRangeError } from '../errors.js';

/** The most bytes one shared input may take (V8 refuses larger SharedArrayBuffers on some platforms). */
const MAX_SHARED_BYTES = 2 ** 32;

/**
 * A tensor for the model input `name`, of its element type, on a new SharedArrayBuffer filled with zeros: `rows`
 * on its batch axis and the model's fixed dims elsewhere, or exactly `dims`. Throws an ArgumentError naming the
 * input when it cannot be made (an unknown input, strings, a dim that is not fixed and not given).
 */
export function sharedInputTensor(inputs: readonly ValueInfoProto[], plan: ExecutionPlan, name: string, rows: number | readonly number[]): ort.Tensor {
  const info = inputs.find((i) => i.name === name);
  if (info === undefined) throw new ArgumentError(`allocate: '${name}' is not an input of the model (inputs: ${inputs.map((i) => i.name).join(', ')})`);
  const elemType = elemTypeOf(info);
  const type = elemType === undefined ? undefined : ortTypeOf[elemType];
  if (type === undefined || type === 'string') throw new ArgumentError(`allocate: input '${name}' is ${type ?? 'not a numeric tensor'}, which cannot be put on shared memory; feed it as an ordinary tensor`);
  const shape = shapeOf(info);
  const dims = typeof rows === 'number' ? dimsForRows(name, shape, plan.inputs.find((i) => i.name === name)?.axis ?? null, rows) : checkDims(name, shape, rows);
  const size = product(dims);
  const bytes = size * (elementSize(elemType!) ?? 8);
  if (bytes > MAX_SHARED_BYTES) throw new ArgumentRangeError(`allocate: input '${name}' [${dims.join(', ')}] would take ${bytes} bytes, more than the ${MAX_SHARED_BYTES} one shared buffer may hold; use fewer rows`);
  return new ort.Tensor(type as 'float32', allocate(type, size, true) as Float32Array, dims);
}

function dimsForRows(name: string, shape: ReturnType<typeof shapeOf>, axis: number | null, rows: number): number[] {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new ArgumentError(`allocate: rows must be a whole number >= 0 (got ${String(rows)})`);
  if (axis === null) throw new ArgumentError(`allocate: input '${name}' has no batch axis; give its dims instead of a number of rows`);
  if (shape === undefined) throw new ArgumentError(`allocate: the model does not give the shape of input '${name}'; give its dims instead of a number of rows`);
  return shape.map((dim, k) => {
    if (k === axis) return rows;
    if (typeof dim === 'number') return dim;
    throw new ArgumentError(`allocate: input '${name}' dim ${k} is ${dim === null ? 'unknown' : `'${dim}'`} in the model; give the whole dims, e.g. allocate('${name}', [${shape.map((d, i) => (i === axis ? rows : typeof d === 'number' ? d : 'N')).join(', ')}])`);
  });
}

function checkDims(name: string, shape: ReturnType<typeof shapeOf>, dims: readonly number[]): number[] {
  if (!Array.isArray(dims) || dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new ArgumentError(`allocate: dims of input '${name}' must be whole numbers >= 0 (got ${JSON.stringify(dims)})`);
  if (shape !== undefined && shape.length !== dims.length) throw new ArgumentError(`allocate: input '${name}' has rank ${shape.length} ([${shape.join(', ')}]), got dims [${dims.join(', ')}]`);
  return [...dims];
}
