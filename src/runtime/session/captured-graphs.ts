/**
 * Runs of a device whose provider captures CUDA graphs (`enable_cuda_graph`, `trt_cuda_graph_enable`). Once a
 * graph is captured, onnxruntime replays it on every later run without looking at the run's inputs and outputs:
 * the graph reads and writes the very device buffers it was captured with. So each shape of inputs gets buffers
 * of its own in the device's memory, kept for the session's life, and a graph of its own (`gpu_graph_id`): every
 * run copies its inputs into those buffers, runs bound to them (IoBinding), and copies the outputs out. The
 * first run of a shape has onnxruntime allocate the outputs in the device's memory; they become the shape's
 * output buffers. Runs of one device go one at a time, as they share those buffers.
 */
import { bytesPerElement } from '../onnxruntime/element-types.js';
import { ortApi, type Handle } from '../onnxruntime/library.js';
import { memoryInfo, type MemoryPlace } from '../onnxruntime/memory-info.js';
import type { RunOptions } from '../onnxruntime/run-options.js';
import type { BoundOutput, OrtSession } from '../onnxruntime/session.js';
import { allocatedValue, dataAddress, newArray, releaseValue, tensorShape, type TensorShape } from '../onnxruntime/values.js';
import type { DeviceCopier } from '../memory/device-copier.js';
import { float16Bits, isFloat16Array } from '../../tensors/float16.js';

/** One input: its host data, or the address of a value in the device's memory. */
export interface GraphInput {
  type: string;
  dims: number[];
  data: ArrayBufferView | { address: number };
}

/** Where one output goes: into this array, into a new value in the device's memory, or into a fresh array. */
export type GraphOutputPlace = ArrayBufferView | 'device' | undefined;

export interface GraphResult {
  /** Each output's type, dims and data: an array in JavaScript memory, or a new value in the device's memory. */
  outputs: Array<TensorShape & { data: ArrayBufferView | { value: Handle } }>;
  /** Time inside onnxruntime, copying the inputs in before it and the outputs out after it. */
  ms: number;
  inputMs: number;
  outputMs: number;
}

/** The buffers of one shape of inputs, and its graph. */
interface Slot {
  id: number;
  inputs: Handle[];
  inputAddresses: number[];
  /** The outputs' values and addresses, from the shape's first run. */
  outputs: Array<{ handle: Handle; address: number; shape: TensorShape }> | undefined;
}

const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);


export class CapturedGraphs {
  readonly #slots = new Map<string, Slot>();
  readonly #allocator: Handle;
  /** The run in progress: the next waits for it (they share the slots' buffers). */
  #last: Promise<unknown> = Promise.resolve();
  #released = false;

  constructor(
    private readonly session: OrtSession,
    private readonly place: MemoryPlace,
    private readonly copier: DeviceCopier,
    private readonly feedNames: readonly string[],
    private readonly fetchNames: readonly string[],
  ) {
    this.#allocator = session.allocator(memoryInfo(place));
  }

  /** How many shapes have buffers and a graph of their own. */
  get shapes(): number {
    return this.#slots.size;
  }

  /**
   * Runs on `inputs` (feed order), one run at a time: output j is copied into `places[j]` where that is an array,
   * into a new value in the device's memory where it is 'device' (the caller releases it), else into a fresh
   * array. Resolves to every output's type, dims and data, with the time inside onnxruntime.
   */
  run(inputs: readonly GraphInput[], places: ReadonlyArray<GraphOutputPlace>, options: RunOptions): Promise<GraphResult> {
    const run = this.#last.then(() => this.#run(inputs, places, options));
    this.#last = run.catch(() => undefined);
    return run;
  }

  async #run(inputs: readonly GraphInput[], places: ReadonlyArray<GraphOutputPlace>, options: RunOptions): Promise<GraphResult> {
    if (this.#released) throw new Error('the session was released');
    const began = performance.now();
    const slot = this.#slot(inputs);
    for (const [i, input] of inputs.entries()) {
      const bytes = elementCount(input.dims) * bytesPerElement(input.type)!;
      const source = ArrayBuffer.isView(input.data) ? (isFloat16Array(input.data) ? float16Bits(input.data) : input.data) : input.data.address;
      await this.copier.toDevice(slot.inputAddresses[i]!, source, bytes);
    }
    options.set('gpu_graph_id', String(slot.id));
    const bindings = this.fetchNames.map((name, j): BoundOutput => (slot.outputs === undefined ? { name, memoryInfo: memoryInfo(this.place) } : { name, value: slot.outputs[j]!.handle }));
    const start = performance.now();
    const made = await this.session.runBound(this.feedNames, BigUint64Array.from(slot.inputs, BigInt), bindings, options);
    const ended = performance.now();
    if (slot.outputs === undefined) {
      // The first run of this shape: onnxruntime's outputs are this shape's buffers from now on.
      slot.outputs = made.map((handle) => ({ handle, address: dataAddress(handle), shape: tensorShape(handle) }));
    } else for (const handle of made) releaseValue(handle); // further references to the slot's own values
    const outputs: GraphResult['outputs'] = [];
    try {
      for (const [j, output] of slot.outputs.entries()) {
        const { shape } = output;
        const bytes = elementCount(shape.dims) * bytesPerElement(shape.type)!;
        const place = places[j];
        if (place === 'device') {
          const value = this.#deviceValue(shape);
          outputs.push({ ...shape, data: { value } });
          await this.copier.toDevice(dataAddress(value), output.address, bytes);
          continue;
        }
        const data = place ?? newArray(shape.type, elementCount(shape.dims));
        await this.copier.toHost(data, output.address, bytes);
        outputs.push({ ...shape, data });
      }
    } catch (error) {
      for (const { data } of outputs) if (!ArrayBuffer.isView(data)) releaseValue(data.value);
      throw error;
    }
    return { outputs, ms: ended - start, inputMs: start - began, outputMs: performance.now() - ended };
  }

  /** A new value of `shape` in the device's memory. */
  #deviceValue(shape: TensorShape): Handle {
    return allocatedValue(this.#allocator, shape.type, shape.dims);
  }

  /** The slot of these inputs' shape: made with its buffers on first use. */
  #slot(inputs: readonly GraphInput[]): Slot {
    const key = inputs.map((input) => `${input.type}[${input.dims.join(',')}]`).join(' ');
    let slot = this.#slots.get(key);
    if (slot !== undefined) return slot;
    const handles: Handle[] = [];
    try {
      for (const input of inputs) {
        if (bytesPerElement(input.type) === undefined) throw new Error(`input of type ${input.type} cannot run in a captured graph (numeric tensors only)`);
        handles.push(this.#deviceValue(input));
      }
    } catch (error) {
      for (const handle of handles) releaseValue(handle);
      throw error;
    }
    slot = { id: this.#slots.size, inputs: handles, inputAddresses: handles.map(dataAddress), outputs: undefined };
    this.#slots.set(key, slot);
    return slot;
  }

  /** Gives back every buffer, once the run in progress is over; before the session is released. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#last;
    for (const slot of this.#slots.values()) {
      for (const handle of slot.inputs) releaseValue(handle);
      for (const output of slot.outputs ?? []) releaseValue(output.handle);
    }
    this.#slots.clear();
    ortApi().ReleaseAllocator(this.#allocator);
  }
}
