/**
 * Decoding of an inference request: the protocol's JSON object, optionally followed by binary tensor data
 * (Triton's binary data extension: the JSON's length in the `Inference-Header-Content-Length` header, and
 * `"parameters": {"binary_data_size": N}` on each input whose N bytes follow, in input order). Every way a
 * request can be wrong is a 400 that names the input, never a crash.
 */
import type * as ort from 'onnxruntime-node';
import { ortInputTensor } from '../tensors/ort-tensor.js';
import { allocate, type TypedData } from '../tensors/ort-types.js';
import { toHalf } from '../tensors/float16.js';
import { badRequest } from './errors.js';
import { elementBytes, isDatatype, ortTypeOfDatatype, type Datatype } from './datatypes.js';
import type { ModelSignature, TensorSignature } from './signature.js';

export interface RequestedOutput {
  name: string;
  /** Whether it goes back as binary data after the JSON (else as JSON `data`). */
  binary: boolean;
}

export interface InferRequest {
  /** The request's `id`, echoed in the answer. */
  id: string | undefined;
  feeds: Record<string, ort.Tensor>;
  outputs: RequestedOutput[];
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Thrown while decoding when a 64-bit integer came as a JSON number past 2^53: the JSON is read again exactly. */
class InexactInteger extends Error {}

/**
 * Whether JSON.parse gives a reviver the source text of each value (V8 11.4+, Node 21+). With it, integers past
 * 2^53 given as JSON numbers are read exactly; without it (Node 20) they must come as strings or binary data.
 */
const parseHasSource = ((): boolean => {
  let source: unknown;
  JSON.parse('1', ((_key: string, value: unknown, context?: { source?: string }) => {
    source = context?.source;
    return value;
  }) as (key: string, value: unknown) => unknown);
  return source === '1';
})();

/** JSON.parse, integers past 2^53 kept exact as bigints. */
function parseExact(text: string): unknown {
  return JSON.parse(text, ((_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source) ? BigInt(context.source) : value) as (key: string, value: unknown) => unknown);
}

function parseJson(body: Uint8Array, length: number, exact: boolean): Json {
  let header: unknown;
  try {
    const text = Buffer.from(body.buffer, body.byteOffset, length).toString('utf8');
    header = exact ? parseExact(text) : JSON.parse(text);
  } catch (error) {
    throw badRequest(`the request's JSON does not parse: ${(error as Error).message}`);
  }
  if (!isRecord(header)) throw badRequest('the request must be a JSON object with "inputs"');
  return header;
}

/** The JSON's length: the whole body, or the `Inference-Header-Content-Length` header's value. */
function jsonLength(body: Uint8Array, headerLength: string | undefined): number {
  if (headerLength === undefined) return body.byteLength;
  if (!/^\d{1,15}$/.test(headerLength) || Number(headerLength) > body.byteLength) {
    throw badRequest(`Inference-Header-Content-Length: expected the JSON's length in bytes, at most the body's ${body.byteLength}, got '${headerLength}'`);
  }
  return Number(headerLength);
}

/** Decodes an inference request for a model with `signature`. */
export function decodeInferRequest(body: Uint8Array, headerLength: string | undefined, signature: ModelSignature): InferRequest {
  const length = jsonLength(body, headerLength);
  const binary = body.subarray(length);
  try {
    return decodeHeader(parseJson(body, length, false), binary, signature);
  } catch (error) {
    if (!(error instanceof InexactInteger)) throw error;
    if (!parseHasSource) throw badRequest(`${error.message}: a JSON number past 2^53 cannot be read exactly on Node ${process.versions.node}; send it as a string ("9007199254740993") or as binary data`);
    return decodeHeader(parseJson(body, length, true), binary, signature);
  }
}

function decodeHeader(header: Json, binary: Uint8Array, signature: ModelSignature): InferRequest {
  const id = header['id'];
  if (id !== undefined && typeof id !== 'string') throw badRequest(`"id" must be a string, got ${JSON.stringify(id)}`);
  const parameters = header['parameters'];
  if (parameters !== undefined && !isRecord(parameters)) throw badRequest('"parameters" must be an object');
  const binaryByDefault = parameters?.['binary_data_output'] === true;
  return { id, feeds: decodeInputs(header['inputs'], binary, signature.inputs), outputs: requestedOutputs(header['outputs'], signature.outputs, binaryByDefault) };
}

function decodeInputs(inputs: unknown, binary: Uint8Array, model: TensorSignature[]): Record<string, ort.Tensor> {
  if (!Array.isArray(inputs)) throw badRequest(`"inputs" must be a list of {"name", "shape", "datatype", "data"}; the model's inputs: ${model.map((i) => i.name).join(', ')}`);
  const feeds: Record<string, ort.Tensor> = {};
  let offset = 0;
  for (let k = 0; k < inputs.length; k++) {
    const input: unknown = inputs[k];
    if (!isRecord(input) || typeof input['name'] !== 'string') throw badRequest(`inputs[${k}]: expected an object with a "name"`);
    const name = input['name'];
    const fail: (why: string) => never = (why) => {
      throw badRequest(`input '${name}': ${why}`);
    };
    const expected = model.find((i) => i.name === name);
    if (expected === undefined) fail(`not an input of the model (its inputs: ${model.map((i) => i.name).join(', ')})`);
    if (Object.hasOwn(feeds, name)) fail('given twice');
    const datatype = input['datatype'];
    if (!isDatatype(datatype)) {
      if (datatype === 'BF16') fail('datatype BF16 cannot be fed to onnxruntime-node, which has no bfloat16 tensors; cast to FP32 or FP16 inside the model');
      fail(`unknown datatype ${JSON.stringify(datatype)}; use one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES`);
    }
    if (datatype !== expected!.datatype) fail(`datatype ${datatype}, but the model takes ${expected!.datatype}`);
    const dims = input['shape'];
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`"shape" must be a list of whole numbers >= 0, got ${JSON.stringify(dims)}`);
    let size = 1;
    for (const d of dims as number[]) size *= d;
    if (!Number.isSafeInteger(size)) fail(`shape [${(dims as number[]).join(', ')}] holds more than 2^53 elements`);
    const options = input['parameters'];
    if (options !== undefined && !isRecord(options)) fail('"parameters" must be an object');
    if (options?.['shared_memory_region'] !== undefined) fail('shared memory is not supported; send the data in the request');
    const binarySize = options?.['binary_data_size'];
    let data: TypedData;
    if (binarySize !== undefined) {
      if (input['data'] !== undefined) fail('give "data" or parameters.binary_data_size, not both');
      if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) fail(`binary_data_size must be a whole number of bytes, got ${JSON.stringify(binarySize)}`);
      const left = binary.byteLength - offset;
      if ((binarySize as number) > left) fail(`binary_data_size ${binarySize as number} runs past the ${left} bytes of binary data left in the body`);
      data = fromBytes(datatype, binary.subarray(offset, offset + (binarySize as number)), size, fail);
      offset += binarySize as number;
    } else {
      if (!Array.isArray(input['data'])) fail('expected "data" (the values, row-major, flat or nested) or parameters.binary_data_size');
      data = fromJson(name, datatype, input['data'] as unknown[], size, dims as number[], fail);
    }
    feeds[name] = ortInputTensor(ortTypeOfDatatype(datatype), data, dims as number[]);
  }
  if (offset !== binary.byteLength) throw badRequest(`${binary.byteLength - offset} bytes of binary data after the JSON belong to no input (check each binary_data_size and Inference-Header-Content-Length)`);
  return feeds;
}

/** The outputs asked for: all by default, or those listed, each as binary data or JSON. */
function requestedOutputs(listed: unknown, model: TensorSignature[], binaryByDefault: boolean): RequestedOutput[] {
  if (listed === undefined) return model.map((o) => ({ name: o.name, binary: binaryByDefault }));
  if (!Array.isArray(listed)) throw badRequest('"outputs" must be a list of {"name", "parameters"}');
  const seen = new Set<string>();
  return listed.map((entry: unknown, k) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string') throw badRequest(`outputs[${k}]: expected an object with a "name"`);
    const name = entry['name'];
    if (!model.some((o) => o.name === name)) throw badRequest(`output '${name}': not an output of the model (its outputs: ${model.map((o) => o.name).join(', ')})`);
    if (seen.has(name)) throw badRequest(`output '${name}': asked for twice`);
    seen.add(name);
    const options = entry['parameters'];
    if (options !== undefined && !isRecord(options)) throw badRequest(`output '${name}': "parameters" must be an object`);
    if (options?.['shared_memory_region'] !== undefined) throw badRequest(`output '${name}': shared memory is not supported; ask for binary_data instead`);
    if (options?.['classification'] !== undefined) throw badRequest(`output '${name}': the classification extension is not supported`);
    const own = options?.['binary_data'];
    if (own !== undefined && typeof own !== 'boolean') throw badRequest(`output '${name}': binary_data must be true or false`);
    return { name, binary: own ?? binaryByDefault };
  });
}

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

function fromBytes(datatype: Datatype, bytes: Uint8Array, size: number, fail: (why: string) => never): TypedData {
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

/** The values of `data` in row-major order: flat already, or nested as the shape. */
function flatValues(data: unknown[], size: number): unknown[] {
  if (data.length === size && (size === 0 || !Array.isArray(data[0]))) return data;
  return data.flat(Infinity);
}

const nonFinite: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

function fromJson(name: string, datatype: Datatype, data: unknown[], size: number, dims: number[], fail: (why: string) => never): TypedData {
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
