/**
 * A model server in a few lines: the library's `startServer` serves one model with the Open Inference Protocol
 * (KServe V2, as Triton speaks it) on a ParallelSession, and `closeOnSignals` drains it on SIGTERM or SIGINT.
 * `onnx-parallelize serve` is the same server with every option on the command line.
 *
 *   node dist/examples/http-server/server.js MODEL DEVICES [PORT]
 *   node dist/examples/http-server/server.js fixtures/mlp.onnx cpu,cpu 8000
 */
import { closeOnSignals, startServer } from '../../src/index.js';

const [model, devices = 'cpu', port = '8000'] = process.argv.slice(2);
if (model === undefined) {
  console.error('usage: server.js MODEL [DEVICES] [PORT]');
  process.exit(2);
}
const server = await startServer({
  model,
  port: Number(port),
  metricsPort: null,
  // Up to 64 rows per run, and a request may wait 0.2 ms for others to merge with.
  session: { devices: devices.split(','), batching: { maxBatch: 64, maxQueueDelayMs: 0.2 }, maxQueue: 1024 },
  timeoutMs: 5_000,
});
closeOnSignals(server);
console.log(`listening on ${server.url} (POST ${server.url}/v2/models/${server.name}/infer)`);
