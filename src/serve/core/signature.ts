/**
 * A model's signature as the protocol's model metadata gives it: inputs and outputs with their datatype and
 * shape (-1 for a dim that is not fixed). The model is read in a worker of its own, so that its bytes never
 * live on the main thread's heap (as ParallelSession.create does).
 */
import { Worker } from 'node:worker_threads';
import type { ModelProto, ValueInfoProto } from '../../onnx.js';
import { elemTypeOf, shapeOf } from '../../graph/types.js';
import { runtimeInputs } from '../../transform/batch-axes.js';
import { InputError } from '../../errors.js';
import { datatypeOfElemType } from './datatypes.js';

export interface TensorSignature {
  name: string;
  /** The protocol's datatype (`FP32`, `BYTES`, ...); `INVALID` for an element type it has no name for. */
  datatype: string;
  /** Fixed dims, -1 for the others; undefined where the model does not give the rank. */
  shape: number[] | undefined;
}

export interface ModelSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

function tensorSignature(info: ValueInfoProto): TensorSignature {
  return {
    name: info.name,
    datatype: datatypeOfElemType(elemTypeOf(info)) ?? 'INVALID',
    shape: shapeOf(info)?.map((d) => (typeof d === 'number' ? d : -1)),
  };
}

/** The signature of a decoded model: its graph inputs that are not initializers (dense or sparse), and its graph outputs. */
export function signatureOf(model: ModelProto): ModelSignature {
  const graph = model.graph;
  return {
    inputs: (graph === undefined ? [] : runtimeInputs(graph)).map(tensorSignature),
    outputs: (graph?.output ?? []).map(tensorSignature),
  };
}

export type SignatureAnswer = { type: 'signature'; signature: ModelSignature } | { type: 'failed'; name: string; message: string };

/** Reads the signature of the model file `file` in a worker, which exits once it has answered. */
export function readSignature(file: string): Promise<ModelSignature> {
  const worker = new Worker(new URL('./signature-worker.js', import.meta.url), { workerData: file, execArgv: [] });
  return new Promise((resolve, reject) => {
    let answer: SignatureAnswer | undefined;
    worker.once('message', (message: SignatureAnswer) => (answer = message));
    worker.once('error', (error) => reject(new Error(`reading the model's inputs and outputs failed: ${error.message}`)));
    worker.once('exit', (code) => {
      if (answer === undefined) return reject(new Error(`the worker reading the model's inputs and outputs exited (code ${code})`));
      if (answer.type === 'failed') return reject(answer.name === 'InputError' ? new InputError(answer.message) : new Error(answer.message));
      resolve(answer.signature);
    });
  });
}
