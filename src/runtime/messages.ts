/** Messages between ParallelSession and its device workers. Tensor data crosses by transfer. */
export interface WireTensor {
  name: string;
  type: string;
  dims: number[];
  /** A typed array owning its whole buffer (transferred), or strings (cloned). */
  data: ArrayBufferView | string[];
}

export interface WorkerInit {
  device: string;
  /** The model's bytes, or the path of a model file (a model with external data). */
  model: Uint8Array | string;
  sessionOptions: Record<string, unknown>;
  /** Set to 1 by the main thread on release: runs still queued are answered without running. */
  released: Int32Array;
}

/**
 * `exit` ends the worker at its next message, as a crash between two runs would (for tests and operators). The
 * main thread never terminates a worker that may be inside a native run: onnxruntime-node aborts the whole
 * process when its environment is torn down under a running session.
 */
export type ToWorker = { type: 'run'; id: number; feeds: WireTensor[] } | { type: 'release' } | { type: 'exit'; code: number };

export type FromWorker =
  | { type: 'ready'; inputNames: string[]; outputNames: string[] }
  | { type: 'failed'; message: string }
  /** `returned`: the run's input buffers, handed back for the next run's copies (no fresh pages to fault in). */
  | { type: 'result'; id: number; outputs: WireTensor[]; returned: ArrayBuffer[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'released' };

/** The buffers to transfer for a list of tensors (strings are cloned). */
export function transferables(tensors: WireTensor[]): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const t of tensors) if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer && !buffers.includes(t.data.buffer)) buffers.push(t.data.buffer);
  return buffers;
}

/** The data of a typed array on a buffer of its own, copying only when it is a view of a larger buffer. */
export function ownBuffer(data: ArrayBufferView | string[]): ArrayBufferView | string[] {
  if (Array.isArray(data)) return data;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) return data;
  return copyOf(data);
}

type TypedArrayConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView & { set(source: ArrayBufferView): void };

/**
 * A copy of a typed array on a buffer of its own, so that transferring it never detaches the caller's data:
 * into `spare` when one of the exact size is given (a buffer used before), else onto a fresh buffer.
 */
export function copyOf(data: ArrayBufferView, spare?: ArrayBuffer): ArrayBufferView {
  // A Node Buffer's slice() is a view, not a copy: copy it as a plain Uint8Array.
  const Ctor = (Buffer.isBuffer(data) ? Uint8Array : data.constructor) as TypedArrayConstructor;
  const length = data.byteLength / (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const buffer = spare !== undefined && spare.byteLength === data.byteLength ? spare : new ArrayBuffer(data.byteLength);
  const copy = new Ctor(buffer, 0, length);
  copy.set(data);
  return copy;
}
