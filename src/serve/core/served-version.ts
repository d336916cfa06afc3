/**
 * One version of a model being served: its session (a ParallelSession with its own devices and batching, or any
 * InferenceBackend), its signature, its answers to metadata and configuration written once when it is loaded,
 * its statistics, and the requests running on it, so that an unload or a reload can drain them first.
 */
import type * as ort from 'onnxruntime-node';
import { ParallelSession, type ParallelSessionOptions, type RunOptions, type SessionStats } from '../../runtime/session/parallel-session.js';
import type { ServingPolicy } from '../../repository/index.js';
import { invalidRequest } from './errors.js';
import { datatypeOfOrtType } from './datatypes.js';
import { ModelMetrics } from './metrics.js';
import { servedModelConfig } from './model-config.js';
import { readSignature, type ModelSignature } from './signature.js';

type Feeds = Record<string, ort.Tensor>;

/** What runs the model: a ParallelSession, or anything with its `run` (a plain session, for comparison). */
export interface InferenceBackend {
  readonly devices: readonly string[];
  /** Why these devices, when none were given (ParallelSession's deviceNote). */
  readonly deviceNote?: string | undefined;
  run(feeds: Feeds, options: RunOptions): Promise<Feeds>;
  /** The session's statistics, for execution counts and compute times; without them each request is one run. */
  stats?(): SessionStats;
  release(): Promise<void>;
}

/** Triton's states of a model version, as the repository index reports them. */
export type VersionState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE';

/** What to load as one version of a model. */
export interface VersionSpec {
  name: string;
  version: string;
  modelFile: string;
  /** Options of its ParallelSession: devices, batching, queue, ... */
  session?: ParallelSessionOptions;
  /** Runs the model instead of a ParallelSession created from `session`; released with the version. */
  backend?: InferenceBackend;
  /** Triton's model configuration (JSON form) to answer `config` with; default: described from the session. */
  config?: Record<string, unknown>;
  /** What the configuration asks of each request: the batch limit, the tensors' dims and reshapes, the queue's timeout. */
  policy?: ServingPolicy;
  /** The model metadata for the versions serving, from the configuration; default: from the model's signature. */
  metadata?: (versions: readonly string[]) => Record<string, unknown>;
}

/** A tensor whose shape clients see (`dims`) differs from the model's (`reshape`), as a configuration's reshape says. */
interface Reshape {
  dims: number[];
  reshape: number[];
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** `dims` with a -1 (a variable dim) made the size that holds `size` elements. */
function resolved(dims: readonly number[], size: number): number[] {
  const known = product(dims.filter((d) => d !== -1));
  return dims.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
}

/** The rows of a request: the size of the batch axis of its first batched input (1 when none has one). */
function rowCounter(backend: InferenceBackend): (feeds: Feeds) => number {
  const axes = backend instanceof ParallelSession ? backend.plan.inputs.filter((i) => i.axis !== null).map((i) => [i.name, i.axis!] as const) : undefined;
  return (feeds) => {
    if (axes === undefined) {
      for (const name in feeds) return feeds[name]!.dims[0] ?? 1;
      return 1;
    }
    const first = axes[0];
    return first === undefined ? 1 : (feeds[first[0]]?.dims[first[1]] ?? 1);
  };
}

export class ServedVersion {
  state: VersionState = 'READY';
  /** Requests running on this version now. */
  inFlight = 0;
  /** Model metadata as JSON text; written by the model table whenever the model's set of versions changes. */
  metadataText = '';
  readonly metrics: ModelMetrics;
  readonly configText: string;
  readonly rowsOf: (feeds: Feeds) => number;
  /** The most rows a request may have (the configuration's max_batch_size); 0: no limit here. */
  readonly maxBatchSize: number;
  /** A request's time limit from the configuration's queue policy, in ms. */
  readonly timeoutMs: number | undefined;
  /** Settings of the configuration that have no equivalent here and are not applied, each with what it is. */
  readonly notApplied: readonly string[];
  readonly #batched: boolean;
  readonly #inputReshapes: Map<string, Reshape> | undefined;
  readonly #outputReshapes: Map<string, Reshape> | undefined;
  #drained: (() => void) | undefined;

  private constructor(
    readonly name: string,
    readonly version: string,
    readonly signature: ModelSignature,
    readonly backend: InferenceBackend,
    config: Record<string, unknown> | undefined,
    policy: ServingPolicy | undefined,
    private readonly metadata: VersionSpec['metadata'],
  ) {
    this.maxBatchSize = policy?.maxBatchSize ?? 0;
    this.timeoutMs = policy?.queue.defaultTimeoutMs;
    this.notApplied = policy?.unsupported ?? [];
    this.#batched = this.maxBatchSize > 0;
    const reshapes = (tensors: ServingPolicy['inputs'] | undefined): Map<string, Reshape> | undefined => {
      const found = (tensors ?? []).filter((t) => t.reshape !== undefined).map((t) => [t.name, { dims: t.dims, reshape: t.reshape! }] as const);
      return found.length === 0 ? undefined : new Map(found);
    };
    this.#inputReshapes = reshapes(policy?.inputs);
    this.#outputReshapes = reshapes(policy?.outputs);
    this.metrics = new ModelMetrics(name, version, backend.stats === undefined ? undefined : () => backend.stats!());
    this.rowsOf = rowCounter(backend);
    this.configText = JSON.stringify(
      config ??
        servedModelConfig({
          name,
          signature,
          devices: backend.devices,
          plan: backend instanceof ParallelSession ? backend.plan : undefined,
          batching: backend instanceof ParallelSession ? backend.batching : false,
        }),
    );
  }

  /** Reads the model's signature and creates its session. */
  static async load(spec: VersionSpec): Promise<ServedVersion> {
    const signature = await readSignature(spec.modelFile);
    const backend = spec.backend ?? (await ParallelSession.create(spec.modelFile, spec.session ?? {}));
    return new ServedVersion(spec.name, spec.version, signature, backend, spec.config, spec.policy, spec.metadata);
  }

  get devices(): readonly string[] {
    return this.backend.devices;
  }

  /** The protocol's model metadata of this version, listing `versions` (the model's versions ready now). */
  describe(versions: readonly string[]): string {
    if (this.metadata !== undefined) return JSON.stringify(this.metadata(versions));
    return JSON.stringify({
      name: this.name,
      versions,
      platform: 'onnxruntime_onnx',
      inputs: this.signature.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape ?? [-1] })),
      outputs: this.signature.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape ?? [-1] })),
    });
  }

  /**
   * Checks a decoded request against the configuration (its batch limit) and gives its inputs the shapes the
   * model takes where the configuration reshapes them. Throws `invalid` naming the input.
   */
  prepare(feeds: Feeds): void {
    if (this.#inputReshapes !== undefined) {
      for (const [name, { dims, reshape }] of this.#inputReshapes) {
        const tensor = feeds[name];
        if (tensor === undefined) continue;
        const given = tensor.dims;
        const expected = this.#batched ? [given[0] ?? 0, ...dims] : dims;
        const fits = given.length === expected.length && given.every((d, i) => expected[i] === -1 || d === expected[i]);
        if (!fits) throw invalidRequest(`input '${name}': shape [${given.join(', ')}] does not fit the configuration's dims [${dims.join(', ')}]${this.#batched ? ' after the batch' : ''}`);
        feeds[name] = tensor.reshape(resolved(this.#batched ? [given[0]!, ...reshape] : reshape, product(given)));
      }
    }
    if (this.maxBatchSize > 0) {
      const rows = this.rowsOf(feeds);
      if (rows > this.maxBatchSize) throw invalidRequest(`inference request batch-size must be <= ${this.maxBatchSize} for '${this.name}'`);
    }
  }

  /** The outputs in the shapes clients see, where the configuration reshapes them. */
  present(outputs: Feeds): Feeds {
    if (this.#outputReshapes === undefined) return outputs;
    for (const [name, { dims }] of this.#outputReshapes) {
      const tensor = outputs[name];
      if (tensor === undefined) continue;
      outputs[name] = tensor.reshape(resolved(this.#batched ? [tensor.dims[0] ?? 1, ...dims] : dims, tensor.size));
    }
    return outputs;
  }

  /**
   * The protocol's datatype of output `name` answered as `tensor`: the signature's (BF16's tensor holds uint16
   * bits), else the tensor type's; undefined for a type the protocol has no name for.
   */
  outputDatatype(name: string, tensor: ort.Tensor): string | undefined {
    const declared = this.signature.outputs.find((o) => o.name === name)?.datatype;
    return declared === 'BF16' && tensor.type === 'uint16' ? declared : datatypeOfOrtType(tensor.type);
  }

  /** Counts a request in until `leave()`: draining waits for it. */
  enter(): void {
    this.inFlight++;
  }

  leave(): void {
    if (--this.inFlight === 0) this.#drained?.();
  }

  /** Resolves once no request runs on this version, or after `ms`. */
  async drain(ms: number): Promise<void> {
    if (this.inFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (this.#drained = resolve)), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  release(): Promise<void> {
    this.state = 'UNAVAILABLE';
    return this.backend.release();
  }
}
