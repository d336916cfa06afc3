/** ONNX element types as Triton's model configuration names them (`inference.DataType`). */
import { TensorProto_DataType } from '../onnx.js';

export type TritonDataType =
  | 'TYPE_BOOL'
  | 'TYPE_UINT8'
  | 'TYPE_UINT16'
  | 'TYPE_UINT32'
  | 'TYPE_UINT64'
  | 'TYPE_INT8'
  | 'TYPE_INT16'
  | 'TYPE_INT32'
  | 'TYPE_INT64'
  | 'TYPE_FP16'
  | 'TYPE_FP32'
  | 'TYPE_FP64'
  | 'TYPE_STRING'
  | 'TYPE_BF16';

const tritonTypes = new Map<TensorProto_DataType, TritonDataType>([
  [TensorProto_DataType.BOOL, 'TYPE_BOOL'],
  [TensorProto_DataType.UINT8, 'TYPE_UINT8'],
  [TensorProto_DataType.UINT16, 'TYPE_UINT16'],
  [TensorProto_DataType.UINT32, 'TYPE_UINT32'],
  [TensorProto_DataType.UINT64, 'TYPE_UINT64'],
  [TensorProto_DataType.INT8, 'TYPE_INT8'],
  [TensorProto_DataType.INT16, 'TYPE_INT16'],
  [TensorProto_DataType.INT32, 'TYPE_INT32'],
  [TensorProto_DataType.INT64, 'TYPE_INT64'],
  [TensorProto_DataType.FLOAT16, 'TYPE_FP16'],
  [TensorProto_DataType.FLOAT, 'TYPE_FP32'],
  [TensorProto_DataType.DOUBLE, 'TYPE_FP64'],
  [TensorProto_DataType.STRING, 'TYPE_STRING'],
  [TensorProto_DataType.BFLOAT16, 'TYPE_BF16'],
]);

/** Triton's name of an ONNX element type, or undefined when Triton has none (complex, float8, 4-bit types). */
export function tritonDataType(elemType: TensorProto_DataType): TritonDataType | undefined {
  return tritonTypes.get(elemType);
}
