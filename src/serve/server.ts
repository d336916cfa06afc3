/**
 * The inference server: models behind the Open Inference Protocol (KServe V2) as Triton serves them, each model
 * version run by its own ParallelSession. `startServer` loads the models into the serving core, then starts the
 * endpoints over it (HTTP, and the Prometheus metrics); `close()` turns readiness off at once, answers the
 * requests in progress for up to `drainMs`, stops the endpoints and releases every session.
 */
import { ArgumentError, ArgumentRangeError } from '../errors.js';
import type { ParallelSessionOptions } from '../runtime/session/parallel-session.js';
import { modelCatalog, type SkippedModel } from './catalog.js';
import { DEFAULT_DRAIN_MS, ServingCore, type ModelControlMode } from './core/core.js';
import type { InferenceBackend } from './core/served-version.js';
import { startHttpEndpoint } from './http/endpoint.js';
import { startMetricsEndpoint } from './http/metrics-endpoint.js';
import { DEFAULT_GRPC_PORT, startGrpcEndpoint } from './grpc/endpoint.js';

export { DEFAULT_DRAIN_MS };
export type { InferenceBackend, SkippedModel };

export interface ServeOptions {
  /** One model: an .onnx file (plain, give `session.devices`, or rewritten by onnx-parallelize). */
  model?: string;
  /** Models: .onnx files (each one model) and Triton model repository folders (NAME/VERSION/model.onnx, NAME/config.pbtxt optional). */
  models?: readonly string[];
  /** The model's name in the protocol's paths, for one .onnx file; default: the file's stem. Its version is "1". */
  name?: string;
  /** Options of every model's ParallelSession: devices, weights, `batching`, `maxQueue`, ... */
  session?: ParallelSessionOptions;
  /** Runs the one model instead of a ParallelSession created from `session`; the server releases it on close. */
  backend?: InferenceBackend;
  /** `none` (default): every model loaded at start; `explicit`: `loadModels` at start, then the load and unload requests; `poll`: as none, and reloaded as they change. */
  modelControlMode?: ModelControlMode;
  /** In explicit mode, the models loaded at start (`*`: all). */
  loadModels?: readonly string[];
  /** In poll mode, seconds between looks at the models' files. Default 15. */
  repositoryPollSecs?: number;
  /** Whether a model that fails to load at start fails the start. Default true. */
  exitOnError?: boolean;
  /** Default 127.0.0.1 (this machine only); 0.0.0.0 serves every network. */
  host?: string;
  /** Default 8000; 0 takes a free port (see `port` on the server). */
  port?: number;
  /** Port of the Prometheus metrics (`/metrics`); default 8002, 0 a free port, null none. */
  metricsPort?: number | null;
  /**
   * Port of the gRPC endpoint (Triton's GRPCInferenceService and the gRPC health service); 0 a free port, null
   * none. Default 8001, as Triton's, or a free port when `port` is 0.
   */
  grpcPort?: number | null;
  /** A request not answered within this many ms gets 504. Default: no limit. */
  timeoutMs?: number;
  /** A body larger than this gets 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /** On close, unload or reload, how long requests in progress may take. Default 30 s. */
  drainMs?: number;
}

/** A model version being served. */
export interface ServedModelInfo {
  name: string;
  version: string;
  devices: readonly string[];
}

export interface InferenceServer {
  /** `http://HOST:PORT`, where the protocol's paths are. */
  readonly url: string;
  readonly port: number;
  /** `http://HOST:PORT/metrics`, or undefined without metrics. */
  readonly metricsUrl: string | undefined;
  /** `HOST:PORT` of the gRPC endpoint, as gRPC clients take it, or undefined without one. */
  readonly grpcAddress: string | undefined;
  /** The first model's name, version and devices (the only model's, when one .onnx file is served). */
  readonly name: string;
  readonly version: string;
  readonly devices: readonly string[];
  /** Why these devices, when none were given: every GPU found, or the CPU and why. */
  readonly deviceNote: string | undefined;
  /** Every model version serving now. */
  readonly models: ServedModelInfo[];
  /** Models of other backends found in the repositories, left out, with the reason. */
  readonly skipped: SkippedModel[];
  /** For each model version serving whose configuration has settings not applied here: what they are. */
  readonly notApplied: string[];
  /** True while every model that should be serving serves, until close() is called. */
  readonly ready: boolean;
  /** Requests being answered now. */
  readonly inFlight: number;
  /** The serving core, for other endpoints to serve over. */
  readonly core: ServingCore;
  /** Stops taking requests, answers those in progress (for up to drainMs), releases the sessions. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8000;
export const DEFAULT_METRICS_PORT = 8002;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_POLL_SECS = 15;

function checkPort(name: string, value: unknown, nullable = false): void {
  if (nullable && value === null) return;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) throw new ArgumentRangeError(`options.${name} must be a whole number from 0 to 65535${nullable ? ', or null' : ''} (got ${String(value)})`);
}

function checkPositive(name: string, value: unknown): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 1)) throw new ArgumentRangeError(`options.${name} must be a whole number >= 1 (got ${String(value)})`);
}

function checkOptions(options: ServeOptions): string[] {
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object with "model" or "models"');
  if (options.model !== undefined && (typeof options.model !== 'string' || options.model === '')) throw new ArgumentError('options.model: expected the path of an .onnx model');
  if (options.models !== undefined && (!Array.isArray(options.models) || !options.models.every((m) => typeof m === 'string' && m !== ''))) throw new ArgumentError('options.models: expected a list of .onnx files and model repository folders');
  const paths = [...(options.model === undefined ? [] : [options.model]), ...(options.models ?? [])];
  if (paths.length === 0) throw new ArgumentError('options.model: expected the path of an .onnx model (or options.models)');
  if (options.port !== undefined) checkPort('port', options.port);
  if (options.metricsPort !== undefined) checkPort('metricsPort', options.metricsPort, true);
  if (options.grpcPort !== undefined) checkPort('grpcPort', options.grpcPort, true);
  checkPositive('timeoutMs', options.timeoutMs);
  checkPositive('maxBodyBytes', options.maxBodyBytes);
  checkPositive('repositoryPollSecs', options.repositoryPollSecs);
  if (options.drainMs !== undefined && (!Number.isSafeInteger(options.drainMs) || options.drainMs < 0)) throw new ArgumentRangeError(`options.drainMs must be a whole number >= 0 (got ${String(options.drainMs)})`);
  const mode = options.modelControlMode;
  if (mode !== undefined && mode !== 'none' && mode !== 'explicit' && mode !== 'poll') throw new ArgumentError(`options.modelControlMode must be none, explicit or poll (got ${String(mode)})`);
  if (options.loadModels !== undefined && mode !== 'explicit') throw new ArgumentError('options.loadModels is for modelControlMode explicit (the other modes load every model)');
  return paths;
}

/** Starts serving: loads the models, then listens. */
export async function startServer(options: ServeOptions): Promise<InferenceServer> {
  const paths = checkOptions(options);
  const catalog = modelCatalog({
    paths,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.session === undefined ? {} : { session: options.session }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  });
  const core = new ServingCore({
    catalog,
    ...(options.modelControlMode === undefined ? {} : { mode: options.modelControlMode }),
    ...(options.loadModels === undefined ? {} : { startup: options.loadModels }),
    ...(options.exitOnError === undefined ? {} : { exitOnError: options.exitOnError }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.drainMs === undefined ? {} : { drainMs: options.drainMs }),
  });
  try {
    await core.start();
  } catch (error) {
    await options.backend?.release();
    throw error;
  }
  const host = options.host ?? '127.0.0.1';
  let http: Awaited<ReturnType<typeof startHttpEndpoint>> | undefined;
  let metrics: Awaited<ReturnType<typeof startMetricsEndpoint>> | undefined;
  let grpc: Awaited<ReturnType<typeof startGrpcEndpoint>> | undefined;
  try {
    http = await startHttpEndpoint(core, { host, port: options.port ?? DEFAULT_PORT, maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES });
    if (options.grpcPort !== null) grpc = await startGrpcEndpoint(core, { host, port: options.grpcPort ?? (options.port === 0 ? 0 : DEFAULT_GRPC_PORT), maxMessageBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES });
    if (options.metricsPort !== null) metrics = await startMetricsEndpoint(core.metrics, host, options.metricsPort ?? DEFAULT_METRICS_PORT);
  } catch (error) {
    await grpc?.close(0);
    await http?.stop();
    await core.release();
    throw error;
  }
  const poll = core.mode === 'poll' ? setInterval(() => void core.poll().catch(() => {}), (options.repositoryPollSecs ?? DEFAULT_POLL_SECS) * 1000) : undefined;
  poll?.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(poll);
      // Still listening while draining: a request arriving now gets 503 rather than a refused or reset connection.
      // gRPC stops taking connections at once and ends the calls still open (an idle stream) after the drain time.
      await Promise.all([core.drain(), grpc?.close(core.drainMs)]);
      await http.stop();
      await core.release();
      await metrics?.stop();
    })());

  const first = core.loadedVersions()[0];
  return {
    url: http.url,
    port: http.port,
    metricsUrl: metrics?.url,
    grpcAddress: grpc?.address,
    name: first?.name ?? '',
    version: first?.version ?? '',
    devices: first?.devices ?? [],
    deviceNote: first?.backend.deviceNote,
    get models() {
      return core.loadedVersions().map((v) => ({ name: v.name, version: v.version, devices: v.devices }));
    },
    get ready() {
      return core.ready;
    },
    get inFlight() {
      return core.inFlight;
    },
    skipped: catalog.skipped,
    get notApplied() {
      return core.loadedVersions().flatMap((v) => (v.notApplied.length === 0 ? [] : [`model '${v.name}' version ${v.version}: not applied: ${v.notApplied.join('; ')}`]));
    },
    core,
    close,
  };
}
