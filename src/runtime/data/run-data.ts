/**
 * The data of one device run, read by onnxruntime where it lies: the rows of a request along its batch axis are a
 * view of the caller's memory (ordinary or shared) wherever they are one block (batch axis first, or nothing
 * before it); rows along a later axis, and the rows of several requests merged into one run, are copied once.
 */
import type * as ort from 'onnxruntime-node';
import type { DeviceInput } from '../session/device.js';
import { concatAlongAxis, sliceAlongAxis } from './tensor-ops.js';
import { copyRows, product, rowsByteLength, viewLike, type View } from './row-copy.js';
import { deviceValueOf } from '../memory/device-values.js';

/** Rows [start, start + size) of something that holds a tensor (tensorOf gives it). */
export interface Rows {
  start: number;
  size: number;
}

/** A view of rows [start, start + size) along `axis` of data whose dims are `dims`, where they are one block; else undefined. */
export function rowsView(data: ArrayBufferView, dims: readonly number[], axis: number, start: number, size: number): View | undefined {
  if (product(dims, 0, axis) !== 1) return undefined;
  const inner = product(dims, axis + 1);
  return (data as View).subarray(start * inner, (start + size) * inner);
}

/** A whole tensor, as it is (one kept in a device's memory, as that value). */
export function wholeInput(tensor: ort.Tensor): DeviceInput {
  return { type: tensor.type, dims: tensor.dims.slice(), data: deviceValueOf(tensor) ?? (tensor.data as View | string[]) };
}

/** Rows [start, start + size) along `axis` of one request's input: a view where they are one block, else copied once. */
export function pieceInput(tensor: ort.Tensor, axis: number, start: number, size: number): DeviceInput {
  const dims = tensor.dims as number[];
  if (start === 0 && size === dims[axis]) return wholeInput(tensor);
  const rowDims = dims.slice();
  rowDims[axis] = size;
  const data = tensor.data as View | string[];
  if (Array.isArray(data)) return { type: tensor.type, dims: rowDims, data: sliceAlongAxis(tensor, axis, start, start + size).data as string[] };
  const view = rowsView(data, dims, axis, start, size);
  if (view !== undefined) return { type: tensor.type, dims: rowDims, data: view };
  return { type: tensor.type, dims: rowDims, data: copyRows(data, dims, axis, start, size, new ArrayBuffer(rowsByteLength(data, dims, axis, size))) };
}

/**
 * The rows of several requests (or parts of them) gathered along `axis` into one tensor: each part's rows copied
 * once, into a buffer of at least the bytes asked for that `bufferOf` gives (by default a new one).
 */
export function gatheredInput<P extends Rows>(parts: readonly P[], tensorOf: (part: P) => ort.Tensor, axis: number, bufferOf: (bytes: number) => ArrayBuffer = (bytes) => new ArrayBuffer(bytes)): DeviceInput {
  const firstTensor = tensorOf(parts[0]!);
  let rows = 0;
  for (const part of parts) rows += part.size;
  const dims = firstTensor.dims.slice();
  dims[axis] = rows;
  const first = firstTensor.data as View | string[];
  if (Array.isArray(first)) {
    const joined = concatAlongAxis(parts.map((p) => sliceAlongAxis(tensorOf(p), axis, p.start, p.start + p.size)), axis);
    return { type: firstTensor.type, dims, data: joined.data as string[] };
  }
  const buffer = bufferOf(rowsByteLength(first, firstTensor.dims, axis, rows));
  if (product(firstTensor.dims, 0, axis) === 1) return { type: firstTensor.type, dims, data: gatheredBlocks(parts, tensorOf, first, product(firstTensor.dims, axis + 1), rows, buffer) };
  let gathered: View | undefined;
  let at = 0;
  for (const part of parts) {
    const tensor = tensorOf(part);
    gathered = copyRows(tensor.data as View, tensor.dims, axis, part.start, part.size, buffer, at, rows);
    at += part.size;
  }
  return { type: firstTensor.type, dims, data: gathered! };
}

/**
 * The rows of parts whose rows are each one block (nothing before the batch axis), copied block by block into
 * `buffer`: one copy and one view per part, as many requests of a row or two are merged at a time.
 */
function gatheredBlocks<P extends Rows>(parts: readonly P[], tensorOf: (part: P) => ort.Tensor, first: View, rowElements: number, rows: number, buffer: ArrayBuffer): View {
  const elementBytes = (first as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const rowBytes = rowElements * elementBytes;
  const to = new Uint8Array(buffer, 0, rows * rowBytes);
  let at = 0;
  for (const part of parts) {
    const data = tensorOf(part).data as View;
    to.set(new Uint8Array(data.buffer, data.byteOffset + part.start * rowBytes, part.size * rowBytes), at);
    at += part.size * rowBytes;
  }
  return viewLike(first, buffer, rows * rowElements);
}
