/**
 * Tensors on a SharedArrayBuffer (page-locked for a session with CUDA devices), made to a model input's or
 * output's type and shape (ParallelSession.allocate and allocateOutput), and the check of an output tensor a
 * caller gives to be written in place.
 */
import * as ort from 'onnxruntime-node';
import { TensorProto_DataType, type ValueInfoProto } from '../../onnx.js';
import { elemTypeOf, shapeOf } from '../../graph/types.js';
import { elementSize } from '../../graph/build.js';
import { product } from './row-copy.js';
import { isShared } from './shared-memory.js';
import { pinnedSharedBuffer } from '../memory/pinned-buffers.js';
import { allocate, ortTypeOf } from '../../tensors/ort-types.js';
import { ArgumentError, ArgumentRangeError } from '../../errors.js';

/** The most bytes one shared tensor may take (V8 refuses larger SharedArrayBuffers on some platforms). */
const MAX_SHARED_BYTES = 2 ** 32;

/** One side of the model: its inputs (fed) or its outputs (written), with their batch axes. */
export interface TensorSide {
  kind: 'input' | 'output';
  /** The method callers use, quoted in errors. */
  method: string;
  infos: readonly ValueInfoProto[];
  axisOf: (name: string) => number | null;
  /** Whether tensors are page-locked too (the session runs on GPUs). */
  pinned: boolean;
}

/**
 * A tensor for the model input or output `name`, of its element type, on a new SharedArrayBuffer filled with
 * zeros, page-locked where `side.pinned` says so and the CUDA runtime can (its location is then 'cpu-pinned'): `rows` on its batch axis and the model's fixed dims elsewhere, or exactly `dims`. Throws an ArgumentError
 * naming the tensor when it cannot be made (an unknown name, strings, a dim that is not fixed and not given).
 */
export function sharedTensor(side: TensorSide, name: string, rows: number | readonly number[]): ort.Tensor {
  const { kind, method } = side;
  const info = side.infos.find((i) => i.name === name);
  if (info === undefined) throw new ArgumentError(`${method}: '${name}' is not an ${kind} of the model (${kind}s: ${side.infos.map((i) => i.name).join(', ')})`);
  const elemType = elemTypeOf(info);
  const type = elemType === undefined ? undefined : ortTypeOf[elemType];
  if (type === undefined || type === 'string') throw new ArgumentError(`${method}: ${kind} '${name}' is ${type ?? 'not a numeric tensor'}, which cannot be put on shared memory`);
  const shape = shapeOf(info);
  const dims = typeof rows === 'number' ? dimsForRows(side, name, shape, rows) : checkDims(side, name, shape, rows);
  const size = product(dims);
  const bytes = size * (elementSize(elemType!) ?? 8);
  if (bytes > MAX_SHARED_BYTES) throw new ArgumentRangeError(`${method}: ${kind} '${name}' [${dims.join(', ')}] would take ${bytes} bytes, more than the ${MAX_SHARED_BYTES} one shared buffer may hold; use fewer rows`);
  if (side.pinned) {
    const { buffer, locked } = pinnedSharedBuffer(bytes);
    const data = allocate(type, size, () => buffer as unknown as ArrayBuffer) as Float32Array;
    return locked ? ort.Tensor.fromPinnedBuffer(type as 'float32', data, dims) : new ort.Tensor(type as 'float32', data, dims);
  }
  return new ort.Tensor(type as 'float32', allocate(type, size, true) as Float32Array, dims);
}

function dimsForRows(side: TensorSide, name: string, shape: ReturnType<typeof shapeOf>, rows: number): number[] {
  const { kind, method } = side;
  if (!Number.isSafeInteger(rows) || rows < 0) throw new ArgumentError(`${method}: rows must be a whole number >= 0 (got ${String(rows)})`);
  const axis = side.axisOf(name);
  if (axis === null) throw new ArgumentError(`${method}: ${kind} '${name}' has no batch axis; give its dims instead of a number of rows`);
  if (shape === undefined) throw new ArgumentError(`${method}: the model does not give the shape of ${kind} '${name}'; give its dims instead of a number of rows`);
  return shape.map((dim, k) => {
    if (k === axis) return rows;
    if (typeof dim === 'number') return dim;
    throw new ArgumentError(`${method}: ${kind} '${name}' dim ${k} is ${dim === null ? 'unknown' : `'${dim}'`} in the model; give the whole dims, e.g. ${method}('${name}', [${shape.map((d, i) => (i === axis ? rows : typeof d === 'number' ? d : 'N')).join(', ')}])`);
  });
}

function checkDims(side: TensorSide, name: string, shape: ReturnType<typeof shapeOf>, dims: readonly number[]): number[] {
  const { kind, method } = side;
  if (!Array.isArray(dims) || dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new ArgumentError(`${method}: dims of ${kind} '${name}' must be whole numbers >= 0 (got ${JSON.stringify(dims)})`);
  if (shape !== undefined && shape.length !== dims.length) throw new ArgumentError(`${method}: ${kind} '${name}' has rank ${shape.length} ([${shape.join(', ')}]), got dims [${dims.join(', ')}]`);
  return [...dims];
}

/**
 * Checks the tensors a run is to write its outputs into (`options.outputs`): each names an output, is of its type,
 * lies on a SharedArrayBuffer and agrees with the model's fixed dims and the request's `batch` rows. Returns them,
 * or undefined when none is given. Dims the model leaves open are checked when the run answers.
 */
export function outputTargets(side: TensorSide, given: unknown, batch: number): Record<string, ort.Tensor> | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new ArgumentError('options.outputs: expected { outputName: tensor } with tensors from allocateOutput');
  const entries = Object.entries(given as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  const names = side.infos.map((i) => i.name);
  for (const [name, tensor] of entries) {
    const where = `options.outputs['${name}']`;
    const info = side.infos.find((i) => i.name === name);
    if (info === undefined) throw new ArgumentError(`${where}: not an output of the model (outputs: ${names.join(', ')})`);
    if (!(tensor instanceof ort.Tensor) && !(typeof tensor === 'object' && tensor !== null && 'dims' in tensor && 'data' in tensor)) throw new ArgumentError(`${where}: expected a tensor (from allocateOutput('${name}', rows))`);
    const { type, dims, data } = tensor as ort.Tensor;
    const elemType = elemTypeOf(info);
    const expected = elemType === undefined ? undefined : ortTypeOf[elemType];
    if (expected !== undefined && type !== expected) {
      throw new ArgumentError(elemType === TensorProto_DataType.BFLOAT16 ? `${where}: a ${type} tensor for a bfloat16 output, which comes as its bits in a uint16 tensor (onnxruntime-node has no bfloat16 tensors); make it with allocateOutput('${name}', rows)` : `${where}: a ${type} tensor for a ${expected} output`);
    }
    if (!isShared(data)) throw new ArgumentError(`${where}: its data must be on a SharedArrayBuffer, which every device writes its rows into; make it with allocateOutput('${name}', rows)`);
    const shape = shapeOf(info);
    const axis = side.axisOf(name);
    const wrong = (why: string): ArgumentError => new ArgumentError(`${where}: dims [${dims.join(', ')}] ${why}`);
    if (shape !== undefined && shape.length !== dims.length) throw wrong(`for an output of rank ${shape.length} ([${shape.join(', ')}])`);
    shape?.forEach((dim, k) => {
      if (k !== axis && typeof dim === 'number' && dims[k] !== dim) throw wrong(`where the model gives [${shape.join(', ')}]`);
    });
    if (axis !== null && dims[axis] !== batch) throw wrong(`for a batch of ${batch} rows (dim ${axis} is the batch axis)`);
  }
  return given as Record<string, ort.Tensor>;
}
