/**
 * The gRPC endpoint: Triton's `inference.GRPCInferenceService` and the `grpc.health.v1.Health` service on one
 * port, over HTTP/2 without TLS (as Triton's default), answering through the serving core. Requests compressed
 * with gzip or deflate (a client's channel or call compression) are decompressed by @grpc/grpc-js; answers go
 * uncompressed, as Triton's do by default.
 */
import net from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ArgumentError, messageOf } from '../../errors.js';
import type { ServingCore } from '../core/index.js';
import { healthCalls } from './health.js';
import { inferenceCalls } from './inference-calls.js';
import { healthService, inferenceService } from './proto.js';

/** Triton's gRPC port. */
export const DEFAULT_GRPC_PORT = 8001;

export interface GrpcEndpointOptions {
  host: string;
  /** 0 takes a free port. */
  port: number;
  /** A request message larger than this (after decompression) is refused with RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
}

export interface GrpcEndpoint {
  readonly port: number;
  /** `HOST:PORT`, as gRPC clients take it (`[HOST]:PORT` for IPv6). */
  readonly address: string;
  /**
   * Stops taking connections and waits for the calls in progress, for up to `drainMs`; then ends those left
   * (their clients get CANCELLED). Idempotent.
   */
  close(drainMs: number): Promise<void>;
}

const addressOf = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Rejects when `port` cannot be listened on at `host` (in use, not allowed), by listening there for a moment:
 * grpc-js would say so too, but would also log a line of its own on stderr beside the server's one-line error.
 */
function checkFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

export async function startGrpcEndpoint(core: ServingCore, options: GrpcEndpointOptions): Promise<GrpcEndpoint> {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': -1,
    // grpc.enable_channelz stays on: with it off, grpc-js 1.14's forceShutdown does not find the open connections
    // (an idle stream would then hold the close for ever).
  });
  server.addService(inferenceService(), inferenceCalls(core));
  server.addService(healthService(), healthCalls(() => core.ready));
  let port: number;
  try {
    await checkFree(options.host, options.port);
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(addressOf(options.host, options.port), ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
    );
  } catch (error) {
    server.forceShutdown();
    throw new ArgumentError(`cannot listen for gRPC on ${addressOf(options.host, options.port)}: ${messageOf(error)}; choose another --host or --grpc-port`);
  }
  let closing: Promise<void> | undefined;
  const close = (drainMs: number): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.forceShutdown(), drainMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }));
  return { port, address: addressOf(options.host, port), close };
}
