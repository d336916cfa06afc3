/** Creating an onnxruntime session for an in-memory model, external data included. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../onnx.js';
import { encodeModel } from '../io/codec.js';
import { externalReferences, inlineExternalData, sourceFolderOf } from '../io/external-data.js';
import { saveModel } from '../io/files.js';

/**
 * A session for `model`. A model whose weights are external data is written to a temporary file beside
 * its side files (onnxruntime resolves them relative to the model file), removed once the session exists.
 */
export async function createSession(model: ModelProto, options: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  const references = externalReferences(model, 'model');
  const folder = references.map((r) => sourceFolderOf(r.tensor)).find((f) => f !== undefined);
  if (folder === undefined) return ort.InferenceSession.create(encodeModel(model), options);
  const temp = path.join(folder, `.onnx-parallelize-session-${process.pid}-${randomBytes(4).toString('hex')}.onnx`);
  try {
    await saveModel(model, temp);
  } catch {
    // A read-only model folder: the weights go inline instead.
    return ort.InferenceSession.create(encodeModel(await inlineExternalData(model)), options);
  }
  try {
    return await ort.InferenceSession.create(temp, options);
  } finally {
    await fs.rm(temp, { force: true });
  }
}
