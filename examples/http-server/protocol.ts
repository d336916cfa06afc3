/**
 * The example server's wire format, used by its server and its client alike. A message (request or response)
 * is a JSON header naming tensors under `inputs` or `outputs`; each tensor carries its values in the JSON
 * (`data`) or, as in Triton's binary data extension, as raw bytes after the header (`parameters.binary_data_size`),
 * the header's length then given by the HTTP header `Inference-Header-Content-Length`. See README.md here.
 */
import * as ort from 'onnxruntime-node';

/** A request the server cannot run: answered with 400 and this message. */
export class RequestError extends Error {
  override name = 'RequestError';
}

export const headerLengthField = 'inference-header-content-length';

const arrayTypes = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  // Raw IEEE half bits; binary data only. Where Node has Float16Array, onnxruntime-node takes and gives that.
  float16: Uint16Array,
} as const;
type NumericType = keyof typeof arrayTypes;
type NumericData = InstanceType<(typeof arrayTypes)[NumericType]>;
export type TensorType = NumericType | 'string';

/** A tensor in a message's header. */
export interface TensorJson {
  type: string;
  dims: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}

/** A message's JSON header: `inputs` or `outputs` (tensors by name, or a list with a `name` each), and options. */
export type MessageHeader = Record<string, unknown>;

const isNumericType = (type: string): type is NumericType => Object.hasOwn(arrayTypes, type);
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const float16Array = (globalThis as { Float16Array?: new (buffer: ArrayBuffer) => ArrayBufferView }).Float16Array;

/** The tensors listed under `key`, in the order their binary data follows the header. */
function listedTensors(header: MessageHeader, key: 'inputs' | 'outputs'): Array<[string, TensorJson]> {
  const listed = header[key];
  if (Array.isArray(listed)) {
    return listed.map((entry: unknown, i) => {
      if (!isRecord(entry) || typeof entry['name'] !== 'string') throw new RequestError(`${key}[${i}]: expected an object with a "name"`);
      return [entry['name'], entry as unknown as TensorJson];
    });
  }
  if (!isRecord(listed)) throw new RequestError(`"${key}": expected an object of tensors by name`);
  return Object.entries(listed) as Array<[string, TensorJson]>;
}

/**
 * The outputs a request asks for (all by default, or those listed under `outputs` by name or as
 * `{ "name", "parameters": { "binary_data": true } }`), each with whether it goes back as binary data
 * (by default when the request's `parameters.binary_data_output` is true), as in Triton.
 */
export function requestedOutputs(header: MessageHeader, available: readonly string[]): Map<string, boolean> {
  const parameters = header['parameters'];
  const binaryByDefault = isRecord(parameters) && parameters['binary_data_output'] === true;
  const listed = header['outputs'];
  if (listed === undefined) return new Map(available.map((name) => [name, binaryByDefault]));
  if (!Array.isArray(listed)) throw new RequestError('"outputs": expected a list of output names or { "name": ..., "parameters": { "binary_data": true } }');
  return new Map(
    listed.map((entry: unknown) => {
      const name = isRecord(entry) ? entry['name'] : entry;
      if (typeof name !== 'string' || !available.includes(name)) {
        throw new RequestError(`"outputs": ${JSON.stringify(name)} is not an output of the model (its outputs: ${available.join(', ')})`);
      }
      const own = isRecord(entry) && isRecord(entry['parameters']) ? entry['parameters']['binary_data'] : undefined;
      return [name, typeof own === 'boolean' ? own : binaryByDefault];
    }),
  );
}

/** Splits a body into its JSON header and the binary data after it. */
export function splitBody(body: Uint8Array, headerLength: string | undefined): { header: MessageHeader; binary: Uint8Array } {
  let length = body.byteLength;
  if (headerLength !== undefined) {
    length = Number(headerLength);
    if (!/^\d+$/.test(headerLength) || length > body.byteLength) throw new RequestError(`Inference-Header-Content-Length: expected a byte count up to the body's ${body.byteLength}, got '${headerLength}'`);
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(body.buffer, body.byteOffset, length).toString('utf8'));
  } catch (error) {
    throw new RequestError(`the JSON header does not parse: ${(error as Error).message}`);
  }
  if (!isRecord(header)) throw new RequestError('the JSON header must be an object');
  return { header, binary: body.subarray(length) };
}

/** The tensors of a message under `key`: JSON data is converted, binary data taken in order from `binary`. */
export function decodeTensors(header: MessageHeader, binary: Uint8Array, key: 'inputs' | 'outputs'): Record<string, ort.Tensor> {
  const tensors: Record<string, ort.Tensor> = {};
  let offset = 0;
  for (const [name, json] of listedTensors(header, key)) {
    const fail = (why: string): never => {
      throw new RequestError(`${key === 'inputs' ? 'input' : 'output'} '${name}': ${why}`);
    };
    if (!isRecord(json)) fail('expected an object with "type", "dims" and "data"');
    const { type, dims } = json;
    if (type !== 'string' && !isNumericType(type)) fail(`unknown type ${JSON.stringify(type)}; use one of ${[...Object.keys(arrayTypes), 'string'].join(', ')}`);
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) fail('"dims" must be a list of whole numbers >= 0');
    const size = dims.reduce((a, b) => a * b, 1);
    const binarySize = json.parameters?.binary_data_size;
    let data: NumericData | string[];
    if (binarySize !== undefined) {
      if (!Number.isSafeInteger(binarySize) || binarySize < 0 || offset + binarySize > binary.byteLength) {
        fail(`binary_data_size ${binarySize} runs past the ${binary.byteLength - offset} bytes of binary data left`);
      }
      data = fromBytes(type as TensorType, binary.subarray(offset, offset + binarySize), size, fail);
      offset += binarySize;
    } else {
      if (!Array.isArray(json.data)) fail('expected "data" (a flat list of values, row-major) or parameters.binary_data_size');
      if (json.data!.length !== size) fail(`"data" has ${json.data!.length} values, dims [${dims.join(', ')}] need ${size}`);
      data = fromJsonValues(type as TensorType, json.data!, fail);
    }
    tensors[name] = new ort.Tensor(type as 'float32', data as Float32Array, dims);
  }
  if (offset !== binary.byteLength) throw new RequestError(`${binary.byteLength - offset} bytes of binary data after the header belong to no tensor`);
  return tensors;
}

function fromBytes(type: TensorType, bytes: Uint8Array, size: number, fail: (why: string) => never): NumericData | string[] {
  if (type === 'string') {
    // As Triton's BYTES: each element is a 4-byte little-endian length, then that many bytes (UTF-8 here).
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const strings: string[] = [];
    let at = 0;
    while (at < bytes.byteLength) {
      if (at + 4 > bytes.byteLength) fail('binary strings: a length prefix is cut off');
      const length = view.getUint32(at, true);
      if (at + 4 + length > bytes.byteLength) fail('binary strings: an element runs past the tensor\'s data');
      strings.push(Buffer.from(bytes.buffer, bytes.byteOffset + at + 4, length).toString('utf8'));
      at += 4 + length;
    }
    if (strings.length !== size) fail(`binary data holds ${strings.length} strings, the dims need ${size}`);
    return strings;
  }
  const elementSize = arrayTypes[type].BYTES_PER_ELEMENT;
  if (bytes.byteLength !== size * elementSize) fail(`binary_data_size is ${bytes.byteLength} bytes, the dims need ${size * elementSize}`);
  // Copied: the body's bytes are not aligned for the element type.
  const buffer = new Uint8Array(bytes).buffer;
  if (type === 'float16' && float16Array !== undefined) return new float16Array(buffer) as unknown as NumericData;
  return new arrayTypes[type](buffer);
}

function fromJsonValues(type: TensorType, values: unknown[], fail: (why: string) => never): NumericData | string[] {
  const bad = (i: number, expected: string): never => fail(`element ${i} is ${JSON.stringify(values[i])}, expected ${expected}`);
  if (type === 'string') return values.map((v, i) => (typeof v === 'string' ? v : bad(i, 'a string')));
  if (type === 'float16') fail('float16 values are taken as binary data only (parameters.binary_data_size)');
  const data = new arrayTypes[type](values.length);
  values.forEach((v, i) => {
    if (type === 'int64' || type === 'uint64') {
      const big = typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : Number.isSafeInteger(v) ? BigInt(v as number) : bad(i, 'a whole number (as a string beyond 2^53)');
      data[i] = big;
      if (data[i] !== big) bad(i, `a value in range for ${type}`);
    } else if (type === 'bool') {
      data[i] = v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : bad(i, 'true or false');
    } else if (type === 'float32' || type === 'float64') {
      data[i] = typeof v === 'number' ? v : v === 'NaN' || v === 'Infinity' || v === '-Infinity' ? Number(v) : bad(i, 'a number, "NaN", "Infinity" or "-Infinity"');
    } else {
      if (!Number.isInteger(v)) bad(i, 'a whole number');
      data[i] = v as number;
      if (data[i] !== v) bad(i, `a value in range for ${type}`);
    }
  });
  return data as NumericData;
}

/** A tensor's values for JSON: int64/uint64 as decimal strings, bool as true/false, non-finite floats as strings. */
function toJsonValues(name: string, tensor: ort.Tensor): unknown[] {
  const data = tensor.data as ArrayLike<number | bigint | string>;
  if (tensor.type === 'float16') throw new RequestError(`output '${name}' is float16: ask for it as binary data (parameters.binary_data_output)`);
  if (tensor.type === 'bool') return Array.from(data, (v) => v === 1);
  return Array.from(data, (v) => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

function toBytes(tensor: ort.Tensor): Uint8Array {
  if (tensor.type !== 'string') {
    const data = tensor.data as ArrayBufferView;
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const parts = (tensor.data as string[]).flatMap((s) => {
    const bytes = Buffer.from(s, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.byteLength);
    return [length, bytes];
  });
  return Buffer.concat(parts);
}

/**
 * A message: the tensors under `key` in a JSON header (an object by name), those for which `binary` says so as
 * bytes after it, in the order the header lists them.
 */
export function encodeMessage(
  key: 'inputs' | 'outputs',
  tensors: Record<string, ort.Tensor>,
  binary: (name: string) => boolean,
  extra: MessageHeader = {},
): { body: Buffer; headerLength: number | undefined } {
  const listed: Record<string, TensorJson> = {};
  const chunks: Uint8Array[] = [];
  // Object.entries lists names in the order JSON.stringify writes them (names like "0" first).
  for (const [name, tensor] of Object.entries(tensors)) {
    const json: TensorJson = { type: tensor.type, dims: [...tensor.dims] };
    if (binary(name)) {
      const bytes = toBytes(tensor);
      json.parameters = { binary_data_size: bytes.byteLength };
      chunks.push(bytes);
    } else {
      json.data = toJsonValues(name, tensor);
    }
    listed[name] = json;
  }
  const header = Buffer.from(JSON.stringify({ ...extra, [key]: listed }));
  if (chunks.length === 0) return { body: header, headerLength: undefined };
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.byteLength };
}
