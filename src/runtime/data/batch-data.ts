/**
 * The data of one device run: the rows of one request, or of several gathered along the batch axis, copied at
 * most once onto a buffer that is transferred to the worker (a spare buffer of the device where one fits), or
 * shared with it where they are on a SharedArrayBuffer.
 */
import * as ort from 'onnxruntime-node';
import type { RowCut, WireData } from '../session/messages.js';
import { copyOf } from '../session/messages.js';
import { concatAlongAxis, sliceAlongAxis } from './tensor-ops.js';
import { copyRows, rowsByteLength, type View } from './row-copy.js';
import { isShared } from './shared-memory.js';

/** Rows [start, start + size) of something that holds a tensor (tensorOf gives it). */
export interface Rows {
  start: number;
  size: number;
}

/** One input of a device run: its dims and data, and the rows the worker takes itself (see RowCut). */
export interface RunInput {
  dims: number[];
  data: WireData;
  cut: RowCut | undefined;
}

/** A spare buffer of at least that many bytes, if the device has one. */
export type Spare = (byteLength: number) => ArrayBuffer | undefined;

/** Whether `data` fills an ArrayBuffer of its own, which can be handed to a worker by transfer. */
const fillsItsBuffer = (data: ArrayBufferView): boolean => data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;

/**
 * A whole tensor's data for a worker. Data on a SharedArrayBuffer is shared as it is. The caller's buffer is
 * transferred (which detaches it) only with `transfer`, and only when the data fills it; else the data is
 * copied once, into `spare` when one fits.
 */
export function wireData(tensor: ort.Tensor, transfer: boolean, spare: Spare): WireData {
  const data = tensor.data as ArrayBufferView | string[];
  if (Array.isArray(data) || isShared(data) || (transfer && fillsItsBuffer(data))) return data;
  return copyOf(data, spare(data.byteLength));
}

/**
 * Rows [start, start + size) along `axis` of one request's input, for a worker. On a SharedArrayBuffer the
 * whole tensor is sent with the rows to take, and the worker cuts them; otherwise the rows are copied once,
 * into a spare buffer of the device when one fits.
 */
export function pieceInput(tensor: ort.Tensor, axis: number, start: number, size: number, transfer: boolean, spare: Spare): RunInput {
  const dims = tensor.dims as number[];
  if (start === 0 && size === dims[axis]) return { dims: dims.slice(), data: wireData(tensor, transfer, spare), cut: undefined };
  const data = tensor.data as View | string[];
  if (isShared(data)) return { dims: dims.slice(), data, cut: { axis, start, size } };
  if (Array.isArray(data)) {
    const rows = sliceAlongAxis(tensor, axis, start, start + size);
    return { dims: [...rows.dims], data: rows.data as string[], cut: undefined };
  }
  const byteLength = rowsByteLength(data, dims, axis, size);
  const rowDims = dims.slice();
  rowDims[axis] = size;
  return { dims: rowDims, data: copyRows(data, dims, axis, start, size, spare(byteLength) ?? new ArrayBuffer(byteLength)), cut: undefined };
}

/**
 * The rows of several requests (or parts of them) gathered along `axis`, as one tensor whose data can be
 * transferred: each part's rows copied once, straight into a spare buffer of the device where one fits.
 */
export function gatherRows<P extends Rows>(parts: readonly P[], tensorOf: (part: P) => ort.Tensor, axis: number, spare: Spare): { dims: number[]; data: WireData } {
  const firstTensor = tensorOf(parts[0]!);
  let rows = 0;
  for (const part of parts) rows += part.size;
  const dims = firstTensor.dims.slice();
  dims[axis] = rows;
  const first = firstTensor.data as View | string[];
  if (Array.isArray(first)) {
    const joined = concatAlongAxis(parts.map((p) => sliceAlongAxis(tensorOf(p), axis, p.start, p.start + p.size)), axis);
    return { dims, data: joined.data as WireData };
  }
  const byteLength = rowsByteLength(first, firstTensor.dims, axis, rows);
  const buffer = spare(byteLength) ?? new ArrayBuffer(byteLength);
  let gathered: View | undefined;
  let at = 0;
  for (const part of parts) {
    const tensor = tensorOf(part);
    gathered = copyRows(tensor.data as View, tensor.dims, axis, part.start, part.size, buffer, at, rows);
    at += part.size;
  }
  return { dims, data: gathered! };
}
