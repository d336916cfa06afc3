/**
 * A server for the HTTP benchmark, in a process of its own so that the load generator does not share its main
 * thread: `node http-server-child.js MODEL parallel|batched|plain|echo`. `parallel`: the library's server on a
 * ParallelSession over cpu,cpu, as `serve` runs it by default; `batched`: the same with `--max-batch 32
 * --max-queue-delay-us 2000`; `plain`: the same server on one plain single-thread InferenceSession (what a server
 * without batching has); `echo`: a bare node:http server that reads the body and answers 4 KiB, running nothing
 * (what one HTTP exchange costs on this machine); `grpc-echo`: a bare @grpc/grpc-js server whose ModelInfer reads the
 * request and answers one 4 KiB raw output, running nothing (what one gRPC exchange costs). Prints the server's URL (and for the library's server, after a
 * space, its gRPC endpoint's address), then serves until stdin closes.
 */
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../src/serve/grpc/proto.js';
import * as ort from 'onnxruntime-node';
import { startServer, type InferenceBackend } from '../src/serve/index.js';

const [model, kind] = process.argv.slice(2) as [string, 'parallel' | 'batched' | 'plain' | 'echo' | 'grpc-echo'];
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
} else if (kind === 'grpc-echo') {
  const answer = { model_name: 'mlp-4x1024', model_version: '1', id: '', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1024] }], raw_output_contents: [Buffer.alloc(4096)] };
  const echo = new grpc.Server({ 'grpc.enable_channelz': 0 });
  echo.addService(inferenceService(), { ModelInfer: (_call: unknown, callback: (error: null, value: unknown) => void) => callback(null, answer) });
  echo.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error !== null) throw error;
    console.log(`- 127.0.0.1:${port}`); // no HTTP URL: the gRPC address second, as the library's server prints it
  });
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
