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

/** The bytes of a view, as a Uint8Array over the same memory. */
export const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/**
 * Copies `count` rows along `axis` of a tensor whose dims are `dims`, as bytes (float16 bit patterns stay as they
 * are), from row `fromRow` of `from`, which holds `fromRows` rows on that axis, to row `toRow` of `to`, which holds
 * `toRows`. The dims other than `axis` are the same in both.
 */
function copyRowBlocks(from: Uint8Array, fromRow: number, fromRows: number, to: Uint8Array, toRow: number, toRows: number, count: number, dims: readonly number[], axis: number, elementBytes: number): void {
  const outer = product(dims, 0, axis);
  const row = product(dims, axis + 1) * elementBytes;
  for (let o = 0; o < outer; o++) {
    const start = (o * fromRows + fromRow) * row;
    to.set(from.subarray(start, start + count * row), (o * toRows + toRow) * row);
  }
}

/**
 * Rows [start, start + size) along `axis` of `source` (whose dims are `dims`), copied as bytes into `buffer`,
 * which holds a tensor of `total` rows on that axis, at its row `at` (by default: the rows alone, at the start).
 * Returns that tensor's data as an array of the source's kind.
 */
export function copyRows(source: View, dims: readonly number[], axis: number, start: number, size: number, buffer: ArrayBuffer, at = 0, total = size): View {
  const elementBytes = (source as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const byteLength = (product(dims) / dims[axis]!) * total * elementBytes;
  copyRowBlocks(bytesOf(source), start, dims[axis]!, new Uint8Array(buffer, 0, byteLength), at, total, size, dims, axis, elementBytes);
  return viewLike(source, buffer, byteLength / elementBytes);
}

/**
 * The inverse of `copyRows`: `rows`, a tensor of `size` rows along `axis`, written into rows [start, start + size)
 * of `target`, whose dims are `dims`.
 */
export function placeRows(rows: View, target: View, dims: readonly number[], axis: number, start: number, size: number): void {
  const elementBytes = (target as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  copyRowBlocks(bytesOf(rows), 0, size, bytesOf(target), start, dims[axis]!, size, dims, axis, elementBytes);
}

/** The bytes `copyRows` writes for those rows. */
export function rowsByteLength(source: ArrayBufferView, dims: readonly number[], axis: number, size: number): number {
  const elementBytes = (source as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  return (product(dims) / dims[axis]!) * size * elementBytes;
}
