/** Seeded random inputs for a model, of the types and shapes it declares. */
import type * as ort from 'onnxruntime-node';
import { TensorProto_DataType, type ValueInfoProto } from '../onnx.js';
import { elemTypeOf, shapeOf, type Dim } from '../graph/types.js';
import { allocate, ortTypeFor } from './ort-types.js';
import { elementSize } from '../graph/build.js';
import { toHalf } from './float16.js';
import { toBfloat16 } from './bfloat16.js';
import { ortInputTensor } from './ort-tensor.js';
import { SeededRandom } from './random.js';
import { ArgumentError } from '../errors.js';

/** How to fill integer inputs: small positive values are safe as divisors, counts and most indices. */
export type IntegerFill = 'small-positive' | 'ones' | 'zeros';

export interface FeedPlan {
  /** The concrete dims of each input. */
  dims: Record<string, number[]>;
  integers?: IntegerFill;
  seed?: number;
}

/** Concrete dims for an input: `resolve` gives a size for each symbolic or unknown dim (by axis). */
export function concreteDims(shape: Dim[], resolve: (dim: Dim, axis: number) => number): number[] {
  return shape.map((dim, axis) => (typeof dim === 'number' && dim >= 0 ? dim : resolve(dim, axis)));
}

/**
 * Concrete dims for an input at a batch size: `batch` on its batch axis and on dims named like the batch, fixed
 * dims as they are, `otherSize` for the other symbolic or unknown dims.
 */
export function dimsForBatch(info: ValueInfoProto, axis: number | null, batch: number, batchName: string | null, otherSize: number): number[] | undefined {
  const shape = shapeOf(info);
  if (shape === undefined) return undefined;
  return shape.map((dim, i) => {
    if (i === axis) return batch;
    if (typeof dim === 'number' && dim >= 0) return dim;
    if (dim !== null && dim === batchName) return batch;
    return otherSize;
  });
}

export function inputShape(info: ValueInfoProto): Dim[] {
  const shape = shapeOf(info);
  if (shape === undefined) throw new ArgumentError(`input '${info.name}' has no declared shape; give real inputs instead`);
  return shape;
}

/** The most bytes of random data made for one input: past it, real inputs are asked for instead. */
const maxRandomBytes = 2 ** 30;

/** A seeded tensor for an input, that onnxruntime-node can take on this Node (float16 and bfloat16 as bit patterns). */
export function randomTensor(info: ValueInfoProto, dims: number[], random: SeededRandom, integers: IntegerFill = 'small-positive'): ort.Tensor {
  const elemType = elemTypeOf(info);
  const type = ortTypeFor(elemType, `input '${info.name}'`);
  const size = dims.reduce((a, b) => a * b, 1);
  // Strings count as 8 bytes each: their references, at least.
  const bytes = size * (elementSize(elemType!) ?? 8);
  if (!(bytes <= maxRandomBytes)) {
    throw new ArgumentError(`input '${info.name}': dims [${dims.join(', ')}] hold ${size} values (${(bytes / 2 ** 30).toPrecision(3)} GiB), too many to make up as random samples (at most 1 GiB)`);
  }
  const data = type === 'float16' ? new Uint16Array(size) : allocate(type, size);
  const bfloat16 = elemType === TensorProto_DataType.BFLOAT16;
  const integer = (): number => (integers === 'zeros' ? 0 : integers === 'ones' ? 1 : random.int(1, 3));
  for (let i = 0; i < size; i++) {
    if (data instanceof Float32Array || data instanceof Float64Array) data[i] = random.signed(1);
    else if (type === 'float16') (data as Uint16Array)[i] = toHalf(random.signed(1));
    else if (bfloat16) (data as Uint16Array)[i] = toBfloat16(random.signed(1));
    else if (type === 'bool') (data as Uint8Array)[i] = random.next() < 0.5 ? 0 : 1;
    else if (type === 'string') (data as string[])[i] = `s${random.int(0, 9)}`;
    else if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(integer());
    else (data as Int32Array)[i] = integer();
  }
  return ortInputTensor(type, data, dims);
}

export function randomFeeds(inputs: ValueInfoProto[], plan: FeedPlan): Record<string, ort.Tensor> {
  const random = new SeededRandom(plan.seed ?? 1234);
  const feeds: Record<string, ort.Tensor> = {};
  for (const info of inputs) {
    const dims = plan.dims[info.name];
    if (dims === undefined) throw new ArgumentError(`no dims planned for input '${info.name}'`);
    feeds[info.name] = randomTensor(info, dims, random, plan.integers);
  }
  return feeds;
}
