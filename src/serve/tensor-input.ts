/**
 * One input of an inference request made into an onnxruntime tensor, whatever the protocol that carried it:
 * checked against the model's signature (its name, its datatype, a shape of whole numbers), then read from raw
 * bytes (binary data over HTTP, `raw_input_contents` over gRPC) or from values (JSON `data` over HTTP, typed
 * `contents` over gRPC). Every way an input can be wrong is a 400 that names it.
 */
import type * as ort from 'onnxruntime-node';
import { ortInputTensor } from '../tensors/ort-tensor.js';
import { allocate, type TypedData } from '../tensors/ort-types.js';
import { toHalf } from '../tensors/float16.js';
import { badRequest } from './errors.js';
import { elementBytes, isDatatype, ortTypeOfDatatype, type Datatype } from './datatypes.js';
import type { TensorSignature } from './signature.js';

/** An input as a protocol carries it, before any check. */
export interface InputSource {
  name: string;
  datatype: unknown;
  shape: unknown;
  /**
   * Raw bytes (row-major, little-endian; BYTES elements each after a 4-byte length) with what the protocol calls
   * them (`binary_data_size`, `raw_input_contents[0]`), or values (flat or nested).
   */
  data: { bytes: Uint8Array; label: string } | { values: unknown[] };
}

/** An input whose name, datatype and shape fit the model. */
export interface CheckedInput {
  name: string;
  datatype: Datatype;
  dims: number[];
  /** Elements in the shape. */
  size: number;
}

/** Thrown while reading values when a 64-bit integer came as a number past 2^53 (a JSON reader may read it again exactly). */
export class InexactInteger extends Error {}

/** Fails naming the input: `input 'NAME': why`. */
export type Fail = (why: string) => never;

export const inputFailure = (name: string): Fail => (why) => {
  throw badRequest(`input '${name}': ${why}`);
};

/**
 * The checks every input passes before its data is read: a name of the model's inputs not given before, a
 * datatype that onnxruntime can feed and the model takes, a shape of whole numbers. Returns the datatype, the
 * dims and the element count.
 */
export function checkInput(name: string, datatype: unknown, shape: unknown, model: readonly TensorSignature[], given: (name: string) => boolean): CheckedInput {
  const fail: Fail = inputFailure(name);
  const expected = model.find((i) => i.name === name);
  if (expected === undefined) fail(`not an input of the model (its inputs: ${model.map((i) => i.name).join(', ')})`);
  if (given(name)) fail('given twice');
  if (!isDatatype(datatype)) {
    if (datatype === 'BF16') fail('datatype BF16 cannot be fed to onnxruntime-node, which has no bfloat16 tensors; cast to FP32 or FP16 inside the model');
    fail(`unknown datatype ${JSON.stringify(datatype)}; use one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES`);
  }
  if (datatype !== expected!.datatype) fail(`datatype ${datatype}, but the model takes ${expected!.datatype}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`"shape" must be a list of whole numbers >= 0, got ${JSON.stringify(shape)}`);
  let size = 1;
  for (const d of shape as number[]) size *= d;
  if (!Number.isSafeInteger(size)) fail(`shape [${(shape as number[]).join(', ')}] holds more than 2^53 elements`);
  return { name, datatype, dims: shape as number[], size };
}

/** The tensor of an input that passed checkInput, from its data. */
export function readInput(input: CheckedInput, data: InputSource['data']): ort.Tensor {
  const { name, datatype, dims, size } = input;
  const fail = inputFailure(name);
  const typed = 'bytes' in data ? fromBytes(datatype, data.bytes, data.label, size, fail) : fromValues(name, datatype, data.values, size, dims, fail);
  return ortInputTensor(ortTypeOfDatatype(datatype), typed, dims);
}

/** The tensor of one input, checked against the model's inputs; `given` says which names came before it. */
export const inputTensor = (source: InputSource, model: readonly TensorSignature[], given: (name: string) => boolean): ort.Tensor =>
  readInput(checkInput(source.name, source.datatype, source.shape, model, given), source.data);

const typedArrays = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  FP16: Uint16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  FP32: Float32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP64: Float64Array,
} as const;

/** The elements of raw bytes: `size` elements of `datatype`, exactly. */
export function fromBytes(datatype: Datatype, bytes: Uint8Array, label: string, size: number, fail: Fail): TypedData {
  if (datatype === 'BYTES') return stringsFromBytes(bytes, size, fail);
  const width = elementBytes[datatype];
  if (bytes.byteLength !== size * width) fail(`${label} is ${bytes.byteLength} bytes, but the shape holds ${size} ${datatype} elements (${size * width} bytes)`);
  // Copied onto a buffer of their own: the bytes need not be aligned for the type, and a view would take its
  // whole buffer (a socket's read buffer) along wherever the tensor is cloned, to a device's worker included.
  return new typedArrays[datatype](new Uint8Array(bytes).buffer);
}

/** BYTES as raw bytes: per element a 4-byte little-endian length, then that many bytes (read as UTF-8). */
function stringsFromBytes(bytes: Uint8Array, size: number, fail: Fail): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings: string[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    if (strings.length === size) fail(`its data holds more than the ${size} BYTES elements of its shape`);
    if (at + 4 > bytes.byteLength) fail(`BYTES element ${strings.length}: its 4-byte length is cut off`);
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.byteLength) fail(`BYTES element ${strings.length}: its length ${length} runs past the input's data`);
    strings.push(buffer.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (strings.length !== size) fail(`its data holds ${strings.length} BYTES elements, the shape needs ${size}`);
  return strings;
}

/** The values of `data` in row-major order: flat already, or nested as the shape. */
function flatValues(data: unknown[], size: number): unknown[] {
  if (data.length === size && (size === 0 || !Array.isArray(data[0]))) return data;
  return data.flat(Infinity);
}

const nonFinite: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/**
 * The elements of values, flat or nested as `dims`: numbers (or "NaN", "Infinity", "-Infinity") for FP types,
 * whole numbers in range for integers (64-bit ones also as bigints or digit strings), true/false or 1/0 for
 * BOOL, strings for BYTES.
 */
export function fromValues(name: string, datatype: Datatype, data: unknown[], size: number, dims: number[], fail: Fail): TypedData {
  const values = flatValues(data, size);
  if (values.length !== size) fail(`"data" has ${values.length} values, but shape [${dims.join(', ')}] holds ${size}`);
  const bad: (i: number, expected: string) => never = (i, expected) => fail(`element ${i} is ${JSON.stringify(values[i], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}, expected ${expected}`);
  if (datatype === 'BYTES') return values.map((v, i) => (typeof v === 'string' ? v : bad(i, 'a string')));
  const out = allocate(ortTypeOfDatatype(datatype === 'FP16' ? 'UINT16' : datatype), size) as Exclude<TypedData, string[]>;
  switch (datatype) {
    case 'FP32':
    case 'FP64':
    case 'FP16': {
      const target = out as Float32Array;
      const half = datatype === 'FP16';
      for (let i = 0; i < size; i++) {
        const v = values[i];
        const x = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'string' && Object.hasOwn(nonFinite, v) ? nonFinite[v]! : bad(i, 'a number, "NaN", "Infinity" or "-Infinity"');
        target[i] = half ? toHalf(x) : x;
      }
      return out;
    }
    case 'INT64':
    case 'UINT64': {
      const target = out as BigInt64Array;
      for (let i = 0; i < size; i++) {
        const v = values[i];
        let big: bigint;
        if (typeof v === 'number') {
          if (!Number.isInteger(v)) bad(i, 'a whole number');
          if (!Number.isSafeInteger(v)) throw new InexactInteger(`input '${name}' element ${i}`);
          big = BigInt(v);
        } else if (typeof v === 'bigint') big = v;
        else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) big = BigInt(v);
        else big = bad(i, 'a whole number (or its digits as a string)');
        target[i] = big;
        if (target[i] !== big) bad(i, `a value in the range of ${datatype}`);
      }
      return out;
    }
    case 'BOOL': {
      const target = out as Uint8Array;
      for (let i = 0; i < size; i++) {
        const v = values[i];
        target[i] = v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : bad(i, 'true or false');
      }
      return out;
    }
    default: {
      const target = out as Int32Array;
      for (let i = 0; i < size; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isInteger(v)) bad(i, 'a whole number');
        target[i] = v as number;
        if (target[i] !== v) bad(i, `a value in the range of ${datatype}`);
      }
      return out;
    }
  }
}
