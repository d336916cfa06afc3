/**
 * Mapping between ONNX element types and onnxruntime-node tensor types. onnxruntime-node has no bfloat16 type:
 * a bfloat16 graph input or output is held in a 'uint16' tensor of its bit patterns (see bfloat16.ts).
 */
import { TensorProto_DataType as DT } from '../onnx.js';
import { dataTypeName } from '../graph/types.js';
import { float16Storage, type Float16ArrayLike } from './float16.js';
import { ArgumentError } from '../errors.js';

export const ortTypeOf: Partial<Record<DT, string>> = {
  [DT.FLOAT]: 'float32',
  [DT.DOUBLE]: 'float64',
  [DT.FLOAT16]: 'float16',
  [DT.INT8]: 'int8',
  [DT.UINT8]: 'uint8',
  [DT.INT16]: 'int16',
  [DT.UINT16]: 'uint16',
  [DT.BFLOAT16]: 'uint16',
  [DT.INT32]: 'int32',
  [DT.UINT32]: 'uint32',
  [DT.INT64]: 'int64',
  [DT.UINT64]: 'uint64',
  [DT.BOOL]: 'bool',
  [DT.STRING]: 'string',
};

/**
 * Why no onnxruntime-node tensor can hold a graph input or output (`what`, e.g. "input 'x'"), or undefined
 * when one can (float8 and 4-bit types, for example, have none).
 */
export function noOrtTypeReason(elemType: DT | undefined, what: string): string | undefined {
  if (elemType !== undefined && ortTypeOf[elemType] !== undefined) return undefined;
  return `${what} is ${elemType === undefined ? 'not a tensor' : `of element type ${dataTypeName(elemType)}`}, which onnxruntime-node tensors cannot hold`;
}

/** The onnxruntime-node tensor type of a graph input or output, or an ArgumentError that says why there is none. */
export function ortTypeFor(elemType: DT | undefined, what: string): string {
  const reason = noOrtTypeReason(elemType, what);
  if (reason !== undefined) throw new ArgumentError(reason);
  return ortTypeOf[elemType!]!;
}

/**
 * The element type name a session made through onnxruntime's C API is given a graph input or output as: the
 * onnxruntime-node type, but 'bfloat16' for bfloat16, whose bits an onnxruntime-node 'uint16' tensor holds.
 */
export function sessionTypeFor(elemType: DT | undefined, what: string): string {
  return elemType === DT.BFLOAT16 ? 'bfloat16' : ortTypeFor(elemType, what);
}

/** How a caller gives or gets a bfloat16 tensor, for errors about one given in another form. */
export const bfloat16Hint = 'onnxruntime-node has no bfloat16 tensors: give its bits as a uint16 tensor (bfloat16FromFloat32 makes them from float32 values)';

export type TypedData =
  | Float32Array
  | Float64Array
  | Float16ArrayLike
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

type NumericArrayConstructor = { new (length: number): Exclude<TypedData, string[]>; new (buffer: ArrayBufferLike): Exclude<TypedData, string[]>; readonly BYTES_PER_ELEMENT: number };

/** The typed array of each numeric tensor type (float16 as its bit patterns). */
const arrayTypes: Record<string, NumericArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
} as unknown as Record<string, NumericArrayConstructor>;

/**
 * Allocates the typed array onnxruntime-node holds for a tensor type on this Node, so that data written into
 * it is of the same kind as its outputs (for float16: a Float16Array where Float16Array exists); with `shared`,
 * on a SharedArrayBuffer, or a function, in the buffer it makes for a number of bytes (numeric types only).
 */
export function allocate(type: string, size: number, shared: boolean | ((bytes: number) => ArrayBuffer) = false): TypedData {
  if (type === 'string' && !shared) return new Array<string>(size).fill('');
  const Ctor = arrayTypes[type];
  if (Ctor === undefined) throw new ArgumentError(`unsupported tensor type '${type}'${type === 'string' ? ' on shared memory (strings cannot be shared)' : ''}`);
  const bytes = size * Ctor.BYTES_PER_ELEMENT;
  const data = typeof shared === 'function' ? new Ctor(shared(bytes)) : shared ? new Ctor(new SharedArrayBuffer(bytes)) : new Ctor(size);
  return type === 'float16' ? float16Storage(data as Uint16Array) : data;
}
