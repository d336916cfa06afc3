/**
 * NumPy .npy files <-> onnxruntime tensors, with the npyjs parser. `<f2` is read as half bit patterns, in a tensor
 * onnxruntime-node can take on this Node, and written from either float16 form (bit patterns or Float16Array).
 */
import { dump, parse, type DType } from 'npyjs';
import type * as ort from 'onnxruntime-node';
import { ArgumentError, InputError, messageOf } from '../errors.js';
import { float16Bits, type Float16Data } from '../tensors/float16.js';
import { ortInputTensor } from '../tensors/ort-tensor.js';
import type { TypedData } from '../tensors/ort-types.js';
import { readInputFile } from './files.js';

const ortTypeOfDtype: Partial<Record<string, string>> = {
  f4: 'float32', f8: 'float64', f2: 'float16', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16',
  i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64', b1: 'bool',
};
const dtypeOfOrtType: Record<string, DType> = Object.fromEntries(Object.entries(ortTypeOfDtype).map(([k, v]) => [v, k as DType]));

export function tensorFromNpy(bytes: Uint8Array, source: string): ort.Tensor {
  let array;
  try {
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    array = parse(copy, { convertFloat16: false });
  } catch (error) {
    throw new InputError(`${source}: not a NumPy .npy file (${messageOf(error)})`);
  }
  if (array.fortranOrder) throw new InputError(`${source}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`);
  const type = ortTypeOfDtype[array.dtype];
  if (type === undefined) throw new InputError(`${source}: dtype ${array.dtype} is not supported`);
  const data = type === 'bool' ? new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength) : array.data;
  return ortInputTensor(type, data as TypedData, array.shape);
}

export async function readNpy(file: string): Promise<ort.Tensor> {
  return tensorFromNpy(await readInputFile(file), file);
}

export function npyFromTensor(tensor: ort.Tensor): Uint8Array {
  const dtype = dtypeOfOrtType[tensor.type];
  if (dtype === undefined) throw new ArgumentError(`tensor type ${tensor.type} cannot be written as .npy`);
  const data = tensor.type === 'float16' ? float16Bits(tensor.data as Float16Data) : (tensor.data as Float32Array);
  return new Uint8Array(dump(data, [...tensor.dims], { dtype }));
}
