/** Creating an onnxruntime session for an in-memory model, external data included. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../onnx.js';
import { encodeModel } from '../io/codec.js';
import { externalReferences, inlineExternalData, sourceFolderOf } from '../io/external-data.js';
import { saveModel } from '../io/files.js';

/** What onnxruntime is given for a model: its bytes, or a temporary file to remove once the session exists. */
export interface ModelSource {
  model: Uint8Array | string;
  done(): Promise<void>;
}

/**
 * A source for `model`. A model whose weights are external data is written to a temporary file beside its side
 * files (onnxruntime resolves them relative to the model file); in a read-only folder its weights go inline.
 */
export async function modelSource(model: ModelProto, label = 'session'): Promise<ModelSource> {
  const noop = async (): Promise<void> => undefined;
  const folder = externalReferences(model, 'model').map((r) => sourceFolderOf(r.tensor)).find((f) => f !== undefined);
  if (folder === undefined) return { model: encodeModel(model), done: noop };
  const temp = path.join(folder, `.onnx-parallelize-${label}-${process.pid}-${randomBytes(4).toString('hex')}.onnx`);
  try {
    await saveModel(model, temp);
  } catch {
    return { model: encodeModel(await inlineExternalData(model)), done: noop };
  }
  return { model: temp, done: () => fs.rm(temp, { force: true }) };
}

/** A session for an in-memory model, external data included. */
export async function createSession(model: ModelProto, options: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  const source = await modelSource(model);
  try {
    return typeof source.model === 'string' ? await ort.InferenceSession.create(source.model, options) : await ort.InferenceSession.create(source.model, options);
  } finally {
    await source.done();
  }
}
