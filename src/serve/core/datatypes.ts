/**
 * The protocol's tensor datatypes (`FP32`, `INT64`, `BYTES`, ...) and the onnxruntime-node tensor types they
 * stand for. BF16 travels as its bit patterns in a 'uint16' tensor (onnxruntime-node has no bfloat16 type), so
 * a tensor's type alone does not name its datatype: a response's datatypes come from the model's signature.
 */
import type { TensorProto_DataType } from '../../onnx.js';
import { tritonDataType } from '../../triton/data-types.js';

/** onnxruntime-node's tensor type of each datatype (BF16: its bit patterns as uint16). */
const ortTypes = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BF16: 'uint16',
  BYTES: 'string',
} as const;

export type Datatype = keyof typeof ortTypes;
export type OrtType = (typeof ortTypes)[Datatype];

export const datatypes = Object.keys(ortTypes) as Datatype[];

/** The datatype of each tensor type: uint16 is UINT16, unless the model says BF16. */
const byOrtType = new Map<string, Datatype>(datatypes.filter((d) => d !== 'BF16').map((d) => [ortTypes[d], d]));

export const isDatatype = (value: unknown): value is Datatype => typeof value === 'string' && Object.hasOwn(ortTypes, value);

export const ortTypeOfDatatype = (datatype: Datatype): OrtType => ortTypes[datatype];

/** The datatype of an onnxruntime-node tensor type; undefined for types the protocol has no name for (int4). */
export const datatypeOfOrtType = (type: string): Datatype | undefined => byOrtType.get(type);

/** The protocol's name of an ONNX element type (Triton's config name without `TYPE_`; strings are BYTES). */
export function datatypeOfElemType(elemType: TensorProto_DataType | undefined): string | undefined {
  const triton = elemType === undefined ? undefined : tritonDataType(elemType);
  if (triton === undefined) return undefined;
  return triton === 'TYPE_STRING' ? 'BYTES' : triton.slice('TYPE_'.length);
}

/** Triton's config name of a protocol datatype, the inverse of datatypeOfElemType's naming (`INVALID` gives `TYPE_INVALID`). */
export const tritonTypeOfDatatype = (datatype: string): string => (datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`);

/** Bytes per element in binary data; BYTES elements have a length prefix each instead. */
export const elementBytes: Record<Exclude<Datatype, 'BYTES'>, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  BF16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};
