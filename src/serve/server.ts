/**
 * The inference server: one model behind the Open Inference Protocol (KServe V2) over HTTP/REST, with Triton's
 * binary data, statistics, model configuration and metrics extensions, run by a ParallelSession whose dynamic
 * batcher merges concurrent requests. Its life: `startServer` creates the session and listens; `close()` turns readiness off at
 * once, answers the requests in progress for up to `drainMs`, then releases the session and stops listening.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import type * as ort from 'onnxruntime-node';
import { ArgumentError, ArgumentRangeError, messageOf } from '../errors.js';
import { ParallelSession, QueueFullError, TimeoutError, type ParallelSessionOptions, type RunOptions, type SessionStats } from '../runtime/session/parallel-session.js';
import { checkModelName, defaultModelName } from '../triton/names.js';
import { acceptedEncoding, compress, decompress, MIN_COMPRESSED_BYTES } from './compression.js';
import { connectionClosed } from './connection-closed.js';
import { HttpError } from './errors.js';
import { ModelMetrics, type FailureReason } from './metrics.js';
import { decodeInferRequest } from './request.js';
import { encodeInferResponse } from './response.js';
import { servedModelConfig } from './model-config.js';
import { methodOf, routeOf, type Route } from './routes.js';
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

export interface ServeOptions {
  /** Path of the model: plain (give `session.devices`) or rewritten by onnx-parallelize. */
  model: string;
  /** The model's name in the protocol's paths; default: the file's stem. Its version is always "1". */
  name?: string;
  /** Options of the ParallelSession: devices, weights, `batching`, `maxQueue`, ... */
  session?: ParallelSessionOptions;
  /** Runs the model instead of a ParallelSession created from `session`; the server releases it on close. */
  backend?: InferenceBackend;
  /** Default 127.0.0.1 (this machine only); 0.0.0.0 serves every network. */
  host?: string;
  /** Default 8000; 0 takes a free port (see `port` on the server). */
  port?: number;
  /** Port of the Prometheus metrics (`/metrics`); default 8002, 0 a free port, null none. */
  metricsPort?: number | null;
  /** A request not answered within this many ms gets 504. Default: no limit. */
  timeoutMs?: number;
  /** A body larger than this gets 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /** On close, how long requests in progress may take before their connections are closed. Default 30 s. */
  drainMs?: number;
}

export interface InferenceServer {
  /** `http://HOST:PORT`, where the protocol's paths are. */
  readonly url: string;
  readonly port: number;
  /** `http://HOST:PORT/metrics`, or undefined without metrics. */
  readonly metricsUrl: string | undefined;
  readonly name: string;
  readonly version: string;
  readonly devices: readonly string[];
  /** Why these devices, when none were given: every GPU found, or the CPU and why. */
  readonly deviceNote: string | undefined;
  /** True from start until close() is called. */
  readonly ready: boolean;
  /** Requests being answered now. */
  readonly inFlight: number;
  /** Stops taking requests, answers those in progress (for up to drainMs), releases the session. Idempotent. */
  close(): Promise<void>;
}

export const MODEL_VERSION = '1';
export const DEFAULT_PORT = 8000;
export const DEFAULT_METRICS_PORT = 8002;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_DRAIN_MS = 30_000;
const SERVER_NAME = 'onnx-parallelize';
const EXTENSIONS = ['binary_tensor_data', 'statistics', 'model_configuration'];
const HEADER_LENGTH = 'inference-header-content-length';

/** This package's version (dist/src/serve/server.js is three folders below package.json). */
function serverVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function checkPort(name: string, value: unknown, nullable = false): void {
  if (nullable && value === null) return;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) throw new ArgumentRangeError(`options.${name} must be a whole number from 0 to 65535${nullable ? ', or null' : ''} (got ${String(value)})`);
}

function checkPositive(name: string, value: unknown): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 1)) throw new ArgumentRangeError(`options.${name} must be a whole number >= 1 (got ${String(value)})`);
}

function checkOptions(options: ServeOptions): void {
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object with at least "model"');
  if (typeof options.model !== 'string' || options.model === '') throw new ArgumentError('options.model: expected the path of an .onnx model');
  if (options.port !== undefined) checkPort('port', options.port);
  if (options.metricsPort !== undefined) checkPort('metricsPort', options.metricsPort, true);
  checkPositive('timeoutMs', options.timeoutMs);
  checkPositive('maxBodyBytes', options.maxBodyBytes);
  if (options.drainMs !== undefined && (!Number.isSafeInteger(options.drainMs) || options.drainMs < 0)) throw new ArgumentRangeError(`options.drainMs must be a whole number >= 0 (got ${String(options.drainMs)})`);
}


/** The request's body, refused with 413 past `max` bytes (declared or read) and decompressed when gzip or deflate. */
async function readBody(request: http.IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = (): HttpError => new HttpError(413, `the request body is over ${max} bytes; send less (or raise --max-body-bytes)`, { connection: 'close' });
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw tooLarge();
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > max) {
        request.off('data', onData);
        reject(tooLarge());
      } else chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    request.once('error', reject);
    request.once('close', () => request.complete || reject(new Error('the client disconnected before sending the whole body')));
  });
  const encoding = request.headers['content-encoding'];
  if (encoding === undefined || encoding === 'identity') return body;
  if (encoding !== 'gzip' && encoding !== 'deflate') throw new HttpError(415, `Content-Encoding '${encoding}' is not supported; send the body as is, gzip or deflate`);
  try {
    return await decompress(body, encoding, max);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new HttpError(400, `the body does not decompress as ${encoding}: ${messageOf(error)}`);
  }
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

/** HTTP status, extra headers and metrics reason of an error thrown while answering an inference request. */
function failureOf(error: unknown): { status: number; headers: Record<string, string>; reason: FailureReason } {
  if (error instanceof HttpError) return { status: error.status, headers: error.headers, reason: error.status === 503 ? 'REJECTED' : 'OTHER' };
  // ParallelSession refuses feeds that do not fit the model (a dim, a missing input) naming the input.
  if (error instanceof ArgumentError || error instanceof ArgumentRangeError) return { status: 400, headers: {}, reason: 'OTHER' };
  if (error instanceof QueueFullError) return { status: 503, headers: { 'retry-after': '1' }, reason: 'REJECTED' };
  if (error instanceof TimeoutError) return { status: 504, headers: {}, reason: 'REJECTED' };
  return { status: 500, headers: {}, reason: 'BACKEND' };
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(response, status, JSON.stringify(body), headers);
}

/** JSON already written as text (metadata made once at start-up). */
function sendJsonText(response: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** A health answer: 200 or 503, with an empty body, as the protocol says. */
function sendStatus(response: http.ServerResponse, ok: boolean): void {
  response.writeHead(ok ? 200 : 503, { 'content-length': 0 });
  response.end();
}

const sendError = (response: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void => sendJson(response, status, { error: message }, headers);

async function listen(server: http.Server, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function stop(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

const urlOf = (host: string, port: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

/** Starts serving `options.model`: reads its signature, creates the session, then listens. */
export async function startServer(options: ServeOptions): Promise<InferenceServer> {
  checkOptions(options);
  const name = options.name ?? defaultModelName(options.model);
  checkModelName(name);
  const signature = await readSignature(options.model);
  const backend = options.backend ?? (await ParallelSession.create(options.model, options.session ?? {}));
  try {
    return await serve(backend, signature, name, options);
  } catch (error) {
    await backend.release();
    throw error;
  }
}

async function serve(backend: InferenceBackend, signature: ModelSignature, name: string, options: ServeOptions): Promise<InferenceServer> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  const runOptions = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  const metrics = new ModelMetrics(name, MODEL_VERSION, backend.stats === undefined ? undefined : () => backend.stats!());
  const rowsOf = rowCounter(backend);
  const modelMetadata = JSON.stringify({
    name,
    versions: [MODEL_VERSION],
    platform: 'onnxruntime_onnx',
    inputs: signature.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape ?? [-1] })),
    outputs: signature.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape ?? [-1] })),
  });
  const modelConfig = JSON.stringify(
    servedModelConfig({
      name,
      signature,
      devices: backend.devices,
      plan: backend instanceof ParallelSession ? backend.plan : undefined,
      batching: backend instanceof ParallelSession ? backend.batching : false,
    }),
  );
  const serverMetadata = { name: SERVER_NAME, version: serverVersion(), extensions: EXTENSIONS };
  let ready = true;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  /** The error for a route naming another model or version, or undefined when it names this one. */
  const unknownModel = (route: Extract<Route, { name: string | undefined }>): HttpError | undefined => {
    if (route.name !== undefined && route.name !== name) return new HttpError(404, `unknown model '${route.name}'; this server serves '${name}'`);
    if (route.version !== undefined && route.version !== MODEL_VERSION) return new HttpError(404, `model '${name}' has no version '${route.version}'; its only version is ${MODEL_VERSION}`);
    return undefined;
  };

  const infer = async (request: http.IncomingMessage, response: http.ServerResponse, started: number): Promise<void> => {
    if (!ready) throw new HttpError(503, 'the server is shutting down; send the request to another replica', { connection: 'close' });
    const body = await readBody(request, maxBodyBytes);
    const headerLength = request.headers[HEADER_LENGTH];
    const decoded = decodeInferRequest(body, Array.isArray(headerLength) ? headerLength[0] : headerLength, signature);
    const runStarted = performance.now();
    metrics.pending++;
    let outputs: Feeds;
    try {
      outputs = await backend.run(decoded.feeds, { ...runOptions, signal: connectionClosed(request.socket) });
    } finally {
      metrics.pending--;
    }
    const ran = performance.now();
    const encoded = encodeInferResponse(
      name,
      MODEL_VERSION,
      decoded.id,
      decoded.outputs.map((o) => ({ name: o.name, tensor: outputs[o.name]!, binary: o.binary })),
    );
    const binary = encoded.chunks.length > 0;
    const json = binary ? Buffer.from(encoded.json) : encoded.json;
    const length = encoded.chunks.reduce((sum, c) => sum + c.byteLength, Buffer.byteLength(json));
    const headers: http.OutgoingHttpHeaders = binary ? { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: Buffer.byteLength(json) } : { 'content-type': 'application/json' };
    const encoding = acceptedEncoding(request.headers['accept-encoding']);
    if (encoding !== undefined && length >= MIN_COMPRESSED_BYTES) {
      // Inference-Header-Content-Length stays the JSON's length before compression, as Triton's clients read it.
      const body = await compress([typeof json === 'string' ? Buffer.from(json) : json, ...encoded.chunks], encoding);
      response.writeHead(200, { ...headers, 'content-encoding': encoding, vary: 'Accept-Encoding', 'content-length': body.byteLength, ...(ready ? {} : { connection: 'close' }) });
      response.end(body);
    } else {
      response.writeHead(200, { ...headers, 'content-length': length, ...(ready ? {} : { connection: 'close' }) });
      if (!binary) response.end(json);
      else {
        response.cork();
        response.write(json);
        for (const chunk of encoded.chunks) response.write(chunk);
        response.end();
      }
    }
    metrics.recordSuccess(rowsOf(decoded.feeds), performance.now() - started, ran - runStarted);
  };

  const answer = (request: http.IncomingMessage, response: http.ServerResponse, route: Route): void => {
    switch (route.kind) {
      case 'live':
        return sendStatus(response, true);
      case 'ready':
        return sendStatus(response, ready);
      case 'server':
        return sendJson(response, 200, serverMetadata);
    }
    const unknown = route.name === undefined && route.kind === 'stats' ? undefined : unknownModel(route);
    if (unknown !== undefined) return sendError(response, unknown.status, unknown.message);
    switch (route.kind) {
      case 'model':
        return sendJsonText(response, 200, modelMetadata);
      case 'modelReady':
        return sendStatus(response, ready);
      case 'modelConfig':
        return sendJsonText(response, 200, modelConfig);
      case 'stats':
        return sendJson(response, 200, { model_stats: [metrics.tritonStats()] });
      case 'infer': {
        const started = performance.now();
        inFlight++;
        infer(request, response, started)
          .catch((error: unknown) => {
            if (response.destroyed && !response.writableFinished) {
              metrics.recordFailure('CANCELED', performance.now() - started);
              return;
            }
            const { status, headers, reason } = failureOf(error);
            metrics.recordFailure(reason, performance.now() - started);
            if (!response.headersSent) sendError(response, status, messageOf(error), ready ? headers : { ...headers, connection: 'close' });
            else response.destroy();
          })
          .finally(() => {
            if (--inFlight === 0) drained?.();
          });
        return;
      }
    }
  };

  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const route = routeOf(query < 0 ? url : url.slice(0, query));
    if (!ready) response.setHeader('connection', 'close');
    if (route === undefined) return sendError(response, 404, `no such path: ${url.slice(0, 200)}; the protocol's paths start with /v2 (see GET /v2/models/${name})`);
    const method = methodOf(route);
    if (request.method !== method) return sendError(response, 405, `use ${method} for ${url.slice(0, 200)}`, { allow: method });
    answer(request, response, route);
  });
  // Keep-alive connections outlive Node's 5 s default between requests of a load balancer or a client pool.
  server.keepAliveTimeout = 65_000;

  const metricsServer =
    options.metricsPort === null
      ? undefined
      : http.createServer((request, response) => {
          const path = (request.url ?? '/').split('?')[0];
          if (path !== '/metrics') return sendError(response, 404, 'the metrics are at GET /metrics');
          if (request.method !== 'GET') return sendError(response, 405, 'use GET for /metrics', { allow: 'GET' });
          metrics.registry.metrics().then(
            (text) => {
              response.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
              response.end(text);
            },
            (error: unknown) => sendError(response, 500, messageOf(error)),
          );
        });

  let port: number;
  let metricsPort: number | undefined;
  try {
    port = await listen(server, options.port ?? DEFAULT_PORT, host);
    if (metricsServer !== undefined) metricsPort = await listen(metricsServer, options.metricsPort ?? DEFAULT_METRICS_PORT, host);
  } catch (error) {
    await Promise.all([stop(server), metricsServer === undefined ? undefined : stop(metricsServer)]);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ArgumentError(`cannot listen on ${host}: ${messageOf(error)}; choose another --host, --port or --metrics-port`);
    throw error;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // Still listening while draining: a request arriving now gets 503 rather than a refused or reset connection.
      ready = false;
      if (inFlight > 0) {
        const done = new Promise<void>((resolve) => (drained = resolve));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
        clearTimeout(timer);
      }
      await stop(server);
      await backend.release();
      if (metricsServer !== undefined) await stop(metricsServer);
    })());

  return {
    url: urlOf(host, port),
    port,
    metricsUrl: metricsPort === undefined ? undefined : `${urlOf(host, metricsPort)}/metrics`,
    name,
    version: MODEL_VERSION,
    devices: backend.devices,
    deviceNote: backend.deviceNote,
    get ready() {
      return ready;
    },
    get inFlight() {
      return inFlight;
    },
    close,
  };
}
