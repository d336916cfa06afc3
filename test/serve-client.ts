/**
 * A small client of the Open Inference Protocol for the serving tests, written apart from the server's code so
 * that the tests check the wire format rather than the server against itself: requests in JSON (flat or nested
 * data) or with binary data, and answers turned back into onnxruntime tensors.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/io/codec.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { tempDir } from './helpers.js';

export type Feeds = Record<string, ort.Tensor>;

export const datatypeOf: Record<string, string> = {
  bool: 'BOOL',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};
const ortTypeOf = Object.fromEntries(Object.entries(datatypeOf).map(([k, v]) => [v, k]));

/** `values` nested as `dims` (row-major), as the protocol also takes them. */
export function nest(values: unknown[], dims: readonly number[]): unknown[] {
  if (dims.length <= 1) return values;
  const inner = dims.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: dims[0]! }, (_, i) => nest(values.slice(i * inner, (i + 1) * inner), dims.slice(1)));
}

function jsonValues(tensor: ort.Tensor): unknown[] {
  const data = tensor.data as ArrayLike<unknown>;
  if (tensor.type === 'bool') return Array.from(data, (v) => v !== 0);
  if (tensor.type === 'int64' || tensor.type === 'uint64') return Array.from(data as BigInt64Array, (v) => (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : String(v)));
  return Array.from(data);
}

/** The strings of BYTES raw data: a 4-byte little-endian length before each element. */
export function stringsOf(bytes: Buffer): string[] {
  const strings: string[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    const length = bytes.readUInt32LE(at);
    strings.push(bytes.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  return strings;
}

/** Raw bytes of a tensor as Triton's binary data carries them (BYTES: a 4-byte little-endian length before each element). */
export function rawBytes(tensor: ort.Tensor): Buffer {
  if (tensor.type === 'string') {
    return Buffer.concat((tensor.data as string[]).flatMap((s) => {
      const bytes = Buffer.from(s, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.byteLength);
      return [length, bytes];
    }));
  }
  const data = tensor.data as ArrayBufferView;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export interface RequestBody {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * An inference request for `feeds`: JSON data (nested when `nested`), or binary data for every input and every
 * output asked for as binary (`binary`).
 */
export function inferBody(feeds: Feeds, options: { binary?: boolean; nested?: boolean; id?: string; outputs?: string[] } = {}): RequestBody {
  const chunks: Buffer[] = [];
  const inputs = Object.entries(feeds).map(([name, tensor]) => {
    const entry: Record<string, unknown> = { name, shape: [...tensor.dims], datatype: datatypeOf[tensor.type] };
    if (options.binary === true) {
      const bytes = rawBytes(tensor);
      chunks.push(bytes);
      entry['parameters'] = { binary_data_size: bytes.byteLength };
    } else {
      const values = jsonValues(tensor);
      entry['data'] = options.nested === true ? nest(values, tensor.dims) : values;
    }
    return entry;
  });
  const request: Record<string, unknown> = { inputs };
  if (options.id !== undefined) request['id'] = options.id;
  if (options.binary === true) request['parameters'] = { binary_data_output: true };
  if (options.outputs !== undefined) request['outputs'] = options.outputs.map((name) => ({ name }));
  const json = Buffer.from(JSON.stringify(request));
  if (chunks.length === 0) return { body: json, headers: { 'content-type': 'application/json' } };
  return { body: Buffer.concat([json, ...chunks]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.byteLength) } };
}

interface OutputJson {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}

export interface InferAnswer {
  header: { model_name: string; model_version?: string; id?: string; outputs: OutputJson[] };
  outputs: Feeds;
}

const arrays: Record<string, { new (buffer: ArrayBuffer): ArrayBufferView; new (length: number): ArrayBufferView }> = {
  bool: Uint8Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, float16: Uint16Array,
  int32: Int32Array, uint32: Uint32Array, float32: Float32Array, int64: BigInt64Array, uint64: BigUint64Array, float64: Float64Array,
};

function tensorFrom(output: OutputJson, bytes: Buffer | undefined): ort.Tensor {
  const type = ortTypeOf[output.datatype]!;
  if (bytes === undefined) {
    const values = output.data!.flat(Infinity);
    if (type === 'string') return new ort.Tensor('string', values as string[], output.shape);
    if (type === 'float16') throw new Error('FP16 in JSON: compare the numbers themselves');
    const data = new arrays[type]!(values.length) as unknown as Array<number | bigint>;
    values.forEach((v, i) => {
      data[i] = type === 'bool' ? (v === true ? 1 : 0) : type.endsWith('64') && type !== 'float64' ? BigInt(v as number) : typeof v === 'string' ? Number(v) : (v as number);
    });
    return new ort.Tensor(type as 'float32', data as unknown as Float32Array, output.shape);
  }
  if (type === 'string') {
    return new ort.Tensor('string', stringsOf(bytes), output.shape);
  }
  return new ort.Tensor(type as 'float32', new arrays[type]!(new Uint8Array(bytes).buffer) as Float32Array, output.shape);
}

/**
 * The status of a request, its body read to the end: Node's fetch (undici) leaves an unread body's socket paused,
 * and fails with an uncaught assertion when the server then closes that connection (as serve does while draining).
 */
export async function statusOf(url: string, init?: RequestInit): Promise<number> {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.status;
}

/** The answer's JSON and its outputs as tensors; throws on a status other than 200, with the error. */
export async function readAnswer(response: Response): Promise<InferAnswer> {
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`${response.status}: ${body.toString('utf8')}`);
  const length = response.headers.get('inference-header-content-length');
  const jsonLength = length === null ? body.byteLength : Number(length);
  const header = JSON.parse(body.toString('utf8', 0, jsonLength)) as InferAnswer['header'];
  const outputs: Feeds = {};
  let at = jsonLength;
  for (const output of header.outputs) {
    const size = output.parameters?.binary_data_size;
    outputs[output.name] = tensorFrom(output, size === undefined ? undefined : body.subarray(at, at + size));
    at += size ?? 0;
  }
  if (at !== body.byteLength) throw new Error(`${body.byteLength - at} bytes of binary data left over`);
  return { header, outputs };
}

export async function infer(url: string, model: string, request: RequestBody, signal: AbortSignal = AbortSignal.timeout(120_000)): Promise<InferAnswer> {
  return readAnswer(await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: request.body, headers: request.headers, signal }));
}

/** x [batch, 512] -> y = x through 4,000 MatMuls by the identity: milliseconds per row, slow on purpose. */
export function slowModelFile(): { file: string; remove: () => void } {
  const width = 512;
  const identity = new Float32Array(width * width);
  for (let i = 0; i < width; i++) identity[i * width + i] = 1;
  const nodes = Array.from({ length: 4000 }, (_, k) => makeNode('MatMul', [k === 0 ? 'x' : `h${k}`, 'w'], [k === 3999 ? 'y' : `h${k + 1}`]));
  const model = makeModel(
    makeGraph({
      name: 'slow',
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', width])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', width])],
      nodes,
      initializers: [makeTensor('w', DT.FLOAT, [width, width], identity)],
    }),
    { opset: 13 },
  );
  const dir = tempDir();
  const file = path.join(dir, 'slow.onnx');
  writeFileSync(file, encodeModel(model));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A JSON request of `batch` rows of 0.5 for the slow model. */
export const slowRows = (batch: number): RequestBody => ({
  body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [batch, 512], datatype: 'FP32', data: Array(batch * 512).fill(0.5) }] })),
  headers: { 'content-type': 'application/json' },
});

/** Polls `check` every 5 ms until it holds (or fails after `timeoutMs`). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The value of a Prometheus sample, by its name and labels as written (`name{model="m",version="1"}`). */
export function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  if (line === undefined) throw new Error(`no sample ${sample} in:\n${text}`);
  return Number(line.slice(sample.length + 1));
}
