/** A client for the example server: `infer(url, feeds)` sends tensors as JSON or as binary data, returns the outputs. */
import type * as ort from 'onnxruntime-node';
import { decodeTensors, encodeMessage, headerLengthField, splitBody } from './protocol.js';

export interface InferOptions {
  /** Send the inputs and get the outputs as binary data after a JSON header (else all JSON). */
  binary?: boolean;
  signal?: AbortSignal;
}

/** POSTs `feeds` to `url` (the server's /infer) and returns every output; a non-2xx answer throws its error. */
export async function infer(url: string, feeds: Record<string, ort.Tensor>, options: InferOptions = {}): Promise<Record<string, ort.Tensor>> {
  const binary = options.binary === true;
  const message = encodeMessage('inputs', feeds, () => binary, binary ? { parameters: { binary_data_output: true } } : {});
  const headers: Record<string, string> = { 'content-type': binary ? 'application/octet-stream' : 'application/json' };
  if (message.headerLength !== undefined) headers[headerLengthField] = String(message.headerLength);
  const response = await fetch(url, { method: 'POST', headers, body: message.body, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  const body = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) throw new Error(`${url}: ${response.status} ${Buffer.from(body).toString('utf8')}`);
  const { header, binary: data } = splitBody(body, response.headers.get(headerLengthField) ?? undefined);
  return decodeTensors(header, data, 'outputs');
}
