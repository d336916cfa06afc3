/**
 * ModelInferRequest to the request the server runs, and outputs to ModelInferResponse: gRPC's own part of
 * inference. Each input's data is its typed `contents` or, in input order, one of `raw_input_contents`; FP16
 * and BF16 have no typed field and come raw only, as in Triton. Every output goes back in
 * `raw_output_contents` (Triton always answers raw). The checks against the model and the reading of the data
 * are the protocol-neutral ones of tensor-input.ts and output-selection.ts, as for HTTP.
 */
import type * as ort from 'onnxruntime-node';
import { badRequest } from '../errors.js';
import { datatypeOfOrtType } from '../datatypes.js';
import { checkOutputAsk } from '../output-selection.js';
import type { InferRequest } from '../request.js';
import { tensorBytes } from '../response.js';
import type { ModelSignature } from '../signature.js';
import { checkInput, inputFailure, readInput, type Fail, type InputSource } from '../tensor-input.js';
import type { InferInputTensor, InferTensorContents, ModelInferRequest, ModelInferResponse } from './messages.js';

type ContentsField = keyof InferTensorContents;

/** The typed field of each datatype that has one (Triton's: INT8 and INT16 in int_contents, UINT8 and UINT16 in uint_contents). */
const contentsFieldOf: Record<string, ContentsField> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

const contentsFields = Object.keys({ bool_contents: 0, int_contents: 0, int64_contents: 0, uint_contents: 0, uint64_contents: 0, fp32_contents: 0, fp64_contents: 0, bytes_contents: 0 } satisfies Record<ContentsField, 0>) as ContentsField[];

/** A shape's dims, numbers where exact (a dim past 2^53 stays a string, which the shape check refuses). */
const dimsOf = (shape: readonly string[]): unknown[] => shape.map((d) => (Number.isSafeInteger(Number(d)) ? Number(d) : d));

/** The values of an input's typed contents: the one non-empty field, which must be its datatype's. */
function typedValues(input: InferInputTensor, contents: InferTensorContents, fail: Fail): unknown[] {
  const given = contentsFields.filter((f) => contents[f].length > 0);
  const expected = contentsFieldOf[input.datatype];
  if (expected === undefined) fail(`datatype ${input.datatype} has no typed contents; send it in raw_input_contents`);
  if (given.length > 1) fail(`its contents fill ${given.join(' and ')}; fill only ${expected}`);
  const field = given[0] ?? expected;
  if (field !== expected) fail(`its contents are in ${field}, but datatype ${input.datatype} goes in ${expected}`);
  const values = contents[field];
  // BYTES elements are bytes on the wire and strings in onnxruntime-node, read as UTF-8 (as over HTTP).
  return field === 'bytes_contents' ? (values as Buffer[]).map((b) => b.toString('utf8')) : values;
}

/** Decodes a ModelInferRequest for a model with `signature`: its feeds, and the outputs to answer with. */
export function decodeModelInferRequest(request: ModelInferRequest, signature: ModelSignature): InferRequest {
  const raw = request.raw_input_contents;
  const feeds: Record<string, ort.Tensor> = {};
  const given = (name: string): boolean => Object.hasOwn(feeds, name);
  let next = 0;
  for (const input of request.inputs) {
    const fail: Fail = inputFailure(input.name);
    const checked = checkInput(input.name, input.datatype, dimsOf(input.shape), signature.inputs, given);
    if (input.parameters['shared_memory_region'] !== undefined) fail('shared memory is not supported; send the data in raw_input_contents or contents');
    let data: InputSource['data'];
    if (input.contents !== null) {
      if (raw.length > 0) fail(`contents field must not be specified when using raw_input_contents for '${input.name}' for model '${request.model_name}'`);
      data = { values: typedValues(input, input.contents, fail) };
    } else {
      if (next >= raw.length) fail(`unable to find data for input tensor '${input.name}' for model '${request.model_name}' in request (give its contents, or one raw_input_contents per input, in input order)`);
      data = { bytes: raw[next]!, label: `raw_input_contents[${next}]` };
      next++;
    }
    feeds[input.name] = readInput(checked, data);
  }
  if (next < raw.length) throw badRequest(`${raw.length - next} of the ${raw.length} raw_input_contents belong to no input: give exactly one per input, in input order`);
  const seen = new Set<string>();
  const outputs = request.outputs.length === 0
    ? signature.outputs.map((o) => ({ name: o.name, binary: true }))
    : request.outputs.map((o) => {
        checkOutputAsk({ name: o.name, sharedMemory: o.parameters['shared_memory_region'] !== undefined, classification: o.parameters['classification'] !== undefined }, signature.outputs, seen);
        return { name: o.name, binary: true };
      });
  return { id: request.id === '' ? undefined : request.id, feeds, outputs };
}

/** A ModelInferResponse with `outputs`, in the order given, each in raw_output_contents. */
export function encodeModelInferResponse(modelName: string, modelVersion: string, id: string | undefined, outputs: ReadonlyArray<{ name: string; tensor: ort.Tensor }>): ModelInferResponse {
  return {
    model_name: modelName,
    model_version: modelVersion,
    id: id ?? '',
    outputs: outputs.map(({ name, tensor }) => {
      const datatype = datatypeOfOrtType(tensor.type);
      if (datatype === undefined) throw new Error(`output '${name}' is of onnxruntime type ${tensor.type}, which the protocol has no datatype for`);
      return { name, datatype, shape: [...tensor.dims] };
    }),
    raw_output_contents: outputs.map(({ tensor }) => tensorBytes(tensor)),
  };
}
