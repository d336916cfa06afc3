/** Slicing and joining onnxruntime tensors along an axis, on typed arrays. */
import * as ort from 'onnxruntime-node';
import { product } from './row-copy.js';
import { allocate, type TypedData } from '../../tensors/ort-types.js';
import { float16Bits, float16Storage, float16Values, float32ToHalfArray, isFloat16Array, type Float16ArrayLike } from '../../tensors/float16.js';

/**
 * Copies `length` elements of `from` at `fromAt` into `to` at `toAt` (typed arrays or, for strings, arrays).
 * float16 data is copied as bit patterns, so either form (Uint16Array or Float16Array) goes into either.
 */
function copyElements(from: TypedData, fromAt: number, to: TypedData, toAt: number, length: number): void {
  if (Array.isArray(from)) for (let k = 0; k < length; k++) (to as string[])[toAt + k] = from[fromAt + k]!;
  else (bitView(to) as Float32Array).set((bitView(from) as Float32Array).subarray(fromAt, fromAt + length), toAt);
}

/** The data itself, or for a Float16Array its bit patterns (typed-array `set` would convert values between forms). */
const bitView = (data: TypedData): TypedData => (isFloat16Array(data) ? float16Bits(data) : data);

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
  for (let o = 0; o < outer; o++) copyElements(data, (o * dims[axis]! + start) * inner, out, o * block, block);
  return new ort.Tensor(tensor.type as 'float32', out as Float32Array, outDims);
}

/**
 * Cuts rows out of one tensor again and again (each request's rows of a merged run): what depends only on the
 * tensor is worked out once. Along axis 0 each cut is a zero-copy view; other axes copy (sliceAlongAxis).
 */
export function rowCutter(tensor: ort.Tensor, axis: number): (start: number, size: number) => ort.Tensor {
  const data = tensor.data as TypedData;
  if (axis !== 0 || Array.isArray(data)) return (start, size) => sliceAlongAxis(tensor, axis, start, start + size);
  const { dims, type } = tensor;
  const inner = product(dims.slice(1));
  const view = data as Float32Array;
  return (start, size) => {
    const outDims = dims.slice();
    outDims[0] = size;
    return new ort.Tensor(type as 'float32', view.subarray(start * inner, (start + size) * inner), outDims);
  };
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
    for (let o = 0; o < outer; o++) copyElements(data, o * block, out, o * rowBlock + offset, block);
    offset += block;
  }
  return new ort.Tensor(first.type as 'float32', out as Float32Array, outDims);
}

/** A new axis 0 of length parts.length. */
export function stack(parts: ort.Tensor[]): ort.Tensor {
  const reshaped = parts.map((p) => new ort.Tensor(p.type as 'float32', p.data as Float32Array, [1, ...p.dims]));
  return concatAlongAxis(reshaped, 0);
}

/**
 * Joins the values of an output that has no batch axis, one per part (parts of size 0 are left out):
 * first, sum, the batch-weighted mean, max, or stacked along a new axis 0.
 */
export function combineTensors(mode: 'first' | 'sum' | 'mean' | 'max' | 'stack', parts: Array<ort.Tensor | undefined>, sizes: number[]): ort.Tensor {
  const live = parts.filter((p, i): p is ort.Tensor => p !== undefined && sizes[i]! > 0);
  const liveSizes = sizes.filter((size, i) => parts[i] !== undefined && size > 0);
  if (mode === 'first') return live[0]!;
  if (mode === 'stack') return stack(live);
  if (live[0]!.type === 'float16') {
    // Computed on the values in float32, then rounded back to half bit patterns.
    const values = combineTensors(mode, live.map((p) => new ort.Tensor('float32', float16Values(p.data as Float16ArrayLike), p.dims)), liveSizes);
    return new ort.Tensor('float16', float16Storage(float32ToHalfArray(values.data as Float32Array)) as Uint16Array, values.dims);
  }
  const total = liveSizes.reduce((a, b) => a + b, 0);
  const first = live[0]!;
  const out = (first.data as Float32Array).slice();
  const isBig = typeof (first.data as unknown as ArrayLike<unknown>)[0] === 'bigint';
  live.forEach((part, k) => {
    const data = part.data as unknown as ArrayLike<number>;
    const share = liveSizes[k]! / total;
    for (let i = 0; i < out.length; i++) {
      if (mode === 'sum') out[i] = k === 0 ? data[i]! : out[i]! + data[i]!;
      else if (mode === 'max') out[i] = k === 0 ? data[i]! : data[i]! > out[i]! ? data[i]! : out[i]!;
      else if (!isBig) out[i] = (k === 0 ? 0 : out[i]!) + data[i]! * share;
    }
  });
  return new ort.Tensor(first.type as 'float32', out, first.dims);
}

/**
 * Joins parts along `axis` as they arrive, writing each once into the result, so the join of the first parts
 * overlaps the work still running for the others. Part k is expected to hold `rows[k]` rows at row
 * `offsets[k]`; a part that does not (an output whose batch axis is not the input's rows) makes `result()`
 * fall back to a plain concatenation.
 */
export class AxisJoin {
  private out: TypedData | undefined;
  private dims: number[] | undefined;
  private type = '';
  private consistent = true;
  private readonly parts: ort.Tensor[] = [];

  constructor(
    private readonly axis: number,
    private readonly offsets: number[],
    private readonly rows: number[],
  ) {}

  put(k: number, part: ort.Tensor): void {
    this.parts[k] = part;
    // A single part is the result as it is (one device, no micro-batches): nothing to copy.
    if (!this.consistent || this.rows.length === 1) return;
    const dims = [...part.dims];
    const total = this.rows.reduce((a, b) => a + b, 0);
    const fits = dims[this.axis] === this.rows[k] && (this.dims === undefined || (part.type === this.type && dims.every((d, i) => i === this.axis || d === this.dims![i])));
    if (!fits) {
      this.consistent = false;
      return;
    }
    if (this.out === undefined) {
      this.type = part.type;
      this.dims = dims.map((d, i) => (i === this.axis ? total : d));
      this.out = allocate(part.type, product(this.dims));
    }
    const inner = product(dims.slice(this.axis + 1));
    const outer = product(dims.slice(0, this.axis));
    const block = this.rows[k]! * inner;
    const rowBlock = total * inner;
    const data = part.data as TypedData;
    for (let o = 0; o < outer; o++) copyElements(data, o * block, this.out, o * rowBlock + this.offsets[k]! * inner, block);
  }

  result(): ort.Tensor {
    if (this.parts.length === 1) return this.parts[0]!;
    if (!this.consistent || this.out === undefined) return concatAlongAxis(this.parts, this.axis);
    return new ort.Tensor(this.type as 'float32', this.out as Float32Array, this.dims!);
  }
}
