/** What a model must have to be read at all: an IR version ONNX could have written, and a graph. */
import type { GraphProto, ModelProto } from '../onnx.js';
import { InputError } from '../errors.js';

/** The highest IR or opset version accepted: ONNX itself keeps versions in a C int. */
export const MAX_VERSION = 2 ** 31 - 1;

/** The model's main graph, once the model is found usable; `source` names the model in errors. */
export function mainGraph(model: ModelProto, source = 'model'): GraphProto {
  const ir = model.irVersion;
  if (ir <= 0n || ir > BigInt(MAX_VERSION)) {
    const value = ir === 0n ? 'missing or 0' : String(ir);
    throw new InputError(`${source}: not an ONNX model: ir_version is ${value} (a valid protobuf of another kind, or a damaged file)`);
  }
  if (model.graph === undefined) throw new InputError(`${source}: not a usable ONNX model: it has no graph`);
  return model.graph;
}
