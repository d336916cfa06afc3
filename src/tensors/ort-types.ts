/** Mapping between ONNX element types and onnxruntime-node tensor types. */
import { TensorProto_DataType as DT } from '../onnx.js';

export const ortTypeOf: Partial<Record<DT, string>> = {
  [DT.FLOAT]: 'float32',
  [DT.DOUBLE]: 'float64',
  [DT.FLOAT16]: 'float16',
  [DT.INT8]: 'int8',
  [DT.UINT8]: 'uint8',
  [DT.INT16]: 'int16',
  [DT.UINT16]: 'uint16',
  [DT.INT32]: 'int32',
  [DT.UINT32]: 'uint32',
  [DT.INT64]: 'int64',
  [DT.UINT64]: 'uint64',
  [DT.BOOL]: 'bool',
  [DT.STRING]: 'string',
};

export type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** Allocates the typed array onnxruntime-node expects for a tensor type. */
export function allocate(type: string, size: number): TypedData {
  switch (type) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'float16': return new Uint16Array(size);
    case 'int8': return new Int8Array(size);
    case 'uint8': case 'bool': return new Uint8Array(size);
    case 'int16': return new Int16Array(size);
    case 'uint16': return new Uint16Array(size);
    case 'int32': return new Int32Array(size);
    case 'uint32': return new Uint32Array(size);
    case 'int64': return new BigInt64Array(size);
    case 'uint64': return new BigUint64Array(size);
    case 'string': return new Array<string>(size).fill('');
    default: throw new TypeError(`unsupported tensor type '${type}'`);
  }
}
