/**
 * The data of one device run: the rows of one or more requests gathered along the batch axis, copied once onto a
 * buffer that can be transferred to the worker; and each request's rows cut back out of the outputs.
 */
import * as ort from 'onnxruntime-node';
import type { WireData } from './messages.js';
import { copyOf } from './messages.js';
import { concatAlongAxis, sliceAlongAxis } from './tensor-ops.js';
import { isFloat16Array } from '../tensors/float16.js';

const nodeMajor = Number(process.versions.node.split('.')[0]);
/** onnxruntime-node rejects tensors on a SharedArrayBuffer under Node 20 and takes them from Node 22 on. */
const sharedBuffersAccepted = nodeMajor >= 22;

/** Rows [start, start + size) of something that holds a tensor (tensorOf gives it). */
export interface Rows {
  start: number;
  size: number;
}

type ViewConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;

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
export function gatherRows<P extends Rows>(parts: readonly P[], tensorOf: (part: P) => ort.Tensor, axis: number, spare: (byteLength: number) => ArrayBuffer | undefined): { dims: number[]; data: WireData } {
  const first = parts[0]!;
  const firstTensor = tensorOf(first);
  if (parts.length === 1) {
    const { start, size } = first;
    const whole = start === 0 && size === firstTensor.dims[axis];
    const slice = whole ? firstTensor : sliceAlongAxis(firstTensor, axis, start, start + size);
    const fresh = !whole && (slice.data as ArrayBufferView).buffer !== (firstTensor.data as ArrayBufferView).buffer;
    return { dims: [...slice.dims], data: wireData(slice, fresh, spare) };
  }
  let rows = 0;
  for (const part of parts) rows += part.size;
  const dims = firstTensor.dims.slice();
  dims[axis] = rows;
  const data = firstTensor.data as ArrayBufferView | string[];
  if (axis !== 0 || Array.isArray(data)) {
    const joined = concatAlongAxis(parts.map((p) => sliceAlongAxis(tensorOf(p), axis, p.start, p.start + p.size)), axis);
    return { dims, data: joined.data as WireData };
  }
  const rowBytes = data.byteLength / firstTensor.dims[0]!;
  const byteLength = rowBytes * rows;
  const buffer = spare(byteLength) ?? new ArrayBuffer(byteLength);
  const Ctor = (Buffer.isBuffer(data) ? Uint8Array : data.constructor) as ViewConstructor;
  const elementBytes = (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const gathered = new Ctor(buffer, 0, byteLength / elementBytes) as ArrayBufferView & { set(source: ArrayBufferView, at: number): void };
  let bytes: Uint8Array | undefined;
  let at = 0;
  for (const part of parts) {
    const tensor = tensorOf(part);
    const source = tensor.data as ArrayBufferView;
    const length = part.size * rowBytes;
    // A whole tensor of the same kind is copied as it is (no view to make); other rows, and float16 values
    // (whose bit patterns must not be converted), as bytes.
    if (part.start === 0 && part.size === tensor.dims[0] && source.byteLength === length && source.constructor === Ctor && !isFloat16Array(source)) gathered.set(source, at / elementBytes);
    else (bytes ??= new Uint8Array(buffer, 0, byteLength)).set(new Uint8Array(source.buffer, source.byteOffset + part.start * rowBytes, length), at);
    at += length;
  }
  return { dims, data: gathered };
}
