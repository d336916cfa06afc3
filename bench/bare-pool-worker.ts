/** The bare worker-pool baseline of the session benchmark: one session, no split/join logic, raw buffers. */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const { file, width } = workerData as { file: string; width: number };
const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
parentPort!.postMessage('ready');
parentPort!.on('message', (buffer: ArrayBuffer) => {
  const x = new ort.Tensor('float32', new Float32Array(buffer), [buffer.byteLength / 4 / width, width]);
  void session.run({ x }).then((out) => {
    const data = out['y']!.data as Float32Array;
    parentPort!.postMessage(data.buffer, [data.buffer as ArrayBuffer]);
  });
});
