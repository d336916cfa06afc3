/** Lossless ONNX ModelProto decoding and encoding, independent of files. */
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from '../onnx.js';
import { InputError, messageOf } from '../errors.js';
import { mainGraph } from '../graph/model.js';
import { encodeChunks } from './chunked-encoder.js';

/**
 * Decodes an ONNX model. Large bytes values (tensor raw_data) stay views into `bytes`: nothing is copied.
 * Fields the schema does not know are kept and written back by `encodeModel`.
 * `source` names the file in error messages.
 */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  if (bytes.length === 0) throw new InputError(`${source}: the file is empty; expected an ONNX model (.onnx)`);
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (error) {
    throw new InputError(`${source}: not an ONNX model: the protobuf does not decode (${messageOf(error)}); the file may be truncated or of another format`);
  }
  mainGraph(model, source);
  return model;
}

/** How protobuf-es refuses a value its field's type cannot hold (an int64 past 64 bits, a float that is a string). */
const UNENCODABLE = /^cannot encode field ([\w.]+) to binary: invalid (\w+): (.*)$/;

/**
 * Encodes a model as chunks whose concatenation is the model's bytes; large tensor data is not copied. A value
 * its field cannot hold (only a model built in code can have one) is refused with the field and the value.
 */
export function encodeModelChunks(model: ModelProto): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  try {
    encodeChunks(ModelProtoSchema, model, chunks);
  } catch (error) {
    const match = UNENCODABLE.exec(messageOf(error));
    if (match === null) throw error;
    throw new InputError(`model: field ${match[1]} holds ${match[3]}, which is not a value of its type (${match[2]}); the model cannot be written`, { cause: error });
  }
  return chunks;
}

/** Encodes a model into one buffer. `decodeModel` then `encodeModel` gives back the same bytes. */
export function encodeModel(model: ModelProto): Uint8Array {
  const chunks = encodeModelChunks(model);
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
