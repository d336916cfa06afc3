/**
 * The data of one device run: the rows of one or more requests gathered along the batch axis, copied once onto a
 * buffer that can be transferred to the worker; and each request's rows cut back out of the outputs.
 */
import * as ort from 'onnxruntime-node';
import type { WireData } from './messages.js';
import { copyOf } from './messages.js';
import { concatAlongAxis, sliceAlongAxis } from './tensor-ops.js';

const nodeMajor = Number(process.versions.node.split('.')[0]);
/** onnxruntime-node rejects tensors on a SharedArrayBuffer under Node 20 and takes them from Node 22 on. */
const sharedBuffersAccepted = nodeMajor >= 22;

/** Rows [start, start + size) of one request's tensor. */
export interface Rows {
  tensor: ort.Tensor;
  start: number;
  size: number;
}

type ViewConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/**
 * Data for a worker. The caller's buffers are never transferred (that would detach them): a view of the caller's
 * data is copied once (into `spare` when one fits), data on a fresh buffer goes as it is, and data on a
 * SharedArrayBuffer is shared as it is where onnxruntime accepts it.
 */
export function wireData(tensor: ort.Tensor, fresh: boolean, spare: (byteLength: number) => ArrayBuffer | undefined): WireData {
  const data = tensor.data as ArrayBufferView | string[];
  if (Array.isArray(data) || fresh) return data;
  if (sharedBuffersAccepted && data.buffer instanceof SharedArrayBuffer) return data;
  return copyOf(data, spare(data.byteLength));
}

/**
 * The rows of several requests (or parts of them) gathered along `axis`, as one tensor whose data can be
 * transferred. Along axis 0 each part's rows are one block of bytes, copied once straight into the result.
 */
export function gatherRows(parts: Rows[], axis: number, spare: (byteLength: number) => ArrayBuffer | undefined): { dims: number[]; data: WireData } {
  const first = parts[0]!;
  if (parts.length === 1) {
    const { tensor, start, size } = first;
    const whole = start === 0 && size === tensor.dims[axis];
    const slice = whole ? tensor : sliceAlongAxis(tensor, axis, start, start + size);
    const fresh = !whole && (slice.data as ArrayBufferView).buffer !== (tensor.data as ArrayBufferView).buffer;
    return { dims: [...slice.dims], data: wireData(slice, fresh, spare) };
  }
  const rows = parts.reduce((sum, p) => sum + p.size, 0);
  const dims = first.tensor.dims.map((d, i) => (i === axis ? rows : d));
  const data = first.tensor.data as ArrayBufferView | string[];
  if (axis !== 0 || Array.isArray(data)) {
    const joined = concatAlongAxis(parts.map((p) => sliceAlongAxis(p.tensor, axis, p.start, p.start + p.size)), axis);
    return { dims, data: joined.data as WireData };
  }
  const rowBytes = data.byteLength / first.tensor.dims[0]!;
  const byteLength = rowBytes * rows;
  const buffer = spare(byteLength) ?? new ArrayBuffer(byteLength);
  const out = new Uint8Array(buffer, 0, byteLength);
  let at = 0;
  for (const { tensor, start, size } of parts) {
    const source = bytesOf(tensor.data as ArrayBufferView);
    out.set(source.subarray(start * rowBytes, (start + size) * rowBytes), at);
    at += size * rowBytes;
  }
  const Ctor = (Buffer.isBuffer(data) ? Uint8Array : data.constructor) as ViewConstructor;
  return { dims, data: new Ctor(buffer, 0, byteLength / (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT) };
}
