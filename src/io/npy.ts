/** NumPy .npy files <-> onnxruntime tensors, with the npyjs parser. */
import { dump, parse, type DType } from 'npyjs';
import * as ort from 'onnxruntime-node';
import { InputError, messageOf } from '../errors.js';
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
  return new ort.Tensor(type as 'float32', data as Float32Array, array.shape);
}

export async function readNpy(file: string): Promise<ort.Tensor> {
  return tensorFromNpy(await readInputFile(file), file);
}

export function npyFromTensor(tensor: ort.Tensor): Uint8Array {
  const dtype = dtypeOfOrtType[tensor.type];
  if (dtype === undefined) throw new TypeError(`tensor type ${tensor.type} cannot be written as .npy`);
  return new Uint8Array(dump(tensor.data as Float32Array, [...tensor.dims], { dtype }));
}
