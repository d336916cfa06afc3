/**
 * The serving core: the models served, what the protocol answers about them (server and model metadata, model
 * configuration, readiness, statistics, the repository index), inference, and model control (load, unload,
 * polling), with no knowledge of the endpoint that carries a request. See index.ts for how an endpoint uses it.
 */
import { readFileSync } from 'node:fs';
import { InputError, messageOf } from '../../errors.js';
import type { RunOptions } from '../../runtime/session/parallel-session.js';
import type { InferRequest } from './decode.js';
import type { ResponseOutput } from './encode.js';
import { ServeError, serveErrorOf } from './errors.js';
import { MetricsRegistry, type FailureReason } from './metrics.js';
import { ModelTable, unknownModel, type IndexEntry } from './model-table.js';
import { ServedVersion, type VersionSpec } from './served-version.js';

export type ModelControlMode = 'none' | 'explicit' | 'poll';

/** A load's overrides, as the repository extension's load request gives them. */
export interface LoadOverride {
  /** `parameters.config`: the JSON of a model configuration used instead of the repository's. */
  config?: string;
  /** `file:PATH` parameters: the files of a model given in the request (PATH relative to the model's folder). */
  files?: Record<string, Uint8Array>;
}

/** A model as its source says it now: the versions to load, and what to call when they are no longer needed. */
export interface ModelLoad {
  versions: VersionSpec[];
  /** A token that changes whenever the model's files or configuration change (poll mode reloads then). */
  stamp: string;
  /** Removes what reading it made (files of an override); called once its versions are unloaded. */
  cleanup?(): void | Promise<void>;
}

/** Where models come from, by name: the repositories and files given to the server. */
export interface ModelCatalog {
  /** The names of the models there now. */
  names(): Promise<string[]>;
  /** Reads `name` for loading; throws an error whose message starts "failed to load 'NAME'" when it cannot. */
  read(name: string, override?: LoadOverride): Promise<ModelLoad>;
  /** The current stamp of `name` (as ModelLoad's), or undefined when it is gone. */
  stamp(name: string): Promise<string | undefined>;
}

export interface CoreOptions {
  catalog: ModelCatalog;
  /** Default `none`: every model of the catalog loaded at start, and the load and unload requests refused. */
  mode?: ModelControlMode;
  /** In `explicit` mode, the models loaded at start (`*`: all). */
  startup?: readonly string[];
  /** Whether a model that fails to load at start fails the start (default true). */
  exitOnError?: boolean;
  /** A request not answered within this many ms fails with `deadline`. Default: no limit. */
  timeoutMs?: number;
  /** How long draining (on close, unload or reload) waits for requests in progress. Default 30 s. */
  drainMs?: number;
}

export const DEFAULT_DRAIN_MS = 30_000;
/** The name in the server metadata: Triton's, since Triton's clients and their health checks require it; the version is this package's. */
const SERVER_NAME = 'triton';
const EXTENSIONS = ['binary_tensor_data', 'statistics', 'model_configuration', 'model_repository'];

/** This package's version (dist/src/serve/core/core.js is four folders below package.json). */
function serverVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

interface Loaded {
  cleanup: (() => void | Promise<void>) | undefined;
}

/** Runs a model's cleanup, which must not fail what it follows (an unload, a reload). */
const cleanUp = (cleanup: (() => void | Promise<void>) | undefined): Promise<void> => Promise.resolve().then(cleanup).catch(() => {});

export class ServingCore {
  readonly metrics = new MetricsRegistry();
  readonly serverMetadata = { name: SERVER_NAME, version: serverVersion(), extensions: EXTENSIONS };
  readonly mode: ModelControlMode;
  readonly drainMs: number;
  readonly #table: ModelTable;
  readonly #catalog: ModelCatalog;
  readonly #runOptions: RunOptions;
  /** The models that should be serving: readiness waits for each. */
  readonly #wanted = new Set<string>();
  readonly #loaded = new Map<string, Loaded>();
  /** The stamp of each model's last load tried, successful or not: poll mode tries again only when it changes. */
  readonly #tried = new Map<string, string>();
  /** Each model's load or unload in progress: they run one after another per model. */
  readonly #queue = new Map<string, Promise<unknown>>();
  /** Drains of replaced versions still running after their load answered. */
  readonly #retiring = new Set<Promise<void>>();
  #accepted = 0;
  #closing = false;
  #released = false;
  #polling = false;
  #drained: (() => void) | undefined;

  constructor(private readonly options: CoreOptions) {
    this.mode = options.mode ?? 'none';
    this.drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
    this.#catalog = options.catalog;
    this.#table = new ModelTable(this.metrics, () => (this.#closing ? 0 : this.drainMs));
    this.#runOptions = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  }

  /** Loads the models the mode says to load at start. Past a failure, throws unless exitOnError is false. */
  async start(): Promise<void> {
    const all = await this.#catalog.names();
    const startup = this.options.startup ?? [];
    const names = this.mode !== 'explicit' || startup.includes('*') ? all : [...new Set(startup)];
    const failures: string[] = [];
    await Promise.all(
      names.map((name) =>
        this.#load(name, undefined, true).catch((error: unknown) => {
          failures.push(messageOf(error));
        }),
      ),
    );
    if (failures.length > 0 && this.options.exitOnError !== false) {
      await this.release();
      throw new InputError(`${failures.sort().join('; ')} (or pass --exit-on-error=false to serve the other models)`);
    }
  }

  /** Names of the versions loaded, for a start-up message: `[name, version, devices]`. */
  loadedVersions(): ServedVersion[] {
    return this.#table.versions();
  }

  // ---- health and metadata

  /** True until the sessions are released (draining included). */
  get live(): boolean {
    return !this.#released;
  }

  /** True once closing has started: endpoints close their connections after each answer. */
  get closing(): boolean {
    return this.#closing;
  }

  /** True when every model that should be serving serves, and not closing. */
  get ready(): boolean {
    if (this.#closing) return false;
    for (const name of this.#wanted) if (!this.#table.serving(name)) return false;
    return true;
  }

  /** Requests accepted and not yet answered. */
  get inFlight(): number {
    return this.#accepted;
  }

  /** The version a request for `name` (and `version`, else the latest) runs on; not_found with Triton's texts. */
  lookup(name: string, version?: string): ServedVersion {
    return this.#table.lookup(name, version);
  }

  modelReady(name: string, version?: string): boolean {
    return !this.#closing && this.#table.ready(name, version);
  }

  /** Model metadata, as JSON text. */
  modelMetadata(name: string, version?: string): string {
    return this.#table.lookup(name, version).metadataText;
  }

  /** Triton's model configuration, as JSON text. */
  modelConfig(name: string, version?: string): string {
    return this.#table.lookup(name, version).configText;
  }

  /** The statistics extension's answer: every version serving, those of `name`, or one. */
  statistics(name?: string, version?: string): { model_stats: Array<Record<string, unknown>> } {
    if (name === undefined) return { model_stats: this.#table.versions().map((v) => v.metrics.tritonStats()) };
    if (version !== undefined) return { model_stats: [this.#table.lookup(name, version).metrics.tritonStats()] };
    const versions = this.#table.versions(name);
    if (versions.length === 0) this.#table.lookup(name, undefined);
    return { model_stats: versions.map((v) => v.metrics.tritonStats()) };
  }

  // ---- inference

  /**
   * Counts a request in from its arrival until `finish()`: closing waits for it. Throws `unavailable` once
   * closing has started.
   */
  accept(): void {
    if (this.#closing) throw new ServeError('unavailable', 'the server is shutting down; send the request to another replica');
    this.#accepted++;
  }

  finish(): void {
    if (--this.#accepted === 0) this.#drained?.();
  }

  /**
   * Runs a decoded request on `model` (from `lookup`, with no await between them) and resolves to the outputs
   * asked for. Records the success in the model's statistics; a failure rejects with a ServeError, which the
   * endpoint records with `recordFailure` once it has answered.
   */
  infer(model: ServedVersion, request: InferRequest, signal: AbortSignal | undefined, started: number): Promise<ResponseOutput[]> {
    const metrics = model.metrics;
    try {
      model.prepare(request.feeds);
    } catch (error) {
      return Promise.reject(error);
    }
    model.enter();
    metrics.pending++;
    const runStarted = performance.now();
    const runOptions = model.timeoutMs === undefined || this.options.timeoutMs !== undefined ? this.#runOptions : { ...this.#runOptions, timeoutMs: model.timeoutMs };
    return model.backend.run(request.feeds, signal === undefined ? runOptions : { ...runOptions, signal }).then(
      (raw) => {
        metrics.pending--;
        model.leave();
        const ran = performance.now();
        const outputs = model.present(raw);
        metrics.recordSuccess(model.rowsOf(request.feeds), ran - started, ran - runStarted);
        return request.outputs.map((o) => ({ name: o.name, datatype: model.outputDatatype(o.name, outputs[o.name]!), tensor: outputs[o.name]!, binary: o.binary }));
      },
      (error: unknown) => {
        metrics.pending--;
        model.leave();
        throw serveErrorOf(error);
      },
    );
  }

  /** Counts a failed request in `model`'s statistics and metrics. */
  recordFailure(model: ServedVersion, reason: FailureReason, started: number): void {
    model.metrics.recordFailure(reason, performance.now() - started);
  }

  // ---- model control

  /** The repository index: every model of the catalog and every model known, by version with its state. */
  async index(readyOnly = false): Promise<IndexEntry[]> {
    const names = new Set([...(await this.#catalog.names()), ...this.#table.names()]);
    return [...names].sort().flatMap((name) => this.#table.indexOf(name, readyOnly));
  }

  /** The repository extension's load: (re)loads `name`, the versions serving now kept until the new ones are ready. */
  async load(name: string, override?: LoadOverride): Promise<void> {
    this.#checkControl();
    await this.#load(name, override);
  }

  /** The repository extension's unload: stops serving `name`, after its requests in progress are answered. */
  async unload(name: string): Promise<void> {
    this.#checkControl();
    if (!this.#table.names().includes(name) && !(await this.#catalog.names()).includes(name)) throw unknownModel(name);
    await this.#unload(name);
  }

  /** Loads what changed in the catalog since the last poll, loads what is new and unloads what is gone. */
  async poll(): Promise<void> {
    if (this.#closing || this.#polling) return;
    this.#polling = true;
    try {
      await this.#pollNow();
    } finally {
      this.#polling = false;
    }
  }

  async #pollNow(): Promise<void> {
    const names = await this.#catalog.names();
    const tasks: Array<Promise<unknown>> = names.map(async (name) => {
      const stamp = await this.#catalog.stamp(name);
      if (stamp !== undefined && stamp !== this.#tried.get(name)) await this.#load(name).catch(() => {});
    });
    for (const name of this.#loaded.keys()) if (!names.includes(name)) tasks.push(this.#unload(name));
    await Promise.all(tasks);
  }

  #checkControl(): void {
    if (this.mode !== 'explicit') throw new ServeError('unavailable', 'explicit model load / unload is not allowed if polling is enabled');
    if (this.#closing) throw new ServeError('unavailable', 'the server is shutting down; send the request to another replica');
  }

  /** Runs `task` after the load or unload of `name` in progress, if any. */
  #serialized<T>(name: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queue.get(name) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => {});
    this.#queue.set(name, settled);
    void settled.then(() => this.#queue.get(name) === settled && this.#queue.delete(name));
    return next;
  }

  /**
   * Loads `name`. A model that should be serving stays so when a load fails, at start (readiness stays off until
   * it loads or is unloaded); a load asked for later that fails leaves readiness as it was.
   */
  #load(name: string, override?: LoadOverride, startup = false): Promise<void> {
    const wanted = startup || this.#wanted.has(name);
    this.#wanted.add(name);
    return this.#serialized(name, () =>
      this.#loadNow(name, override).catch((error: unknown) => {
        if (!wanted && !this.#table.serving(name)) this.#wanted.delete(name);
        throw error;
      }),
    );
  }

  async #loadNow(name: string, override: LoadOverride | undefined): Promise<void> {
    let model: ModelLoad;
    try {
      model = await this.#catalog.read(name, override);
    } catch (error) {
      this.#tried.set(name, (await this.#catalog.stamp(name).catch(() => undefined)) ?? '');
      this.#table.failed(name, [], error);
      throw error instanceof ServeError ? error : new ServeError('invalid', messageOf(error));
    }
    this.#tried.set(name, model.stamp);
    const versions = model.versions.map((v) => v.version);
    this.#table.mark(name, versions, 'LOADING');
    const loading = model.versions.map((spec) => ServedVersion.load(spec));
    const results = await Promise.allSettled(loading);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined || this.#closing) {
      await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.release() : undefined)));
      await cleanUp(model.cleanup?.bind(model));
      const reason = failed === undefined ? 'the server is shutting down' : `failed to load '${name}' version ${versions[results.indexOf(failed)]}: ${messageOf(failed.reason)}`;
      this.#table.failed(name, versions, reason);
      throw new ServeError(failed === undefined ? 'unavailable' : 'invalid', reason);
    }
    const previous = this.#loaded.get(name);
    this.#loaded.set(name, { cleanup: model.cleanup?.bind(model) });
    // The new versions serve from here on; the replaced ones are drained and released without holding the load's answer.
    const retiring = this.#table.swap(name, results.map((r) => (r as PromiseFulfilledResult<ServedVersion>).value)).then(() => cleanUp(previous?.cleanup));
    this.#retiring.add(retiring);
    void retiring.finally(() => this.#retiring.delete(retiring));
  }

  #unload(name: string): Promise<void> {
    this.#wanted.delete(name);
    return this.#serialized(name, async () => {
      const loaded = this.#loaded.get(name);
      this.#loaded.delete(name);
      await this.#table.swap(name, []);
      await cleanUp(loaded?.cleanup);
    });
  }

  // ---- life

  /** Stops accepting requests and loads (readiness off at once), then waits up to drainMs for those accepted. */
  async drain(): Promise<void> {
    this.#closing = true;
    if (this.#accepted > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (this.#drained = resolve)), new Promise((resolve) => (timer = setTimeout(resolve, this.drainMs)))]);
      clearTimeout(timer);
    }
  }

  /** Releases every model's sessions (after the loads in progress end). */
  async release(): Promise<void> {
    this.#closing = true;
    this.#released = true;
    await Promise.allSettled([...this.#queue.values()]);
    await Promise.allSettled([...this.#retiring]);
    await Promise.all([...this.#loaded.keys()].map((name) => this.#unload(name)));
    await Promise.all(this.#table.names().map((name) => this.#table.swap(name, [])));
  }
}
