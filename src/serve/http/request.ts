/**
 * Decoding of an inference request: the protocol's JSON object, optionally followed by binary tensor data
 * (Triton's binary data extension: the JSON's length in the `Inference-Header-Content-Length` header, and
 * `"parameters": {"binary_data_size": N}` on each input whose N bytes follow, in input order). Every way a
 * request can be wrong is a 400 that names the input, never a crash.
 */
import { checkInput, inputFromBytes, inputFromValues, InexactInteger, isRecord, requestedOutputs, type Feeds, type InferRequest } from '../core/decode.js';
import { invalidRequest as badRequest } from '../core/errors.js';
import type { ModelSignature, TensorSignature } from '../core/signature.js';

type Json = Record<string, unknown>;

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

function decodeInputs(inputs: unknown, binary: Uint8Array, model: TensorSignature[]): Feeds {
  if (!Array.isArray(inputs)) throw badRequest(`"inputs" must be a list of {"name", "shape", "datatype", "data"}; the model's inputs: ${model.map((i) => i.name).join(', ')}`);
  const feeds: Feeds = {};
  let offset = 0;
  for (let k = 0; k < inputs.length; k++) {
    const entry: unknown = inputs[k];
    if (!isRecord(entry)) throw badRequest(`inputs[${k}]: expected an object with a "name"`);
    const input = checkInput(entry as { name: unknown; datatype: unknown; shape: unknown; parameters?: unknown }, k, model, feeds);
    const { fail } = input;
    const binarySize = input.parameters?.['binary_data_size'];
    if (binarySize !== undefined) {
      if (entry['data'] !== undefined) fail('give "data" or parameters.binary_data_size, not both');
      if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) fail(`binary_data_size must be a whole number of bytes, got ${JSON.stringify(binarySize)}`);
      const left = binary.byteLength - offset;
      if ((binarySize as number) > left) fail(`binary_data_size ${binarySize as number} runs past the ${left} bytes of binary data left in the body`);
      feeds[input.name] = inputFromBytes(input, binary.subarray(offset, offset + (binarySize as number)));
      offset += binarySize as number;
    } else {
      if (!Array.isArray(entry['data'])) fail('expected "data" (the values, row-major, flat or nested) or parameters.binary_data_size');
      feeds[input.name] = inputFromValues(input, entry['data'] as unknown[]);
    }
  }
  if (offset !== binary.byteLength) throw badRequest(`${binary.byteLength - offset} bytes of binary data after the JSON belong to no input (check each binary_data_size and Inference-Header-Content-Length)`);
  return feeds;
}
