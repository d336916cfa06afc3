/**
 * ModelInferRequest to the request the core runs, and the core's outputs to ModelInferResponse: gRPC's own part
 * of inference. Each input's data is its typed `contents` or, in input order, one of `raw_input_contents`; FP16
 * and BF16 have no typed field and come raw only, as in Triton. Every output goes back in
 * `raw_output_contents` (Triton always answers raw). Checking inputs and outputs against the model and reading
 * their values are the core's (decode.ts), as for HTTP.
 */
import { checkInput, elementBytes, inputFromBytes, inputFromValues, invalidRequest, requestedOutputs, tensorBytes, type CheckedInput, type Feeds, type InferRequest, type ResponseOutput, type TensorSignature } from '../core/index.js';
import type { InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse } from './messages.js';

type ContentsField = keyof InferTensorContents;

/** The typed field of each datatype that has one (Triton's: INT8 and INT16 in int_contents, UINT8 and UINT16 in uint_contents). */
const contentsFieldOf: Readonly<Record<string, ContentsField>> = {
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

const contentsFields: readonly ContentsField[] = ['bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents'];

/** A shape's dims (decimal strings on the wire), numbers where exact; a dim past 2^53 stays a string, which the core refuses. */
const dimsOf = (shape: readonly string[]): unknown[] => shape.map((d) => (Number.isSafeInteger(Number(d)) ? Number(d) : d));

/** The values of an input's typed contents: its one non-empty field, which must be its datatype's. */
function typedValues(input: CheckedInput, contents: InferTensorContents): unknown[] {
  const given = contentsFields.filter((f) => contents[f].length > 0);
  const expected = contentsFieldOf[input.datatype];
  if (expected === undefined) input.fail(`datatype ${input.datatype} has no typed contents; send it in raw_input_contents`);
  if (given.length > 1) input.fail(`its contents fill ${given.join(' and ')}; fill only ${expected!}`);
  const field = given[0] ?? expected!;
  if (field !== expected) input.fail(`its contents are in ${field}, but datatype ${input.datatype} goes in ${expected!}`);
  const values = contents[field];
  // BYTES elements are bytes on the wire and strings in onnxruntime-node, read as UTF-8 (as over HTTP).
  return field === 'bytes_contents' ? (values as Buffer[]).map((b) => b.toString('utf8')) : values;
}

/** The tensor of an input from its raw bytes; the byte count is checked here to name raw_input_contents. */
function fromRaw(input: CheckedInput, bytes: Buffer, k: number): Feeds[string] {
  if (input.datatype !== 'BYTES') {
    const expected = input.size * elementBytes[input.datatype];
    if (bytes.byteLength !== expected) input.fail(`raw_input_contents[${k}] is ${bytes.byteLength} bytes, but the shape holds ${input.size} ${input.datatype} elements (${expected} bytes)`);
  }
  return inputFromBytes(input, bytes);
}

/** The parameters of a requested output that the core looks at (gRPC answers raw whatever `binary_data` says). */
const outputParameters = (parameters: Record<string, InferParameter>): Record<string, unknown> => {
  const kept: Record<string, unknown> = {};
  for (const key of ['shared_memory_region', 'classification']) if (parameters[key] !== undefined) kept[key] = parameters[key];
  return kept;
};

/** Decodes a ModelInferRequest for a model with `signature`: its feeds, and the outputs to answer with. */
export function decodeModelInferRequest(request: ModelInferRequest, signature: { inputs: readonly TensorSignature[]; outputs: readonly TensorSignature[] }): InferRequest {
  const raw = request.raw_input_contents;
  const feeds: Feeds = {};
  let next = 0;
  request.inputs.forEach((input, k) => {
    const checked = checkInput({ name: input.name, datatype: input.datatype, shape: dimsOf(input.shape), parameters: input.parameters }, k, signature.inputs, feeds);
    if (input.contents !== null) {
      if (raw.length > 0) checked.fail(`contents field must not be specified when using raw_input_contents for '${input.name}' for model '${request.model_name}'`);
      feeds[checked.name] = inputFromValues(checked, typedValues(checked, input.contents));
    } else {
      if (next >= raw.length) checked.fail(`unable to find data for input tensor '${input.name}' for model '${request.model_name}' in request: give its contents, or one raw_input_contents per input, in input order`);
      feeds[checked.name] = fromRaw(checked, raw[next]!, next);
      next++;
    }
  });
  if (next < raw.length) throw invalidRequest(`${raw.length - next} of the ${raw.length} raw_input_contents belong to no input: give exactly one per input, in input order`);
  const listed = request.outputs.length === 0 ? undefined : request.outputs.map((o) => ({ name: o.name, parameters: outputParameters(o.parameters) }));
  return { id: request.id === '' ? undefined : request.id, feeds, outputs: requestedOutputs(listed, signature.outputs, true) };
}

/** A ModelInferResponse with `outputs`, in the order given, each in raw_output_contents. */
export function encodeModelInferResponse(modelName: string, modelVersion: string, id: string | undefined, outputs: readonly ResponseOutput[]): ModelInferResponse {
  return {
    model_name: modelName,
    model_version: modelVersion,
    id: id ?? '',
    outputs: outputs.map(({ name, datatype, tensor }) => {
      if (datatype === undefined) throw new Error(`output '${name}' is of onnxruntime type ${tensor.type}, which the protocol has no datatype for`);
      return { name, datatype, shape: [...tensor.dims] };
    }),
    raw_output_contents: outputs.map(({ tensor }) => tensorBytes(tensor)),
  };
}
