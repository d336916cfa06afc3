/**
 * Encoding of an inference response: the protocol's JSON object, each output's values in `data`, or (Triton's
 * binary data extension) its raw bytes after the JSON, with `"parameters": {"binary_data_size": N}`.
 *
 * JSON values: FP16/FP32/FP64 as numbers (the exact value of each element; NaN and the infinities, which JSON
 * cannot write, as the strings "NaN", "Infinity", "-Infinity"), BOOL as true/false, BYTES as strings (UTF-8),
 * and INT64/UINT64 as exact JSON numbers, as Triton writes them (Python's and Go's JSON readers keep them exact;
 * JavaScript's JSON.parse rounds past 2^53, so a JavaScript client wanting them exact asks for binary data).
 * BF16 goes as binary data only, as in Triton: requestedOutputs refuses it in JSON before the run.
 */
import type * as ort from 'onnxruntime-node';
import { float16Values, type Float16Data } from '../../tensors/float16.js';
import { tensorBytes, type ResponseOutput } from '../core/encode.js';

export interface EncodedResponse {
  /** The JSON object. */
  json: string;
  /** Binary data after the JSON, in output order; empty when every output is in the JSON. */
  chunks: Uint8Array[];
}

/**
 * A JSON array of numbers, NaN and the infinities as strings. JSON.stringify writes each number as join(',')
 * would, about three times faster on Node 20 and 24, but writes NaN and the infinities as null, which no number
 * contains: only then are they written one by one.
 */
function numberArray(values: ArrayLike<number>): string {
  const text = JSON.stringify(Array.from(values));
  if (!text.includes('null')) return text;
  return `[${Array.from(values, (v) => (Number.isFinite(v) ? String(v) : `"${v}"`)).join(',')}]`;
}

function jsonData(tensor: ort.Tensor): string {
  const data = tensor.data;
  switch (tensor.type) {
    case 'string':
      return JSON.stringify(data);
    case 'bool':
      return `[${Array.from(data as Uint8Array, (v) => (v === 0 ? 'false' : 'true')).join(',')}]`;
    case 'int64':
    case 'uint64':
      // Exact, digit by digit: JSON.stringify takes no bigints.
      return `[${(data as BigInt64Array).join(',')}]`;
    case 'float16':
      return numberArray(float16Values(data as Float16Data));
    default:
      return numberArray(data as Float32Array);
  }
}

export function encodeInferResponse(modelName: string, modelVersion: string, id: string | undefined, outputs: ResponseOutput[]): EncodedResponse {
  const chunks: Uint8Array[] = [];
  let json = `{"model_name":${JSON.stringify(modelName)},"model_version":${JSON.stringify(modelVersion)}`;
  if (id !== undefined) json += `,"id":${JSON.stringify(id)}`;
  json += ',"outputs":[';
  for (let k = 0; k < outputs.length; k++) {
    const { name, datatype, tensor, binary } = outputs[k]!;
    if (datatype === undefined) throw new Error(`output '${name}' is of onnxruntime type ${tensor.type}, which the protocol has no datatype for`);
    if (k > 0) json += ',';
    json += `{"name":${JSON.stringify(name)},"datatype":"${datatype}","shape":[${tensor.dims.join(',')}]`;
    if (binary) {
      const bytes = tensorBytes(tensor);
      chunks.push(bytes);
      json += `,"parameters":{"binary_data_size":${bytes.byteLength}}}`;
    } else {
      json += `,"data":${jsonData(tensor)}}`;
    }
  }
  json += ']}';
  return { json, chunks };
}
