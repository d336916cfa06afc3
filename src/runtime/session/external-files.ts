/** In-memory external data files, as onnxruntime's `externalData` session option takes them. */
import type * as ort from 'onnxruntime-node';

export interface ExternalFile {
  /** The location the model's tensors name. */
  path: string;
  /** The whole file: onnxruntime reads each tensor at its offset. */
  data: Uint8Array;
}

/** Session options that hand `externalData` to onnxruntime. */
export function withExternalData(options: ort.InferenceSession.SessionOptions, externalData: ExternalFile[]): ort.InferenceSession.SessionOptions {
  return externalData.length === 0 ? options : { ...options, externalData: externalData.map(({ path, data }) => ({ path, data })) };
}
