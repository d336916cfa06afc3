/** A device worker: owns one onnxruntime session and runs it off the main thread. */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { FromWorker, ToWorker, WireTensor, WorkerInit } from './messages.js';
import { ownBuffer, transferables } from './messages.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

let session: ort.InferenceSession | undefined;
try {
  const options = init.sessionOptions as ort.InferenceSession.SessionOptions;
  session = typeof init.model === 'string' ? await ort.InferenceSession.create(init.model, options) : await ort.InferenceSession.create(init.model, options);
  post({ type: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
} catch (error) {
  post({ type: 'failed', message: messageOf(error) });
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'exit') process.exit(message.code);
  if (message.type === 'release') {
    void (session?.release() ?? Promise.resolve()).finally(() => {
      post({ type: 'released' });
      port.close();
    });
    return;
  }
  void run(message.id, message.feeds);
});

async function run(id: number, wire: WireTensor[]): Promise<void> {
  if (Atomics.load(init.released, 0) === 1) {
    post({ type: 'error', id, message: 'released before this run started' });
    return;
  }
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of wire) feeds[t.name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    const results = await session!.run(feeds);
    const outputs: WireTensor[] = Object.entries(results).map(([name, tensor]) => ({ name, type: tensor.type, dims: [...tensor.dims], data: ownBuffer(tensor.data as ArrayBufferView) }));
    const returned = transferables(wire).filter((b) => !transferables(outputs).includes(b));
    post({ type: 'result', id, outputs, returned }, [...transferables(outputs), ...returned]);
  } catch (error) {
    post({ type: 'error', id, message: messageOf(error) });
  }
}
