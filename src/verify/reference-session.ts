/**
 * The sessions --verify compares: one onnxruntime session of an in-memory model on the CPU, made and run through
 * onnxruntime's C API (as ParallelSession's devices are), fed and answering onnxruntime-node tensors. Unlike
 * onnxruntime-node's InferenceSession it loads and runs models whose graph inputs or outputs are bfloat16: a
 * bfloat16 value travels in a 'uint16' tensor of its bit patterns, both ways.
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../onnx.js';
import { sessionSource } from '../runtime/session/session-source.js';
import { OrtSession } from '../runtime/onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../runtime/onnxruntime/session-options.js';
import { RunOptions } from '../runtime/onnxruntime/run-options.js';
import { readTensor, releaseValue, tensorShape, tensorValue, type TensorData, type TensorValue } from '../runtime/onnxruntime/values.js';

type Feeds = Record<string, ort.Tensor>;

export class ReferenceSession {
  private constructor(private readonly session: OrtSession) {}

  /** A session of `model` (its external data included) with `options` (threads, log level, ...). */
  static async create(model: ModelProto, options: ort.InferenceSession.SessionOptions): Promise<ReferenceSession> {
    const source = await sessionSource(model);
    const sessionOptions = createSessionOptions(options);
    try {
      return new ReferenceSession(await OrtSession.create({ bytes: source.model, externalData: source.externalData }, sessionOptions));
    } finally {
      releaseSessionOptions(sessionOptions);
    }
  }

  /** Runs the model on `feeds` (by input name); resolves to every output by name. */
  async run(feeds: Feeds): Promise<Feeds> {
    const names = Object.keys(feeds);
    const outputNames = this.session.outputs.map((o) => o.name);
    const values: TensorValue[] = [];
    const outputs = new BigUint64Array(outputNames.length);
    const options = new RunOptions();
    try {
      const inputs = BigUint64Array.from(names, (name) => {
        const tensor = feeds[name]!;
        const declared = this.session.inputs.find((i) => i.name === name)?.type;
        // A bfloat16 input's bits come in a uint16 tensor; any other tensor goes in as its own type.
        const value = tensorValue(tensor.type === 'uint16' && declared === 'bfloat16' ? 'bfloat16' : tensor.type, tensor.dims, tensor.data as TensorData);
        values.push(value);
        return BigInt(value.handle);
      });
      await this.session.run(names, inputs, outputNames, outputs, options);
      const answer: Feeds = {};
      outputNames.forEach((name, j) => {
        const handle = Number(outputs[j]);
        const shape = tensorShape(handle);
        answer[name] = new ort.Tensor(shape.type as 'float32', readTensor(handle, shape) as Float32Array, shape.dims);
      });
      return answer;
    } finally {
      for (const value of values) releaseValue(value.handle);
      for (const handle of outputs) releaseValue(Number(handle));
      options.release();
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
