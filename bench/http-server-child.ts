/**
 * A server for the HTTP benchmark, in a process of its own so that the load generator does not share its main
 * thread: `node http-server-child.js MODEL parallel|plain`. `parallel`: the library's server on a ParallelSession
 * over cpu,cpu; `plain`: the same server on one plain single-thread InferenceSession (what a server without
 * batching has). Prints the server's URL, then serves until stdin closes.
 */
import * as ort from 'onnxruntime-node';
import { startServer, type InferenceBackend } from '../src/serve/index.js';

const [model, kind] = process.argv.slice(2) as [string, 'parallel' | 'plain'];

async function plainBackend(): Promise<InferenceBackend> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return { devices: ['cpu'], run: (feeds) => session.run(feeds), release: () => session.release() };
}

const server = await startServer({
  model,
  port: 0,
  metricsPort: null,
  ...(kind === 'plain' ? { backend: await plainBackend() } : { session: { devices: ['cpu', 'cpu'] } }),
});
console.log(server.url);
process.stdin.resume();
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
