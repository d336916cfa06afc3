/**
 * ParallelSession: runs a data-parallel model with one onnxruntime session per device, each in its own worker
 * thread, all devices at once. The host's split and join run here, in JS, on typed arrays.
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto, ValueInfoProto } from '../onnx.js';
import { decodeModel } from '../io/codec.js';
import { modelSource } from './session-source.js';
import { loadModel } from '../io/files.js';
import { parallelize } from '../transform/parallelize.js';
import { readPlan, type ExecutionPlan } from '../transform/plan.js';
import { integerWeights, splitOffsets, splitSizes } from '../transform/split-sizes.js';
import type { CombineMode } from '../transform/options.js';
import { checkFeeds } from './check-feeds.js';
import { DeviceWorker } from './device.js';
import { replicaModel } from './extract.js';
import { copyOf, type WireTensor } from './messages.js';
import { parseDevice } from './providers.js';
import { DeviceError } from '../errors.js';
import { AxisJoin, combineTensors, sliceAlongAxis } from './tensor-ops.js';

export interface ParallelSessionOptions {
  /** Devices, one per replica: `cuda:K` or `cpu`. Required for a plain model; overrides a rewritten model's tags. */
  devices?: string[];
  /** Share of the batch per device; balanced (or as the rewritten model says) by default. */
  weights?: number[];
  /** Batch axes by input or output name, for a plain model (as --axis). */
  axes?: Record<string, number | null>;
  /** How to join outputs without a batch axis, for a plain model (as --combine). */
  combine?: Record<string, CombineMode>;
  /** Passed to every device's InferenceSession (the execution provider is set per device). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** The most rows one device runs at once; its share is run in micro-batches of this size. */
  maxBatchPerDevice?: number;
}

type Feeds = Record<string, ort.Tensor>;

const nodeMajor = Number(process.versions.node.split('.')[0]);
/** onnxruntime-node rejects tensors on a SharedArrayBuffer under Node 20 and takes them from Node 22 on. */
const sharedBuffersAccepted = nodeMajor >= 22;

/**
 * A tensor for a worker. The caller's buffers are never transferred (that would detach them): a part that is
 * a view of the caller's data is copied once, a part sliced off another axis is on a fresh buffer already,
 * and data on a SharedArrayBuffer is shared as it is where onnxruntime accepts it.
 */
function toWire(name: string, tensor: ort.Tensor, fresh: boolean, device: DeviceWorker): WireTensor {
  const data = tensor.data as ArrayBufferView | string[];
  const dims = [...tensor.dims];
  if (Array.isArray(data)) return { name, type: tensor.type, dims, data };
  if (sharedBuffersAccepted && data.buffer instanceof SharedArrayBuffer) return { name, type: tensor.type, dims, data };
  return { name, type: tensor.type, dims, data: fresh ? data : copyOf(data, device.takeBuffer(data.byteLength)) };
}

function fromWire(wire: WireTensor): ort.Tensor {
  return new ort.Tensor(wire.type as 'float32', wire.data as Float32Array, wire.dims);
}

/** The device each replica's nodes are tagged with (metadata `device`), else the plan's. */
function taggedDevices(model: ModelProto, plan: ExecutionPlan): string[] {
  return plan.devices.map((fallback, replica) => {
    const part = plan.outputs[0]?.parts[replica];
    const node = model.graph!.node.find((n) => n.output.includes(part ?? ''));
    return node?.metadataProps.find((p) => p.key === 'device')?.value ?? fallback;
  });
}

export class ParallelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly devices: readonly string[];
  #released = false;
  #inFlight = new Set<Promise<unknown>>();

  private constructor(
    private readonly workers: DeviceWorker[],
    /** How the batch is split and joined: from the rewritten model, or made for a plain one. */
    readonly plan: ExecutionPlan,
    private readonly inputs: ValueInfoProto[],
    private readonly weights: number[],
    private readonly maxBatchPerDevice: number | undefined,
  ) {
    this.inputNames = inputs.map((i) => i.name);
    this.outputNames = plan.outputs.map((o) => o.name);
    this.devices = workers.map((w) => w.device);
  }

  /**
   * Starts one worker and session per device. `model` is a path or the bytes of a model: one rewritten by
   * onnx-parallelize (its tags give the devices), or a plain model that is parallelized here for
   * `options.devices`. Failures of several devices are reported together.
   */
  static async create(model: string | Uint8Array, options: ParallelSessionOptions = {}): Promise<ParallelSession> {
    if (typeof model !== 'string' && !(model instanceof Uint8Array)) throw new TypeError('model: expected a file path or the bytes of an ONNX model');
    const { maxBatchPerDevice } = options;
    if (maxBatchPerDevice !== undefined && (!Number.isInteger(maxBatchPerDevice) || maxBatchPerDevice < 1)) {
      throw new TypeError(`options.maxBatchPerDevice must be a whole number >= 1 (got ${maxBatchPerDevice})`);
    }
    options.devices?.forEach(parseDevice);
    const loaded = typeof model === 'string' ? await loadModel(model) : decodeModel(model, 'model');
    let plan = readPlan(loaded);
    let rewritten = loaded;
    if (plan === undefined) {
      if (options.devices === undefined) throw new TypeError('options.devices (--devices): required for a model that onnx-parallelize has not rewritten, for example cuda:0,cuda:1');
      const result = parallelize(loaded, {
        devices: options.devices,
        ...(options.weights === undefined ? {} : { weights: options.weights }),
        ...(options.axes === undefined ? {} : { axes: options.axes }),
        ...(options.combine === undefined ? {} : { combine: options.combine }),
      });
      plan = result.plan;
      rewritten = result.model;
    } else if (options.axes !== undefined || options.combine !== undefined) {
      throw new TypeError('options.axes and options.combine apply to a plain model; this model was rewritten already');
    }
    const devices = options.devices ?? taggedDevices(rewritten, plan);
    if (devices.length !== plan.devices.length) {
      throw new TypeError(`options.devices: the model has ${plan.devices.length} replicas, but ${devices.length} devices were given`);
    }
    if (options.weights !== undefined && options.weights.length !== devices.length) {
      throw new TypeError(`options.weights: ${options.weights.length} weights for ${devices.length} devices`);
    }
    if (options.weights?.some((w) => !(w > 0))) throw new TypeError('options.weights: every weight must be a positive number');
    const weights = options.weights === undefined ? plan.weights : integerWeights(options.weights);

    const started = await Promise.all(devices.map((device, i) => startDevice(rewritten, plan!, i, device, options.sessionOptions ?? {})));
    const workers = started.filter((w): w is DeviceWorker => w instanceof DeviceWorker);
    const failures = started.filter((w): w is Error => w instanceof Error);
    const results = await Promise.allSettled(workers.map((w) => w.ready));
    results.forEach((r) => r.status === 'rejected' && failures.push(r.reason as Error));
    if (failures.length > 0) {
      await Promise.all(workers.map((w) => w.release(new Error('start-up failed'))));
      throw new DeviceError(`ParallelSession: ${failures.length} of ${devices.length} devices failed to start:\n${failures.map((f) => `  ${f.message}`).join('\n')}`);
    }
    const originalInputs = rewritten.graph!.input.filter((i) => plan!.inputs.some((p) => p.name === i.name));
    return new ParallelSession(workers, plan, originalInputs, weights, maxBatchPerDevice);
  }

  /** Runs the model on `feeds` across all devices; resolves to the outputs, equal to the original model's. */
  async run(feeds: Feeds): Promise<Feeds> {
    if (this.#released) throw new Error('ParallelSession: released; create a new one');
    const { batch } = checkFeeds(feeds, this.inputs, this.plan);
    const work = this.schedule(feeds, batch);
    this.#inFlight.add(work);
    try {
      return await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  /** Splits the batch by the weights, posts every (micro-)batch to its device at once, and joins the results. */
  private async schedule(feeds: Feeds, batch: number): Promise<Feeds> {
    const fixed = this.plan.inputs.find((i) => i.axis !== null && i.fixedBatch !== null)?.fixedBatch ?? undefined;
    const unit = fixed ?? 1;
    if (batch % unit !== 0) throw new TypeError(`feeds: the model was exported with a fixed batch of ${unit} per replica; give a multiple of ${unit} rows (got ${batch})`);
    const sizes = splitSizes(batch / unit, this.weights).map((s) => s * unit);
    const offsets = splitOffsets(sizes);
    // A model exported at a fixed batch runs exactly that batch per call.
    const step = fixed !== undefined ? fixed : (this.maxBatchPerDevice ?? Infinity);
    const chunks: Array<{ device: number; start: number; size: number }> = [];
    sizes.forEach((size, device) => {
      for (let start = 0; start < size; start += step) chunks.push({ device, start: offsets[device]! + start, size: Math.min(step, size - start) });
    });
    if (chunks.length === 0) chunks.push({ device: 0, start: 0, size: 0 });
    // Outputs with a batch axis are joined as each part arrives; the others are combined at the end.
    const rows = chunks.map((c) => c.size);
    const rowOffsets = splitOffsets(rows);
    const joins = new Map(this.plan.outputs.filter((o) => o.axis !== null).map((o) => [o.name, new AxisJoin(o.axis!, rowOffsets, rows)] as const));
    const partOf = (result: WireTensor[], k: number, output: ExecutionPlan['outputs'][number]): ort.Tensor => {
      const wire = result.find((w) => w.name === output.parts[chunks[k]!.device]);
      if (wire === undefined) throw new Error(`${this.workers[chunks[k]!.device]!.label}: output '${output.name}' missing`);
      return fromWire(wire);
    };
    const runs = chunks.map(({ device, start, size }, k) => {
      const wire = this.plan.inputs.map((input) => {
        const tensor = feeds[input.name]!;
        const worker = this.workers[device]!;
        if (input.axis === null) return toWire(input.name, tensor, false, worker);
        const part = sliceAlongAxis(tensor, input.axis, start, start + size);
        const copied = (part.data as ArrayBufferView).buffer !== (tensor.data as ArrayBufferView).buffer;
        return toWire(input.parts[device]!, part, copied, worker);
      });
      return this.workers[device]!.run(wire).then((result) => {
        for (const output of this.plan.outputs) joins.get(output.name)?.put(k, partOf(result, k, output));
        return result;
      });
    });
    const results = await Promise.all(runs);
    const outputs: Feeds = {};
    for (const output of this.plan.outputs) {
      const join = joins.get(output.name);
      outputs[output.name] = join !== undefined ? join.result() : combineTensors(output.combine ?? 'first', results.map((result, k) => partOf(result, k, output)), rows);
    }
    return outputs;
  }

  /** Rejects the runs still pending, releases every session and ends every worker. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const reason = new Error('ParallelSession: released while this run was pending');
    await Promise.all(this.workers.map((w) => w.release(reason)));
    await Promise.allSettled([...this.#inFlight]);
  }

  /** The worker of one replica: for tests and diagnostics. */
  workerOf(replica: number): DeviceWorker {
    return this.workers[replica]!;
  }
}

/** Starts the worker of one replica, from a temporary file beside external data where the model has any. */
async function startDevice(model: ModelProto, plan: ExecutionPlan, replica: number, device: string, sessionOptions: ort.InferenceSession.SessionOptions): Promise<DeviceWorker | Error> {
  const source = await modelSource(replicaModel(model, plan, replica), `replica${replica}`);
  const worker = DeviceWorker.start(device, replica, source.model, sessionOptions);
  if (worker instanceof DeviceWorker) void worker.ready.catch(() => undefined).finally(() => source.done());
  else await source.done();
  return worker;
}
