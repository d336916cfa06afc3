/**
 * The outputs of an inference, ready for an endpoint to encode: each output's tensor, whether it was asked for as
 * binary data (HTTP), and its raw bytes as both HTTP's binary data and gRPC's raw_output_contents carry them.
 */
import type * as ort from 'onnxruntime-node';

export interface ResponseOutput {
  name: string;
  /** The protocol's datatype, as the model's signature gives it (BF16's tensor holds uint16 bits); undefined where it has none. */
  datatype: string | undefined;
  tensor: ort.Tensor;
  binary: boolean;
}

/** Bytes of a tensor as raw data: a view of its data, or for strings the BYTES layout (a 4-byte length before each). */
export function tensorBytes(tensor: ort.Tensor): Uint8Array {
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
