/**
 * Outputs kept where the device made them (`preferredOutputLocation: 'gpu-buffer'`): each is an onnxruntime
 * value in the device's own memory (a GPU's, or onnxruntime's on a CPU device), handed to the caller as an
 * onnxruntime-node Tensor whose location is 'gpu-buffer'. Such a tensor can be fed to the next run of any
 * ParallelSession without a copy into JavaScript memory; `getData()` copies it out, `dispose()` gives the memory
 * back (as the garbage collector does for a tensor dropped without it).
 *
 * A value is released only when its tensor is disposed or collected and no run that reads it is inside
 * onnxruntime any more: a run holds the value, not the tensor, so neither can pull the memory from under it.
 */
import * as ort from 'onnxruntime-node';
import { dataAddress, newArray, readTensor, releaseValue, type TensorShape } from '../onnxruntime/values.js';
import { bytesPerElement } from '../onnxruntime/element-types.js';
import type { Handle } from '../onnxruntime/library.js';
import { cudaRuntime } from './cuda-runtime.js';

let held = 0;

/** How many values kept in device memory are not given back yet (for diagnostics and tests). */
export function keptValueCount(): number {
  return held;
}

/** One value in a device's memory, and who still needs it. */
export class DeviceValue {
  #uses = 0;
  #dropped = false;
  #released = false;

  constructor(
    readonly handle: Handle,
    /** The device whose memory holds it: `cpu` or `cuda:K`. */
    readonly device: string,
    readonly shape: TensorShape,
  ) {
    held++;
  }

  /** Whether its tensor was disposed or collected (it can no longer be fed). */
  get dropped(): boolean {
    return this.#dropped;
  }

  /** Where its data lies in the device's memory. */
  address(): number {
    return dataAddress(this.handle);
  }

  /** A request or run is to read the value: it stays until that one calls `done`. */
  use(): void {
    if (this.#released) throw new Error(`a tensor kept on ${this.device} was given back; it cannot be fed any more`);
    this.#uses++;
  }

  done(): void {
    this.#uses--;
    this.#releaseIfFree();
  }

  /** The tensor was disposed or collected: the value goes once no run reads it. */
  drop(): void {
    this.#dropped = true;
    this.#releaseIfFree();
  }

  #releaseIfFree(): void {
    if (!this.#dropped || this.#uses > 0 || this.#released) return;
    this.#released = true;
    held--;
    releaseValue(this.handle);
  }
}

/** Tensor types onnxruntime-node can hold as a 'gpu-buffer' tensor. */
export const DEVICE_TENSOR_TYPES: ReadonlySet<string> = new Set(['float32', 'float16', 'int32', 'int64', 'uint32', 'uint8', 'bool']);

const byTensor = new WeakMap<object, DeviceValue>();
const collected = new FinalizationRegistry<DeviceValue>((value) => value.drop());

/** The device value a tensor stands for, when it is one of these. */
export function deviceValueOf(tensor: unknown): DeviceValue | undefined {
  return typeof tensor === 'object' && tensor !== null ? byTensor.get(tensor) : undefined;
}

/** A 'gpu-buffer' tensor over `value`, which it now owns. */
export function deviceTensor(value: DeviceValue): ort.Tensor {
  const { type, dims } = value.shape;
  const bytes = dims.reduce((a, b) => a * b, 1) * (bytesPerElement(type) ?? 0);
  // What onnxruntime-node's Tensor keeps as the "GPU buffer": a description, for whoever inspects it.
  const buffer = { size: bytes, mapState: 'unmapped', device: value.device } as unknown as ort.Tensor.GpuBufferType;
  const tensor = ort.Tensor.fromGpuBuffer(buffer, {
    dataType: type as ort.Tensor.GpuBufferDataTypes,
    dims,
    download: () => download(value) as Promise<ort.Tensor.DataTypeMap[ort.Tensor.GpuBufferDataTypes]>,
    dispose: () => {
      collected.unregister(value);
      value.drop();
    },
  });
  byTensor.set(tensor, value);
  collected.register(tensor, value, value);
  return tensor;
}

/** The value's data copied into a fresh array in JavaScript memory. */
async function download(value: DeviceValue): Promise<ArrayBufferView> {
  value.use();
  try {
    const { shape, handle } = value;
    if (!value.device.startsWith('cuda')) return readTensor(handle, shape) as ArrayBufferView;
    const count = shape.dims.reduce((a, b) => a * b, 1);
    const target = newArray(shape.type, count);
    if (target.byteLength === 0) return target;
    const runtime = cudaRuntime();
    if (runtime instanceof Error) throw runtime;
    await runtime.copyInto(target, value.address(), target.byteLength);
    return target;
  } finally {
    value.done();
  }
}
