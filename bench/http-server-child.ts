/**
 * A server for the HTTP benchmark, in a process of its own so that the load generator does not share its main
 * thread: `node http-server-child.js MODEL parallel|batched|plain|echo`. `parallel`: the library's server on a
 * ParallelSession over cpu,cpu, as `serve` runs it by default; `batched`: the same with `--max-batch 32
 * --max-queue-delay-us 2000`; `plain`: the same server on one plain single-thread InferenceSession (what a server
 * without batching has); `echo`: a bare node:http server that reads the body and answers 4 KiB, running nothing
 * (what one HTTP exchange costs on this machine). Prints the server's URL (and for the library's server, after a
 * space, its gRPC endpoint's address), then serves until stdin closes.
 */
import http from 'node:http';
import * as ort from 'onnxruntime-node';
import { startServer, type InferenceBackend } from '../src/serve/index.js';

const [model, kind] = process.argv.slice(2) as [string, 'parallel' | 'batched' | 'plain' | 'echo'];
/** `batched`: the dynamic batcher set as `serve --max-batch 32 --max-queue-delay-us 2000` sets it. */
const tunedBatching = { maxBatch: 32, maxQueueDelayMs: 2 };

if (kind === 'echo') {
  const answer = Buffer.alloc(4096 + 160);
  const echo = http.createServer((request, response) => {
    request.on('data', () => {}).on('end', () => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.byteLength });
      response.end(answer);
    });
  });
  echo.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${(echo.address() as { port: number }).port}`));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
} else {

async function plainBackend(): Promise<InferenceBackend> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return { devices: ['cpu'], run: (feeds) => session.run(feeds), release: () => session.release() };
}

  const server = await startServer({
    model,
    port: 0,
    metricsPort: null,
    grpcPort: 0,
    ...(kind === 'plain' ? { backend: await plainBackend() } : { session: { devices: ['cpu', 'cpu'], ...(kind === 'batched' ? { batching: tunedBatching } : {}) } }),
  });
  console.log(`${server.url} ${server.grpcAddress!}`);
  process.stdin.resume();
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
}
