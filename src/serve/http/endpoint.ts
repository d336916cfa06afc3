/**
 * The HTTP/REST endpoint of the Open Inference Protocol (KServe V2) over the serving core, with Triton's binary
 * data, compression, statistics, model configuration and model repository extensions: it routes, reads and
 * decodes the body, calls the core, and writes the answer. It holds no model and no protocol logic of its own.
 */
import http from 'node:http';
import { once } from 'node:events';
import { ArgumentError, messageOf } from '../../errors.js';
import type { ServingCore } from '../core/core.js';
import { failureReasonOf, ServeError, serveErrorOf } from '../core/errors.js';
import type { ServedVersion } from '../core/served-version.js';
import { unsupportedExtension } from '../core/unsupported.js';
import { readBody } from './body.js';
import { acceptedEncoding, compress, MIN_COMPRESSED_BYTES } from './compression.js';
import { connectionClosed } from './connection-closed.js';
import { HttpError, httpStatusOf } from './errors.js';
import { indexRequest, loadRequest, unloadRequest } from './repository-requests.js';
import { decodeInferRequest } from './request.js';
import { encodeInferResponse } from './response.js';
import { methodOf, routeOf, type Route } from './routes.js';
import { sendError, sendJson, sendJsonText, sendStatus } from './send.js';

export interface HttpEndpointOptions {
  host: string;
  port: number;
  /** A body larger than this gets 413. */
  maxBodyBytes: number;
}

export interface HttpEndpoint {
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes every connection. */
  stop(): Promise<void>;
}

const HEADER_LENGTH = 'inference-header-content-length';

/** Status and headers of any error thrown while answering. */
function answerOf(error: unknown): { status: number; headers: Record<string, string>; serveError: ServeError | undefined } {
  if (error instanceof HttpError) return { status: error.status, headers: error.headers, serveError: undefined };
  const serveError = serveErrorOf(error);
  return { ...httpStatusOf(serveError), serveError };
}

export async function listen(server: http.Server, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

export async function stopListening(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

export const urlOf = (host: string, port: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

/** A listen error as the user's to fix: the address or port taken or not allowed. */
export function listenError(error: unknown, host: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') return new ArgumentError(`cannot listen on ${host}: ${messageOf(error)}; choose another --host, --port or --metrics-port`);
  return error;
}

export async function startHttpEndpoint(core: ServingCore, options: HttpEndpointOptions): Promise<HttpEndpoint> {
  const { maxBodyBytes } = options;
  const closeHeaders = (headers: Record<string, string>): Record<string, string> => (core.closing ? { ...headers, connection: 'close' } : headers);

  const sendFailure = (response: http.ServerResponse, error: unknown): void => {
    const { status, headers } = answerOf(error);
    sendError(response, status, messageOf(error), closeHeaders(headers));
  };

  const infer = async (request: http.IncomingMessage, response: http.ServerResponse, found: ServedVersion, version: string | undefined, started: number): Promise<void> => {
    const body = await readBody(request, maxBodyBytes);
    // The version found when the request came still serves, unless a load or unload replaced it meanwhile.
    const served = found.state === 'READY' ? found : core.lookup(found.name, version);
    const headerLength = request.headers[HEADER_LENGTH];
    const decoded = decodeInferRequest(body, Array.isArray(headerLength) ? headerLength[0] : headerLength, served.signature);
    const outputs = await core.infer(served, decoded, connectionClosed(request.socket), started);
    const encoded = encodeInferResponse(served.name, served.version, decoded.id, outputs);
    const binary = encoded.chunks.length > 0;
    const json = binary ? Buffer.from(encoded.json) : encoded.json;
    const length = encoded.chunks.reduce((sum, c) => sum + c.byteLength, Buffer.byteLength(json));
    const headers: http.OutgoingHttpHeaders = binary ? { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: Buffer.byteLength(json) } : { 'content-type': 'application/json' };
    const encoding = acceptedEncoding(request.headers['accept-encoding']);
    const closing = core.closing ? { connection: 'close' } : {};
    if (encoding !== undefined && length >= MIN_COMPRESSED_BYTES) {
      // Inference-Header-Content-Length stays the JSON's length before compression, as Triton's clients read it.
      const compressed = await compress([typeof json === 'string' ? Buffer.from(json) : json, ...encoded.chunks], encoding);
      response.writeHead(200, { ...headers, 'content-encoding': encoding, vary: 'Accept-Encoding', 'content-length': compressed.byteLength, ...closing });
      response.end(compressed);
    } else {
      response.writeHead(200, { ...headers, 'content-length': length, ...closing });
      if (!binary) response.end(json);
      else {
        response.cork();
        response.write(json);
        for (const chunk of encoded.chunks) response.write(chunk);
        response.end();
      }
    }
  };

  const startInfer = (request: http.IncomingMessage, response: http.ServerResponse, name: string, version: string | undefined): void => {
    const started = performance.now();
    let served: ServedVersion;
    try {
      served = core.lookup(name, version);
      core.accept();
    } catch (error) {
      return sendFailure(response, error);
    }
    infer(request, response, served, version, started)
      .catch((error: unknown) => {
        if (response.destroyed && !response.writableFinished) {
          core.recordFailure(served, 'CANCELED', started);
          return;
        }
        const { status, headers, serveError } = answerOf(error);
        core.recordFailure(served, serveError === undefined ? 'OTHER' : failureReasonOf(serveError.kind), started);
        if (!response.headersSent) sendError(response, status, messageOf(error), closeHeaders(headers));
        else response.destroy();
      })
      .finally(() => core.finish());
  };

  /** Model control: reads the body, runs the core's call, answers 200 with `answer`'s JSON or the error. */
  const control = (request: http.IncomingMessage, response: http.ServerResponse, run: (body: Buffer) => Promise<unknown>): void => {
    readBody(request, maxBodyBytes)
      .then(run)
      .then(
        (answer) => (answer === undefined ? (response.writeHead(200, { 'content-length': 0 }), response.end()) : sendJson(response, 200, answer)),
        (error: unknown) => sendFailure(response, error),
      );
  };

  const answer = (request: http.IncomingMessage, response: http.ServerResponse, route: Route): void => {
    switch (route.kind) {
      case 'live':
        return sendStatus(response, core.live);
      case 'ready':
        return sendStatus(response, core.ready);
      case 'server':
        return sendJson(response, 200, core.serverMetadata);
      case 'index':
        return control(request, response, async (body) => core.index(indexRequest(body)));
      case 'load':
        return control(request, response, async (body) => core.load(route.name, loadRequest(body)));
      case 'unload':
        return control(request, response, async (body) => {
          unloadRequest(body);
          await core.unload(route.name);
        });
      case 'infer':
        return startInfer(request, response, route.name!, route.version);
      case 'unsupported':
        return sendFailure(response, unsupportedExtension(route.extension));
    }
    try {
      switch (route.kind) {
        case 'model':
          return sendJsonText(response, 200, core.modelMetadata(route.name!, route.version));
        case 'modelReady':
          if (core.modelReady(route.name!, route.version)) return sendStatus(response, true);
          core.lookup(route.name!, route.version);
          return sendStatus(response, false);
        case 'modelConfig':
          return sendJsonText(response, 200, core.modelConfig(route.name!, route.version));
        case 'stats':
          return sendJson(response, 200, core.statistics(route.name, route.version));
      }
    } catch (error) {
      sendFailure(response, error);
    }
  };

  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const route = routeOf(query < 0 ? url : url.slice(0, query));
    if (core.closing) response.setHeader('connection', 'close');
    if (route === undefined) return sendError(response, 404, `no such path: ${url.slice(0, 200)}; the protocol's paths start with /v2 (see GET /v2/repository/index for the models)`);
    const method = methodOf(route);
    if (method !== undefined && request.method !== method) return sendError(response, 405, `use ${method} for ${url.slice(0, 200)}`, { allow: method });
    answer(request, response, route);
  });
  // Keep-alive connections outlive Node's 5 s default between requests of a load balancer or a client pool.
  server.keepAliveTimeout = 65_000;

  let port: number;
  try {
    port = await listen(server, options.port, options.host);
  } catch (error) {
    await stopListening(server);
    throw listenError(error, options.host);
  }
  return { url: urlOf(options.host, port), port, stop: () => stopListening(server) };
}
