/**
 * Decoding of an inference request's tensors, whatever carried them: each input's header (name, datatype, shape,
 * parameters) checked against the model, and its values made into an onnxruntime tensor, from raw bytes (HTTP's
 * binary data, gRPC's raw_input_contents) or from a list of values (HTTP's JSON `data`, flat or nested; gRPC's
 * typed contents). Every way an input can be wrong is an `invalid` ServeError naming it, never a crash.
 */
import type * as ort from 'onnxruntime-node';
import { ortInputTensor } from '../../tensors/ort-tensor.js';
import { allocate, type TypedData } from '../../tensors/ort-types.js';
import { toHalf } from '../../tensors/float16.js';
import { elementBytes, isDatatype, ortTypeOfDatatype, type Datatype } from './datatypes.js';
import { invalidRequest } from './errors.js';
import type { TensorSignature } from './signature.js';

export type Feeds = Record<string, ort.Tensor>;

export interface RequestedOutput {
  name: string;
  /** HTTP: whether it goes back as binary data after the JSON (else as JSON `data`). */
  binary: boolean;
}

/** A decoded inference request: what the core runs. */
export interface InferRequest {
  /** The request's `id`, echoed in the answer. */
  id: string | undefined;
  feeds: Feeds;
  outputs: RequestedOutput[];
}

/** An input's header as the request gives it, not yet checked. */
export interface InputHeader {
  name: unknown;
  datatype: unknown;
  shape: unknown;
  parameters?: unknown;
}

/** An input whose header fits the model: its datatype, dims and element count, and how to fail naming it. */
export interface CheckedInput {
  name: string;
  datatype: Datatype;
  dims: number[];
  size: number;
  parameters: Record<string, unknown> | undefined;
  fail: (why: string) => never;
}

type Json = Record<string, unknown>;
export const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Thrown when a 64-bit integer came as a JSON number past 2^53, so that the JSON can be read again exactly. */
export class InexactInteger extends Error {}

/** A value for an error message: short, and never deep (a nested array of any depth is described, not walked). */
function describe(value: unknown): string {
  if (Array.isArray(value)) return value.length <= 8 && value.every((v) => !Array.isArray(v) && typeof v !== 'object') ? JSON.stringify(value, bigintText) : 'a list';
  const text = JSON.stringify(value, bigintText) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const bigintText = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? String(value) : value);

/** Checks input `k`'s header against the model's inputs; `seen` are the names given before it. */
export function checkInput(header: InputHeader, k: number, model: readonly TensorSignature[], seen: Feeds): CheckedInput {
  const name = header.name;
  if (typeof name !== 'string') throw invalidRequest(`inputs[${k}]: expected an object with a "name"`);
  const fail = (why: string): never => {
    throw invalidRequest(`input '${name}': ${why}`);
  };
  const expected = model.find((i) => i.name === name);
  if (expected === undefined) fail(`not an input of the model (its inputs: ${model.map((i) => i.name).join(', ')})`);
  if (Object.hasOwn(seen, name)) fail('given twice');
  const datatype = header.datatype;
  if (!isDatatype(datatype)) fail(`unknown datatype ${describe(datatype)}; use one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES`);
  if (datatype !== expected!.datatype) fail(`datatype ${datatype as string}, but the model takes ${expected!.datatype}`);
  const dims = header.shape;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`"shape" must be a list of whole numbers >= 0, got ${describe(dims)}`);
  let size = 1;
  for (const d of dims as number[]) size *= d;
  if (!Number.isSafeInteger(size)) fail(`shape [${(dims as number[]).join(', ')}] holds more than 2^53 elements`);
  const parameters = header.parameters;
  if (parameters !== undefined && !isRecord(parameters)) fail('"parameters" must be an object');
  if ((parameters as Json | undefined)?.['shared_memory_region'] !== undefined) fail('shared memory is not supported; send the data in the request');
  return { name, datatype: datatype as Datatype, dims: dims as number[], size, parameters: parameters as Json | undefined, fail };
}

/** The outputs asked for: all by default, or those listed, each as binary data or not. */
export function requestedOutputs(listed: unknown, model: readonly TensorSignature[], binaryByDefault: boolean): RequestedOutput[] {
  if (!Array.isArray(listed) && listed !== undefined) throw invalidRequest('"outputs" must be a list of {"name", "parameters"}');
  const seen = new Set<string>();
  const outputs = listed === undefined ? model.map((o) => ({ name: o.name, binary: binaryByDefault })) : listed.map((entry: unknown, k) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string') throw invalidRequest(`outputs[${k}]: expected an object with a "name"`);
    const name = entry['name'];
    if (!model.some((o) => o.name === name)) throw invalidRequest(`output '${name}': not an output of the model (its outputs: ${model.map((o) => o.name).join(', ')})`);
    if (seen.has(name)) throw invalidRequest(`output '${name}': asked for twice`);
    seen.add(name);
    const options = entry['parameters'];
    if (options !== undefined && !isRecord(options)) throw invalidRequest(`output '${name}': "parameters" must be an object`);
    if (options?.['shared_memory_region'] !== undefined) throw invalidRequest(`output '${name}': shared memory is not supported; ask for binary_data instead`);
    if (options?.['classification'] !== undefined) throw invalidRequest(`output '${name}': the classification extension is not supported`);
    const own = options?.['binary_data'];
    if (own !== undefined && typeof own !== 'boolean') throw invalidRequest(`output '${name}': binary_data must be true or false`);
    return { name, binary: own ?? binaryByDefault };
  });
  for (const output of outputs) if (!output.binary) refuseJsonBf16Output(output.name, model);
  return outputs;
}

/** Triton answers BF16 as binary data only: an output asked for in JSON is refused, as Triton refuses it. */
function refuseJsonBf16Output(name: string, model: readonly TensorSignature[]): void {
  if (model.find((o) => o.name === name)?.datatype !== 'BF16') return;
  throw invalidRequest(`output '${name}': sending BF16 data via JSON is not supported (as in Triton); ask for it as binary data: "parameters": {"binary_data": true} on the output, or "binary_data_output": true in the request's parameters`);
}

const typedArrays = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  FP16: Uint16Array,
  BF16: Uint16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  FP32: Float32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP64: Float64Array,
} as const;

/** The input's tensor from its raw bytes: little-endian elements, or for BYTES a 4-byte length before each. */
export function inputFromBytes(input: CheckedInput, bytes: Uint8Array): ort.Tensor {
  return ortInputTensor(ortTypeOfDatatype(input.datatype), valuesFromBytes(input, bytes), input.dims);
}

/** The input's tensor from its values in row-major order, flat or nested as the shape (BF16 refused, as Triton does). */
export function inputFromValues(input: CheckedInput, values: unknown[]): ort.Tensor {
  if (input.datatype === 'BF16') input.fail('receiving BF16 data via JSON is not supported (as in Triton); send it as binary data: its bfloat16 bit patterns, 2 bytes each, little-endian, with "parameters": {"binary_data_size": N}');
  return ortInputTensor(ortTypeOfDatatype(input.datatype), fromValues(input, flatValues(input, values)), input.dims);
}

function valuesFromBytes({ datatype, size, fail }: CheckedInput, bytes: Uint8Array): TypedData {
  if (datatype === 'BYTES') return stringsFromBytes(bytes, size, fail);
  const width = elementBytes[datatype];
  if (bytes.byteLength !== size * width) fail(`binary_data_size is ${bytes.byteLength} bytes, but the shape holds ${size} ${datatype} elements (${size * width} bytes)`);
  // Copied onto a buffer of their own: the body's bytes need not be aligned for the type, and a view would take
  // its whole buffer (the socket's read buffer) along wherever the tensor is cloned, to a device's worker included.
  return new typedArrays[datatype](new Uint8Array(bytes).buffer);
}

/** BYTES as binary data: per element a 4-byte little-endian length, then that many bytes (read as UTF-8). */
function stringsFromBytes(bytes: Uint8Array, size: number, fail: (why: string) => never): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings: string[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    if (strings.length === size) fail(`binary data holds more than the ${size} BYTES elements of its shape`);
    if (at + 4 > bytes.byteLength) fail(`BYTES element ${strings.length}: its 4-byte length is cut off`);
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.byteLength) fail(`BYTES element ${strings.length}: its length ${length} runs past the input's binary data`);
    strings.push(buffer.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (strings.length !== size) fail(`binary data holds ${strings.length} BYTES elements, the shape needs ${size}`);
  return strings;
}

/**
 * The values in row-major order: flat already, or nested as the shape. Walked with a stack of its own, never
 * recursively, and no deeper than the shape's rank: data nested deeper is refused, whatever its depth.
 */
function flatValues({ size, dims, fail }: CheckedInput, data: unknown[]): unknown[] {
  if (data.length === size && (size === 0 || !Array.isArray(data[0]))) return data;
  const maxDepth = Math.max(dims.length, 1);
  const flat: unknown[] = [];
  const lists: unknown[][] = [data];
  const next: number[] = [0];
  while (lists.length > 0) {
    const top = lists.length - 1;
    const list = lists[top]!;
    const at = next[top]!;
    if (at === list.length) {
      lists.pop();
      next.pop();
      continue;
    }
    next[top] = at + 1;
    const value = list[at];
    if (!Array.isArray(value)) {
      flat.push(value);
      if (flat.length > size) break;
    } else if (lists.length === maxDepth) fail(`"data" is nested deeper than the ${dims.length} dims of shape [${dims.join(', ')}]`);
    else {
      lists.push(value);
      next.push(0);
    }
  }
  return flat;
}

const nonFinite: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

function fromValues(input: CheckedInput, values: unknown[]): TypedData {
  const { name, datatype, size, dims, fail } = input;
  if (values.length !== size) fail(`"data" has ${values.length > size ? 'more than ' : ''}${values.length > size ? size : values.length} values, but shape [${dims.join(', ')}] holds ${size}`);
  const bad: (i: number, expected: string) => never = (i, expected) => fail(`element ${i} is ${describe(values[i])}, expected ${expected}`);
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
