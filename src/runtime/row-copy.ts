/** Copying rows of tensor data along an axis into a buffer that is kept and reused. */

export type View = ArrayBufferView & { readonly length: number; subarray(start: number, end: number): View };
type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => View;

export const product = (dims: readonly number[], from = 0, to = dims.length): number => {
  let p = 1;
  for (let i = from; i < to; i++) p *= dims[i]!;
  return p;
};

/** An array of the same kind as `data` (a Node Buffer as a plain Uint8Array) over `length` elements of `buffer`. */
export function viewLike(data: ArrayBufferView, buffer: ArrayBufferLike, length: number): View {
  const Ctor = (Buffer.isBuffer(data) ? Uint8Array : data.constructor) as ViewConstructor;
  return new Ctor(buffer, 0, length);
}

/**
 * Rows [start, start + size) along `axis` of `source` (whose dims are `dims`), copied as bytes (float16 bit
 * patterns stay as they are) into `buffer`, which holds a tensor of `total` rows on that axis, at its row `at`
 * (by default: the rows alone, at the start). Returns that tensor's data as an array of the source's kind.
 */
export function copyRows(source: View, dims: readonly number[], axis: number, start: number, size: number, buffer: ArrayBuffer, at = 0, total = size): View {
  const elementBytes = (source as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const outer = product(dims, 0, axis);
  const block = product(dims, axis + 1) * elementBytes;
  const byteLength = outer * total * block;
  const from = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  const to = new Uint8Array(buffer, 0, byteLength);
  const stride = dims[axis]! * block;
  for (let o = 0; o < outer; o++) to.set(from.subarray(o * stride + start * block, o * stride + (start + size) * block), (o * total + at) * block);
  return viewLike(source, buffer, byteLength / elementBytes);
}

/** The bytes `copyRows` writes for those rows. */
export function rowsByteLength(source: ArrayBufferView, dims: readonly number[], axis: number, size: number): number {
  const elementBytes = (source as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  return (product(dims) / dims[axis]!) * size * elementBytes;
}
