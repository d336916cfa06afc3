/**
 * An inference service on node:http: `POST /infer` runs a ParallelSession on the tensors of the request (JSON,
 * or a JSON header followed by binary data as in Triton's binary data extension) and answers with the outputs
 * in the same forms. `GET /health` says it is ready, `GET /stats` gives the session's statistics. See README.md
 * here for the protocol.
 *
 *   node dist/examples/http-server/server.js --model model.onnx --devices cuda:0,cuda:1 [--host 127.0.0.1] [--port 8000]
 *     [--max-queue N] [--timeout-ms MS] [--max-body-bytes N]
 *
 * Options may also come from MODEL, DEVICES, HOST, PORT, MAX_QUEUE, TIMEOUT_MS and MAX_BODY_BYTES; the command
 * line wins. It listens on 127.0.0.1 only unless told otherwise, prints `listening on http://HOST:PORT` (port 0
 * takes a free port), and on SIGINT or SIGTERM stops taking requests, answers those it has, releases the session
 * and exits.
 */
import http from 'node:http';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { ArgumentError, ParallelSession, QueueFullError, TimeoutError, type ParallelSessionOptions, type RunOptions } from '../../src/index.js';
import { decodeTensors, encodeMessage, headerLengthField, RequestError, requestedOutputs, splitBody } from './protocol.js';

/** The largest request body taken unless told otherwise; larger ones get 413. */
const defaultMaxBodyBytes = 64 * 1024 * 1024;
/** How long shutdown waits for requests in progress before closing their connections. */
const shutdownGraceMs = 10_000;

interface ServerOptions {
  model: string;
  host: string;
  port: number;
  session: ParallelSessionOptions;
  run: RunOptions;
  maxBodyBytes: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readOptions(argv: string[], env: NodeJS.ProcessEnv): ServerOptions {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(['model', 'devices', 'host', 'port', 'max-queue', 'timeout-ms', 'max-body-bytes'].map((name) => [name, { type: 'string' }] as const)),
    strict: true,
  });
  const envName = (name: string): string => name.replaceAll('-', '_').toUpperCase();
  const option = (name: string): string | undefined => {
    const value = values[name] ?? env[envName(name)];
    return value === '' ? undefined : value;
  };
  const wholeNumber = (name: string, fallback: number | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const text = option(name);
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new Error(`--${name} (${envName(name)}): expected a whole number from ${min} to ${max}, got '${text}'`);
    return Number(text);
  };
  const model = option('model');
  if (model === undefined) throw new Error('--model PATH (or MODEL) is required: the ONNX model to serve');
  const devices = option('devices')?.split(',');
  const maxQueue = wholeNumber('max-queue', undefined);
  const timeoutMs = wholeNumber('timeout-ms', undefined, 1);
  return {
    model,
    host: option('host') ?? '127.0.0.1',
    port: wholeNumber('port', 8000, 0, 65535)!,
    session: { ...(devices === undefined ? {} : { devices }), ...(maxQueue === undefined ? {} : { maxQueue }) },
    run: timeoutMs === undefined ? {} : { timeoutMs },
    maxBodyBytes: wholeNumber('max-body-bytes', defaultMaxBodyBytes, 1)!,
  };
}

async function readBody(request: http.IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) throw new HttpError(413, `the body is over ${maxBodyBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBodyBytes) throw new HttpError(413, `the body is over ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The HTTP status for an error: the client's fault (400), a full queue (503), a timeout (504), else 500. */
function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  // ParallelSession rejects feeds that do not fit the model with an ArgumentError naming the input.
  if (error instanceof RequestError || error instanceof ArgumentError) return 400;
  if (error instanceof QueueFullError) return 503;
  if (error instanceof TimeoutError) return 504;
  return 500;
}

async function infer(session: ParallelSession, options: ServerOptions, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const body = await readBody(request, options.maxBodyBytes);
  const headerLength = request.headers[headerLengthField];
  const { header, binary } = splitBody(body, Array.isArray(headerLength) ? headerLength[0] : headerLength);
  const feeds = decodeTensors(header, binary, 'inputs');
  const wanted = requestedOutputs(header, session.outputNames);
  // A client that goes away takes its request out of the queue.
  const gone = new AbortController();
  response.once('close', () => response.writableFinished || gone.abort());
  const outputs = await session.run(feeds, { ...options.run, signal: gone.signal });
  const selected = Object.fromEntries([...wanted.keys()].map((name) => [name, outputs[name]!]));
  const message = encodeMessage('outputs', selected, (name) => wanted.get(name) === true);
  const length = { 'content-length': message.body.byteLength };
  if (message.headerLength === undefined) response.writeHead(200, { 'content-type': 'application/json', ...length });
  else response.writeHead(200, { 'content-type': 'application/octet-stream', [headerLengthField]: String(message.headerLength), ...length });
  response.end(message.body);
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

async function serve(options: ServerOptions): Promise<{ server: http.Server; session: ParallelSession }> {
  const session = await ParallelSession.create(options.model, options.session);
  let closing = false;
  const server = http.createServer((request, response) => {
    // Connections are not kept open once shutdown has begun.
    if (closing) response.setHeader('connection', 'close');
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/health' && request.method === 'GET') {
      sendJson(response, 200, { ready: true, devices: session.devices, inputs: session.inputNames, outputs: session.outputNames });
    } else if (path === '/stats' && request.method === 'GET') {
      sendJson(response, 200, session.stats());
    } else if (path !== '/infer') {
      sendJson(response, 404, { error: `no ${path}: use POST /infer, GET /health or GET /stats` });
    } else if (request.method !== 'POST') {
      sendJson(response, 405, { error: 'use POST /infer' }, { allow: 'POST' });
    } else {
      infer(session, options, request, response).catch((error: unknown) => {
        const status = statusOf(error);
        const message = error instanceof Error ? error.message : String(error);
        // A body too large is left unread: the connection is closed after the answer instead of reading on.
        const headers = status === 503 ? { 'retry-after': '1' } : status === 413 ? { connection: 'close' } : {};
        if (!response.headersSent) sendJson(response, status, { error: message }, headers);
        else response.destroy();
      });
    }
  });
  server.listen(options.port, options.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    await session.release();
    throw error;
  }

  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    const closed = once(server, 'close');
    server.close();
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), shutdownGraceMs).unref();
    await closed;
    clearTimeout(force);
    await session.release();
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  return { server, session };
}

try {
  const { server } = await serve(readOptions(process.argv.slice(2), process.env));
  const address = server.address() as { address: string; port: number };
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  console.log(`listening on http://${host}:${address.port}`);
} catch (error) {
  console.error(`http-server: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
