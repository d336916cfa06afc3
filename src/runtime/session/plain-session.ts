/**
 * One plain onnxruntime session of an in-memory model, made and run through onnxruntime's C API (as
 * ParallelSession's devices are), fed and answering onnxruntime-node tensors, with InferenceSession's `run` and
 * `release`. Unlike onnxruntime-node's InferenceSession it loads and runs models whose graph inputs or outputs
 * are bfloat16: a bfloat16 value travels in a 'uint16' tensor of its bit patterns, both ways. --verify runs its
 * reference and rewritten models in such sessions; `bench` measures against one where InferenceSession cannot
 * load the model.
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../../onnx.js';
import { sessionSource } from './session-source.js';
import { OrtSession } from '../onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../onnxruntime/session-options.js';
import { appendProviders } from '../onnxruntime/providers.js';
import { RunOptions } from '../onnxruntime/run-options.js';
import { readTensor, releaseValue, tensorShape, tensorValue, type TensorData, type TensorValue } from '../onnxruntime/values.js';
import type { DeviceProviders } from '../gpu/providers.js';

type Feeds = Record<string, ort.Tensor>;

export class PlainSession {
  private constructor(private readonly session: OrtSession) {}

  /**
   * A session of `model` (its external data included) with `options` (threads, log level, ...; its providers are
   * left out) on the CPU, or on the GPU of `providers` (deviceProviders).
   */
  static async create(model: ModelProto, options: ort.InferenceSession.SessionOptions, providers: DeviceProviders = {}): Promise<PlainSession> {
    const source = await sessionSource(model);
    const sessionOptions = createSessionOptions(options);
    try {
      appendProviders(sessionOptions, providers);
      return new PlainSession(await OrtSession.create({ bytes: source.model, externalData: source.externalData }, sessionOptions));
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
