/** Slicing and joining onnxruntime tensors along an axis, on typed arrays. */
import * as ort from 'onnxruntime-node';
import { allocate, type TypedData } from './ort-types.js';

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Rows [start, end) along `axis`. Along axis 0 the data is a zero-copy view; other axes copy once. */
export function sliceAlongAxis(tensor: ort.Tensor, axis: number, start: number, end: number): ort.Tensor {
  const dims = [...tensor.dims];
  const inner = product(dims.slice(axis + 1));
  const outer = product(dims.slice(0, axis));
  const data = tensor.data as TypedData;
  const count = end - start;
  const outDims = dims.map((d, i) => (i === axis ? count : d));
  if (outer === 1 && !Array.isArray(data)) {
    return new ort.Tensor(tensor.type as 'float32', (data as Float32Array).subarray(start * inner, end * inner), outDims);
  }
  const out = allocate(tensor.type, product(outDims));
  const block = count * inner;
  for (let o = 0; o < outer; o++) {
    const from = (o * dims[axis]! + start) * inner;
    if (Array.isArray(data)) for (let k = 0; k < block; k++) (out as string[])[o * block + k] = data[from + k]!;
    else (out as Float32Array).set((data as Float32Array).subarray(from, from + block), o * block);
  }
  return new ort.Tensor(tensor.type as 'float32', out as Float32Array, outDims);
}

/** The concatenation of tensors along `axis`; each part is written once into the result. */
export function concatAlongAxis(parts: ort.Tensor[], axis: number): ort.Tensor {
  const first = parts[0]!;
  const dims = [...first.dims];
  const total = parts.reduce((sum, p) => sum + p.dims[axis]!, 0);
  const outDims = dims.map((d, i) => (i === axis ? total : d));
  const outer = product(dims.slice(0, axis));
  const inner = product(dims.slice(axis + 1));
  const out = allocate(first.type, product(outDims));
  const rowBlock = total * inner;
  let offset = 0;
  for (const part of parts) {
    const block = part.dims[axis]! * inner;
    const data = part.data as TypedData;
    for (let o = 0; o < outer; o++) {
      const to = o * rowBlock + offset;
      if (Array.isArray(data)) for (let k = 0; k < block; k++) (out as string[])[to + k] = data[o * block + k]!;
      else (out as Float32Array).set((data as Float32Array).subarray(o * block, (o + 1) * block), to);
    }
    offset += block;
  }
  return new ort.Tensor(first.type as 'float32', out as Float32Array, outDims);
}

/** A new axis 0 of length parts.length. */
export function stack(parts: ort.Tensor[]): ort.Tensor {
  const reshaped = parts.map((p) => new ort.Tensor(p.type as 'float32', p.data as Float32Array, [1, ...p.dims]));
  return concatAlongAxis(reshaped, 0);
}
