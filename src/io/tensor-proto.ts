/** TensorProto -> onnxruntime tensor (for reference inputs and outputs stored as .pb files). */
import * as ort from 'onnxruntime-node';
import { TensorProto_DataType as DT, type TensorProto } from '../onnx.js';
import { ortTypeOf, allocate } from '../tensors/ort-types.js';

export function tensorFromProto(proto: TensorProto): ort.Tensor {
  const type = ortTypeOf[proto.dataType as DT];
  if (type === undefined) throw new TypeError(`tensor '${proto.name}': element type ${proto.dataType} is not supported by onnxruntime-node`);
  const dims = proto.dims.map(Number);
  const size = dims.reduce((a, b) => a * b, 1);
  if (type === 'string') return new ort.Tensor('string', proto.stringData.map((s) => new TextDecoder().decode(s)), dims);
  const data = allocate(type, size) as Exclude<ReturnType<typeof allocate>, string[]>;
  if (proto.rawData.length > 0) {
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(proto.rawData.subarray(0, data.byteLength));
  } else {
    const source: ArrayLike<number | bigint> =
      proto.floatData.length > 0 ? proto.floatData
      : proto.doubleData.length > 0 ? proto.doubleData
      : proto.int64Data.length > 0 ? proto.int64Data
      : proto.uint64Data.length > 0 ? proto.uint64Data
      : proto.int32Data;
    for (let i = 0; i < size && i < source.length; i++) {
      const value = source[i]!;
      (data as unknown as Array<number | bigint>)[i] = data instanceof BigInt64Array || data instanceof BigUint64Array ? BigInt(value) : Number(value);
    }
  }
  return new ort.Tensor(type as 'float32', data as Float32Array, dims);
}
