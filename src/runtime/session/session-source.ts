/**
 * What onnxruntime is given to create a session for an in-memory model: the model's structure as bytes, with its
 * weights passed beside it as in-memory external data (onnxruntime's `externalData` session option). No file is
 * ever written, so nothing can be left in the user's folders, and a read-only model folder works as any other.
 *
 * Initializers whose bytes are views into a loaded buffer are not copied: the encoded model names them as external
 * data at their offset in that buffer, and the buffer itself is handed to onnxruntime, which copies each tensor
 * once into its own memory. Initializers stored in side files are read from those files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { TensorProto_DataLocation, type ModelProto, type TensorProto } from '../../onnx.js';
import { encodeModel } from '../../io/codec.js';
import { externalReference, externalReferences, insideFolder, sourceFolderOf } from '../../io/external-data.js';
import { makeEntry } from '../../graph/build.js';
import { withFields } from '../../graph/copy.js';
import { InputError } from '../../errors.js';
import { withExternalData, type ExternalFile } from './external-files.js';

export type { ExternalFile } from './external-files.js';

/** Tensors at least this large are passed as external data; smaller ones stay in the encoded model. */
const EXTERNAL_THRESHOLD = 1024;
/** Virtual file names of the in-memory weight buffers (relative, so onnxruntime accepts them as locations). */
const bufferFileName = (k: number): string => `onnx-parallelize-weights-${k}.bin`;

export interface SessionSource {
  /** The model with its large initializers referring to `externalData`. */
  model: Uint8Array;
  externalData: ExternalFile[];
}

/** Reads the side files the model's external initializers refer to, each checked to lie inside its model's folder. */
async function readSideFiles(model: ModelProto): Promise<ExternalFile[]> {
  const files = new Map<string, ExternalFile>();
  for (const reference of externalReferences(model, 'model')) {
    const { tensor, location } = reference;
    if (files.has(location)) continue;
    const folder = sourceFolderOf(tensor);
    if (folder === undefined) throw new InputError(`tensor '${tensor.name}': external data '${location}' has no known folder; load the model from its file`);
    const file = path.join(folder, location);
    if (!(await insideFolder(file, folder).catch(() => false))) throw new InputError(`${file}: external data of tensor '${tensor.name}' is missing or lies outside the model's folder`);
    const data = await fs.readFile(file);
    files.set(location, { path: location, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }
  return [...files.values()];
}

/**
 * The session source of `model`. The model is not changed.
 */
export async function sessionSource(model: ModelProto): Promise<SessionSource> {
  const externalData = await readSideFiles(model);
  const buffers = new Map<ArrayBufferLike, number>();
  const external = (tensor: TensorProto): TensorProto => {
    if (externalReference(tensor) !== undefined || tensor.rawData.byteLength < EXTERNAL_THRESHOLD) return tensor;
    const { rawData } = tensor;
    let k = buffers.get(rawData.buffer);
    if (k === undefined) {
      k = buffers.size;
      buffers.set(rawData.buffer, k);
      externalData.push({ path: bufferFileName(k), data: new Uint8Array(rawData.buffer) });
    }
    return withFields(tensor, {
      rawData: new Uint8Array(0),
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [makeEntry('location', bufferFileName(k)), makeEntry('offset', String(rawData.byteOffset)), makeEntry('length', String(rawData.byteLength))],
    });
  };
  // The main graph's initializer list is swapped for one with external copies while the model is encoded.
  // Initializers of subgraphs stay inline: onnxruntime looks for their external data in real files only.
  const graph = model.graph;
  const initializer = graph?.initializer ?? [];
  if (graph !== undefined) graph.initializer = initializer.map(external);
  try {
    return { model: encodeModel(model), externalData };
  } finally {
    if (graph !== undefined) graph.initializer = initializer;
  }
}

/** A session for an in-memory model, external data included. */
export async function createSession(model: ModelProto, options: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  const source = await sessionSource(model);
  return ort.InferenceSession.create(source.model, withExternalData(options, source.externalData));
}
