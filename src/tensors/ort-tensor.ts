/**
 * Tensors to feed to onnxruntime-node's `InferenceSession.run`, on every Node version.
 *
 * onnxruntime-node (1.30) reads the data of a float16 input as a Uint16Array only: a Float16Array is read as
 * empty ("not enough space: expected N, got 0"). Yet where Float16Array exists (Node 24+), `new ort.Tensor`
 * turns Uint16Array data into a Float16Array view, so a plain float16 tensor cannot be fed there. The tensor
 * made here is a real `ort.Tensor` whose `data` is the Uint16Array bit pattern over the same bytes.
 */
import * as ort from 'onnxruntime-node';
import { float16Bits, isFloat16Array, type Float16Data } from './float16.js';
import type { TypedData } from './ort-types.js';

/**
 * An `ort.Tensor` that onnxruntime-node can take as an input on this Node. `data` is what the type holds: for
 * float16, Uint16Array bit patterns or a Float16Array (Node 24+), read without a copy.
 */
export function ortInputTensor(type: string, data: TypedData, dims: readonly number[]): ort.Tensor {
  if (type !== 'float16') return new ort.Tensor(type as 'float32', data as Float32Array, dims);
  const bits = float16Bits(data as Float16Data);
  const tensor = new ort.Tensor('float16', bits, dims);
  // Shadows the prototype's `data` getter, which returns the Float16Array view where Float16Array exists.
  if (tensor.data !== bits) Object.defineProperty(tensor, 'data', { value: bits, enumerable: true });
  return tensor;
}

/** `tensor` itself, or, for float16 data that onnxruntime-node cannot read (a Float16Array), the same bytes in a form it can. */
export function asOrtInput(tensor: ort.Tensor): ort.Tensor {
  return tensor.type === 'float16' && isFloat16Array(tensor.data) ? ortInputTensor(tensor.type, tensor.data, tensor.dims) : tensor;
}

/** Every tensor of `feeds` as `asOrtInput` gives it. */
export function asOrtInputs(feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([name, tensor]) => [name, asOrtInput(tensor)]));
}
