/** TensorProto -> onnxruntime tensor (for reference inputs and outputs stored as .pb files), fit to feed a session. */
import * as ort from 'onnxruntime-node';
import { TensorProto_DataType as DT, type TensorProto } from '../onnx.js';
import { ortTypeFor, allocate } from '../tensors/ort-types.js';
import { ortInputTensor } from '../tensors/ort-tensor.js';

export function tensorFromProto(proto: TensorProto): ort.Tensor {
  const type = ortTypeFor(proto.dataType as DT, `tensor '${proto.name}'`);
  const dims = proto.dims.map(Number);
  const size = dims.reduce((a, b) => a * b, 1);
  if (type === 'string') return new ort.Tensor('string', proto.stringData.map((s) => new TextDecoder().decode(s)), dims);
  // float16 is held as its bit patterns (int32_data holds them too).
  const data = (type === 'float16' ? new Uint16Array(size) : allocate(type, size)) as Exclude<ReturnType<typeof allocate>, string[]>;
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
  return ortInputTensor(type, data, dims);
}
