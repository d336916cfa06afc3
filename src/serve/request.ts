/**
 * Decoding of an inference request: the protocol's JSON object, optionally followed by binary tensor data
 * (Triton's binary data extension: the JSON's length in the `Inference-Header-Content-Length` header, and
 * `"parameters": {"binary_data_size": N}` on each input whose N bytes follow, in input order). Every way a
 * request can be wrong is a 400 that names the input, never a crash.
 */
import type * as ort from 'onnxruntime-node';
import { badRequest } from './errors.js';
import { checkOutputAsk } from './output-selection.js';
import { checkInput, inputFailure, readInput, InexactInteger, type Fail, type InputSource } from './tensor-input.js';
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
  const given = (name: string): boolean => Object.hasOwn(feeds, name);
  let offset = 0;
  for (let k = 0; k < inputs.length; k++) {
    const input: unknown = inputs[k];
    if (!isRecord(input) || typeof input['name'] !== 'string') throw badRequest(`inputs[${k}]: expected an object with a "name"`);
    const name = input['name'];
    const fail: Fail = inputFailure(name);
    // The model's checks come first, so that a wrong name or datatype is said before anything about the data.
    const checked = checkInput(name, input['datatype'], input['shape'], model, given);
    const options = input['parameters'];
    if (options !== undefined && !isRecord(options)) fail('"parameters" must be an object');
    if (options?.['shared_memory_region'] !== undefined) fail('shared memory is not supported; send the data in the request');
    const binarySize = options?.['binary_data_size'];
    let data: InputSource['data'];
    if (binarySize !== undefined) {
      if (input['data'] !== undefined) fail('give "data" or parameters.binary_data_size, not both');
      if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) fail(`binary_data_size must be a whole number of bytes, got ${JSON.stringify(binarySize)}`);
      const left = binary.byteLength - offset;
      if ((binarySize as number) > left) fail(`binary_data_size ${binarySize as number} runs past the ${left} bytes of binary data left in the body`);
      data = { bytes: binary.subarray(offset, offset + (binarySize as number)), label: 'binary_data_size' };
      offset += binarySize as number;
    } else {
      if (!Array.isArray(input['data'])) fail('expected "data" (the values, row-major, flat or nested) or parameters.binary_data_size');
      data = { values: input['data'] as unknown[] };
    }
    feeds[name] = readInput(checked, data);
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
    const options = entry['parameters'];
    if (options !== undefined && !isRecord(options)) throw badRequest(`output '${name}': "parameters" must be an object`);
    checkOutputAsk({ name, sharedMemory: options?.['shared_memory_region'] !== undefined, classification: options?.['classification'] !== undefined }, model, seen);
    const own = options?.['binary_data'];
    if (own !== undefined && typeof own !== 'boolean') throw badRequest(`output '${name}': binary_data must be true or false`);
    return { name, binary: own ?? binaryByDefault };
  });
}
