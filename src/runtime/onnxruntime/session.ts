/**
 * An onnxruntime session made and run through the C API. Creating it and running it leave the calling thread:
 * sessions are made on a thread of their own (session-maker.ts), runs are koffi async calls on libuv's thread
 * pool, while the event loop goes on. Each run's inputs and outputs are OrtValues over JavaScript memory, which
 * the pending run holds until its callback has come.
 */
import { ortApi, type Handle } from './library.js';
import { check, Out, statusError } from './status.js';
import { ortEnv } from './env.js';
import { koffi } from './koffi.js';
import { ortAllocator, shapeInfo, type TensorShape } from './values.js';
import type { RunOptions } from './run-options.js';
import { makeSession } from './session-maker.js';

/** An input or output of a session: its name, element type and dims (-1 where not fixed). */
export interface ValueInfo extends TensorShape {
  name: string;
}

/** A weight file held in memory, by the location the model's external data names. */
export interface InMemoryFile {
  path: string;
  data: Uint8Array;
}

/** What a session is made from: a model file, or a model's bytes with its external data in memory. */
export type ModelSource = { path: string } | { bytes: Uint8Array; externalData?: readonly InMemoryFile[] };

/** The arguments of every async call in progress: reachable from this module until the call has returned. */
const held = new Set<unknown[]>();

/**
 * Calls an async API function and settles with its status (null: success) once it returns. The arguments are
 * held until then, so none of them, nor the memory they point into, can be collected while the call runs.
 */
function callAsync(fn: { async: (...args: unknown[]) => void }, args: unknown[]): Promise<void> {
  held.add(args);
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, status: number) => {
      held.delete(args);
      if (error) return reject(error instanceof Error ? error : new Error(String(error)));
      const failure = statusError(ortApi(), status);
      if (failure !== undefined) reject(failure);
      else resolve();
    });
  });
}

/** Addresses of typed arrays (an array of char* for C), for the call that reads them; the arrays must outlive it. */
function addressesOf(views: readonly ArrayBufferView[]): BigUint64Array {
  return BigUint64Array.from(views, (v) => (v.byteLength === 0 ? 0n : BigInt(koffi.address(v))));
}

/** An output of a bound run: written into `value`, or allocated by onnxruntime in the memory `memoryInfo` describes. */
export type BoundOutput = { name: string; value: Handle } | { name: string; memoryInfo: Handle };

export class OrtSession {
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  #released = false;
  /** Runs in progress: the session is released only once they are over. */
  #running = 0;
  #idle: Array<() => void> = [];

  private constructor(readonly handle: Handle) {
    this.inputs = this.infos('Input');
    this.outputs = this.infos('Output');
  }

  /**
   * Creates a session from `source` with `sessionOptions` (which the caller owns and may release once this
   * settles). External data given in memory is copied by onnxruntime while the session is made. `prepacked` is an
   * OrtPrepackedWeightsContainer shared with other sessions (prepacked-weights.ts), which must outlive this one.
   */
  static async create(source: ModelSource, sessionOptions: Handle, prepacked: Handle = 0): Promise<OrtSession> {
    const api = ortApi();
    const env = ortEnv();
    if ('path' in source) return new OrtSession(await makeSession({ env, options: sessionOptions, prepacked, path: source.path }));
    const files = source.externalData ?? [];
    if (files.length > 0) {
      const buffers = files.map((f) => f.data);
      check(api, api.AddExternalInitializersFromFilesInMemory(sessionOptions, files.map((f) => f.path), addressesOf(buffers), BigUint64Array.from(buffers, (b) => BigInt(b.byteLength)), files.length));
    }
    // onnxruntime reads the bytes and the weights by address while the session is made: this frame holds them until then.
    const reading = [source.bytes, files];
    const session = await makeSession({ env, options: sessionOptions, prepacked, address: source.bytes.byteLength === 0 ? 0 : Number(koffi.address(source.bytes)), length: source.bytes.byteLength });
    reading.length = 0;
    return new OrtSession(session);
  }

  private infos(kind: 'Input' | 'Output'): ValueInfo[] {
    const api = ortApi();
    const count = new Out();
    check(api, api[`SessionGet${kind}Count`](this.handle, count.cell));
    const infos: ValueInfo[] = [];
    for (let i = 0; i < count.value; i++) {
      const name = new Out();
      check(api, api[`SessionGet${kind}Name`](this.handle, i, ortAllocator(), name.cell));
      const text = koffi.decode(name.value, 'char', -1) as string;
      check(api, api.AllocatorFree(ortAllocator(), name.value));
      const typeInfo = new Out();
      check(api, api[`SessionGet${kind}TypeInfo`](this.handle, i, typeInfo.cell));
      try {
        const tensorInfo = new Out();
        check(api, api.CastTypeInfoToTensorInfo(typeInfo.value, tensorInfo.cell));
        // A sequence or map has no tensor info: its type is left unknown, and a run that returns one fails.
        infos.push({ name: text, ...(tensorInfo.value ? shapeInfo(tensorInfo.value) : { type: 'unknown', dims: [] }) });
      } finally {
        api.ReleaseTypeInfo(typeInfo.value);
      }
    }
    return infos;
  }

  /**
   * Runs the session on the values `inputs` (by name), writing into `outputs`: a non-zero handle is a value to
   * write into (in place), 0 lets onnxruntime allocate it, and the array holds every output's handle once the
   * run resolves (the caller releases those it did not give). `options` can terminate the run.
   * The caller keeps every value and the memory it points into until this settles.
   */
  async run(inputNames: readonly string[], inputs: BigUint64Array, outputNames: readonly string[], outputs: BigUint64Array, options: RunOptions): Promise<void> {
    if (this.#released) throw new Error('the session was released');
    this.#running++;
    try {
      await callAsync(ortApi().Run, [this.handle, options.handle, inputNames, inputs, inputNames.length, outputNames, outputNames.length, outputs]);
    } finally {
      if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * Runs the session with its inputs and outputs bound (IoBinding): each input a value (on any device), each output
   * a value to write into or a memory info where onnxruntime is to allocate it (a GPU's own memory: the output
   * stays there). Resolves to every output's value, in `outputs` order, each to be released by the caller (those
   * written into are new references to the given values). The caller keeps the inputs and given outputs, and the
   * memory they point into, until this settles.
   */
  async runBound(inputNames: readonly string[], inputs: BigUint64Array, outputs: ReadonlyArray<BoundOutput>, options: RunOptions): Promise<Handle[]> {
    if (this.#released) throw new Error('the session was released');
    const api = ortApi();
    const binding = new Out();
    check(api, api.CreateIoBinding(this.handle, binding.cell));
    this.#running++;
    try {
      inputNames.forEach((name, i) => check(api, api.BindInput(binding.value, name, Number(inputs[i]))));
      for (const output of outputs) {
        check(api, 'value' in output ? api.BindOutput(binding.value, output.name, output.value) : api.BindOutputToDevice(binding.value, output.name, output.memoryInfo));
      }
      await callAsync(api.RunWithBinding, [this.handle, options.handle, binding.value]);
      const values = new Out();
      const count = new Out();
      check(api, api.GetBoundOutputValues(binding.value, ortAllocator(), values.cell, count.cell));
      if (count.value === 0) return [];
      const handles = Array.from(koffi.decode(values.value, koffi.array('uint64_t', count.value)) as BigUint64Array, Number);
      check(api, api.AllocatorFree(ortAllocator(), values.value));
      return handles;
    } finally {
      api.ReleaseIoBinding(binding.value);
      if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * An allocator of the session's memory described by `memoryInfo` (a GPU's own, for values that stay there),
   * valid while the session is: release it with releaseAllocator before the session.
   */
  allocator(memoryInfo: Handle): Handle {
    const api = ortApi();
    const out = new Out();
    check(api, api.CreateAllocator(this.handle, memoryInfo, out.cell));
    return out.value;
  }

  /** Releases the session once the runs in progress are over. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#running > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    ortApi().ReleaseSession(this.handle);
  }
}
