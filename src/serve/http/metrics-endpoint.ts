/** The Prometheus metrics endpoint (`GET /metrics`, Triton's port 8002): every model's metrics, from one registry. */
import http from 'node:http';
import { messageOf } from '../../errors.js';
import type { MetricsRegistry } from '../core/metrics.js';
import { listen, listenError, stopListening, urlOf } from './endpoint.js';
import { sendError } from './send.js';

export interface MetricsEndpoint {
  /** `http://HOST:PORT/metrics`. */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startMetricsEndpoint(metrics: MetricsRegistry, host: string, port: number): Promise<MetricsEndpoint> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') return sendError(response, 404, 'the metrics are at GET /metrics');
    if (request.method !== 'GET') return sendError(response, 405, 'use GET for /metrics', { allow: 'GET' });
    metrics.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
        response.end(text);
      },
      (error: unknown) => sendError(response, 500, messageOf(error)),
    );
  });
  try {
    const bound = await listen(server, port, host);
    return { url: `${urlOf(host, bound)}/metrics`, stop: () => stopListening(server) };
  } catch (error) {
    await stopListening(server);
    throw listenError(error, host);
  }
}
