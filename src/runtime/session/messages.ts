/**
 * Messages between ParallelSession and its workers. Tensor data crosses by transfer; what is the same for every
 * run (input and output names, their order) is sent once at start-up, so a run carries only dims and data.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ExternalFile } from './external-files.js';
import { viewLike, type View } from '../data/row-copy.js';

/**
 * The data of one tensor: a typed array on a buffer that is transferred (a copy made for the run, or the caller's
 * own buffer where it opted in), a typed array on a SharedArrayBuffer (shared, never copied on the way), or
 * strings (cloned).
 */
export type WireData = ArrayBufferView | string[];

/**
 * Rows [start, start + size) along `axis` of an input sent whole on a SharedArrayBuffer: the device's worker cuts
 * its own rows (a view along axis 0, else a copy into a buffer of its own), so no thread copies them for it.
 */
export interface RowCut {
  axis: number;
  start: number;
  size: number;
}

/**
 * Where a run writes one output: into `data` (a whole tensor of `dims`, on a SharedArrayBuffer the caller gave),
 * at rows [start, start + size) along `axis`, or all of it when `axis` is null.
 */
export interface OutputPlace {
  /** The output's onnxruntime type. */
  type: string;
  data: ArrayBufferView;
  dims: number[];
  axis: number | null;
  start: number;
  size: number;
}

/** How a device worker creates its session: from the model file itself, or from bytes with in-memory weights. */
export type DeviceSource = { kind: 'path'; path: string } | { kind: 'bytes'; model: Uint8Array; externalData: ExternalFile[] };

export interface DeviceInit {
  device: string;
  sessionOptions: Record<string, unknown>;
  /** The session's inputs in the order of every run's `dims` and `data`, with their element types. */
  feedNames: string[];
  feedTypes: string[];
  /** The outputs the host needs, in the order of every result. */
  fetchNames: string[];
  /** Set to 1 by the main thread on release: runs still queued are answered without running. */
  released: Int32Array;
  /** Where runs are answered (`result` and `error`), so that the main thread can also take an answer at once. */
  answers: MessagePort;
  /** How long the worker polls for its next message after a run before it sleeps, in µs (0: it sleeps at once). */
  busyWaitMicros: number;
}

/**
 * `create` starts the session. Weights sent as bytes are handed back with `ready`/`failed` when `handBack` is set
 * (for the next device to start); otherwise the worker frees them as soon as its session exists.
 * `delay` makes every later run wait first (for tests of unequal devices). `exit` ends the worker at its next
 * message, as a crash between two runs would. The main thread never terminates a worker that may be inside a
 * native run: onnxruntime-node aborts the whole process when its environment is torn down under a running session.
 */
export type ToWorker =
  | { type: 'create'; source: DeviceSource; handBack: boolean }
  /**
   * `cuts[i]`, where given, says which rows of input i (whole, on a SharedArrayBuffer) the run takes; `places[j]`,
   * where given, where output j is written (it then comes back without data).
   */
  | { type: 'run'; id: number; dims: number[][]; data: WireData[]; cuts?: Array<RowCut | undefined>; places?: Array<OutputPlace | undefined> }
  | { type: 'delay'; ms: number }
  | { type: 'release' }
  | { type: 'exit'; code: number };

export type FromWorker =
  | { type: 'ready'; weights: ExternalFile[] }
  | { type: 'failed'; message: string; weights: ExternalFile[] }
  /**
   * `ms`: time inside onnxruntime; `returned`: the run's input buffers, handed back for later copies; `data[j]` is
   * null for an output written into its place.
   */
  | { type: 'result'; id: number; types: string[]; dims: number[][]; data: Array<WireData | null>; ms: number; inputMs: number; outputMs: number; returned: ArrayBuffer[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'released' };

/** The buffers to transfer for a list of tensor data (strings are cloned), each once. */
export function transferables(data: ReadonlyArray<WireData | null>): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const d of data) if (d !== null && !Array.isArray(d) && d.buffer instanceof ArrayBuffer && !buffers.includes(d.buffer)) buffers.push(d.buffer);
  return buffers;
}

/** The whole buffers of external weight files, each once, to transfer. */
export function weightBuffers(files: readonly ExternalFile[]): ArrayBuffer[] {
  return transferables(files.map((f) => f.data));
}

/** The data of a typed array on a buffer of its own, copying only when it is a view of a larger buffer. */
export function ownBuffer(data: WireData): WireData {
  if (Array.isArray(data)) return data;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) return data;
  return copyOf(data);
}

/**
 * A copy of a typed array on a buffer of its own, so that transferring it never detaches the caller's data:
 * into `spare` when one large enough is given (a buffer used before; the copy is a view of its start), else onto
 * a fresh buffer. A Node Buffer (whose slice() is a view, not a copy) is copied as a plain Uint8Array.
 */
export function copyOf(data: ArrayBufferView, spare?: ArrayBuffer): ArrayBufferView {
  const length = data.byteLength / (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const buffer = spare !== undefined && spare.byteLength >= data.byteLength ? spare : new ArrayBuffer(data.byteLength);
  const copy = viewLike(data, buffer, length) as View & { set(source: ArrayBufferView): void };
  copy.set(data);
  return copy;
}
